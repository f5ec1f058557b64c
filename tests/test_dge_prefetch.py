"""The embedded DGE's slow steps computed ahead by a forked child (dge.conventional.prefetch_state,
the command line's _PrefetchedDGE): the cube built on them is the ordinary build's to the bit and
recomputes none of them; the child needs no gammapy; a state that never comes, comes from another
process or is not needed changes nothing."""
import os
import subprocess
import sys
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import pytest

from gammapy_cocoons import _cache
from gammapy_cocoons.analysis.forked import can_fork
from gammapy_cocoons.dge import conventional, localspectra
from gammapy_cocoons.dge.conventional import conventional_dge

needs_fork = pytest.mark.skipif(not can_fork(), reason="forks (Linux)")


def _fresh(monkeypatch):
    """This process as a new one would be: none of the DGE's per-process caches filled, no disk cache
    (all restored after the test)."""
    monkeypatch.setenv(_cache.CACHE_VARIABLE, "off")
    monkeypatch.setattr(conventional, "_GEOMETRY", OrderedDict())
    monkeypatch.setattr(conventional, "_DEFAULT_SEA", {})
    monkeypatch.setattr(conventional, "_OTHER_ENVELOPE", {})
    monkeypatch.setattr(conventional, "_EXPECTED", None)
    monkeypatch.setattr(conventional, "_default_model",
                        lru_cache(maxsize=None)(conventional._default_model.__wrapped__))
    monkeypatch.setattr(conventional, "_cached_cube", conventional._CubeMemory(conventional._cached_cube.__wrapped__))
    monkeypatch.setattr(localspectra, "_FITS", {})


@pytest.fixture
def fresh_process(monkeypatch):
    _fresh(monkeypatch)


def _fail(*args, **kwargs):
    raise AssertionError("a prefetched step was computed again (or the prefetch failed)")


@needs_fork
def test_a_cube_built_on_prefetched_steps_is_the_ordinary_build(monkeypatch):
    from gammapy_cocoons import cli

    reference = np.array(conventional_dge("min").spatial_model.map.data)  # the session's, built the ordinary way
    _fresh(monkeypatch)
    monkeypatch.setattr(cli, "_two_cores", lambda: 2)
    prefetch_state = cli._prefetch_state

    def without_gammapy(*args):  # in the forked child: any import of gammapy there fails
        for name in [m for m in sys.modules if m.split(".")[0] == "gammapy"]:
            sys.modules[name] = None
        return prefetch_state(*args)

    monkeypatch.setattr(cli, "_prefetch_state", without_gammapy)
    with cli._PrefetchedDGE("embedded", "min") as prefetch:  # as the command line does
        assert prefetch.call.forked
        # from here on, this process must not compute what the child did
        for name in ("_compute_hi_weights", "_compute_transmission_grid"):
            monkeypatch.setattr(conventional.ConventionalDGE, name, _fail)
        monkeypatch.setattr(localspectra, "_fit", _fail)
        monkeypatch.setattr(conventional, "CosmicRaySea", _fail)
        built = conventional_dge("min").spatial_model.map.data  # installs the child's state first
    np.testing.assert_array_equal(built, reference)
    assert {variant for variant, _ in localspectra.fitted()} == set(localspectra.KNEE_VARIANTS)
    transmission = next(v for k, v in conventional._GEOMETRY.items() if k[0] == "transmission")
    assert not transmission.flags.writeable  # shared read-only, as when computed here


