"""Gamma-ray absorption on the CMB: Breit-Wheeler cross section and the black-body integral."""
import numpy as np
import pytest
from scipy import integrate

from gammapy_cocoons.constants import KPC_CM
from gammapy_cocoons.physics.absorption import (
    BOLTZMANN_GEV_K, CMB_TEMPERATURE_K, ELECTRON_MASS_GEV, HC_GEV_CM, SIGMA_T_CM2,
    cmb_absorption_coefficient, pair_production_cross_section,
)


def test_cross_section_limits():
    """Zero below s = 4 m^2; peak 0.256 sigma_T at s ~ 2 x 4 m^2 (Gould & Schreder 1967); far above
    threshold sigma -> (3 sigma_T / 8)(4 m^2 / s)(ln(s / m^2) - 1)."""
    threshold = 4 * ELECTRON_MASS_GEV**2
    assert pair_production_cross_section(0.999 * threshold) == 0.0
    s = threshold * np.geomspace(1.0001, 100, 4000)
    sigma = pair_production_cross_section(s)
    assert sigma.max() / SIGMA_T_CM2 == pytest.approx(0.256, abs=0.003)
    assert s[np.argmax(sigma)] / threshold == pytest.approx(1.97, rel=0.05)
    big = threshold * 1e8
    leading = 3 * SIGMA_T_CM2 / 8 * threshold / big * (np.log(big / ELECTRON_MASS_GEV**2) - 1)
    assert pair_production_cross_section(big) == pytest.approx(leading, rel=1e-3)


def _brute_force_kappa(energy):
    """kappa [kpc-1] by a 2-D integral over the photon energy and the collision angle (scipy)."""
    kt = BOLTZMANN_GEV_K * CMB_TEMPERATURE_K

    def inner(eps):
        n = 8 * np.pi * eps**2 / HC_GEV_CM**3 * np.exp(-eps / kt) / -np.expm1(-eps / kt)
        cos_max = 1 - 2 * ELECTRON_MASS_GEV**2 / (energy * eps)
        if cos_max <= -1:
            return 0.0
        value, _ = integrate.quad(
            lambda c: 0.5 * (1 - c) * pair_production_cross_section(2 * energy * eps * (1 - c)),
            -1, cos_max, epsabs=0, epsrel=1e-9, limit=200)
        return n * value

    lo = ELECTRON_MASS_GEV**2 / energy
    hi = max(60 * kt, 2 * lo)
    value, _ = integrate.quad(lambda x: inner(np.exp(x)) * np.exp(x), np.log(lo), np.log(hi),
                              epsabs=0, epsrel=1e-7, limit=400)
    return value * KPC_CM


@pytest.mark.parametrize("energy", [3e5, 2.2e6, 2e7])
def test_cmb_absorption_against_a_two_dimensional_integral(energy):
    assert cmb_absorption_coefficient(energy) == pytest.approx(_brute_force_kappa(energy), rel=2e-3)


def test_cmb_mean_free_path():
    """The statement of issue 14 (and Vernetto & Lipari 2016, Fig. 3): shortest mean free path about
    7 kpc near 2.2 PeV, an optical depth of about 1.2 over 8.5 kpc; transparent below ~100 TeV."""
    energy = np.geomspace(5e5, 1e7, 300)
    kappa = cmb_absorption_coefficient(energy)
    assert energy[np.argmax(kappa)] == pytest.approx(2.2e6, rel=0.05)
    assert 1 / kappa.max() == pytest.approx(7.0, rel=0.05)
    assert 8.5 * cmb_absorption_coefficient(2.2e6) == pytest.approx(1.2, rel=0.05)
    assert 30 * cmb_absorption_coefficient(1e5) < 1e-3
    assert cmb_absorption_coefficient(np.array([1.0, 10.0])).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="energy"):
        cmb_absorption_coefficient(-1.0)


