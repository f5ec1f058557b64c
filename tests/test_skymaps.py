"""Pixel integrals of the projected source density (physics/skymaps.py)."""
import numpy as np
import pytest
from scipy import integrate

from gammapy_cocoons.physics import lineofsight, skymaps
from gammapy_cocoons.physics.galaxy import SourceDistribution
from gammapy_cocoons.skyregions import to_lb_region

hp = pytest.importorskip("healpy")


class _Box:
    """A plain l-b box for lineofsight.sky_integral (radians, no wrap)."""

    def __init__(self, l1, l2, b1, b2):
        self.l1, self.l2, self.b1, self.b2 = l1, l2, b1, b2
        self.key = ("box", l1, l2, b1, b2)

    def longitude_breaks(self):
        return [self.l1, self.l2]

    def latitude_intervals(self, lon):
        return [[(self.b1, self.b2)] if self.l1 <= x <= self.l2 else [] for x in lon]


@pytest.fixture(scope="module")
def dist():
    return SourceDistribution()


@pytest.fixture(scope="module")
def table(dist):
    return skymaps.latitude_table(dist)


def test_table_total_matches_line_of_sight_rule(dist, table):
    # the table's own longitude sum of G(l, 90 deg) against the independent Eq. 8 rule
    all_sky = lineofsight.sky_integral(dist, to_lb_region(None))
    assert 2 * table.hemisphere == pytest.approx(all_sky, rel=1e-6)


@pytest.mark.parametrize(
    "box",
    [
        (0.0, 0.1, 0.0, 0.1),  # Galactic-centre pixel on the plane (the l = 0 cusp)
        (-0.05, 0.05, -0.05, 0.05),
        (10.0, 10.1, 0.2, 0.3),
        (5.0, 5.1, 0.3, 0.4),
        (90.0, 90.1, -0.1, 0.0),
        (-100.0, -99.9, -0.45, -0.35),
        (30.0, 31.0, -1.0, 0.0),
        (-5.0, 5.0, 2.0, 3.0),
        (60.0, 62.0, 20.0, 25.0),
        (45.0, 45.1, 84.0, 85.0),
    ],
)
def test_box_integrals_against_band_integrals(dist, table, box):
    """Table + spline against the direct line-of-sight rule (refined) for small pixels."""
    l1, l2, b1, b2 = np.radians(box)
    reference = lineofsight.sky_integral(dist, _Box(l1, l2, b1, b2), lineofsight.DEFAULT_QUADRATURE.refined(2))
    assert skymaps.box_integrals(table, l1, l2, b1, b2) == pytest.approx(reference, rel=2e-5)


@pytest.mark.parametrize("box", [(45.0, 45.1, 89.0, 89.5), (-180.0, -179.9, 89.5, 90.0)])
def test_box_integrals_at_the_pole(dist, table, box):
    """The latitude grid is coarsest (0.9 deg) at the poles: 0.1 deg pixels there to 2e-3."""
    l1, l2, b1, b2 = np.radians(box)
    reference = lineofsight.sky_integral(dist, _Box(l1, l2, b1, b2), lineofsight.DEFAULT_QUADRATURE.refined(2))
    assert skymaps.box_integrals(table, l1, l2, b1, b2) == pytest.approx(reference, rel=2e-3)


def test_grid_box_integrals_equal_single_boxes(table):
    lon_edges = np.radians([10.0, 9.9, 9.8])  # decreasing like a CAR map with CDELT1 < 0
    lat_edges = np.radians([-0.2, -0.1, 0.0, 0.15])
    grid = skymaps.grid_box_integrals(table, lon_edges, lat_edges)
    assert grid.shape == (3, 2)
    for row in range(3):
        for col in range(2):
            lo, hi = sorted(lon_edges[col:col + 2])
            single = skymaps.box_integrals(table, lo, hi, lat_edges[row], lat_edges[row + 1])
            assert grid[row, col] == pytest.approx(single, rel=1e-12)


def test_table_is_odd_in_latitude_and_periodic_in_longitude(table):
    lon = np.radians([-179.95, -30.0, 0.0, 45.3])
    lat = np.radians([0.03, 0.7, 12.0, 80.0])
    assert np.allclose(table(lon, -lat), -table(lon, lat), rtol=1e-12)
    assert np.allclose(table(lon + 2 * np.pi, lat), table(lon, lat), rtol=1e-12)


