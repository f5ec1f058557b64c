import numpy as np
import pytest
from scipy import integrate
import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, RectangleSkyRegion

from gammapy_cocoons.physics import lineofsight as los
from gammapy_cocoons.physics.galaxy import SOURCE_DISTRIBUTIONS
from gammapy_cocoons.skyregions import LHAASO_INNER, LHAASO_OUTER, LBCircle, mask_out, to_lb_region


def _column_by_quad(dist, l, b):
    """int ds rho along (l, b) by adaptive quadrature in s."""
    sin_b, cos_b = abs(np.sin(b)), np.cos(b)
    s_exit = min(los.disc_exit_distance(dist, l) / cos_b, dist.h / sin_b if sin_b > 0 else np.inf)

    def rho(s):
        return dist.density(los.galactocentric_radius(dist, s * cos_b, l), s * np.sin(b))

    points = [p for p in [dist.r_sun * np.cos(l) / cos_b] if 0 < p < s_exit]
    return integrate.quad(rho, 0, s_exit, points=points or None, limit=200, epsrel=1e-9)[0]


def _all_sky_by_adaptive_quadrature(dist):
    """int dl int db cos(b) column(l, b) with scipy's adaptive rules (l -> -l and b -> -b symmetric)."""

    def over_b(l):
        kink = np.arctan(dist.h / los.disc_exit_distance(dist, l))
        return 2 * integrate.quad(
            lambda b: _column_by_quad(dist, l, b) * np.cos(b), 0, np.pi / 2,
            points=[kink, 0.01, 0.1, 0.5], limit=200, epsrel=1e-8,
        )[0]

    return 2 * integrate.quad(over_b, 0, np.pi, points=[0.1, 0.5], limit=100, epsrel=1e-7)[0]


@pytest.mark.parametrize("name", ["green2015", "yusifov2004"])
def test_all_sky_against_adaptive_quadrature(name):
    dist = SOURCE_DISTRIBUTIONS[name]
    ours = los.sky_integral(dist, to_lb_region(None))
    assert ours == pytest.approx(_all_sky_by_adaptive_quadrature(dist), rel=1e-5)


@pytest.mark.parametrize("region", [None, LHAASO_INNER, LHAASO_OUTER])
def test_region_integrals_converged(region):
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    lb = to_lb_region(region)
    default = los.sky_integral(dist, lb)
    fine = los.sky_integral(dist, lb, los.Quadrature().refined(3))
    assert default == pytest.approx(fine, rel=1e-6)


def test_column_against_direct_quadrature():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    l = np.radians([0.0, 0.3, 20.0, 95.0, 180.0, 250.0])
    b = np.radians([0.0, -0.05, 0.4, 2.0, 0.01, -30.0])
    ours = los.column_density(dist, l, b)
    for li, bi, value in zip(l, b, ours):
        def rho(s):
            d = s * np.cos(bi)
            return dist.density(los.galactocentric_radius(dist, d, li), s * np.sin(bi))
        s_exit = min(los.disc_exit_distance(dist, li) / np.cos(bi), dist.h / max(abs(np.sin(bi)), 1e-300))
        points = [p for p in (dist.r_sun * np.cos(li) / np.cos(bi),) if 0 < p < s_exit]
        ref = integrate.quad(rho, 0, s_exit, points=points or None, limit=400, epsrel=1e-10)[0]
        assert value == pytest.approx(ref, rel=1e-7)


def test_small_box_is_column_times_solid_angle():
    """Away from the plane the column is smooth: a 0.2 x 0.2 deg box ~ column x solid angle."""
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    l0, b0 = np.radians(30.0), np.radians(3.0)
    box = to_lb_region(RectangleSkyRegion(SkyCoord(30, 3, unit="deg", frame="galactic"), 0.2 * u.deg, 0.2 * u.deg))
    column = los.column_density(dist, np.array([l0]), np.array([b0]))[0]
    assert los.sky_integral(dist, box) == pytest.approx(column * los.solid_angle(box), rel=1e-4)


