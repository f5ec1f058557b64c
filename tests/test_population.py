"""The discrete cocoon population: its mean is the smooth model, its counts are Poisson, its
positions follow rho(r, z), single cocoons have the Eq. 7 emission, and its outputs."""
import json

import numpy as np
import pytest
import astropy.units as u
from astropy.table import QTable
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from scipy import integrate, stats

from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER, CocoonEmission
from gammapy_cocoons.cli import main
from gammapy_cocoons.constants import C_CM_S, KPC_CM, PROTON_MASS_G
from gammapy_cocoons.analysis.population import lhaaso_comparison
from gammapy_cocoons.datasets import catalog_components
from gammapy_cocoons.population import CocoonPopulation, PopulationSample, ball_average_inverse_square

ENERGY = np.array([1.0, 10.0]) * u.TeV


@pytest.fixture(scope="module")
def population():
    return CocoonPopulation(seed=11)


@pytest.fixture(scope="module")
def sample(population):
    return population.realise(300)


def test_ball_average_against_quadrature():
    """<1/|y|^2> over a uniform sphere, against a direct integral over shells."""
    radius = 1.0
    for d in (0.0, 0.3, 0.99, 1.0, 1.5, 10.0, 1e3):
        def shell(rho):
            if rho == 0:
                return 0.0
            a, c = abs(d - rho), d + rho
            # shell average of 1/|y|^2 = ln((d + rho) / |d - rho|) / (2 rho d); 1/rho^2 at d = 0
            mean = 1.0 / rho**2 if d == 0 else np.log(c / a) / (2 * rho * d)
            return 4 * np.pi * rho**2 * mean
        points = [d] if 0 < d < radius else None
        value, _ = integrate.quad(shell, 0.0, radius, points=points, limit=200)
        expected = value / (4 / 3 * np.pi * radius**3)
        assert ball_average_inverse_square(np.array([d]), radius)[0] == pytest.approx(expected, rel=1e-7), d
    assert ball_average_inverse_square(np.array([1e6]), 1.0)[0] == pytest.approx(1e-12, rel=1e-12)
    with pytest.raises(ValueError, match="radius"):
        ball_average_inverse_square(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="distances"):
        ball_average_inverse_square(np.array([-1.0]), 1.0)


def test_numbers_are_poisson_with_the_confinement_time(population, sample):
    """About 6000 cocoons alive (n_gas = 1 H atom cm-3 of ISM gas), 2200 holding 20 TV, 41 holding 100 TV
    (issue 23; 8400, 3100, 57 on the paper's pure hydrogen, issue 17); counts Poisson: mean and variance
    R_SN tau_c(R)."""
    # by hand: R_SN chi_c(R) / (1.4 m_p n_gas c), chi_c = 0.4 exp(-R / 20 TV) g cm-2 (Eqs. 5, 6, 9)
    tau0_yr = 0.4 / (1.4 * PROTON_MASS_G * 1.0 * C_CM_S) / 3.15576e7
    for rigidity, expected in ((None, tau0_yr / 30), (20 * u.TV, tau0_yr / 30 * np.exp(-1)),
                               (100 * u.TV, tau0_yr / 30 * np.exp(-5))):
        # the lifetime is the longest tabulated tau_c: the lowest primary rigidity, ~0.7 GV
        assert population.mean_number(rigidity) == pytest.approx(expected, rel=1e-4)
    assert 5950 < population.mean_number() < 6100 and 2150 < population.mean_number(20 * u.TV) < 2250
    with pytest.raises(ValueError, match="levels"):
        sample.quantiles(ENERGY, levels=[0.5, 1.5])
    with pytest.raises(ValueError, match="realisations"):
        lhaaso_comparison(sample, realisations=0)
    for rigidity, counts in ((None, sample.n_alive), (20 * u.TV, sample.number_holding(20 * u.TV)),
                             (100 * u.TV, sample.number_holding(100 * u.TV))):
        mean = population.mean_number(rigidity)
        assert abs(counts.mean() - mean) < 4 * np.sqrt(mean / sample.n)
        # dispersion test: sum (k - mu)^2 / mu is chi2 with n degrees of freedom
        dispersion = np.sum((counts - mean) ** 2) / mean
        assert stats.chi2.sf(dispersion, sample.n) > 1e-3 and stats.chi2.cdf(dispersion, sample.n) > 1e-3


def test_positions_follow_the_source_density(population):
    """KS tests of the sampled Galactocentric radius and height against rho(r, z)."""
    dist = population.distribution
    position = population._sample_positions(20000)
    r = np.hypot(position[:, 0] - dist.r_sun, position[:, 1])
    z = position[:, 2]
    grid = np.linspace(0, dist.r_max, 2001)
    pdf = grid * dist.radial(grid)
    cdf = integrate.cumulative_trapezoid(pdf, grid, initial=0)
    cdf /= cdf[-1]
    assert stats.kstest(r, lambda x: np.interp(x, grid, cdf)).pvalue > 1e-3
    norm = -np.expm1(-dist.h / dist.z0)
    assert stats.kstest(np.abs(z), lambda x: -np.expm1(-np.minimum(x, dist.h) / dist.z0) / norm).pvalue > 1e-3
    assert stats.binomtest(int(np.sum(z > 0)), z.size).pvalue > 1e-3
    assert np.all(r <= dist.r_max) and np.all(np.abs(z) <= dist.h)


def test_single_cocoon_emission():
    """One point-like cocoon of age a at distance d: n_gas c sum over the primaries it still holds
    (tau_c(R) > a) of the Eq. 7 integrand, over 4 pi d^2, to 1e-10 (an independent sum over the
    kernel's channels, not the package's sorted cumulative table)."""
    population = CocoonPopulation(n_gas=2 * u.Unit("cm-3"), radius=1e-6 * u.pc)
    emission = population.emission
    energy = np.array([0.5, 5.0, 50.0]) * u.TeV
    age = 4e4 * 3.156e7
    d = 2.5
    one = PopulationSample(population, 1, np.array([0]), np.array([[d, 0.0, 0.0]]), np.array([age]))
    kernel = emission.production_kernel(energy.to_value("GeV"), "gamma")
    grammage_rate = 1.4 * PROTON_MASS_G * 2.0 * C_CM_S  # ISM gas: 1.4 m_p per H atom
    expected = 0.0
    for i, grid, rigidity, matrix in kernel.channels:
        holds = emission.grammage(rigidity) / grammage_rate > age
        expected = expected + matrix @ (kernel.injections[i].dn_de(grid.energy) * grammage_rate * holds)
    expected = expected * 1e3 / (4 * np.pi * (d * KPC_CM) ** 2)  # GeV-1 -> TeV-1
    np.testing.assert_allclose(one.flux(energy)[0].to_value("cm-2 s-1 TeV-1"), expected, rtol=1e-10)
    # and its spectrum at that age from the table
    np.testing.assert_allclose(population.spectra([age], energy)[0] / (4 * np.pi * (d * KPC_CM) ** 2), expected,
                               rtol=1e-10)


