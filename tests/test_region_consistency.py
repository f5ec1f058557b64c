"""One definition of a region's area for every model (issue 15, items 1, 2, 4, 8).

A Galactic ``RectangleSkyRegion`` is an l-b box for the cocoons, for templates and for the solid
angle alike; these tests compare the fast region integrals with brute-force sums over fine
sub-pixels of the same model anywhere on the sky.
"""
import healpy as hp
import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.maps import HpxGeom, Map, MapAxis
from gammapy.modeling.models import PowerLawNormSpectralModel, SkyModel, TemplateSpatialModel
from hypothesis import example, given, settings, strategies as st
from regions import CircleSkyRegion, RectangleSkyRegion

from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER, RegionFluxSpectralModel
from gammapy_cocoons.physics import lineofsight, skymaps
from gammapy_cocoons.physics.galaxy import SOURCE_DISTRIBUTIONS
from gammapy_cocoons.skyregions import to_lb_region

pytestmark = pytest.mark.filterwarnings("ignore:The filename is not defined")
_NSIDE = 64
_ENERGY = [1.0, 10.0] * u.TeV


def _template():
    """A HEALPix nside-64 template with structure in l and b (two energies, E^-2 between them)."""
    lon, lat = hp.pix2ang(_NSIDE, np.arange(hp.nside2npix(_NSIDE)), lonlat=True)
    image = (1.0 + 0.5 * np.cos(np.radians(lon)) + 3.0 * np.exp(-np.abs(lat) / 2.0)
             + np.exp(-((lon - 40.0) ** 2 + (lat - 50.0) ** 2) / 50.0))
    axis = MapAxis.from_nodes(_ENERGY, name="energy_true", interp="log")
    geom = HpxGeom.create(nside=_NSIDE, nest=False, frame="galactic", axes=[axis])
    data = np.stack([image, image / 100.0])
    cube = Map.from_geom(geom, data=data, unit="TeV-1 cm-2 s-1 sr-1")
    return SkyModel(spectral_model=PowerLawNormSpectralModel(),
                    spatial_model=TemplateSpatialModel(cube, normalize=False), name="template")


TEMPLATE = _template()


def _candidates(lb, nside):
    """RING pixels whose centres lie within two pixel sizes of the region's l-b bounds."""
    l_center, half_width, b_min, b_max = lb.bounds()
    margin = 2 * hp.nside2resol(nside)
    ring = hp.query_strip(nside, 0.5 * np.pi - min(b_max + margin, 0.5 * np.pi),
                          0.5 * np.pi - max(b_min - margin, -0.5 * np.pi))
    if half_width >= np.pi:
        return ring
    lon, _ = hp.pix2ang(nside, ring, lonlat=True)
    stretch = margin / max(np.cos(min(max(abs(b_min), abs(b_max)) + margin, 1.5)), 1e-3)
    return ring[np.abs((np.radians(lon) - l_center + np.pi) % (2 * np.pi) - np.pi) <= half_width + stretch]


def _brute_force_template(region, n_max=4_000_000):
    """Integral of the template (constant on its pixels) over the l-b region on a fine grid of cells
    of equal angular size in l and b covering the region's bounds (up to ``n_max`` cells), each
    weighted by its exact solid angle and given to the pixel of its centre. (Cells of equal area in
    (l, sin b) grow to ~1.5 deg in b at a pole, more than a pixel at nside 64: a circle over the
    pole came out 2e-3 low, a sampling error of this reference: ours agreed with it to 2e-6 on this
    grid and to 2e-4 on one of 16 million cells of equal area.)"""
    lb = to_lb_region(region)
    cube = TEMPLATE.spatial_model.map
    l_center, half_width, b_min, b_max = lb.bounds()
    step = np.sqrt(2 * half_width * (b_max - b_min) / n_max)
    n_l, n_b = int(np.ceil(2 * half_width / step)), int(np.ceil((b_max - b_min) / step))
    l = l_center - half_width + (np.arange(n_l) + 0.5) * 2 * half_width / n_l
    b_edges = np.linspace(b_min, b_max, n_b + 1)
    weights = np.diff(np.sin(b_edges)) * 2 * half_width / n_l  # each cell's solid angle [sr]
    lon, lat = np.meshgrid(l, 0.5 * (b_edges[:-1] + b_edges[1:]), indexing="ij")
    inside = lb.contains(lon, lat)
    pixels = hp.ang2pix(_NSIDE, np.degrees(lon[inside]), np.degrees(lat[inside]), lonlat=True)
    cell_weights = np.broadcast_to(weights[None, :], lon.shape)[inside]
    omega = np.bincount(pixels, weights=cell_weights, minlength=hp.nside2npix(_NSIDE))
    return cube.data @ omega


