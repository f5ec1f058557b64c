import aafragpy
import numpy as np
import pytest

from gammapy_cocoons.constants import MB_CM2, PROTON_MASS_G
from gammapy_cocoons.physics.cosmicrays import HELIUM, PROTON, Injection, fiducial_injections
from gammapy_cocoons.physics.crosssections import differential_cross_section
from gammapy_cocoons.physics.grammage import ConstantGrammage, ExponentialGrammage
from gammapy_cocoons.physics.production import ProductionKernel

ENERGIES = np.geomspace(5.0, 3e5, 12)


@pytest.mark.parametrize("species, channel", [(PROTON, "p-p"), (HELIUM, "He-p")])
@pytest.mark.parametrize("secondary, product", [("gamma", "gam"), ("nu_all", "nu_all")])
def test_power_law_against_aafragpy_get_spectrum(species, channel, secondary, product):
    """Constant grammage and a pure power law: Eq. 7 against aafragpy's own integrator."""
    injection = Injection(species, efficiency=0.05, index=4.2, p_max=1e12)
    ours = ProductionKernel([injection], secondary, ENERGIES).evaluate(ConstantGrammage(0.4))
    # aafragpy's tables: 4 GeV - 4e11 GeV (p-p), 5 GeV - 2.5e9 GeV (He-p); the power law needs the whole range
    e_min, e_max = (4.0, 1e10) if species is PROTON else (5.0, 2.5e9)
    ep = np.geomspace(e_min, e_max, 4001)
    cs, _, _ = aafragpy.get_cross_section(product, channel, ep, ENERGIES)
    reference = aafragpy.get_spectrum(ep, ENERGIES, cs, injection.dn_de(ep)) * 0.4 * MB_CM2 / PROTON_MASS_G
    above_table = ENERGIES >= 10.0  # below 10 GeV the package adds primaries under the table
    assert np.allclose(ours[above_table], reference[above_table], rtol=5e-3)


def test_low_energy_primaries_are_included():
    """Below the AAfrag tables the Kafexhiu 2014 fill adds production at ~1 GeV, nothing at 10 GeV."""
    injection = Injection(PROTON, efficiency=0.05, index=4.26)
    e = np.array([1.0, 10.0])
    ours = ProductionKernel([injection], "gamma", e).evaluate(ConstantGrammage(0.4))
    ep = np.geomspace(4.0, 1e9, 1201)
    cs, _, _ = aafragpy.get_cross_section("gam", "p-p", ep, e)
    table_only = aafragpy.get_spectrum(ep, e, cs, injection.dn_de(ep)) * 0.4 * MB_CM2 / PROTON_MASS_G
    assert 1.03 < ours[0] / table_only[0] < 1.2
    assert ours[1] / table_only[1] == pytest.approx(1, rel=2e-3)


def test_linear_in_chi0_and_efficiency():
    kernel = ProductionKernel(fiducial_injections(), "gamma", ENERGIES)
    base = kernel.evaluate(ExponentialGrammage(0.4, 2e4))
    assert np.allclose(kernel.evaluate(ExponentialGrammage(1.2, 2e4)), 3 * base, rtol=1e-13)
    doubled = kernel.evaluate(ExponentialGrammage(0.4, 2e4), efficiencies=[0.1, 0.024])
    assert np.allclose(doubled, 2 * base, rtol=1e-12)


def test_infinite_cutoff_is_constant_grammage():
    kernel = ProductionKernel(fiducial_injections(), "gamma", ENERGIES)
    assert np.allclose(kernel.evaluate(ExponentialGrammage(0.4, 1e40)), kernel.evaluate(ConstantGrammage(0.4)), rtol=1e-14)


def test_flavours_add_up():
    sums = sum(ProductionKernel(fiducial_injections(), s, ENERGIES).evaluate(ConstantGrammage(0.4))
               for s in ("nu_e", "anu_e", "nu_mu", "anu_mu"))
    total = ProductionKernel(fiducial_injections(), "nu_all", ENERGIES).evaluate(ConstantGrammage(0.4))
    per_flavour = ProductionKernel(fiducial_injections(), "nu_per_flavour", ENERGIES).evaluate(ConstantGrammage(0.4))
    # AAfrag interpolates its summed table in log space, so the sum of the interpolated flavours
    # matches the interpolated sum to ~1e-3, not to rounding
    assert np.allclose(sums, total, rtol=2e-3)
    assert np.allclose(per_flavour, total / 3, rtol=1e-14)