def test_box_integral_is_double_integral_of_column():
    """Near the plane: an l-b box against scipy's 2-D integral of the column (kinks as breakpoints)."""
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    box = to_lb_region(RectangleSkyRegion(SkyCoord(40, 0, unit="deg", frame="galactic"), 4 * u.deg, 2 * u.deg))

    def over_b(l):
        def f(b):
            return los.column_density(dist, np.array([l]), np.array([b]))[0] * np.cos(b)
        kink = np.arctan(dist.h / los.disc_exit_distance(dist, l))
        return 2 * integrate.quad(f, 0, np.radians(1), points=[kink], epsrel=1e-9, limit=200)[0]

    ref = integrate.quad(over_b, np.radians(38), np.radians(42), epsrel=1e-8)[0]
    assert los.sky_integral(dist, box) == pytest.approx(ref, rel=1e-6)


def test_solid_angles_are_exact():
    box = to_lb_region(LHAASO_INNER)
    assert los.solid_angle(box) == pytest.approx(np.radians(110) * 2 * np.sin(np.radians(5)), rel=1e-12)
    circle = to_lb_region(CircleSkyRegion(SkyCoord(10, 20, unit="deg", frame="galactic"), 7 * u.deg))
    assert los.solid_angle(circle) == pytest.approx(2 * np.pi * (1 - np.cos(np.radians(7))), rel=1e-6)
    assert los.solid_angle(to_lb_region(None)) == pytest.approx(4 * np.pi, rel=1e-12)


@pytest.mark.parametrize("b0", [0.0, 0.05, 0.2, 1.0, 3.0])
@pytest.mark.parametrize("radius", [0.05, 0.2, 0.5, 2.0])
def test_small_caps_near_the_plane_are_exact(b0, radius):
    """Caps near the plane are cut into narrow longitude pieces where their rim crosses the disc
    latitudes; each piece ends may be a square root (the cap's side): a 2-node rule there was
    3e-4 off (r = 0.5 deg at b = 0) and 2e-4 (r = 2 deg at b = 1), found by a pixel-weight test."""
    circle = LBCircle(0.3, np.radians(b0), np.radians(radius))
    assert los.solid_angle(circle) == pytest.approx(2 * np.pi * (1 - np.cos(np.radians(radius))), rel=1e-7)


def test_circle_containing_a_pole():
    circle = to_lb_region(CircleSkyRegion(SkyCoord(0, 80, unit="deg", frame="galactic"), 15 * u.deg))
    assert los.solid_angle(circle) == pytest.approx(2 * np.pi * (1 - np.cos(np.radians(15))), rel=1e-6)


def test_circle_in_icrs_equals_galactic():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    centre = SkyCoord(30, 1, unit="deg", frame="galactic")
    a = los.sky_integral(dist, to_lb_region(CircleSkyRegion(centre, 3 * u.deg)))
    b = los.sky_integral(dist, to_lb_region(CircleSkyRegion(centre.icrs, 3 * u.deg)))
    assert a == pytest.approx(b, rel=1e-10)


def test_additivity_of_regions():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    union = los.sky_integral(dist, to_lb_region(LHAASO_INNER | LHAASO_OUTER))
    whole = RectangleSkyRegion(SkyCoord(125, 0, unit="deg", frame="galactic"), 220 * u.deg, 10 * u.deg)
    parts = los.sky_integral(dist, to_lb_region(LHAASO_INNER)) + los.sky_integral(dist, to_lb_region(LHAASO_OUTER))
    assert union == pytest.approx(parts, rel=1e-6)
    assert los.sky_integral(dist, to_lb_region(whole)) == pytest.approx(parts, rel=1e-6)


def test_masked_region_is_region_minus_mask():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    mask = CircleSkyRegion(SkyCoord(40, 0, unit="deg", frame="galactic"), 2 * u.deg)
    strip = RectangleSkyRegion(SkyCoord(80, 0, unit="deg", frame="galactic"), 200 * u.deg, 3 * u.deg)
    masked = mask_out(LHAASO_INNER, mask, strip)
    total = los.sky_integral(dist, to_lb_region(LHAASO_INNER))
    inside = los.sky_integral(dist, to_lb_region(LHAASO_INNER & (mask | strip)))
    assert los.sky_integral(dist, to_lb_region(masked)) == pytest.approx(total - inside, rel=1e-5)
    # and the mask geometry itself: the strip removes |b| < 1.5 deg over the whole box
    omega = los.solid_angle(to_lb_region(mask_out(LHAASO_INNER, strip)))
    assert omega == pytest.approx(np.radians(110) * 2 * (np.sin(np.radians(5)) - np.sin(np.radians(1.5))), rel=1e-9)