@pytest.mark.parametrize("region", [None, LHAASO_INNER, LHAASO_OUTER])
def test_mean_equals_the_smooth_model(population, sample, region):
    """Beyond 1 kpc (where the flux has a finite variance) the mean over realisations equals the
    population mean within its Monte Carlo error; the population mean is the smooth model for
    point-like cocoons."""
    flux = sample.flux(ENERGY, region, min_distance=1 * u.kpc)
    expected = population.mean_flux(ENERGY, region, min_distance=1 * u.kpc)
    error = flux.std(axis=0) / np.sqrt(sample.n)
    assert np.all(np.abs(flux.mean(axis=0) - expected) < 4 * error)
    point = CocoonPopulation(radius=1e-6 * u.pc)
    np.testing.assert_allclose(point.mean_flux(ENERGY, region), point.emission.flux(ENERGY, region=region),
                               rtol=1e-6)
    # the near field of extended cocoons: below the smooth model by < 1 % (30 pc)
    ratio = population.mean_flux(ENERGY, region) / population.emission.flux(ENERGY, region=region)
    assert np.all((ratio > 0.98) & (ratio <= 1.0))


def test_absorbed_population():
    """CocoonEmission(absorption=True): each cocoon's transmission against optical_depth from the
    Sun to its position (3-D paths: another rule than the tabulated in-plane moments); the
    realisation fluxes are the sum of the absorbed single fluxes; beyond 1 kpc their mean is the
    absorbed smooth model; neutrinos untouched."""
    from gammapy_cocoons.physics.absorption import optical_depth

    energy = np.array([10.0, 150.0, 1000.0]) * u.TeV
    emission = CocoonEmission(absorption=True, r0=2 * u.PV)
    population = CocoonPopulation(emission, seed=4)
    sample = population.realise(40)
    pick = np.arange(0, sample.realisation.size, sample.realisation.size // 200)
    x, y, z = sample.position[pick].astype(float).T
    d = np.hypot(x, y)
    tau = optical_depth(energy[:, None], np.arctan2(y, x) * u.rad, np.arctan2(z, d) * u.rad,
                        np.hypot(d, z) * u.kpc).value.T
    np.testing.assert_allclose(sample.transmission(energy)[pick], np.exp(-tau), atol=2e-3)
    # the realisation fluxes: a sum over the absorbed cocoons of each realisation
    single = sample.cocoon_flux(energy).value * population.containment(sample.position, LHAASO_INNER)[:, None]
    direct = np.array([single[sample.realisation == k].sum(axis=0) for k in range(sample.n)])
    np.testing.assert_allclose(sample.flux(energy, LHAASO_INNER).value, direct, rtol=1e-9)
    flux = sample.flux(energy, LHAASO_INNER, min_distance=1 * u.kpc)
    expected = population.mean_flux(energy, LHAASO_INNER, min_distance=1 * u.kpc)
    assert np.all(np.abs(flux.mean(axis=0) - expected) < 4 * flux.std(axis=0) / np.sqrt(sample.n))
    plain = CocoonPopulation(CocoonEmission(r0=2 * u.PV), seed=4).realise(40)
    ratio = (sample.flux(energy, LHAASO_INNER) / plain.flux(energy, LHAASO_INNER)).value
    assert np.all(ratio[:, 0] > 0.99) and np.all(ratio[:, 1] < 0.99) and np.all(ratio <= 1.0)
    np.testing.assert_array_equal(sample.flux(energy, LHAASO_INNER, "nu_all").value,
                                  plain.flux(energy, LHAASO_INNER, "nu_all").value)


def test_exponential_escape_keeps_the_mean():
    population = CocoonPopulation(n_gas=20 * u.Unit("cm-3"), escape="exponential", seed=3)
    assert population.lifetime.to_value("yr") == pytest.approx(
        12 * 0.4 / (1.4 * PROTON_MASS_G * 20 * C_CM_S) / 3.15576e7, rel=1e-3)
    sample = population.realise(150)
    flux = sample.flux(ENERGY, min_distance=1 * u.kpc)
    expected = population.mean_flux(ENERGY, min_distance=1 * u.kpc)
    assert np.all(np.abs(flux.mean(axis=0) - expected) < 4 * flux.std(axis=0) / np.sqrt(sample.n))


def test_seeds():
    a = CocoonPopulation(seed=5).realise(3)
    b = CocoonPopulation(seed=5).realise(3)
    c = CocoonPopulation(seed=6).realise(3)
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.flux(ENERGY), b.flux(ENERGY))
    assert not np.array_equal(a.n_alive, c.n_alive)


def test_cube_conserves_the_flux(sample, tmp_path):
    from gammapy.maps import HpxGeom, MapAxis, WcsGeom
    from regions import RectangleSkyRegion
    from astropy.coordinates import SkyCoord

    axis = MapAxis.from_energy_bounds(1 * u.TeV, 30 * u.TeV, 2, name="energy_true")
    geom = HpxGeom.create(nside=64, frame="galactic", axes=[axis])
    cube = sample.cube(geom, index=2)
    omega = geom.to_image().solid_angle().to_value("sr")
    total = np.sum(cube.data * omega, axis=1)
    np.testing.assert_allclose(total, sample.flux(axis.center)[2].to_value("cm-2 s-1 TeV-1"), rtol=1e-10)
    assert cube.unit == u.Unit("cm-2 s-1 TeV-1 sr-1")
    wcs = WcsGeom.create(skydir=(0, 0), binsz=0.5, width=(360, 20), frame="galactic", axes=[axis])
    band = RectangleSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic"), width=360 * u.deg, height=20 * u.deg)
    in_map = np.sum(sample.cube(wcs, index=2).data * wcs.to_image().solid_angle().to_value("sr"), axis=(1, 2))
    np.testing.assert_allclose(in_map, sample.flux(axis.center, band)[2].to_value("cm-2 s-1 TeV-1"), rtol=0.02)
    with pytest.raises(ValueError, match="index"):
        sample.cube(geom, index=sample.n)
    # exportable like the smooth templates, and read back by gammapy
    from gammapy.maps import Map

    from gammapy_cocoons.templates import write_cube

    path = write_cube(cube, tmp_path / "realisation.fits", format="gadf")
    np.testing.assert_allclose(Map.read(path).data, cube.data, rtol=1e-6)


