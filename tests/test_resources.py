"""Resources (issue 15, items 17 and 18): fits do not copy the DGE cube, caches are bounded by
memory, and huge energy arrays are evaluated once per distinct energy or refused."""
import copy

import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons import CocoonEmission, LHAASO_INNER


def test_a_deep_copy_shares_the_template_but_not_the_parameters():
    """gammapy's Fit deep-copies the models at every optimisation (28 times in `fit`): a copy keeps
    the read-only DGE cube (no 43 MB copy) and gets its own parameters."""
    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit

    datasets, _, _ = build_lhaaso_fit()
    model = datasets[0].models[0].spectral_model.model2  # RegionFluxSpectralModel of the DGE
    before = model(np.array([10.0, 100.0]) * u.TeV)
    clone = copy.deepcopy(model)
    assert clone.sky_model.spatial_model.map is model.sky_model.spatial_model.map
    assert clone.parameters["norm"] is not model.parameters["norm"]
    clone.parameters["norm"].value = 3.0
    assert u.allclose(model(np.array([10.0, 100.0]) * u.TeV), before)
    assert u.allclose(clone(np.array([10.0, 100.0]) * u.TeV), 3.0 * before)
    # the whole Models deep copy (what Fit does) keeps the shared cocoon parameters shared
    models = copy.deepcopy(datasets.models)
    inner, outer = models["inner"].spectral_model, models["outer"].spectral_model
    assert inner.model1.parameters["chi0"] is outer.model1.parameters["chi0"]
    assert inner.model2.sky_model.spatial_model.map is model.sky_model.spatial_model.map


def test_kernel_caches_are_bounded_by_memory(monkeypatch):
    """The cross-section matrices were kept up to 32-64 entries whatever their size."""
    from gammapy_cocoons.models import spectral
    from gammapy_cocoons.physics import production

    limit = 4 * 2**20
    monkeypatch.setattr(production, "KERNEL_CACHE_BYTES", limit)
    monkeypatch.setattr(spectral, "KERNEL_CACHE_BYTES", limit)
    emission = CocoonEmission()
    model = spectral.CocoonSpectralModel()
    for n in (300, 301, 302, 303, 304):
        energy = np.geomspace(10, 1e5, n) * u.GeV
        emission.flux(energy)
        model(energy)
        # the newest entry is always kept, even when it alone is over the limit
        cached = production._ROW_STORES
        assert sum(m.nbytes for m in cached.values()) <= limit or len(cached) == 1
        kernels = spectral._KERNELS
        assert sum(sum(c[3].nbytes for c in k.channels) for k in kernels.values()) <= limit or len(kernels) == 1


def test_many_energies_once_per_distinct_value():
    """Item 18: 2e6 energies with two distinct values cost two kernels, not 2e6; more distinct
    values than the stated limit are refused with the figure."""
    from gammapy_cocoons.emission import MAX_DISTINCT_ENERGIES

    emission = CocoonEmission()
    energy = np.repeat([10.0, 100.0], 1_000_000) * u.GeV
    flux = emission.flux(energy, region=LHAASO_INNER)
    assert flux.shape == energy.shape
    assert u.allclose(flux[[0, -1]], emission.flux([10.0, 100.0] * u.GeV, region=LHAASO_INNER))
    with pytest.raises(ValueError, match=str(MAX_DISTINCT_ENERGIES)):
        emission.flux(np.geomspace(10, 1e5, MAX_DISTINCT_ENERGIES + 1) * u.GeV)
