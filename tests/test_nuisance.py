"""models.nuisance (issue 24's fuzz campaign): the energy-scale model under gammapy's parameter
sampling (evaluate_error) and its refusals of energies and scales it cannot use."""
import numpy as np
import pytest
import astropy.units as u
from gammapy.modeling.models import PowerLawSpectralModel

from gammapy_cocoons.models import EnergyScaleSpectralModel

_E = np.geomspace(1.0, 100.0, 4) * u.TeV


def test_evaluate_error_samples_every_parameter_and_the_scale():
    """gammapy passes every parameter, s too, as an array of samples: each sample is s F(s E)."""
    model = EnergyScaleSpectralModel(PowerLawSpectralModel(index=2.5), 1.2)
    rng = np.random.default_rng(1)
    n = 400
    index = rng.normal(2.5, 0.1, n)
    amplitude = rng.normal(1e-12, 1e-13, n)
    scale = rng.normal(1.2, 0.05, n)
    samples = [index * u.one, amplitude * u.Unit("cm-2 s-1 TeV-1"), np.ones(n) * u.TeV, scale * u.one]
    dnde, errn, errp = model.evaluate_error(_E, samples=samples)
    # by hand: s A (s E / 1 TeV)^-index, sample by sample
    by_hand = scale * amplitude * (scale * _E.to_value("TeV")[:, None]) ** -index
    low, median, high = np.percentile(by_hand, [15.865, 50, 84.135], axis=-1)
    assert np.allclose(dnde.to_value("cm-2 s-1 TeV-1"), median, rtol=1e-12)
    assert np.allclose(errn.to_value("cm-2 s-1 TeV-1"), median - low, rtol=1e-12)
    assert np.allclose(errp.to_value("cm-2 s-1 TeV-1"), high - median, rtol=1e-12)
    with pytest.raises(ValueError, match="energy_scale"):  # gammapy retries sample by sample: either refusal
        model.evaluate_error(_E, samples=samples[:3] + [-scale * u.one])


@pytest.mark.parametrize("energy", [[0.0, 2.0], [-1.0, 2.0], [np.nan, 2.0], [np.inf, 2.0], [1 + 1j, 2.0]])
def test_energies_that_are_not_positive_finite_reals_are_refused(energy):
    model = EnergyScaleSpectralModel(PowerLawSpectralModel(), 1.3)
    with pytest.raises(ValueError, match="energy must be real, finite and > 0"):
        model(np.array(energy) * u.TeV)


@pytest.mark.parametrize("scale", ["1.2", True, 1.2 * u.m, [1.0, 2.0]])
def test_scales_that_are_not_numbers_are_refused(scale):
    with pytest.raises(TypeError, match="energy_scale must be a number"):
        EnergyScaleSpectralModel(PowerLawSpectralModel(), scale)


def test_the_node_grid_of_a_fit_is_built_once_and_read_only():
    from gammapy_cocoons.models.nuisance import _log_grid

    grid = _log_grid(u.TeV, 6.3, 1600.0)
    assert _log_grid(u.TeV, 6.3, 1600.0) is grid and not grid.flags.writeable
    assert grid[0].value == 6.3 and grid[-1].value == 1600.0 and np.all(np.diff(grid.value) > 0)