def test_detectable_cocoons(sample):
    table = QTable({"angular_size": [0.1, 1.0, 5.0] * u.deg, "flux": [1e-13, 3e-13, 1e-12] * u.Unit("cm-2 s-1 TeV-1")})
    result = sample.detectable(table, 3 * u.TeV)
    assert result["number"].shape == (sample.n,)
    assert np.all((result["flux_fraction"] >= 0) & (result["flux_fraction"] <= 1))
    brighter = sample.detectable({"angular_size": table["angular_size"], "flux": table["flux"] / 10}, 3 * u.TeV)
    assert np.all(brighter["number"] >= result["number"])
    with pytest.raises(u.UnitsError, match="sensitivity"):
        sample.detectable({"angular_size": [0.1, 1.0], "flux": [1e-13, 1e-12]}, 3 * u.TeV)
    with pytest.raises(ValueError, match="increasing"):
        sample.detectable({"angular_size": [1.0, 0.1] * u.deg, "flux": [1e-13, 1e-12] * u.Unit("cm-2 s-1 TeV-1")},
                          3 * u.TeV)


def test_lhaaso_comparison(sample):
    components = catalog_components()
    assert components["WCDA"]["flux"].size == 59 and components["KM2A"]["flux"].size == 64
    assert np.all(components["WCDA"]["r39"] < 2.0) and np.all(components["KM2A"]["r39"] < 2.0)
    result = lhaaso_comparison(sample, realisations=50)
    km2a = result["components"]["KM2A"]
    assert km2a["energy_tev"] == 50.0 and km2a["catalog_faintest_flux"] == pytest.approx(8e-18)
    curve = km2a["lognlogs"]
    assert np.all(np.diff(curve["catalog"]) <= 0) and np.all(np.diff(curve["cocoons_median"]) <= 0)


def test_bad_input():
    with pytest.raises(ValueError, match="n_gas"):
        CocoonPopulation(n_gas=0 * u.Unit("cm-3"))
    with pytest.raises(ValueError, match="radius"):
        CocoonPopulation(radius=-1 * u.pc)
    with pytest.raises(ValueError, match="escape"):
        CocoonPopulation(escape="leaky")
    with pytest.raises(TypeError, match="emission"):
        CocoonPopulation(emission="fiducial")
    with pytest.raises(ValueError, match="realisations"):
        CocoonPopulation().realise(0)


def test_population_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["population", "--outdir", str(tmp_path), "--realisations", "30"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "population_summary.json").read_text())
    tau0_yr = 0.4 / (1.4 * PROTON_MASS_G * C_CM_S) / 3.15576e7  # chi0 / (1.4 m_p n_gas c), Eq. 9 on ISM gas
    assert summary["alive"]["expected"] == pytest.approx(tau0_yr / 30, rel=1e-4)
    assert summary["parameters"]["target"] == "ism" and "mass grammage" in summary["parameters"]["chi0_convention"]
    assert summary["parameters"]["n_gas_counts"] == "hydrogen atoms per cm3"
    table = QTable.read(tmp_path / "population_fluxes.ecsv")
    assert set(table["region"]) == {"all-sky", "lhaaso-inner", "lhaaso-outer"}
    assert (tmp_path / "population.png").stat().st_size > 0
    bad = runner.invoke(main, ["population", "--outdir", str(tmp_path / "x"), "--radius", "0"])
    assert bad.exit_code == 2 and "--radius" in bad.output and "Traceback" not in bad.output
    again = runner.invoke(main, ["population", "--outdir", str(tmp_path), "--realisations", "30"])
    assert again.exit_code == 2 and "already holds" in again.output


def test_age_tables_average_to_eq7():
    """Averaged over ages, a cocoon emits Q_sec of Eq. 7: exactly for the box escape (the same
    quadrature), to 3e-3 for the interpolated exponential table."""
    energy = np.array([1.0, 10.0, 100.0, 300.0]) * u.TeV
    production = CocoonEmission().production(energy).to_value("TeV-1")
    box = CocoonPopulation()
    _, tau, table = box._age_table(energy.to_value("GeV"), "gamma")
    edges = np.concatenate([tau, [0.0]])
    np.testing.assert_allclose(np.sum((edges[:-1] - edges[1:])[:, None] * table[1:], axis=0), production, rtol=1e-12)
    exponential = CocoonPopulation(escape="exponential")
    _, ages, table = exponential._age_table(energy.to_value("GeV"), "gamma")
    np.testing.assert_allclose(np.trapezoid(table, ages, axis=0), production, rtol=3e-3)


def test_point_like_mean_is_the_smooth_model():
    """Point-like cocoons (radius 1e-6 pc): beyond 1 kpc the mean over realisations equals the
    smooth model minus its part within 1 kpc (the near-field quadrature)."""
    point = CocoonPopulation(radius=1e-6 * u.pc, seed=4)
    sample = point.realise(200)
    for region in (None, LHAASO_OUTER):
        flux = sample.flux(ENERGY, region, min_distance=1 * u.kpc)
        expected = point.mean_flux(ENERGY, region, min_distance=1 * u.kpc)
        assert np.all(expected < point.emission.flux(ENERGY, region=region))
        assert np.all(np.abs(flux.mean(axis=0) - expected) < 4 * flux.std(axis=0) / np.sqrt(sample.n))


@pytest.mark.parametrize("target, mass", [("ism", 1.4), ("hydrogen", 1.0)])
def test_confinement_and_eq9_use_one_mean_mass(target, mass):
    """tau_c of the population and Eq. 9 of the emission: chi0 / (m n_gas c) with the same gas mass per
    hydrogen atom m (1.4 m_p for ISM gas, m_p for pure hydrogen, the paper's Eq. 9), n_gas in H atoms."""
    emission = CocoonEmission(target=target)
    population = CocoonPopulation(emission, n_gas=3 * u.Unit("cm-3"))
    by_hand = 0.4 / (mass * PROTON_MASS_G * 3.0 * C_CM_S) / 3.15576e7
    assert emission.confinement_time(3 * u.Unit("cm-3")).to_value("yr") == pytest.approx(by_hand, rel=1e-12)
    # at R -> 0 the grammage is chi0 (exp(-R / 20 TV) = 1 - 5e-8 at 1 MV)
    assert population.confinement_time(1 * u.MV).to_value("yr") == pytest.approx(by_hand, rel=1e-7)
    assert population.mean_number() == pytest.approx(by_hand / 30, rel=1e-4)


# -- issue 24 item 4: one containment rule, pieces that add up, means >= 0, cubes in any frame ----
_LARGE_COCOONS = CocoonPopulation(radius=60 * u.pc)


