"""The built-in DGE cubes on disk (gammapy_cocoons.dge.diskcache): a warm load equals the cold build
to the bit, any changed input misses, both envelopes of one build are stored, and the memory guard
refuses what the machine cannot hold before any work. (The cache itself: tests/test_cache.py.)"""
import numpy as np
import pytest
import astropy.units as u
from gammapy.maps import HpxGeom, Map, MapAxis

from gammapy_cocoons import _cache
from gammapy_cocoons.dge import conventional, diskcache, pi0
from gammapy_cocoons.dge.conventional import _DEFAULT_ENERGIES, conventional_dge


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory, and empty in-memory caches of the built-in cubes (restored after)."""
    monkeypatch.setenv(_cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    for function in (conventional._cached_cube, pi0._cached_cube):
        function.cache_clear()
    yield tmp_path / "cache"
    for function in (conventional._cached_cube, pi0._cached_cube):
        function.cache_clear()


def _entries(directory):
    return sorted(directory.glob("*.npz")) if directory.is_dir() else []


def test_a_warm_load_equals_the_cold_build_to_the_bit(cache, monkeypatch):
    # a real cube (the Fermi pi0 template with one knee variant's neutrino emissivity: no transmission)
    cold = pi0.fermi_pi0_dge("lhaaso", secondary="nu_all").spatial_model.map
    assert len(_entries(cache)) == 1
    pi0._cached_cube.cache_clear()  # a new process: only the disk has it

    def no_build(*args):
        raise AssertionError("a warm load must not build")

    monkeypatch.setattr(pi0, "_build_cube", no_build)
    warm = pi0.fermi_pi0_dge("lhaaso", secondary="nu_all").spatial_model.map
    assert warm.data.dtype == cold.data.dtype == np.float32
    assert np.array_equal(warm.data, cold.data)  # every bit (NaN-free: equal is exact)
    assert warm.geom == cold.geom and warm.unit == cold.unit
    assert not warm.data.flags.writeable  # shared by every model made from it


def _fake_envelopes(calls):
    axis = MapAxis.from_nodes(_DEFAULT_ENERGIES * u.GeV, name="energy_true", interp="log")
    geom = HpxGeom.create(nside=8, nest=False, frame="galactic").to_cube([axis])
    rng = np.random.default_rng(1)

    def envelopes(model, energy, nside=128, secondary="gamma", geom_=None, variants=None):
        calls.append((nside, secondary))
        low = rng.random(geom.data_shape).astype(np.float32)
        return Map.from_geom(geom, data=low), Map.from_geom(geom, data=low + 1)

    return envelopes


def test_one_build_stores_both_envelopes_and_a_changed_input_misses(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(conventional, "envelope_cubes", _fake_envelopes(calls))
    monkeypatch.setattr(conventional, "default_model", lambda variant=None: None)
    low = conventional_dge("min", nside=8).spatial_model.map.data.copy()
    assert calls == [(8, "gamma")] and len(_entries(cache)) == 2  # "max" stored by the same build
    conventional._cached_cube.cache_clear()
    high = conventional_dge("max", nside=8).spatial_model.map.data
    assert calls == [(8, "gamma")]  # read, not built
    np.testing.assert_array_equal(high, low + 1)
    # every input is in the key: another secondary, another bundled data file, another default
    conventional._cached_cube.cache_clear()
    conventional_dge("min", secondary="nu_all", nside=8)
    assert len(calls) == 2
    fingerprint = dict(diskcache.data_fingerprint(), **{"gas/hi4pi.fits.gz": "another file"})
    monkeypatch.setattr(diskcache, "data_fingerprint", lambda: fingerprint)
    conventional._cached_cube.cache_clear()
    conventional_dge("min", nside=8)
    assert len(calls) == 3
    inputs = dict(diskcache.default_inputs(), absorption=False)
    monkeypatch.setattr(diskcache, "default_inputs", lambda: inputs)
    conventional._cached_cube.cache_clear()
    conventional_dge("min", nside=8)
    assert len(calls) == 4


def test_the_key_holds_every_input_of_the_default_model():
    inputs = diskcache.default_inputs()
    assert inputs["absorption"] is True and inputs["heavier_nuclei"] is True and inputs["co_survey"] == "dame2001"
    assert inputs["gas"]["type"].endswith("GasModel") and inputs["gas"]["x_co"] > 0
    transport = inputs["sea"]["transport"]
    assert transport["type"].endswith("GalacticTransport") and transport["d0"] == 1.46 and transport["delta"] == 0.62
    assert inputs["electron_sea"]["magnetic_field"]["type"].endswith("MagneticField")
    files = diskcache.data_fingerprint()
    assert any(name.startswith("gas/") for name in files) and any(name.startswith("isrf/") for name in files)
    key = diskcache.cube_key("conventional_dge", _DEFAULT_ENERGIES, variant="min", nside=128)
    assert key["libraries"]["aafragpy"] and key["energies"]["shape"] == [_DEFAULT_ENERGIES.size]
    with pytest.raises(TypeError, match="cannot describe"):
        diskcache.describe(object())


def test_the_memory_guard_refuses_before_any_work(cache, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("refused builds do no work")

    monkeypatch.setattr(conventional, "default_model", no_work)
    monkeypatch.setattr(diskcache, "available_memory_gb", lambda: 8.0)
    with pytest.raises(ValueError, match=r"nside 1024 needs about 9\.\d GB .* 8\.0 GB available: use nside <= 512"):
        conventional_dge("min", nside=1024)
    assert _entries(cache) == []
    # the estimate: measured 0.49, 0.91 and 2.58 GB at nside 128, 256, 512 (benchmarks/README.md)
    for nside, measured in ((128, 0.49), (256, 0.91), (512, 2.58)):
        assert measured <= diskcache.build_memory_gb(12 * nside**2, _DEFAULT_ENERGIES.size) <= 1.25 * measured
    assert diskcache.check_memory(12 * 64**2, 57, available_gb=8.0) < 1.0
    with pytest.raises(ValueError, match="geom needs"):
        diskcache.check_memory(10**9, 57, argument="geom", available_gb=8.0)