def test_primary_grid_converged():
    """Default 64 per decade against 256: 3e-4 below 30 TeV, 1e-2 up to 300 TeV (R0 = 20 TV).

    Above ~100 TeV the exponential grammage weights the primaries right at the kinematic edge,
    where AAfrag's interpolated kernel switches on abruptly; the flux there is already
    suppressed by exp(-R/R0) ~ e^-10.
    """
    law = ExponentialGrammage(0.4, 2e4)
    e = np.geomspace(10, 3e5, 8)
    default = ProductionKernel(fiducial_injections(), "gamma", e, per_decade=64).evaluate(law)
    fine = ProductionKernel(fiducial_injections(), "gamma", e, per_decade=256).evaluate(law)
    ratio = np.abs(default / fine - 1)
    assert np.all(ratio[e < 3e4] < 3e-4)
    assert np.all(ratio < 1e-2)


def test_parameter_sample_axis_broadcasts():
    kernel = ProductionKernel(fiducial_injections(), "gamma", ENERGIES)
    r0 = np.array([1e4, 2e4, 5e4])
    stacked = kernel.evaluate(lambda rig: 0.4 * np.exp(-rig[:, None] / r0))
    assert stacked.shape == ENERGIES.shape + (3,)
    for i, value in enumerate(r0):
        assert np.allclose(stacked[:, i], kernel.evaluate(ExponentialGrammage(0.4, value)), rtol=1e-13)


def test_helium_target_is_close_to_pure_hydrogen():
    """Same grammage (mass column) with 10 % He by number: H column / 1.4, plus He at ~3.5x the p-p yield."""
    pure = ProductionKernel(fiducial_injections(), "gamma", ENERGIES[2:]).evaluate(ConstantGrammage(0.4))
    mixed = ProductionKernel(fiducial_injections(), "gamma", ENERGIES[2:], helium_fraction=0.1).evaluate(ConstantGrammage(0.4))
    ratio = mixed / pure
    assert np.all((ratio > 0.85) & (ratio < 1.1))


def test_superposition_approximation_for_helium():
    """4 dsigma_pp(E/4) reproduces AAfrag's He-p table within 15 % where secondaries are well below E/4."""
    e_he = np.geomspace(1e2, 1e7, 6)
    e_sec = np.array([1.0, 10.0])
    table = differential_cross_section("aafrag", "gam", "He", "p", e_he, e_sec)
    superposed = 4 * differential_cross_section("aafrag", "gam", "p", "p", e_he / 4, e_sec)
    ratio = table / superposed
    assert np.all(np.abs(ratio - 1) < 0.15)


@pytest.mark.parametrize("model", ["kafexhiu2014", "kamae2006"])
def test_alternative_cross_sections_agree_with_aafrag(model):
    """The paper: cross-section choice changes the result by <~ 15 % above 1 GeV (we allow 30 %)."""
    e = np.geomspace(3, 3e3, 5)
    ours = ProductionKernel(fiducial_injections(), "gamma", e).evaluate(ExponentialGrammage(0.4, 2e4))
    other = ProductionKernel(fiducial_injections(), "gamma", e, cross_sections=model).evaluate(ExponentialGrammage(0.4, 2e4))
    assert np.all(np.abs(other / ours - 1) < 0.3)


def test_kafexhiu_has_no_neutrinos():
    with pytest.raises(ValueError, match="gamma rays only"):
        ProductionKernel(fiducial_injections(), "nu_all", ENERGIES, cross_sections="kafexhiu2014")


def test_kafexhiu_called_per_primary_is_aafragpy():
    """The Kafexhiu 2014 p-p gamma cross sections, called once per primary on all secondaries, are
    aafragpy's own (its model function through numpy.vectorize, one call per pair) bit for bit,
    across the threshold and the kinematic edge."""
    import warnings

    from gammapy_cocoons.physics.crosssections import _kafexhiu2014_gamma

    primaries = np.concatenate([[0.9, 1.2178], np.geomspace(1.22, 4.0, 12), [50.0, 3e6]])
    secondaries = np.geomspace(1e-3, 1e4, 97)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = aafragpy.get_cross_section_Kafexhiu2014(primaries, secondaries)[0]
        got = _kafexhiu2014_gamma(primaries, secondaries)
    assert np.count_nonzero(expected > 0) > 400
    np.testing.assert_array_equal(np.nan_to_num(got), np.nan_to_num(expected))