def _cocoons(population, positions):
    positions = np.asarray(positions, dtype=np.float32)
    return PopulationSample(population, 1, np.zeros(len(positions), np.int32), positions, np.zeros(len(positions)))


def _position(l, b, d):
    l, b = np.radians(l), np.radians(b)
    return d * np.array([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)])


@settings(max_examples=12, deadline=None)
@given(l=st.floats(-180, 180), b=st.floats(-30, 30), width=st.floats(4, 60), split=st.floats(0.05, 0.95),
       seed=st.integers(0, 100))
def test_region_pieces_add_up_for_every_cocoon(l, b, width, split, seed):
    """A box cut in two pieces, a box without a circle plus the circle's part, and the two halves as one
    compound: the shares of every cocoon add up to the whole's (before: a cocoon holding the observer
    was counted in both halves, 1.11x; compounds and boxes differed by 2.6 %), to the quadrature's
    1e-6 (2e-5 around a circle's rim). Cocoons on the edges, on the cut, near the observer and
    holding it."""
    from regions import CircleSkyRegion, RectangleSkyRegion
    from astropy.coordinates import SkyCoord

    from gammapy_cocoons.skyregions import mask_out

    population = _LARGE_COCOONS
    rng = np.random.default_rng(seed)
    cut = l - width / 2 + split * width
    # cocoons at the region's edges and cut, at 0.2-3 kpc (angular radii 1-17 deg), and two holding the observer
    ls = np.concatenate([rng.uniform(l - width / 2 - 3, l + width / 2 + 3, 30), np.full(10, cut)])
    bs = np.concatenate([rng.choice([b - 5, b + 5], 30) + rng.normal(0, 1, 30), rng.uniform(b - 4, b + 4, 10)])
    positions = [_position(li, bi, di) for li, bi, di in zip(ls, bs, rng.uniform(0.2, 3.0, ls.size))]
    positions += [_position(l, b, 0.01), _position(cut, b + 3, 0.05)]
    sample = _cocoons(population, positions)

    def box(centre, w):
        return RectangleSkyRegion(SkyCoord(centre, b, unit="deg", frame="galactic"), w * u.deg, 10 * u.deg)

    whole = box(l, width)
    left = box(0.5 * (l - width / 2 + cut), cut - (l - width / 2))
    right = box(0.5 * (cut + l + width / 2), l + width / 2 - cut)
    hole = CircleSkyRegion(SkyCoord(cut, b + 2, unit="deg", frame="galactic").icrs, 4 * u.deg)
    share = {name: population.containment(sample.position, region) for name, region in
             (("whole", whole), ("left", left), ("right", right), ("compound", left | right),
              ("without", mask_out(whole, hole)), ("hole", whole & hole))}
    assert np.allclose(share["left"] + share["right"], share["whole"], rtol=0, atol=1e-6)
    assert np.allclose(share["compound"], share["whole"], rtol=0, atol=1e-6)
    assert np.allclose(share["without"] + share["hole"], share["whole"], rtol=0, atol=2e-5)
    assert np.all((share["whole"] >= 0) & (share["whole"] <= 1))
    # the cocoons holding the observer see a share of the sky: small, > 0
    assert 0 < share["whole"][-2] < 0.5


def test_a_cocoon_straddling_a_straight_edge_shares_like_a_slab():
    """A small distant cocoon at x radii inside a box edge: 1/2 + 3/4 (x - x^3/3), the volume of a
    uniform sphere on one side of a plane (an independent closed form)."""
    from regions import RectangleSkyRegion
    from astropy.coordinates import SkyCoord

    population = CocoonPopulation(radius=30 * u.pc)
    d = 5.0
    angular = np.degrees(np.arcsin(0.03 / d))
    x = np.array([-0.8, -0.3, 0.0, 0.4, 0.9])
    sample = _cocoons(population, [_position(30.0, 5.0 - xi * angular, d) for xi in x])
    box = RectangleSkyRegion(SkyCoord(30, 0, unit="deg", frame="galactic"), 40 * u.deg, 10 * u.deg)
    expected = 0.5 + 0.75 * (x - x**3 / 3)
    assert np.allclose(population.containment(sample.position, box), expected, atol=2e-4)


def test_small_cocoons_on_an_edge_share_their_ball_volume():
    """Small cocoons one boundary circle crosses take the flat-sky closed form; against the fraction
    of points drawn uniformly in each cocoon's ball whose direction lies in the region (brute force,
    independent), and against the quadrature. Included: cocoons on a box's meridian circle beyond
    its corners (outside the box: share 0), and near a corner (two circles: the quadrature)."""
    from gammapy_cocoons import population as module
    from gammapy_cocoons.skyregions import LHAASO_INNER, to_lb_region

    population = CocoonPopulation(radius=20 * u.pc)
    rng = np.random.default_rng(3)
    d = rng.uniform(2.5, 10.0, 40)
    angular = np.degrees(np.arcsin(0.02 / d))
    offsets = rng.uniform(-0.95, 0.95, 40) * angular
    ls = np.concatenate([np.full(10, 15.0) + offsets[:10], rng.uniform(20, 120, 10),
                         np.full(10, -55.0) + offsets[20:30], np.full(10, 125.0) + offsets[30:]])
    bs = np.concatenate([rng.uniform(-4.5, 4.5, 10), 5.0 + offsets[10:20], rng.uniform(-4, 4, 10),
                         np.full(10, 5.0) + 0.3 * offsets[30:]])
    positions = np.array([_position(li, bi, di) for li, bi, di in zip(ls, bs, d)])
    share = population.containment(positions.astype(np.float32), LHAASO_INNER)
    lb = to_lb_region(LHAASO_INNER)
    l, b = module._lb(positions)
    size = np.arcsin(0.02 / d)
    flat, _ = module._small_cap_shares(lb, l, b, size)
    assert flat[:30].all() and not flat[30:].any()  # the last ten sit at the corner (125, 5)
    assert np.all(share[20:30] == 0.0)  # l = -55: the meridian circle of l = 125, not the box's edge
    n = 400_000
    for k in (*range(0, 20, 3), 30, 35):
        v = rng.normal(size=(n, 3))
        v *= (0.02 * rng.random(n) ** (1 / 3) / np.linalg.norm(v, axis=1))[:, None]
        q = positions[k] + v
        inside = lb.contains(np.arctan2(q[:, 1], q[:, 0]), np.arctan2(q[:, 2], np.hypot(q[:, 0], q[:, 1])))
        assert share[k] == pytest.approx(inside.mean(), abs=4 * np.sqrt(0.25 / n) + 1e-4), k
    sin2 = np.sin(size[:20]) ** 2

    def chord(one_minus_cos, rows, ndim):
        limit = sin2[rows].reshape((-1,) + (1,) * (ndim - 1))
        return np.sqrt(np.maximum(limit - one_minus_cos * (2.0 - one_minus_cos), 0.0))

    quadrature = module._cap_shares(lb, l[:20], b[:20], size[:20], chord)
    assert np.allclose(share[:20], quadrature, atol=1e-4)  # measured 7e-5 at most on a parallel at b = 5 deg
    # a small source mask bends across a cocoon as large as itself: not a straight edge (the quadrature)
    from regions import CircleSkyRegion
    from astropy.coordinates import SkyCoord

    mask = CircleSkyRegion(SkyCoord(60.0, 0.0, unit="deg", frame="galactic"), 0.3 * u.deg)
    near_mask = np.array([_position(60.0, 0.3 + 0.5 * a, dk) for a, dk in zip(angular[:5], d[:5])])
    flat, _ = module._small_cap_shares(to_lb_region(mask), *module._lb(near_mask), size[:5])
    assert not flat.any()