def _region(kind, l, b, size, aspect):
    if kind == "circle":
        return CircleSkyRegion(SkyCoord(l, b, unit="deg", frame="galactic"), size * u.deg)
    height = min(size * aspect, 2 * (89.0 - abs(b)))
    return RectangleSkyRegion(SkyCoord(l, b, unit="deg", frame="galactic"), width=2 * size * u.deg,
                              height=height * u.deg)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["box", "circle"]), l=st.floats(-180, 180), b=st.floats(-80, 80),
       size=st.floats(2.0, 25.0), aspect=st.floats(0.3, 1.5))
@example(kind="circle", l=141.0, b=78.25, size=12.5, aspect=1.0)  # over the pole (hypothesis found it)
def test_template_region_integral_against_brute_force(kind, l, b, size, aspect):
    """Edge pixels count by their exact area fraction (diamonds and polar-cap pixels alike, split at
    the region's longitude edges): 2e-4 against the brute force (the issue asks for 1 %; 120 random
    regions agreed to 2.8e-5 at most, the pole-containing ones included)."""
    region = _region(kind, l, b, size, aspect)
    ours = RegionFluxSpectralModel(TEMPLATE, region=region)(_ENERGY).to_value("cm-2 s-1 TeV-1")
    assert np.allclose(ours, _brute_force_template(region), rtol=2e-4)


@pytest.mark.parametrize("b", [0.0, 41.8, 50.0, 88.0])
def test_thin_boxes_across_pixel_edges(b):
    """Boxes thinner than a pixel with their longitude edges inside pixels, in the equatorial belt,
    at the belt's edge, in the polar cap and next to the pole (hypothesis found the last three)."""
    for aspect in (0.3, 1.0):
        region = _region("box", 0.0, b, 2.0, aspect)
        ours = RegionFluxSpectralModel(TEMPLATE, region=region)(_ENERGY).to_value("cm-2 s-1 TeV-1")
        assert np.allclose(ours, _brute_force_template(region), rtol=2e-4)


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["box", "circle"]), l=st.floats(-180, 180), b=st.floats(-20, 20),
       size=st.floats(2.0, 10.0), aspect=st.floats(0.3, 1.0))
def test_cocoon_region_integral_against_brute_force(kind, l, b, size, aspect):
    """The cocoons' exact l-b integral against exact HEALPix pixel integrals (nside 512) summed
    with the fraction of each pixel's 64 sub-pixels inside the region."""
    region = _region(kind, l, b, size, aspect)
    lb = to_lb_region(region)
    dist = SOURCE_DISTRIBUTIONS["green2015"]
    exact = lineofsight.sky_integral(dist, lb)
    nside = 512
    candidates = _candidates(lb, nside)
    lon, lat, _ = skymaps.healpix_children(nside, candidates, nest=False, order=3)
    fraction = lb.contains(np.radians(lon), np.radians(lat)).mean(axis=1)
    keep = fraction > 0
    table = skymaps.latitude_table(dist)
    pixels = skymaps.healpix_integrals(table, nside, candidates[keep], nest=False)
    brute = np.sum(pixels * fraction[keep])
    assert brute == pytest.approx(exact, rel=0.01, abs=1e-4 * lineofsight.sky_integral(dist, to_lb_region(None)))


def test_off_plane_box_is_an_lb_box_for_the_dge():
    """Issue 15 item 1: gammapy-cocoons spectrum --box 0 20 50 70 gave a DGE 2x the cube's own
    l-b box mean (the template was integrated over a tangent-plane rectangle)."""
    from gammapy_cocoons.dge import conventional_dge

    dge = conventional_dge("min")
    box = RectangleSkyRegion(SkyCoord(10, 60, unit="deg", frame="galactic"), width=20 * u.deg, height=20 * u.deg)
    cube = dge.spatial_model.map
    node = cube.geom.axes[0].center[12]
    ours = RegionFluxSpectralModel(dge, region=box).intensity(node).to_value("GeV-1 cm-2 s-1 sr-1")
    lon, lat = hp.pix2ang(128, np.arange(hp.nside2npix(128)), lonlat=True)
    inside = (lon < 20) & (lat >= 50) & (lat < 70)
    assert ours == pytest.approx(cube.data[12][inside].mean(), rel=0.01)