def test_cocoon_transmission_against_a_brute_force_sky_sum():
    """CocoonEmission(absorption=True): the region transmission against a direct sum over a fine
    (l, b) grid of lines of sight (another quadrature: skymaps.line_of_sight_samples, path length s
    itself rather than the projected distance); fluxes below 100 TeV and neutrinos untouched."""
    import astropy.units as u

    from gammapy_cocoons import LHAASO_INNER, CocoonEmission
    from gammapy_cocoons.physics import skymaps

    emission = CocoonEmission(absorption=True)
    dist = emission.source_distribution
    energy = 2.2e6
    kappa = cmb_absorption_coefficient(energy)
    lon = np.radians(np.arange(15.125, 125.0, 0.25))
    lat = np.radians(np.concatenate([-np.geomspace(5.0, 0.005, 120), np.geomspace(0.005, 5.0, 120)]))
    weights_lat = np.gradient(lat) * np.cos(lat)
    grid_l, grid_b = (v.ravel() for v in np.meshgrid(lon, lat, indexing="ij"))
    r, z, s, ws = skymaps.line_of_sight_samples(grid_l, grid_b, dist.r_sun, dist.r_max, dist.h,
                                                z_breaks=(0.02, 0.05, 0.083, 0.1), n_nodes=8)
    rho = ws * dist.density(r, z)
    w = np.tile(weights_lat, lon.size)
    expected = np.sum(w * np.sum(rho * np.exp(-kappa * s), axis=1)) / np.sum(w * rho.sum(axis=1))
    ours = emission.transmission(energy * u.GeV, LHAASO_INNER).value
    assert ours == pytest.approx(expected, rel=5e-3)
    plain = CocoonEmission()
    e = [1e3, 5e4, 2.2e6] * u.GeV
    ratio = (emission.flux(e, region=LHAASO_INNER) / plain.flux(e, region=LHAASO_INNER)).value
    assert ratio[0] == 1.0 and ratio[1] > 0.9999 and ratio[2] == pytest.approx(ours, rel=1e-9)
    nu = emission.flux(e, "nu_all", LHAASO_INNER) / plain.flux(e, "nu_all", LHAASO_INNER)
    assert np.allclose(nu.value, 1.0)
    with pytest.raises(TypeError, match="absorption"):
        CocoonEmission(absorption="yes")


def test_gammapy_cocoon_models_take_the_absorption_option():
    """RegionFluxSpectralModel(absorption=True) is the engine's absorbed region flux (issue 14),
    round-trips, and refuses DGE templates and neutrinos."""
    import astropy.units as u
    from gammapy.modeling.models import SkyModel

    from gammapy_cocoons import (
        LHAASO_INNER, LHAASO_OUTER, CocoonEmission, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel,
    )

    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
    energy = np.array([10.0, 300.0, 2200.0]) * u.TeV
    for region in (LHAASO_INNER, LHAASO_OUTER, None):
        absorbed = RegionFluxSpectralModel(sky, region=region, absorption=True)
        plain = RegionFluxSpectralModel(sky, region=region)
        expected = CocoonEmission(absorption=True).flux(energy, region=region) / CocoonEmission().flux(energy, region=region)
        np.testing.assert_allclose((absorbed(energy) / plain(energy)).value, expected.value, rtol=1e-10)
        assert absorbed(energy)[0] == plain(energy)[0]  # no absorption at 10 TeV
    back = RegionFluxSpectralModel.from_dict(RegionFluxSpectralModel(sky, LHAASO_INNER, absorption=True).to_dict())
    assert back.absorption and np.allclose(back(energy).value, absorbed.__class__(sky, LHAASO_INNER, absorption=True)(
        energy).value, rtol=1e-12)
    neutrinos = SkyModel(spectral_model=CocoonSpectralModel(secondary="nu_all"), spatial_model=CocoonSpatialModel())
    with pytest.raises(ValueError, match="neutrinos"):
        RegionFluxSpectralModel(neutrinos, absorption=True)
    from gammapy.modeling.models import GaussianSpatialModel, PowerLawSpectralModel

    template = SkyModel(spectral_model=PowerLawSpectralModel(), spatial_model=GaussianSpatialModel(frame="galactic"))
    with pytest.raises(ValueError, match="DGE"):
        RegionFluxSpectralModel(template, absorption=True)
    with pytest.raises(TypeError, match="absorption"):
        RegionFluxSpectralModel(sky, absorption="yes")
