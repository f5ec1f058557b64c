import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from hypothesis import given, settings, strategies as st
from regions import CircleSkyRegion, RectangleSkyRegion

from gammapy_cocoons import (
    LHAASO_INNER, LHAASO_OUTER, CocoonEmission, EscapeGrammage, fiducial_injections,
)
from gammapy_cocoons.constants import C_CM_S, PROTON_MASS_G

GRAMMAGE = u.g / u.cm**2
# fixed energies so that hypothesis examples reuse the cached kernels
E = np.geomspace(10 * u.GeV, 300 * u.TeV, 9)


def test_eq9_confinement_time(fiducial):
    tau = fiducial.confinement_time(1 * u.cm**-3)
    assert tau.to_value(u.yr) == pytest.approx(2.5e5, rel=0.02)
    # by hand: chi / (m_p n c)
    assert tau.to_value(u.s) == pytest.approx(0.4 / (PROTON_MASS_G * C_CM_S), rel=1e-12)
    assert fiducial.confinement_time(2 * u.cm**-3).to_value(u.yr) == pytest.approx(tau.to_value(u.yr) / 2)


def test_eq10_cocoon_size(fiducial):
    radius = fiducial.maximum_cocoon_radius(1 * u.cm**-3)
    assert radius.to_value(u.pc) == pytest.approx(120, rel=0.02)
    # the scaling laws of Eq. 10
    assert fiducial.maximum_cocoon_radius(8 * u.cm**-3).to_value(u.pc) == pytest.approx(2 * radius.to_value(u.pc))
    double = CocoonEmission(chi0=0.8 * GRAMMAGE, target="hydrogen")
    assert double.maximum_cocoon_radius().to_value(u.pc) == pytest.approx(radius.to_value(u.pc) / 2 ** (1 / 3))


def test_flux_is_intensity_times_solid_angle(fiducial):
    flux = fiducial.flux(E, region=LHAASO_INNER)
    assert flux.unit == u.Unit("cm-2 s-1 TeV-1")
    intensity = fiducial.intensity(E, LHAASO_INNER)
    assert np.allclose((intensity * fiducial.solid_angle(LHAASO_INNER)).to_value(flux.unit), flux.value, rtol=1e-13)


def test_all_sky_flux_is_sum_of_hemispheres(fiducial):
    north = RectangleSkyRegion(SkyCoord(0, 45, unit="deg", frame="galactic"), 360 * u.deg, 90 * u.deg)
    south = RectangleSkyRegion(SkyCoord(0, -45, unit="deg", frame="galactic"), 360 * u.deg, 90 * u.deg)
    total = fiducial.flux(E, "nu_all")
    assert np.allclose((fiducial.flux(E, "nu_all", north) + fiducial.flux(E, "nu_all", south)).value, total.value, rtol=1e-6)


def test_eq8_by_hand(fiducial):
    """Phi = Q / (4 pi) x int dOmega int ds rho, assembled from the public pieces."""
    q = fiducial.production(E)
    geometry = fiducial.sky_integral(LHAASO_OUTER)
    assert np.allclose(fiducial.flux(E, region=LHAASO_OUTER).to_value("cm-2 s-1 TeV-1"),
                       (q * geometry / (4 * np.pi * u.sr)).to_value("cm-2 s-1 TeV-1"), rtol=1e-13)


def test_inner_galaxy_is_brighter_and_harder_than_outer(fiducial):
    inner = fiducial.intensity(E, LHAASO_INNER)
    outer = fiducial.intensity(E, LHAASO_OUTER)
    assert np.all(inner > outer)
    # same spectrum per source everywhere: the ratio is energy independent (pure geometry)
    assert np.allclose(inner / outer, (inner / outer)[0], rtol=1e-12)


def test_point_intensity_matches_small_region(fiducial):
    centre = SkyCoord(60, 8, unit="deg", frame="galactic")
    small = CircleSkyRegion(centre, 0.05 * u.deg)
    point = fiducial.sky_intensity(E, centre.l, centre.b)
    assert np.allclose(point.value, fiducial.intensity(E, small).value, rtol=1e-4)


def test_neutrino_flavours(fiducial):
    assert np.allclose(fiducial.flux(E, "nu_per_flavour").value, fiducial.flux(E, "nu_all").value / 3, rtol=1e-14)


def test_scalar_and_array_energy_agree(fiducial):
    array = fiducial.flux(E, region=LHAASO_INNER)
    for i in (0, 4, 8):
        assert fiducial.flux(E[i], region=LHAASO_INNER).value == pytest.approx(array[i].value, rel=1e-12)
    grid = fiducial.flux(E.reshape(3, 3), region=LHAASO_INNER)
    assert grid.shape == (3, 3)