def test_region_smaller_than_a_pixel():
    """Item 2: a 0.1 deg circle inside one nside-64 pixel gets that pixel's value, not 0."""
    circle = CircleSkyRegion(SkyCoord(30, 0.2, unit="deg", frame="galactic"), 0.1 * u.deg)
    value = RegionFluxSpectralModel(TEMPLATE, region=circle).intensity(_ENERGY[:1])
    pixel = hp.ang2pix(_NSIDE, 30, 0.2, lonlat=True)
    assert value.to_value("TeV-1 cm-2 s-1 sr-1")[0] == pytest.approx(TEMPLATE.spatial_model.map.data[0][pixel],
                                                                        rel=0.02)


def test_changing_the_region_recomputes():
    """Item 4: setting .region used to keep the old region's cached integrals."""
    model = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_INNER)
    inner = model(_ENERGY)
    model.region = LHAASO_OUTER
    outer = model(_ENERGY)
    fresh = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_OUTER)(_ENERGY)
    assert not u.allclose(inner, outer) and u.allclose(outer, fresh)
    with pytest.raises(TypeError, match="region"):
        model.region = "lhaaso-inner"


def test_repeated_energies_reuse_the_interpolation_of_the_same_node_integrals():
    """A fit asks at the same energies at every step: the interpolated integrals are kept (read-only,
    equal to a fresh model's), and new node integrals (another region's) are never answered from them."""
    energy = np.geomspace(1.5, 9.0, 7) * u.TeV
    model = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_INNER)
    first = model._spatial_integral(energy, {})
    assert model._spatial_integral(energy.copy(), {}) is first and not first.flags.writeable
    fresh = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_INNER)._spatial_integral(energy, {})
    assert np.array_equal(first.value, fresh.value) and first.unit == fresh.unit
    assert u.allclose(model._spatial_integral(energy.to("GeV"), {}), first, rtol=1e-12)  # the same energies in GeV
    other = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_OUTER)
    outer = other._spatial_integral(energy, {})
    model._template_integrals[("nodes",)] = other._template_integrals[("nodes",)]  # as likelihood shares them
    assert np.array_equal(model._spatial_integral(energy, {}).value, outer.value)
    assert not np.allclose(outer.value, first.value)


def test_bad_energies_and_empty_regions_are_errors():
    """Item 8: NaN or negative energies, and the mean intensity of an empty region."""
    model = RegionFluxSpectralModel(TEMPLATE, region=LHAASO_INNER)
    for energy in ([np.nan] * u.TeV, [-1.0] * u.TeV, [] * u.TeV):
        with pytest.raises(ValueError, match="energy"):
            model(energy)
    empty = LHAASO_INNER & LHAASO_OUTER  # they share only the l = 125 deg edge
    with pytest.raises(ValueError, match="solid angle"):
        RegionFluxSpectralModel(TEMPLATE, region=empty).intensity(_ENERGY)


def test_lb_contains_matches_the_latitude_intervals():
    """The vectorised membership agrees with the interval sets the line-of-sight integrals use."""
    rng = np.random.default_rng(3)
    l = rng.uniform(-np.pi, np.pi, 400)
    b = np.arcsin(rng.uniform(-1, 1, 400))
    regions = [LHAASO_INNER, LHAASO_OUTER,
               CircleSkyRegion(SkyCoord(100, 70, unit="deg", frame="galactic"), 30 * u.deg),
               LHAASO_INNER ^ (LHAASO_INNER & CircleSkyRegion(SkyCoord(30, 0, unit="deg", frame="galactic"),
                                                              5 * u.deg))]
    for region in regions:
        lb = to_lb_region(region)
        expected = [any(b1 <= bi <= b2 for b1, b2 in intervals) for bi, intervals in zip(b, lb.latitude_intervals(l))]
        assert np.array_equal(lb.contains(l, b), expected)