def test_mean_flux_with_min_distance_is_never_negative_and_exact():
    """High latitudes hold no sources beyond the disc's top (0.1 kpc / sin b): with min_distance 1 kpc
    the mean is 0 (it was negative, a cancellation); with 0.15 kpc and point-like cocoons it is the
    column beyond 0.15 kpc, against a direct Gauss-Legendre sum over directions and distance."""
    from regions import RectangleSkyRegion
    from astropy.coordinates import SkyCoord

    cap = RectangleSkyRegion(SkyCoord(0, 65, unit="deg", frame="galactic"), 360 * u.deg, 50 * u.deg)
    population = CocoonPopulation()
    assert np.all(population.mean_flux(ENERGY, cap, min_distance=1 * u.kpc).value == 0)
    point = CocoonPopulation(radius=1e-6 * u.pc)
    ratio = (point.mean_flux(ENERGY, cap, min_distance=0.15 * u.kpc) / point.emission.flux(ENERGY, region=cap)).value
    dist = point.distribution
    x, w = np.polynomial.legendre.leggauss(64)
    l, wl = np.pi * x, np.pi * w
    direct = []
    # directions with sin b up to h / 0.15 reach beyond 0.15 kpc inside the disc: the far part's domain
    for start, z_max in ((0.0, 1.0), (0.15, dist.h / 0.15)):
        z_min = np.sin(np.radians(40))
        z, wz = 0.5 * (z_max - z_min) * x + 0.5 * (z_max + z_min), 0.5 * (z_max - z_min) * w
        top = dist.h / z
        s = 0.5 * (top - start)[:, None] * x + 0.5 * (top + start)[:, None]  # (z, s)
        px = s[None] * np.sqrt(1 - z**2)[None, :, None] * np.cos(l)[:, None, None]
        py = s[None] * np.sqrt(1 - z**2)[None, :, None] * np.sin(l)[:, None, None]
        rho = dist.density(np.hypot(px - dist.r_sun, py), s[None] * z[None, :, None])
        direct.append(np.einsum("i,j,ijk,jk->", wl, wz, rho, 0.5 * (top - start)[:, None] * w))
    assert np.allclose(ratio, direct[1] / direct[0], rtol=1e-5)
    assert 0 < ratio[0] < 1


def test_celestial_cubes_put_cocoons_where_galactic_ones_do(sample):
    """A realisation's cube on an ICRS HEALPix grid holds the same LHAASO-inner flux as the cocoons
    themselves (before: the ICRS coordinates were read as l, b)."""
    from gammapy.maps import HpxGeom, MapAxis

    from gammapy_cocoons.pixelweights import region_integral

    axis = MapAxis.from_energy_bounds(1 * u.TeV, 30 * u.TeV, 1, name="energy_true")
    expected = sample.flux(axis.center, LHAASO_INNER)[2].to_value("cm-2 s-1 TeV-1")
    for frame in ("galactic", "icrs"):
        cube = sample.cube(HpxGeom.create(nside=32, frame=frame, axes=[axis]), index=2)
        found = region_integral(cube, LHAASO_INNER).to_value("cm-2 s-1 TeV-1")
        assert np.allclose(found, expected, rtol=0.05), frame


def test_containment_in_chunks_is_the_same(monkeypatch):
    """Shares computed in chunks of cocoons (bounded temporaries: population 1.09 -> 0.78 GB) are the
    cocoons' own: the same to rounding as in one pass, for a box and a compound region."""
    from gammapy_cocoons import population as module
    from gammapy_cocoons.skyregions import LHAASO_INNER, mask_out
    from regions import CircleSkyRegion
    from astropy.coordinates import SkyCoord

    population = CocoonPopulation(seed=3)
    sample = population.realise(3)
    masked = mask_out(LHAASO_INNER, CircleSkyRegion(SkyCoord(40, 0, unit="deg", frame="galactic"), 2 * u.deg))
    for region in (LHAASO_INNER, masked):
        whole = population.containment(sample.position, region)
        monkeypatch.setattr(module, "_CONTAINMENT_CHUNK", 997)
        chunked = population.containment(sample.position, region)
        monkeypatch.setattr(module, "_CONTAINMENT_CHUNK", 10**9)
        assert np.allclose(chunked, whole, rtol=0, atol=1e-12)


def test_containment_refuses_cocoons_it_cannot_read():
    """Bad positions, (l, b) or distances: one ValueError naming the argument, not numpy's IndexError
    (or a silent share of 0 for a NaN position)."""
    from gammapy_cocoons.skyregions import LHAASO_INNER

    population = CocoonPopulation(seed=3)
    position = np.array([[2.0, 5.0, 0.0], [-3.0, 4.0, 0.1]])
    assert population.containment(position, LHAASO_INNER).shape == (2,)
    for bad in (position[:, :2], [["a", "b", "c"]], "xyz", np.array([[np.nan, 1.0, 0.0]])):
        with pytest.raises(ValueError, match="position must be an"):
            population.containment(bad, LHAASO_INNER)
    for bad in ((np.zeros(3), np.zeros(2)), (np.zeros(2),), (np.zeros(2), [np.nan, 0.0]), "lb", 0.5):
        with pytest.raises(ValueError, match="lonlat must be"):
            population.containment(position, LHAASO_INNER, lonlat=bad)
    for bad in (np.ones(3), [1.0, -2.0], ["a", "b"]):
        with pytest.raises(ValueError, match="distance must be"):
            population.containment(position, LHAASO_INNER, distance=bad)


