"""The DGE's leptonic components: the components argument, sums, the line-of-sight IC against a
direct integral towards the pole, bremsstrahlung against its local emissivity, refusals."""
import numpy as np
import pytest
import astropy.units as u
from gammapy.maps import WcsGeom

from gammapy_cocoons.constants import KPC_CM
from gammapy_cocoons.dge.conventional import ConventionalDGE, conventional_dge
from gammapy_cocoons.dge.electrons import ElectronSea
from gammapy_cocoons.dge.leptonic import bremsstrahlung_node_emissivities, ic_emissivity, ic_intensity

ENERGY = np.array([1.0, 100.0, 1e4]) * u.GeV


@pytest.fixture(scope="module")
def sea():
    return ElectronSea(e_min=1.0, e_max=1e6)


@pytest.fixture(scope="module")
def dge(sea):
    return ConventionalDGE("icetop", components=("pi0", "ic", "bremsstrahlung"), electron_sea=sea)


@pytest.fixture(scope="module")
def cubes(dge):
    geom = WcsGeom.create(skydir=(30.0, 0.0), npix=(12, 9), binsz=1.0, frame="galactic")
    return dge.component_cubes(ENERGY, geom=geom)


def test_components_default_to_pi0_and_sum(dge, cubes):
    assert ConventionalDGE("icetop").components == ("pi0",)
    assert set(cubes) == {"pi0", "ic", "bremsstrahlung"}
    geom = cubes["pi0"].geom.to_image()
    total = dge.cube(ENERGY, geom=geom)
    expected = sum(c.data.astype(float) for c in cubes.values())
    np.testing.assert_allclose(total.data, expected, rtol=1e-5)
    pi0_only = dge.cube(ENERGY, geom=geom, components=("pi0",))
    np.testing.assert_allclose(pi0_only.data, cubes["pi0"].data)
    for name in ("ic", "bremsstrahlung"):
        assert np.all(cubes[name].data > 0)


def test_bremsstrahlung_cube_is_its_definition(dge, cubes):
    """I = q^T [N_HI T_HI + N_H2 T_H2], computed here in one piece in double precision (the cube is
    built in blocks of pixels into float32): on a WCS image (2-D pixels), at absorbed energies too
    (there T is the model's transmission; below the pair threshold it is 1 to within 1e-6)."""
    from gammapy_cocoons.dge.leptonic import bremsstrahlung_columns

    geom = cubes["bremsstrahlung"].geom.to_image()
    hi, h2 = bremsstrahlung_columns(dge, dge.electron_sea, geom)
    q = bremsstrahlung_node_emissivities(dge.electron_sea, ENERGY.to_value("GeV"))
    coords = geom.get_coord().skycoord.galactic
    t_hi, t_h2 = dge.transmission(ENERGY.to_value("GeV"), coords.l.deg, coords.b.deg)
    assert t_hi[-1].min() < 0.999  # (10 TeV: absorbed, else this test checks less)
    expected = np.einsum("ke,k...->e...", q, hi) * t_hi + np.einsum("ke,k...->e...", q, h2) * t_h2
    assert cubes["bremsstrahlung"].data.dtype == np.float32
    np.testing.assert_allclose(cubes["bremsstrahlung"].data, expected, rtol=2e-6)


def test_ic_cube_is_the_intensity_rounded_to_float32(dge, cubes):
    """The component cube's float32 data (rounded block by block) equal the float64 intensity
    rounded once, bit for bit; other result types are refused."""
    geom = cubes["ic"].geom.to_image()
    coords = geom.get_coord().skycoord.galactic
    full = ic_intensity(dge.electron_sea, ENERGY.to_value("GeV"), coords.l.deg, coords.b.deg)
    assert full.dtype == np.float64 and cubes["ic"].data.dtype == np.float32
    assert np.array_equal(cubes["ic"].data, full.astype(np.float32))
    for bad in ("int8", None, 3, "x"):
        with pytest.raises(ValueError, match="dtype"):
            ic_intensity(dge.electron_sea, ENERGY.to_value("GeV"), [0.0], [0.0], dtype=bad)


def test_ic_is_broader_in_latitude_than_the_gas_components(cubes):
    # at 100 GeV: the electrons fill a kpc-thick layer, the gas a 0.1-0.2 kpc one
    def contrast(name):
        data = cubes[name].data[1]
        return data[0].mean() / data[4].mean()  # b = -4 deg vs the plane
    assert contrast("ic") > 2 * contrast("bremsstrahlung")


def test_ic_towards_the_pole_is_the_vertical_integral(sea):
    """b = 90 deg: int_0^H j(r_sun, z) dz, by the trapezoid on the sea's own cells."""
    energy = np.array([10.0, 1000.0])
    j = ic_emissivity(sea, energy)
    grid = sea.grid
    column = []
    for k in range(energy.size):
        values = np.array([np.interp(8.5, grid.r, j[k, jz]) for jz in range(grid.shape[0])])
        z = np.concatenate([[0.0], grid.z, [grid.z_faces[-1]]])
        column.append(np.trapezoid(np.concatenate([[values[0]], values, [0.0]]), z) * KPC_CM)
    pole = ic_intensity(sea, energy, np.array([0.0]), np.array([90.0]), absorption=False)[:, 0]
    np.testing.assert_allclose(pole, column, rtol=0.02)


def test_bremsstrahlung_scales_with_the_local_emissivity(sea):
    # per H atom at the Sun, 1 GeV: the 1-10 GeV electrons on H + He; E^2 q ~ 1e-27 - 1e-26 GeV s-1 sr-1
    q = bremsstrahlung_node_emissivities(sea, np.array([1.0, 10.0])).sum(axis=0)
    assert 1e-28 < q[0] * 1.0**2 < 3e-26
    assert q[1] < q[0] / 10


def test_bad_components_are_refused(dge):
    with pytest.raises(ValueError, match="components"):
        ConventionalDGE("icetop", components=("pi0", "synchrotron"))
    with pytest.raises(ValueError, match="components"):
        ConventionalDGE("icetop", components=())
    with pytest.raises(ValueError, match="components"):
        ConventionalDGE("icetop", components=("ic", "ic"))
    with pytest.raises(ValueError, match="components"):
        dge.cube(ENERGY, geom=WcsGeom.create(npix=(2, 2), binsz=1.0, frame="galactic"), secondary="nu_all")
    with pytest.raises(ValueError, match="components"):
        conventional_dge("min", secondary="nu_per_flavour", components=("pi0", "ic"))
    with pytest.raises(ValueError, match="electron_sea"):
        ConventionalDGE("icetop", electron_sea="default")


def test_electron_shape_integrals_equal_the_explicit_sum(sea):
    """The bremsstrahlung geometry's sparse line-of-sight sums against the electron shapes summed
    directly, points inside and outside the halo and below the plane."""
    from gammapy_cocoons.dge.leptonic import ElectronShapes

    shapes = ElectronShapes(sea)
    rng = np.random.default_rng(11)
    r, z, weights = rng.uniform(0.0, 22.0, (5, 60)), rng.uniform(-4.5, 4.5, (5, 60)), rng.uniform(0.0, 2.0, (5, 60))
    expected = np.sum(weights * shapes.node_shapes(r, z), axis=-1)
    assert expected.shape == (len(shapes.rigidity_nodes), 5) and np.all(expected > 0)
    np.testing.assert_allclose(shapes.node_shape_integrals(r, z, weights), expected, rtol=1e-13, atol=0)