@pytest.mark.parametrize("values", [
    {"alpha": 0.0}, {"alpha": 10.0}, {"beta": 0.0}, {"beta": 1e-308}, {"beta": 20.0}, {"z0": 0.01 * u.kpc},
    {"z0": 1.0 * u.kpc}, {"alpha": 0.0, "beta": 20.0, "z0": 0.01 * u.kpc},
])
def test_cocoon_spatial_model_is_normalised_at_its_bounds(values):
    """Item 5: the pixel integrals sum to 1 over the sky anywhere in the allowed range (z0 = 1 pc
    gave 1.16, alpha = -1.9 gave 1.27, beta = 1e-308 NaN); outside it evaluation is refused."""
    from gammapy_cocoons import CocoonSpatialModel

    model = CocoonSpatialModel(**values)
    total = model.integrate_geom(HpxGeom.create(nside=64, frame="galactic")).data.sum()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("values", [{"alpha": -1.9}, {"z0": 0.001 * u.kpc}, {"beta": -1.0}])
def test_cocoon_spatial_model_refuses_values_outside_its_bounds(values):
    from gammapy_cocoons import CocoonSpatialModel

    name = next(iter(values))
    with pytest.raises(ValueError, match=name):
        CocoonSpatialModel(**values).evaluate_geom(HpxGeom.create(nside=8, frame="galactic"))


def test_errors_name_the_argument():
    """Issue 15 item 15: each of these raised AttributeError, a bare reshape error or a NumPy
    conversion error, or fitted nothing."""
    from regions import PolygonSkyRegion

    from gammapy_cocoons import CocoonEmission, CocoonSpectralModel
    from gammapy_cocoons.analysis.bcfit import fit_bc

    polygon = PolygonSkyRegion(SkyCoord([10, 20, 15], [0, 0, 3], unit="deg", frame="galactic"))
    # a polygon is read in its tangent plane (issue 24): the flat triangle's area to 2e-3
    assert RegionFluxSpectralModel(TEMPLATE, region=polygon).solid_angle().to_value("deg2") == \
        pytest.approx(15.0, rel=2e-3)
    with pytest.raises(TypeError, match="region must be a regions SkyRegion"):
        RegionFluxSpectralModel(TEMPLATE, region="inner")
    with pytest.raises(TypeError, match="quadrature"):
        CocoonEmission(quadrature="fine")
    with pytest.raises(ValueError, match="energy must not be empty"):
        CocoonEmission().flux([] * u.TeV)
    with pytest.raises(ValueError, match="energy_min"):
        CocoonSpectralModel().integral(np.nan * u.TeV, 10 * u.TeV)
    with pytest.raises(ValueError, match="energy_min"):
        CocoonSpectralModel().integral(10 * u.TeV, 1 * u.TeV)
    with pytest.raises(ValueError, match="names"):
        fit_bc(names=[])


def test_absorption_over_shapes_without_an_lb_form():
    """Issue 24 item 5: ellipses and rotated rectangles are absorbed like boxes and circles (the
    option was ignored for them). A circular ellipse (a raster) against the exact circle, absorbed
    and not (to the raster's 1e-3), and the absorbed share against the engine's transmission of the
    same region."""
    from regions import EllipseSkyRegion

    from gammapy_cocoons import CocoonEmission, CocoonSpatialModel, CocoonSpectralModel

    sky = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="c")
    centre = SkyCoord(20, 1, unit="deg", frame="galactic")
    energy = [1.0, 300.0, 3000.0] * u.TeV
    circle = CircleSkyRegion(centre, 6 * u.deg)
    # a tangent-plane circle of radius tan(6 deg) is the cap of 6 deg
    size = 2 * np.degrees(np.tan(np.radians(6.0))) * u.deg
    ellipse = EllipseSkyRegion(centre.icrs, size, size, angle=30 * u.deg)
    for absorption in (False, True):
        exact = RegionFluxSpectralModel(sky, region=circle, absorption=absorption)(energy)
        raster = RegionFluxSpectralModel(sky, region=ellipse, absorption=absorption)(energy)
        assert u.allclose(raster, exact, rtol=2e-3)
    ratio = (RegionFluxSpectralModel(sky, region=ellipse, absorption=True)(energy)
             / RegionFluxSpectralModel(sky, region=ellipse)(energy)).to_value("")
    assert np.allclose(ratio, CocoonEmission().transmission(energy, ellipse).value, rtol=1e-9)
    assert ratio[0] > 0.99 and ratio[2] < 0.9