def _dense_cap_shares(lb, l0, b0, size, profile, nodes=(12, 10)):
    """The cap quadrature as it was written first (issue 24): every longitude piece and latitude arc
    of every cap, empty or not, evaluated on dense arrays; (region, cap) integrals."""
    from gammapy_cocoons import population as module
    from gammapy_cocoons.pixelweights import _breaks_within

    n_l, n_b = nodes
    whole = size >= np.pi
    pole = whole | (np.abs(b0) + size >= 0.5 * np.pi)
    half = np.where(pole, np.pi, np.arcsin(np.clip(np.sin(size) / np.cos(b0), 0.0, 1.0)))
    rims = module._rim_crossings(lb, l0, b0, size)
    rims[whole] = np.nan
    cuts = np.concatenate([_breaks_within(lb, l0, -half, half), rims], axis=1)
    with np.errstate(invalid="ignore"):
        cuts = np.where(np.isfinite(cuts) & (np.abs(cuts) < half[:, None]), cuts, half[:, None])
    edges = np.concatenate([-half[:, None], np.sort(cuts, axis=1), half[:, None]], axis=1)
    dl, wl = module._sine_nodes(edges[:, :-1], edges[:, 1:], n_l)
    dl, wl = dl.reshape(l0.size, -1), wl.reshape(l0.size, -1)
    cap = module._cap_intervals(dl, b0[:, None], module._cap_arc(dl, b0[:, None], np.cos(size)[:, None]))
    cap[whole] = np.array([[-0.5 * np.pi, 0.5 * np.pi], [0.0, 0.0]])
    region = lb.latitude_interval_array((l0[:, None] + dl).ravel()).reshape(dl.shape + (-1, 2))
    integrals = []
    for low, high in ((np.maximum(cap[..., :, None, 0], region[..., None, :, 0]),
                       np.minimum(cap[..., :, None, 1], region[..., None, :, 1])), (cap[..., 0], cap[..., 1])):
        b, wb = module._sine_nodes(low, np.maximum(high, low), n_b)
        b0e = b0.reshape((-1,) + (1,) * (b.ndim - 1))
        dle = dl.reshape(dl.shape + (1,) * (b.ndim - 2))
        one_minus_cos = 0.5 * ((np.sin(b) - np.sin(b0e)) ** 2 + (np.cos(b) - np.cos(b0e)) ** 2) + \
            2.0 * np.cos(b) * np.cos(b0e) * np.sin(0.5 * dle) ** 2
        values = np.sum(wb * np.cos(b) * profile(one_minus_cos, np.arange(l0.size), b.ndim), axis=-1)
        integrals.append(np.sum(wl * values.reshape(dl.shape + (-1,)).sum(axis=-1), axis=1))
    return np.array(integrals)