def test_long_cutoff_gives_constant_grammage():
    long = CocoonEmission(r0=1e40 * u.TV).flux(E)
    const = CocoonEmission(grammage="constant").flux(E)
    assert np.allclose(long.value, const.value, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"chi0": -0.4 * GRAMMAGE}, ValueError, "chi0"),
        ({"chi0": 0 * GRAMMAGE}, ValueError, "chi0"),
        ({"chi0": 0.4}, TypeError, "chi0"),
        ({"chi0": 0.4 * u.s}, u.UnitsError, "chi0"),
        ({"r0": 0 * u.TV}, ValueError, "r0"),
        ({"r0": 20 * u.TeV}, u.UnitsError, "r0"),
        ({"grammage": "gaussian"}, ValueError, "grammage"),
        ({"cross_sections": "geant4"}, ValueError, "cross_sections"),
        ({"source_distribution": "nowhere"}, ValueError, "source_distribution"),
        ({"helium_fraction": -0.1}, ValueError, "helium_fraction"),
        ({"target": "helium"}, ValueError, "target"),
        ({"target": 2.0}, ValueError, "target"),
        ({"target": True}, TypeError, "target"),
        ({"cross_sections": "kamae2006"}, ValueError, "target='ism' has helium"),
        ({"target": 0.05, "cross_sections": "kafexhiu2014"}, ValueError, "target"),
        ({"injections": ["H"]}, TypeError, "injections"),
        ({"per_decade": "many"}, ValueError, "per_decade"),
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        CocoonEmission(**kwargs)


@pytest.mark.parametrize(
    "energy, error, match",
    [
        (10.0, TypeError, "energy"),
        (-1 * u.TeV, ValueError, "energy"),
        (0 * u.TeV, ValueError, "energy"),
        (np.nan * u.TeV, ValueError, "energy"),
        (1 * u.m, u.UnitsError, "energy"),
        (1e9 * u.TeV, ValueError, "energy"),
    ],
)
def test_bad_energy(fiducial, energy, error, match):
    with pytest.raises(error, match=match):
        fiducial.flux(energy)


def test_bad_secondary_and_region(fiducial):
    with pytest.raises(ValueError, match="secondary"):
        fiducial.flux(E, "electron")
    with pytest.raises(TypeError, match="region"):
        fiducial.flux(E, region="inner")


# -- properties over the allowed parameter space -----------------------------------------------
chi0s = st.floats(0.01, 5.0)
r0s = st.floats(0.5, 1e4)  # TV
deltas = st.floats(0.1, 1.5)