def test_constant_spatial_model_over_a_masked_region_is_intensity_times_solid_angle():
    """gammapy's ConstantSpatialModel returns one value for any geometry (it failed with an
    IndexError); over a box with overlapping mask circles (one crossing the edge) its region flux is
    intensity x the solid angle, and that solid angle is the box's minus the circles' (by sampling)."""
    from gammapy.modeling.models import ConstantSpatialModel, ConstantSpectralModel

    from gammapy_cocoons.skyregions import mask_out

    def circle(l, b, r):
        return CircleSkyRegion(SkyCoord(l, b, unit="deg", frame="galactic"), radius=r * u.deg)

    box = RectangleSkyRegion(SkyCoord(40.0, 20.0, unit="deg", frame="galactic"), width=20 * u.deg, height=8 * u.deg)
    circles = [(35.0, 20.0, 2.0), (36.5, 21.0, 1.5), (49.0, 16.5, 2.0), (44.0, 22.0, 0.3)]
    region = mask_out(box, *[circle(*c) for c in circles])
    spectral = ConstantSpectralModel(const=2e-12 * u.Unit("cm-2 s-1 TeV-1"))
    model = RegionFluxSpectralModel(SkyModel(spectral_model=spectral, spatial_model=ConstantSpatialModel(value=1 / u.sr),
                                             name="iso"), region=region)
    omega = model.solid_angle().to_value("sr")
    flux = model(_ENERGY).to_value("cm-2 s-1 TeV-1")
    assert np.allclose(flux, 2e-12 * omega, rtol=1e-6)
    # the solid angle by stratified sampling of the box (uniform in l and sin b)
    rng = np.random.default_rng(5)
    n = 400_000
    l = np.radians(rng.uniform(30.0, 50.0, n))
    sin_b = rng.uniform(np.sin(np.radians(16.0)), np.sin(np.radians(24.0)), n)
    cos_b = np.sqrt(1 - sin_b**2)
    keep = np.ones(n, bool)
    for cl, cb, r in circles:
        cl, cb = np.radians(cl), np.radians(cb)
        cos_d = cos_b * np.cos(cb) * np.cos(l - cl) + sin_b * np.sin(cb)
        keep &= cos_d < np.cos(np.radians(r))
    box_omega = np.radians(20.0) * (np.sin(np.radians(24.0)) - np.sin(np.radians(16.0)))
    fraction = keep.mean()
    assert omega == pytest.approx(box_omega * fraction, abs=4 * box_omega * np.sqrt(fraction * (1 - fraction) / n))


def test_lhaaso_region_names_its_argument():
    from gammapy_cocoons.skyregions import lhaaso_region

    assert lhaaso_region("LHAASO_INNER").width.to_value("deg") == 110.0
    with pytest.raises(ValueError, match="name must be one of"):  # a raw KeyError before (issue 24 fuzz)
        lhaaso_region("inner")