def test_cap_quadrature_on_non_empty_pieces_is_the_dense_one():
    """The cap quadrature leaves out empty longitude pieces and latitude arcs and reuses a cap's arc
    where the region holds it whole: the same integrals as evaluating everything (to 1e-13), for
    caps on a box's edges and corners, on a source mask's rim, in a compound region, over a pole,
    and for the whole sky (the depth profile of a cocoon holding the observer)."""
    from regions import CircleSkyRegion
    from astropy.coordinates import SkyCoord

    from gammapy_cocoons import population as module
    from gammapy_cocoons.skyregions import mask_out, to_lb_region

    rng = np.random.default_rng(5)
    n = 120
    l0 = np.radians(np.concatenate([rng.choice([15.0, 125.0], n // 2), rng.uniform(10, 130, n - n // 2)])
                    + rng.normal(0, 2, n))
    b0 = np.radians(np.concatenate([rng.uniform(-6, 6, n // 2), rng.choice([-5.0, 5.0], n - n // 2)])
                    + rng.normal(0, 1, n))
    b0[:3] = np.radians([88.0, -87.0, 60.0])  # over a pole
    size = np.radians(rng.uniform(0.3, 8.0, n))
    size[:3] = np.radians([5.0, 10.0, 40.0])
    sin2 = np.sin(size) ** 2

    def chord(one_minus_cos, rows, ndim):
        limit = sin2[rows].reshape((-1,) + (1,) * (ndim - 1))
        return np.sqrt(np.maximum(limit - one_minus_cos * (2.0 - one_minus_cos), 0.0))

    hole = CircleSkyRegion(SkyCoord(40.0, 2.0, unit="deg", frame="galactic"), 4 * u.deg)
    for region in (LHAASO_INNER, mask_out(LHAASO_INNER, hole), LHAASO_INNER | LHAASO_OUTER):
        lb = to_lb_region(region)
        fast = module._cap_shares(lb, l0, b0, size, chord, totals=True)
        dense = _dense_cap_shares(lb, l0, b0, size, chord)
        assert np.allclose(fast, dense, rtol=1e-13, atol=1e-13 * dense[1].max())
    # the whole sky around cocoons holding the observer (the depth profile, finer nodes)
    d = np.array([0.01, 0.02, 0.029])

    def depth(one_minus_cos, rows, ndim):
        dd = d[rows].reshape((-1,) + (1,) * (ndim - 1))
        cos_psi = 1.0 - one_minus_cos
        return dd * cos_psi + np.sqrt(np.maximum(0.03**2 - dd**2 * (1.0 - cos_psi**2), 0.0))

    lb = to_lb_region(LHAASO_OUTER)
    args = (lb, l0[3:6], b0[3:6], np.full(3, np.pi), depth)
    fast = module._cap_shares(*args, nodes=(48, 48), totals=True)
    assert np.allclose(fast, _dense_cap_shares(*args, nodes=(48, 48)), rtol=1e-13, atol=0)


def test_distance_integrals_of_all_directions_at_once_are_those_of_each():
    """The near field's distance integrals, all latitudes at once (empty segments where a direction
    has fewer kinks), against one direction and one segment at a time (to 1e-13), with and without
    absorption and ``min_distance``."""
    from gammapy_cocoons.physics.absorption import PlaneDepths

    population = CocoonPopulation(radius=40 * u.pc)
    dist, radius = population.distribution, population.radius_kpc
    x, w = np.polynomial.legendre.leggauss(24)
    energy = np.array([1e3, 1e5, 1e6])
    b = np.radians([-60.0, -5.0, -0.5, 0.0, 0.3, 2.0, 30.0, 89.0])
    for near, d_min in ((0.8, 0.0), (1.5, 0.5), (0.8, 0.04)):
        depths = PlaneDepths(near, r_sun=dist.r_sun)
        for absorbed in (False, True):
            args = (depths, energy) if absorbed else ()
            fast = population._distance_integral(0.7, b, near, d_min, *args)
            for k, bk in enumerate(b):
                top = dist.h / max(abs(np.sin(bk)), 1e-12)
                edges = sorted({0.0, near, *(e for e in (d_min, radius, top) if 0.0 < e < near)})
                total = 0.0
                for a, c in zip(edges[:-1], edges[1:]):
                    s = 0.5 * (c - a) * x + 0.5 * (c + a)
                    pz = s * np.sin(bk)
                    rho = dist.density(np.hypot(s * np.cos(bk) * np.cos(0.7) - dist.r_sun, s * np.cos(bk) * np.sin(0.7)), pz)
                    values = 0.5 * (c - a) * w * rho * np.where(s >= d_min, s**2 * ball_average_inverse_square(s, radius), 0)
                    if absorbed:
                        total = total + values @ np.exp(-depths.depth(energy, np.full(s.size, 0.7), s * np.cos(bk), pz))
                    else:
                        total += np.sum(values)
                assert np.allclose(fast[k], total, rtol=1e-13, atol=0), (near, d_min, absorbed, k)


def test_sample_fluxes_in_chunks_are_the_sums_over_cocoons(monkeypatch):
    """The realisations' fluxes, summed chunk by chunk over the cocoons with a share > 0 (sparse region
    shares, distances computed per chunk), against the plain sum over every cocoon of geometry x
    containment x spectrum (to 1e-12), with and without min_distance."""
    from gammapy_cocoons import population as module

    monkeypatch.setattr(module, "_CONTAINMENT_CHUNK", 1499)
    population = CocoonPopulation(seed=4)
    sample = population.realise(3)
    d = module._norm(sample.position)
    geometry = ball_average_inverse_square(d, population.radius_kpc) / (4 * np.pi * KPC_CM**2)
    spectra = population.spectra(sample.age, ENERGY)  # (n_cocoons, n_energy) TeV-1 s-1
    for region in (None, LHAASO_OUTER):
        share = population.containment(sample.position, region, tuple(a.astype(np.float32) for a in module._lb(
            sample.position)), d) if region is not None else 1.0
        for d_min in (0.0, 1.0):
            weight = geometry * share * (d >= d_min)
            expected = np.array([weight[sample.realisation == k] @ spectra[sample.realisation == k] for k in range(3)])
            flux = sample.flux(ENERGY, region, min_distance=d_min * u.kpc).to_value("cm-2 s-1 TeV-1")
            assert np.allclose(flux, expected, rtol=1e-12, atol=0), (region, d_min)
    assert "distance" not in sample._cache  # no array of all the distances was kept


def test_declination_band_by_rotation_is_astropys():
    """The 1LHAASO field test by the ICRS pole's Galactic vector: the same membership as SkyCoord's
    transform, for random directions and ones 1e-9 deg inside and outside the band's edges."""
    from astropy.coordinates import SkyCoord

    from gammapy_cocoons.analysis.population import LHAASO_DECLINATION, _in_declination_band

    rng = np.random.default_rng(2)
    ra = rng.uniform(0, 360, 3000)
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 2000))),
                          np.repeat(LHAASO_DECLINATION, 500) + np.tile([-1e-9, 1e-9], 500)])
    galactic = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic
    in_band = (dec > LHAASO_DECLINATION[0]) & (dec < LHAASO_DECLINATION[1])
    assert np.array_equal(_in_declination_band(galactic.l.rad, galactic.b.rad), in_band)


def test_lognlogs_counts_by_one_histogram_are_the_comparisons():
    """N(>S) per realisation from one histogram over (realisation, grid values below the flux), against
    one comparison per grid value, with fluxes equal to grid values (ties count as above)."""
    from gammapy_cocoons.analysis.population import _counts_above

    rng = np.random.default_rng(6)
    flux = 10 ** rng.uniform(-16, -10, 5000)
    index = rng.integers(0, 7, flux.size).astype(np.int32)
    grid = np.geomspace(1e-15, 1e-11, 40)
    flux[:40] = grid
    expected = np.array([np.bincount(index[flux >= s], minlength=7) for s in grid])
    assert np.array_equal(_counts_above(flux, index, 7, grid), expected)


def test_boundary_prefilter_keeps_every_cocoon_near_an_edge():
    """The containment's cheap test (population._maybe_near_boundary) may keep too many cocoons,
    never too few: every (l, b, radius) the box's own boundary_distance puts within the radius of
    its boundary passes it, near meridian and parallel edges, for wide, narrow and polar boxes."""
    from gammapy_cocoons.population import _maybe_near_boundary
    from gammapy_cocoons.skyregions import LBBox

    rng = np.random.default_rng(3)
    boxes = (LBBox(np.radians(70), np.radians(55), np.radians(-5), np.radians(5)),
             LBBox(3.1, 2.9, -1.0, 0.4), LBBox(-2.0, 0.01, -1.6, 0.3), LBBox(0.5, 1.5, -np.pi / 2, 1.2))
    for box in boxes:
        # points near the box's edges and anywhere, radii from tiny to a right angle
        edges = np.array([box.l_center - box.half_width, box.l_center + box.half_width])
        l = np.concatenate([rng.choice(edges, 20000) + rng.normal(0, 0.05, 20000), rng.uniform(-np.pi, np.pi, 20000)])
        b = np.concatenate([rng.uniform(-1.5, 1.5, 20000), rng.choice([box.b_min, box.b_max], 20000)
                            + rng.normal(0, 0.05, 20000)])
        b = np.clip(b, -np.pi / 2, np.pi / 2)
        angular = 10 ** rng.uniform(-6, np.log10(np.pi / 2), l.size)
        near = box.boundary_distance(l, b) <= angular
        kept = _maybe_near_boundary(box, l, b, angular)
        assert near.sum() > 1000 and np.all(kept[near])
        assert kept.mean() < 1.0  # and it does filter


def test_box_bulk_test_gives_the_exact_rules_shares():
    """l-b boxes: the single-precision test of the cocoons far from the edges (population._box_bulk) and the
    exact rule for the rest give every cocoon the share of the exact rule alone (bitwise), for cocoons on and
    near the edges and corners, far away, around the observer, tiny and large, in boxes narrow, wide (more
    than a hemisphere in longitude), polar and all-round, with (l, b) in single or double precision."""
    from gammapy_cocoons import population as module
    from gammapy_cocoons.skyregions import LBBox, to_lb_region

    rng = np.random.default_rng(8)
    boxes = (to_lb_region(LHAASO_INNER), to_lb_region(LHAASO_OUTER), LBBox(2.0, 0.02, -0.3, 0.01),
             LBBox(0.3, 2.4, -0.2, 0.5), LBBox(-1.0, 0.8, 1.2, np.pi / 2), LBBox(0.0, np.pi, -0.05, 0.05))
    for box, radius in zip(boxes, (30, 30, 5, 60, 30, 1e-6)):
        population = CocoonPopulation(radius=radius * u.pc)
        n = 1000
        edges = np.array([box.l_center - box.half_width, box.l_center + box.half_width])
        l = np.concatenate([rng.choice(edges, n) + rng.normal(0, 0.02, n), rng.uniform(-np.pi, np.pi, n)])
        b = np.concatenate([rng.uniform(box.b_min - 0.1, box.b_max + 0.1, n),
                            rng.choice([box.b_min, box.b_max], n) + rng.normal(0, 0.02, n)])
        b = np.clip(b, -1.5, 1.5)
        d = 10 ** rng.uniform(-0.7, 1.3, l.size)  # 0.2 to 20 kpc, and three around the observer
        d[:3] = population.radius_kpc * np.array([0.1, 0.9, 1.05])
        position = (d * np.array([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)])).T.astype(np.float32)
        for lonlat in (None, tuple(a.astype(np.float32) for a in module._lb(position))):
            fast = population.containment(position, box, lonlat)
            ll, bb = module._lb(position) if lonlat is None else lonlat
            exact = population._exact_containment(box, position, ll, bb)
            assert np.array_equal(fast, exact), box.key
        if radius > 1:
            assert 0.02 < np.mean((fast > 0) & (fast < 1)) < 0.9  # the test has cocoons on the edges