def test_kernel_rows_shared_between_requests_equal_a_direct_evaluation():
    """Rows kept from earlier requests (other energies, overlapping ones, a permutation, repeats) are
    those of a kernel computed from scratch at the requested energies, bit for bit."""
    from gammapy_cocoons.physics import production
    from gammapy_cocoons.physics.production import PrimaryGrid, _kernel_matrix, _kernel_rows

    grid = PrimaryGrid(1.5, 1e6, 16)
    channel = ("aafrag", "gam", "p", (("p", 0.9),))  # from the Kafexhiu fill into the AAfrag table
    rng = np.random.default_rng(3)
    first = np.geomspace(0.5, 1e4, 23)
    second = np.concatenate([first[::3], rng.uniform(0.3, 3e4, 9), first[:2]])[::-1]
    production._ROW_STORES.clear()
    _kernel_matrix(*channel, grid, first)
    got = _kernel_matrix(*channel, grid, second)
    np.testing.assert_array_equal(got, _kernel_rows(*channel, grid, second))
    assert got.shape == (second.size, len(grid)) and not got.flags.writeable
    store = next(iter(production._ROW_STORES.values()))
    assert store.energy.size == np.unique(np.concatenate([first, second])).size


@pytest.mark.parametrize("product, channel", [("gam", "p-p"), ("gam", "He-He"), ("nu_all", "p-He")])
def test_aafrag_curves_are_aafragpy_get_cross_section(product, channel):
    """aafragpy's get_cross_section with its per-primary work kept between calls: its numbers bit for
    bit at random primaries and secondaries (in the table, at its edges, beyond the kinematic limit)."""
    from gammapy_cocoons.physics.crosssections import _AafragCurves, _aafrag_table_range

    rng = np.random.default_rng(7)
    low, high = _aafrag_table_range(*channel.split("-"))
    primaries = np.concatenate([[low, low * 1.0005], 10 ** rng.uniform(np.log10(low), 8, 60)])
    secondaries = np.concatenate([10 ** rng.uniform(-3, 9, 150), primaries[:5]])
    curves = _AafragCurves(product, channel, primaries)
    expected = aafragpy.get_cross_section(product, channel, primaries, secondaries, outside_bounds="raise")[0]
    assert np.count_nonzero(expected) > 2000
    np.testing.assert_array_equal(curves.evaluate(secondaries), expected)
    np.testing.assert_array_equal(curves.evaluate(secondaries[::-1][:7]), expected[:, ::-1][:, :7])


@pytest.mark.parametrize("model, product, projectile", [("kafexhiu2014", "gam", "p"), ("kafexhiu2014", "gam", "He"),
                                                        ("kamae2006", "nu_all", "p"), ("kamae2006", "anu_mu", "He")])
def test_pp_parametrisations_skip_only_what_energy_conservation_forbids(model, product, projectile, monkeypatch):
    """The p-p parametrisations leave out the secondaries above the collision's total energy: bit
    for bit the full evaluation (which is exactly 0 there), at random energies, densely just below
    the top primary's kinematic edge (where a bound too tight would drop values) and on both sides
    of the limit; all zeros (nothing evaluated) for a TeV grid over GeV primaries."""
    from gammapy_cocoons.constants import PROTON_MASS_GEV
    from gammapy_cocoons.physics import crosssections
    from gammapy_cocoons.physics.crosssections import _pp_parametrisation_raw, differential_cross_section

    rng = np.random.default_rng(11)
    nucleons = 4.0 if projectile == "He" else 1.0
    primaries = nucleons * 10 ** rng.uniform(np.log10(1.3), 2, 12)
    per_nucleon = primaries / nucleons
    limit = per_nucleon.max() + PROTON_MASS_GEV
    edge = np.geomspace(0.5, 1.0, 40) * (per_nucleon.max() - PROTON_MASS_GEV)  # up to the top primary's T_p
    secondaries = np.concatenate([10 ** rng.uniform(-1.5, 3, 60), edge, [limit * (1 - 1e-12), limit, limit * 1.5]])
    with np.errstate(all="ignore"):
        full = _pp_parametrisation_raw(model, product, per_nucleon, secondaries) * nucleons
    top = np.argmax(primaries)
    assert np.count_nonzero(full) > 200 and np.count_nonzero(full[top, 60:100]) > 20 and np.any(secondaries >= limit)
    got = differential_cross_section(model, product, projectile, "p", primaries, secondaries)
    np.testing.assert_array_equal(got, full)

    calls = []
    original = crosssections._pp_parametrisation_raw
    monkeypatch.setattr(crosssections, "_pp_parametrisation_raw", lambda *args: calls.append(args) or original(*args))
    tev = differential_cross_section(model, product, projectile, "p", primaries, np.geomspace(200, 3e6, 30))
    assert not np.any(tev) and tev.shape == (12, 30) and calls == []