def test_box_boundary_distance_is_a_lower_bound_and_the_two_arcsine_form():
    """An l-b box's boundary distance (one sine and cosine of l - l_center for both meridian edges)
    is the per-edge form written directly (for each meridian edge the distance to its half great
    circle: the arcsine of cos b sin(l - edge) within 90 deg of the edge, the nearer pole beyond) to
    1e-13 rad, and never more than the great-circle distance to the box's outline, sampled finely."""
    from gammapy_cocoons.skyregions import LBBox, _wrap

    rng = np.random.default_rng(8)
    l, b = rng.uniform(-np.pi, np.pi, 1000), np.arcsin(rng.uniform(-1, 1, 1000))
    vectors = np.stack([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)], axis=1)
    for box in (LBBox(1.2, 0.96, -0.09, 0.09), LBBox(3.1, 2.9, -1.0, 0.4), LBBox(-2.0, 0.01, -1.6, 0.3)):
        def half_circle(edge):
            near = np.arcsin(np.clip(np.abs(np.cos(b) * np.sin(l - edge)), 0, 1))
            return np.where(np.cos(l - edge) >= 0, near, 0.5 * np.pi - np.abs(b))

        meridians = np.minimum(*(half_circle(edge) for edge in (box.l_center - box.half_width,
                                                                box.l_center + box.half_width)))
        band = np.maximum(np.maximum(box.b_min - b, b - box.b_max), 0.0)
        outside = np.abs(_wrap(l - box.l_center)) > box.half_width
        reference = np.maximum(meridians, band)
        for level in (box.b_min, box.b_max):
            if abs(level) < 0.5 * np.pi:
                parallel = np.abs(b - level)
                reference = np.minimum(reference, np.where(outside, np.maximum(parallel, meridians), parallel))
        distance = box.boundary_distance(l, b)
        assert np.allclose(distance, reference, rtol=0, atol=1e-13)
        t = np.linspace(0, 1, 1001)
        edge_l = np.concatenate([box.l_center + box.half_width * (2 * t - 1)] * 2
                                + [np.full(t.size, box.l_center - box.half_width), np.full(t.size, box.l_center + box.half_width)])
        edge_b = np.concatenate([np.full(t.size, box.b_min), np.full(t.size, box.b_max)]
                                + [box.b_min + (box.b_max - box.b_min) * t] * 2)
        outline = np.stack([np.cos(edge_b) * np.cos(edge_l), np.cos(edge_b) * np.sin(edge_l), np.sin(edge_b)], axis=1)
        nearest = np.arccos(np.clip(np.max(vectors @ outline.T, axis=1), -1, 1))
        assert np.all(distance <= nearest + 1e-9)


def _circle_intersections_by_loop(first, second):
    """The pairwise loop _circle_intersections replaced: each pair's planes meet in a line, which
    meets the sphere in 0 or 2 points."""
    out = []
    for n1, c1 in first:
        for n2, c2 in second:
            d = float(n1 @ n2)
            cross = np.cross(n1, n2)
            norm2 = float(cross @ cross)
            if norm2 < 1e-24:
                continue
            a, b = (c1 - c2 * d) / norm2, (c2 - c1 * d) / norm2
            base = a * n1 + b * n2
            t2 = (1.0 - float(base @ base)) / norm2
            if t2 < 0:
                continue
            for sign in (-1.0, 1.0):
                point = base + sign * np.sqrt(t2) * cross
                if abs(point[2]) < 1.0 - 1e-12:
                    out.append(np.arctan2(point[1], point[0]))
    return np.array(out)


def test_circle_intersections_are_the_pairwise_ones_and_lie_on_both_circles():
    """The vectorised crossings of two sets of circles (caps, a box's edges, parallel planes, circles
    that miss each other) equal the pairwise loop's, in order, and each lies on a circle of each set."""
    from gammapy_cocoons.skyregions import LBBox, LBCircle, _circle_intersections, _unit_vectors

    rng = np.random.default_rng(4)
    caps = [LBCircle(rng.uniform(-np.pi, np.pi), rng.uniform(-1.4, 1.4), rng.uniform(0.01, 0.8)) for _ in range(12)]
    first = [c for cap in caps[:6] for c in cap.boundary_circles()] + LBBox(0.3, 0.5, -0.2, 0.1).boundary_circles()
    second = [c for cap in caps[6:] for c in cap.boundary_circles()] + LBBox(0.3, 0.2, -0.4, 0.3).boundary_circles()
    ours, loop = _circle_intersections(first, second), _circle_intersections_by_loop(first, second)
    assert ours.size == loop.size > 4 and np.allclose(ours, loop, rtol=0, atol=1e-12)
    assert _circle_intersections(first, []).size == 0 and _circle_intersections([], second).size == 0
    # two equal caps on the equator, centred at l = 0 and 2a, meet on the meridian l = a (twice)
    a = 0.3
    crossing = _circle_intersections(LBCircle(0.0, 0.0, 0.5).boundary_circles(),
                                     LBCircle(2 * a, 0.0, 0.5).boundary_circles())
    assert crossing.size == 2 and np.allclose(crossing, a, rtol=0, atol=1e-12)
    assert _circle_intersections(LBCircle(0.0, 0.0, 0.1).boundary_circles(),
                                 LBCircle(1.0, 0.0, 0.1).boundary_circles()).size == 0  # apart: no crossing