@pytest.mark.parametrize("nside", [16, 64])
def test_healpix_pixels_sum_to_the_all_sky_integral(dist, table, nside):
    values = skymaps.healpix_integrals(table, nside, np.arange(hp.nside2npix(nside)), nest=False)
    all_sky = lineofsight.sky_integral(dist, to_lb_region(None))
    assert np.all(values > 0)
    assert values.sum() == pytest.approx(all_sky, rel=1e-5)


def test_healpix_nest_and_ring_agree(table):
    nside = 32
    ring = np.arange(hp.nside2npix(nside))
    nest = hp.ring2nest(nside, ring)
    assert np.allclose(
        skymaps.healpix_integrals(table, nside, ring, nest=False),
        skymaps.healpix_integrals(table, nside, nest, nest=True),
        rtol=1e-12,
    )


@pytest.mark.parametrize("lon, lat", [(90.0, 0.3), (30.0, -1.2), (-140.0, 3.0)])
def test_healpix_diamond_against_adaptive_2d_integral(dist, table, lon, lat):
    """One nside-64 pixel near the plane: exact diamond rule against scipy dblquad of the column."""
    nside = 64
    ipix = hp.ang2pix(nside, lon, lat, lonlat=True)
    theta, phi = hp.pix2ang(nside, ipix)
    z_c, a, dz = np.cos(theta), np.pi / (4 * nside), 2.0 / (3 * nside)

    def column(z, p):
        return float(lineofsight.column_density(dist, np.array([p]), np.arcsin(np.array([z])))[0])

    reference = 0.0
    for side in (-1, 1):
        lo, hi = sorted([phi, phi + side * a])
        value, _ = integrate.dblquad(
            column, lo, hi,
            lambda p: z_c - dz * (1 - abs(p - phi) / a),
            lambda p: z_c + dz * (1 - abs(p - phi) / a),
            epsrel=1e-6, epsabs=0,  # 1e-7 changes the reference by < 1e-7 at 3-6x the calls
        )
        reference += value
    assert skymaps.healpix_integrals(table, nside, [ipix], nest=False)[0] == pytest.approx(reference, rel=1e-4)


def test_subsampled_cells_tend_to_box_integrals(table):
    """Latitude-averaged sub-samples of one 0.2 deg pixel on the plane converge to the exact box."""
    l1, l2, b1, b2 = np.radians([20.0, 20.2, -0.1, 0.1])
    exact = skymaps.box_integrals(table, l1, l2, b1, b2)
    n = 8
    lon = l1 + (np.arange(n) + 0.5) * (l2 - l1) / n
    lat = b1 + (np.arange(n) + 0.5) * (b2 - b1) / n
    lon, lat = np.meshgrid(lon, lat)
    omega = (l2 - l1) / n * (np.sin(lat + 0.5 * (b2 - b1) / n) - np.sin(lat - 0.5 * (b2 - b1) / n))
    approx = skymaps.subsampled_integrals(table, lon, lat, omega).sum()
    assert approx == pytest.approx(exact, rel=1e-3)


def test_numerical_column_table_reproduces_the_exact_table(dist, table):
    """Two independent routes to G(l, b): numerical columns + Simpson vs the factorised matrix."""
    generic = skymaps.ColumnTable(
        dist.density, dist.r_sun, dist.r_max, dist.h, z_breaks=(dist.z0 / 4, dist.z0 / 2, dist.z0, 2 * dist.z0)
    )
    assert 2 * generic.hemisphere == pytest.approx(2 * table.hemisphere, rel=1e-5)
    for box in [(10, 11, 0, 0.5), (30, 31, -1, 0), (0, 1, 0, 0.2), (120, 125, -5, 5), (60, 62, 20, 25)]:
        l1, l2, b1, b2 = np.radians(box)
        assert skymaps.box_integrals(generic, l1, l2, b1, b2) == pytest.approx(
            skymaps.box_integrals(table, l1, l2, b1, b2), rel=2e-4
        )