def test_the_prefetch_imports_no_gammapy():
    # what the command line's child imports before its work (its work imports none either: the test
    # above runs it with gammapy's imports failing)
    code = ("import sys; import gammapy_cocoons.cli as cli; "
            "import gammapy_cocoons.dge.conventional, gammapy_cocoons.dge.localspectra, gammapy_cocoons.dge.diskcache; "
            "from gammapy_cocoons.dge.diskcache import default_inputs; default_inputs(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gammapy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_child_imports_healpy_without_its_plotting_functions():
    code = ("import sys; import gammapy_cocoons.cli as cli; cli._import_healpy_without_plots(); "
            "import healpy as hp; print(hp.nside2npix(4), hasattr(hp, 'mollview'), 'matplotlib' in sys.modules); "
            "import matplotlib; print(matplotlib.__name__)")  # importable again afterwards
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["192", "False", "False", "matplotlib"]


def test_the_prefetch_child_imports_healpy_that_way_first(monkeypatch):
    from gammapy_cocoons import cli

    calls = []
    monkeypatch.setattr(cli, "_import_healpy_without_plots", lambda: calls.append("healpy"))
    monkeypatch.setattr(conventional, "prefetch_state", lambda *args: calls.append(("prefetch", args)) or "state")
    assert cli._prefetch_state("min", "gamma") == "state"
    assert calls == ["healpy", ("prefetch", ("min", "gamma"))]


def test_nothing_is_prefetched_for_a_cube_this_process_or_the_disk_holds(fresh_process, monkeypatch):
    monkeypatch.setattr(conventional, "cube_on_disk", lambda *args: True)
    assert conventional.prefetch_state("min") is None
    monkeypatch.setattr(conventional, "cube_on_disk", lambda *args: False)
    conventional._cached_cube._entries[("max", "gamma", 128, ("pi0",))] = object()
    assert conventional.prefetch_state("max") is None
    assert not conventional._GEOMETRY and not localspectra._FITS
    with pytest.raises(ValueError, match="variant must be one of"):
        conventional.prefetch_state("median")
    with pytest.raises(ValueError, match="nside must be a power of 2"):
        conventional.prefetch_state("min", nside=100)


def test_an_expected_state_is_received_once_by_the_process_that_expects_it(fresh_process):
    calls = []

    def receive():
        calls.append(1)
        return None  # "nothing to build"

    conventional.expect_prefetched(receive)
    conventional._EXPECTED = (os.getpid() + 1, receive)  # as a forked child sees its parent's
    assert conventional.adopt_prefetched() is False and calls == []
    conventional.expect_prefetched(receive)
    assert conventional.adopt_prefetched() is False and calls == [1]  # received: None installs nothing
    assert conventional.adopt_prefetched() is False and calls == [1]  # once

    def lost():
        raise RuntimeError("the forked child ended without a result")

    conventional.expect_prefetched(lost)
    assert conventional.adopt_prefetched() is False  # the build computes everything itself
    assert not conventional._GEOMETRY and not localspectra._FITS
    conventional.expect_prefetched(receive)
    conventional.expect_prefetched(None)
    assert conventional.adopt_prefetched() is False and calls == [1]
    with pytest.raises(TypeError, match="receive must be callable or None"):
        conventional.expect_prefetched("state")
    with pytest.raises(ValueError, match="state must be None or a result of prefetch_state"):
        conventional.install_prefetched({"fits": {}})
    conventional.expect_prefetched(lambda: ["not", "a", "state"])  # received, refused: the build computes all
    assert conventional.adopt_prefetched() is False
    assert not conventional._GEOMETRY and not localspectra._FITS


def test_fits_from_elsewhere_are_checked_and_do_not_replace_this_process_s(fresh_process):
    spectra = localspectra.local_spectra("kascade-grande")  # the quickest fit (~0.05 s)
    with pytest.raises(ValueError, match="fits must map"):
        localspectra.adopt_fits({("lhaaso", False): spectra})
    other = localspectra.LocalSpectra("kascade-grande", True, {}, 0.0, 1)
    localspectra.adopt_fits({("kascade-grande", True): other})
    assert localspectra.local_spectra("kascade-grande") is spectra
    assert localspectra.fitted() == {("kascade-grande", True): spectra}


@needs_fork
def test_the_command_line_ends_a_prefetch_it_does_not_use(fresh_process, monkeypatch):
    from gammapy_cocoons import cli

    monkeypatch.setattr(cli, "_two_cores", lambda: 2)
    with cli._PrefetchedDGE("embedded", "min") as prefetch:
        assert prefetch.call.forked and conventional._EXPECTED is not None
        pid = prefetch.call._pid
    assert conventional._EXPECTED is None
    with pytest.raises(ChildProcessError):  # the child ended and was reaped
        os.waitpid(pid, os.WNOHANG)
    with cli._PrefetchedDGE("fermi-pi0", "min") as prefetch:
        assert prefetch.call is None and conventional._EXPECTED is None