@settings(max_examples=25, deadline=None)
@given(chi0=chi0s, r0=r0s, scale=st.floats(0.1, 10.0))
def test_property_linear_in_chi0(chi0, r0, scale):
    base = CocoonEmission(chi0=chi0 * GRAMMAGE, r0=r0 * u.TV).flux(E)
    scaled = CocoonEmission(chi0=scale * chi0 * GRAMMAGE, r0=r0 * u.TV).flux(E)
    assert np.all(np.isfinite(base.value)) and np.all(base.value >= 0)
    assert np.allclose(scaled.value, scale * base.value, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(chi0=chi0s, r0=r0s, factor=st.floats(1.1, 10.0))
def test_property_monotonic_in_r0(chi0, r0, factor):
    """A longer confinement (larger R0) never lowers the emission."""
    low = CocoonEmission(chi0=chi0 * GRAMMAGE, r0=r0 * u.TV).flux(E)
    high = CocoonEmission(chi0=chi0 * GRAMMAGE, r0=factor * r0 * u.TV).flux(E)
    assert np.all(high.value >= low.value * (1 - 1e-12))


@settings(max_examples=25, deadline=None)
@given(chi0=chi0s, r0=r0s, delta=deltas)
def test_property_escape_law_finite_and_bounded(chi0, r0, delta):
    """Escape law: finite, non-negative, below the constant-grammage emission."""
    escape = CocoonEmission(grammage=EscapeGrammage(chi0, r0 * 1e3, delta)).flux(E, "nu_all")
    constant = CocoonEmission(chi0=chi0 * GRAMMAGE, grammage="constant").flux(E, "nu_all")
    assert np.all(np.isfinite(escape.value)) and np.all(escape.value >= 0)
    assert np.all(escape.value <= constant.value * (1 + 1e-12))


@settings(max_examples=20, deadline=None)
@given(eff_h=st.floats(1e-3, 0.3), eff_he=st.floats(1e-4, 0.1), factor=st.floats(0.1, 3.0))
def test_property_linear_in_efficiency(eff_h, eff_he, factor):
    h, he = fiducial_injections()
    from gammapy_cocoons import Injection
    make = lambda f: CocoonEmission(injections=[Injection(h.species, f * eff_h, h.index), Injection(he.species, f * eff_he, he.index)])
    assert np.allclose(make(factor).flux(E).value, factor * make(1.0).flux(E).value, rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(index=st.floats(3.8, 4.8))
def test_property_softer_injection_softer_spectrum(index):
    """With a constant grammage the gamma-ray spectrum follows the injection: softer in, softer out."""
    h, he = fiducial_injections()
    from gammapy_cocoons import Injection
    soft = CocoonEmission(grammage="constant", injections=[Injection(h.species, 0.05, index + 0.2)]).flux(E)
    hard = CocoonEmission(grammage="constant", injections=[Injection(h.species, 0.05, index)]).flux(E)
    ratio = (soft / hard).value
    assert np.all(np.diff(ratio) < 0)


# -- one cocoon gas, one chi0 (issue 23 item 1) ------------------------------------------------
#: the default fluxes before issue 23 (pure hydrogen on chi0 / m_p), chi0 = 0.4 g cm-2, R0 = 20 TV, at
#: 1, 10, 100 TeV [cm-2 s-1 TeV-1], computed with commit 619f0fd: all-sky gamma rays, all-sky nu_all,
#: LHAASO inner gamma rays
_TODAY = {"gamma": [3.3758531664388455e-10, 1.4443112275374211e-13, 4.159395661135261e-20],
          "nu_all": [2.800394816275924e-10, 5.437953298454364e-14, 3.1870024648036202e-21],
          "inner": [7.047398468897793e-11, 3.015130170574467e-14, 8.683114213983028e-21]}


def test_hydrogen_target_is_todays_eq7_exactly(fiducial):
    """target="hydrogen" is the paper's Eq. 7 (pure H on chi0 / m_p): the fluxes of the old default."""
    assert fiducial.target == "hydrogen" and fiducial.helium_fraction == 0.0
    e = [1, 10, 100] * u.TeV
    np.testing.assert_allclose(fiducial.flux(e).to_value("cm-2 s-1 TeV-1"), _TODAY["gamma"], rtol=1e-10)
    np.testing.assert_allclose(fiducial.flux(e, "nu_all").to_value("cm-2 s-1 TeV-1"), _TODAY["nu_all"], rtol=1e-10)
    np.testing.assert_allclose(fiducial.flux(e, region=LHAASO_INNER).to_value("cm-2 s-1 TeV-1"), _TODAY["inner"],
                               rtol=1e-10)


def test_ism_target_is_the_sum_of_four_channels():
    """target="ism" (the default) at mass grammage chi0: p-H, p-He, He-H and He-He on a hydrogen column
    chi0 / (1.4 m_p) and a helium column 0.1 times that, summed independently with aafragpy's own
    integrator on a fine primary grid (above 10 GeV, where no sub-table fill enters)."""
    import aafragpy

    from gammapy_cocoons.constants import MB_CM2

    emission = CocoonEmission()
    assert emission.target == "ism" and emission.helium_fraction == 0.1
    e = np.array([30.0, 1e3, 3e4])  # GeV
    chi0, r0_gv = 0.4, 2e4
    n_h = chi0 / (1.4 * PROTON_MASS_G)  # H atoms per cm2 in chi0
    for secondary, product in (("gamma", "gam"), ("nu_all", "nu_all")):
        total = np.zeros(e.size)
        for injection, projectile in zip(fiducial_injections(), ("p", "He")):
            for target, column in (("p", n_h), ("He", 0.1 * n_h)):
                lo, hi = {"p": (4.0, 1e11), "He": (5.0, 2.5e9)}[projectile] if target == "p" else (5.0, 2.5e9)
                ep = np.geomspace(lo, hi, 2001)
                cs, _, _ = aafragpy.get_cross_section(product, f"{projectile}-{target}", ep, e)
                weight = injection.dn_de(ep) * np.exp(-injection.species.rigidity(ep) / r0_gv)
                total += aafragpy.get_spectrum(ep, e, cs, weight) * column * MB_CM2
        ours = emission.production(e * u.GeV, secondary).to_value("GeV-1")
        np.testing.assert_allclose(ours, total, rtol=2e-3)  # measured: 3e-4 (gamma), 1.1e-3 (nu)


def test_eq9_on_ism_gas_by_hand():
    """Eq. 9 with one mean mass: chi0 / (1.4 m_p n_H c) on ISM gas, n_gas counting H atoms; Eq. 10 follows."""
    ism = CocoonEmission()
    tau = ism.confinement_time(1 * u.cm**-3).to_value(u.s)
    assert tau == pytest.approx(0.4 / (1.4 * PROTON_MASS_G * C_CM_S), rel=1e-12)
    hydrogen = CocoonEmission(target="hydrogen")
    assert ism.maximum_cocoon_radius().to_value(u.pc) == pytest.approx(
        hydrogen.maximum_cocoon_radius().to_value(u.pc) * 1.4 ** (1 / 3), rel=1e-12)


def test_helium_fraction_is_a_deprecated_alias_of_target():
    with pytest.warns(DeprecationWarning, match="target='ism'"):
        old = CocoonEmission(helium_fraction=0.1)
    assert old.target == "ism"
    with pytest.warns(DeprecationWarning, match="target='hydrogen'"):
        assert CocoonEmission(helium_fraction=0.0).target == "hydrogen"
    with pytest.raises(ValueError, match="not both"):
        CocoonEmission(target="hydrogen", helium_fraction=0.1)
    assert CocoonEmission(target=0.05).helium_fraction == 0.05  # the general form