def test_box_edges_are_half_great_circles():
    """LBBox.boundary_distance (the population's containment and the pixel weights): a lower bound on
    the distance to an l-b box's edges (against the nearest of dense points along them), and far above
    the distance to a meridian edge's whole great circle 180 deg from that edge (caps there are not cut)."""
    from gammapy_cocoons.skyregions import LBBox, _unit_vectors

    rng = np.random.default_rng(9)
    for box in (LBBox(1.2217, 0.96, -0.0873, 0.0873), LBBox(-2.0, 0.3, -0.6, 1.2), LBBox(0.4, 2.0, 0.1, 0.3)):
        lo, hi = box.l_center - box.half_width, box.l_center + box.half_width
        t = np.linspace(0.0, 1.0, 4001)
        edge_points = np.concatenate([
            _unit_vectors(np.full(t.size, lo), box.b_min + t * (box.b_max - box.b_min)),
            _unit_vectors(np.full(t.size, hi), box.b_min + t * (box.b_max - box.b_min)),
            _unit_vectors(lo + t * (hi - lo), np.full(t.size, box.b_min)),
            _unit_vectors(lo + t * (hi - lo), np.full(t.size, box.b_max))])
        antipodes = rng.choice([lo, hi], 500) + np.pi + rng.normal(0, 0.1, 500)
        l = np.concatenate([rng.uniform(-np.pi, np.pi, 1500), antipodes])
        b = rng.uniform(-1.4, 1.4, l.size)
        nearest = np.arccos(np.clip(np.max(_unit_vectors(l, b) @ edge_points.T, axis=1), -1, 1))
        spacing = 2 * box.half_width / 4000 + (box.b_max - box.b_min) / 4000
        bound = box.boundary_distance(l, b)
        assert np.all(bound <= nearest + spacing)
        if box.half_width < 1.0 and box.b_max < 0.1:  # a LHAASO box: nothing 180 deg from its meridian edges
            far = np.abs(b[1500:]) < 0.5
            great_circles = np.min([np.arcsin(np.abs(np.sin(l[1500:] - e)) * np.cos(b[1500:])) for e in (lo, hi)],
                                   axis=0)
            assert np.all(bound[1500:][far] > great_circles[far] + 0.25)


def test_count_greater_is_the_bisection():
    """Age rows by the bucket look-up (population._count_greater): the integers of searchsorted, for random
    ages and ages on, just above and just below the nodes and at the ends of their range."""
    from gammapy_cocoons.population import _COUNT_BUCKETS, _count_greater

    rng = np.random.default_rng(10)
    nodes = np.sort(np.concatenate([10 ** rng.uniform(8, 12.7, 1800), np.zeros(40), [5e12] * 3]))[::-1]
    values = rng.uniform(0.0, 5e12, 10 * _COUNT_BUCKETS)
    chosen = rng.choice(nodes, 3000)
    values[:9000] = np.concatenate([chosen, np.nextafter(chosen, np.inf), np.nextafter(chosen, -np.inf)])
    values[9000:9002] = (0.0, 5e12)
    expected = np.searchsorted(-nodes, -values, side="left")
    assert np.array_equal(_count_greater(nodes, values), expected)
    assert np.array_equal(_count_greater(nodes, values[:100]), expected[:100])  # few values: bisection


def test_summed_flux_is_the_realisations_sum():
    """The flux of all the realisations together from the cocoons beyond each distance, in one pass, against
    the sum over realisations of flux(min_distance=...) (to 1e-13), for box and exponential escape and
    absorbed gamma rays; and n_alive, kept from realise, against the bincount of the cocoons."""
    for population in (CocoonPopulation(seed=5), CocoonPopulation(escape="exponential", seed=5),
                       CocoonPopulation(CocoonEmission(absorption=True), seed=5)):
        sample = population.realise(3)
        assert np.array_equal(sample.n_alive, np.bincount(sample.realisation, minlength=3))
        for region in (None, LHAASO_OUTER):
            summed = sample._summed_flux(ENERGY, region, min_distances=(0.0, 0.5, 1.0))
            expected = [sample.flux(ENERGY, region, min_distance=d * u.kpc).to_value("cm-2 s-1 TeV-1").sum(axis=0)
                        for d in (0.0, 0.5, 1.0)]
            np.testing.assert_allclose(summed, expected, rtol=1e-13, atol=0)


def test_population_results_on_two_workers_are_the_same(monkeypatch):
    """population_results with the containment of most chunks of cocoons in a forked process and of
    the first few in this one: the same table, comparison and summary (but the seconds) as in one
    process."""
    from gammapy_cocoons import population as module
    from gammapy_cocoons.analysis.population import population_results

    monkeypatch.setattr(module, "_CONTAINMENT_CHUNK", 997)  # 25 chunks: this process takes 4
    one = population_results(realisations=4, workers=1)
    two = population_results(realisations=4, workers=2)
    for key in one[0].colnames:
        assert np.array_equal(np.asarray(one[0][key]), np.asarray(two[0][key])), key
    assert one[1] == two[1]
    del one[2]["seconds"], two[2]["seconds"]
    assert json.dumps(one[2]) == json.dumps(two[2])