def test_box_across_longitude_zero():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    across = RectangleSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic"), 60 * u.deg, 4 * u.deg)
    east = RectangleSkyRegion(SkyCoord(15, 0, unit="deg", frame="galactic"), 30 * u.deg, 4 * u.deg)
    west = RectangleSkyRegion(SkyCoord(345, 0, unit="deg", frame="galactic"), 30 * u.deg, 4 * u.deg)
    total = los.sky_integral(dist, to_lb_region(across))
    assert total == pytest.approx(
        los.sky_integral(dist, to_lb_region(east)) + los.sky_integral(dist, to_lb_region(west)), rel=1e-6
    )
    # the Sun sits in the plane of a symmetric disc: l -> -l is a symmetry
    assert los.sky_integral(dist, to_lb_region(east)) == pytest.approx(los.sky_integral(dist, to_lb_region(west)), rel=1e-9)


def test_latitude_weight_closed_form_and_quadrature_agree():
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    d = np.array([0.003, 0.05, 0.09, 0.5, 3.0])
    for beta1, beta2 in [(0.0, np.pi / 2), (0.1, 0.5), (0.0, 0.08)]:
        ours = los.latitude_weight(dist, d, beta1, beta2)
        for di, value in zip(d, ours):
            top = min(beta2, np.arctan2(dist.h, di))
            ref = integrate.quad(lambda b: np.exp(-di * np.tan(b) / dist.z0), beta1, top, epsrel=1e-12)[0] if top > beta1 else 0
            assert value == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_regions_without_an_lb_form_are_rasterised_and_non_regions_refused():
    """Issue 24 item 5: ellipses and rotated or non-Galactic rectangles are l-b regions like the others
    (rasters in the tangent plane at their centre); what is not a sky region is refused by name."""
    from regions import EllipseSkyRegion

    from gammapy_cocoons.skyregions import LBRaster

    ellipse = EllipseSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic"), 1 * u.deg, 2 * u.deg)
    assert isinstance(to_lb_region(ellipse), LBRaster)
    with pytest.raises(TypeError, match="region"):
        to_lb_region("inner galaxy")
    rotated = RectangleSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic"), 1 * u.deg, 2 * u.deg, angle=30 * u.deg)
    icrs = RectangleSkyRegion(SkyCoord(0, 0, unit="deg", frame="icrs"), 1 * u.deg, 2 * u.deg)
    for region in (rotated, icrs):
        assert los.solid_angle(to_lb_region(region)) == pytest.approx(np.radians(1) * np.radians(2), rel=2e-3)
    huge = EllipseSkyRegion(SkyCoord(0, 0, unit="deg", frame="galactic"), 800 * u.deg, 20 * u.deg)  # tangent-plane size
    with pytest.raises(ValueError, match="80 deg"):
        to_lb_region(huge)


@pytest.mark.parametrize("l0, b0, radius", [(0.0, 6.0, 9.0), (30.0, 2.0, 5.0), (-80.0, -1.0, 3.0), (10.0, 0.3, 2.0)])
def test_circles_crossing_the_disc_converge(l0, b0, radius):
    """A circle whose rim crosses the thin source disc: the band integral changes steeply in
    longitude there, so the crossings are interval ends (1.4 % off for (0, 6, 9) before); the
    default rule equals a 4x refined one to 1e-6."""
    from gammapy_cocoons.skyregions import LBCircle

    lb = LBCircle(np.radians(l0), np.radians(b0), np.radians(radius))
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    default = los.sky_integral(dist, lb)
    refined = los.sky_integral(dist, lb, los.DEFAULT_QUADRATURE.refined(4))
    assert default == pytest.approx(refined, rel=1e-6)
    # at each crossing of b = 0 one end of the latitude interval is on the plane
    crossings = lb.latitude_crossings(np.radians([0.0]))
    assert crossings.size == 2
    for intervals in lb.latitude_intervals(crossings):
        assert min(abs(end) for interval in intervals for end in interval) < 1e-9
