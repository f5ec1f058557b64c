"""The 2-D finite-volume transport solver against exact 1-D solutions, its conservation and its
convergence under grid refinement (the comparison with the Bessel series of the DGE's CR sea is in
tests/test_radial_delta.py)."""
import numpy as np
import pytest
from scipy import special

from gammapy_cocoons.physics.transport2d import (
    CylindricalGrid, boundary_outflow, solve_steady_state, uniform_grid,
)

H = 4.0


def ones(r, z):
    return np.ones(np.broadcast(r, z).shape)


def slab_grid(dz):
    """A halo 25 times wider than high, uniform sources: at r = 0 it is the 1-D slab."""
    grid = uniform_grid(100.0, H, 4.0, dz)
    return grid, grid.source_average(lambda r: np.ones_like(r))


@pytest.mark.parametrize("u", [0.0, 0.3, 3.0])
def test_uniform_slab_is_exact(u):
    """Uniform D, u: the flux -D n' + u n = sigma / 2 with n(H) = 0 gives
    n(z) = (sigma / 2u) (1 - exp(-u (H - z) / D)) (-> sigma (H - z) / 2D), the weighted slab of the
    B/C model; the exponentially fitted fluxes reproduce it to round-off on any grid."""
    grid, source = slab_grid(0.5)
    n = solve_steady_state(grid, ones, lambda r, z: u * ones(r, z), source)
    z = grid.z
    exact = 0.5 * (H - z) if u == 0 else 0.5 / u * -np.expm1(-u * (H - z))
    assert np.allclose(n[0], exact, rtol=1e-12, atol=1e-14)


def test_linear_wind_converges_at_second_order():
    """u = a z (the GALPROP/DRAGON wind): n(0) = (sigma / 2D) sqrt(pi D / 2a) erf(H sqrt(a / 2D));
    the error falls by 4 when dz halves."""
    a = 0.5
    exact = 0.5 * np.sqrt(np.pi / (2 * a)) * special.erf(H * np.sqrt(a / 2))
    errors = []
    for dz in (0.2, 0.1, 0.05):
        grid, source = slab_grid(dz)
        errors.append(solve_steady_state(grid, ones, lambda r, z: a * z + 0 * r, source)[0, 0] / exact - 1)
    assert abs(errors[-1]) < 2e-4
    orders = np.log2(np.abs(np.array(errors[:-1]) / errors[1:]))
    assert np.allclose(orders, 2.0, atol=0.05)


def kra_like(rigidity):
    """KRA-gamma-like coefficients in units of D at the Sun: delta(r) - delta(r_sun) =
    0.035 (min(r, 11) - 8.5) at rho / rho_0 = ``rigidity``, a wind 0.05 kpc-1 + 2 z kpc-2 inside 6.5 kpc
    (steps in r), the Case & Bhattacharya source profile to 20 kpc."""
    def diffusion(r, z):
        return rigidity ** (0.035 * (np.minimum(r, 11.0) - 8.5)) + 0 * z

    def advection(r, z):
        return 0.05 + np.where(r < 6.5, 2.0 * z, 0.0)

    def sigma(r):
        return np.where(r <= 20.0, (r / 8.5) ** 2 * np.exp(-3.53 * (r - 8.5) / 8.5), 0.0)

    return diffusion, advection, sigma


def test_conservation():
    """What the disc injects leaves through r = R_h and z = H (finite volumes: to round-off)."""
    diffusion, advection, sigma = kra_like(250.0)
    grid = CylindricalGrid(np.concatenate([np.linspace(0, 8, 17), np.linspace(8.25, 20, 48)]),
                           np.geomspace(0.02, H, 30) - 0.02)  # non-uniform on purpose
    source = grid.source_average(sigma, breaks=(20.0,))
    n = solve_steady_state(grid, diffusion, advection, source, breaks=(6.5, 11.0))
    injected = 0.5 * np.sum(source * grid.box_areas)
    assert boundary_outflow(grid, n, diffusion, advection, breaks=(6.5, 11.0)) == pytest.approx(injected, rel=1e-10)
    assert np.all(n[:-1, :-1] > 0) and np.all(n[-1] == 0) and np.all(n[:, -1] == 0)
    # the box averages keep the source integral: int_0^R_h r sigma dr, minus the boundary node's half box
    from scipy import integrate

    total, _ = integrate.quad(lambda r: r * sigma(r), 0.0, grid.radial_faces[-1], limit=200)
    assert np.sum(source * grid.box_areas) == pytest.approx(total, rel=1e-10)


@pytest.mark.parametrize("rigidity", [1.0, 2.5e5])
def test_grid_convergence(rigidity):
    """Halving dr and dz together (1 x 0.4 kpc down to 0.125 x 0.05 kpc), the change of the solution
    on the coarse nodes (r < 16 kpc, z < 1.6 kpc) falls by ~4 each time: second order, with a wind
    that stops at 6.5 kpc, a kink of delta at 11 kpc and D varying by 40x across the halo (at 1 PV).
    Observed orders of the last pair: 1.94 (rho = rho_0: the wind dominates), 1.89 (1 PV); 1.98 for
    both one refinement further. The Richardson estimate of the finest grid's error is < 1 % of the
    peak (5e-4 and 6e-3)."""
    diffusion, advection, sigma = kra_like(rigidity)
    coarse_r, coarse_z = np.arange(0.0, 16.0, 1.0), np.arange(0.0, 1.6, 0.4)
    samples = []
    for dr, dz in ((1.0, 0.4), (0.5, 0.2), (0.25, 0.1), (0.125, 0.05)):
        grid = uniform_grid(20.0, H, dr, dz)
        n = solve_steady_state(grid, diffusion, advection, grid.source_average(sigma, breaks=(20.0,)),
                               breaks=(6.5, 11.0))
        samples.append(n[np.ix_(np.rint(coarse_r / dr).astype(int), np.rint(coarse_z / dz).astype(int))])
    peak = np.max(samples[-1])
    changes = np.array([np.max(np.abs(b - a)) for a, b in zip(samples[:-1], samples[1:])]) / peak
    orders = np.log2(changes[:-1] / changes[1:])
    assert 1.7 < orders[-1] < 2.3, orders
    assert changes[-1] / (2 ** orders[-1] - 1) < 0.01


def test_bad_input():
    with pytest.raises(ValueError, match="r must be"):
        CylindricalGrid(np.array([0.0, 2.0, 1.0]), np.linspace(0, 4, 5))
    with pytest.raises(ValueError, match="z must be"):
        CylindricalGrid(np.linspace(0, 20, 5), np.linspace(1, 4, 5))
    with pytest.raises(ValueError, match="dz"):
        uniform_grid(20.0, 4.0, 0.5, -0.1)
    grid = uniform_grid(20.0, 4.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="source"):
        solve_steady_state(grid, ones, None, np.ones(3))
    with pytest.raises(ValueError, match="diffusion"):
        solve_steady_state(grid, lambda r, z: -ones(r, z), None, np.ones(20))
    with pytest.raises(ValueError, match="advection"):
        solve_steady_state(grid, ones, lambda r, z: np.nan * ones(r, z), np.ones(20))
    with pytest.raises(TypeError, match="grid"):
        solve_steady_state("grid", ones, None, np.ones(20))


def test_the_column_ordering_changes_the_factors_not_the_solution(monkeypatch):
    """SuperLU's ordering (minimum degree on A^T + A, chosen for speed) against its default COLAMD
    and the natural order: the same density to round-off, and sparser factors than COLAMD's."""
    from scipy.sparse import linalg

    from gammapy_cocoons.physics import transport2d

    diffusion, advection, sigma = kra_like(2.5e5)
    grid = uniform_grid(20.0, H, 0.25, 0.1)
    source = grid.source_average(sigma, breaks=(20.0,))
    solutions = {}
    for ordering in (transport2d.PERMUTATION, "COLAMD", "NATURAL"):
        monkeypatch.setattr(transport2d, "PERMUTATION", ordering)
        solutions[ordering] = solve_steady_state(grid, diffusion, advection, source, breaks=(6.5, 11.0))
    reference = solutions.pop("NATURAL")
    for n in solutions.values():
        assert np.allclose(n, reference, rtol=1e-11, atol=1e-13 * reference.max())
    matrix = transport2d._assemble(grid, *transport2d._face_coefficients(grid, diffusion, advection, (6.5, 11.0)))
    fill = {o: linalg.splu(matrix, permc_spec=o) for o in ("MMD_AT_PLUS_A", "COLAMD")}
    fill = {o: lu.L.nnz + lu.U.nnz for o, lu in fill.items()}
    assert fill["MMD_AT_PLUS_A"] < 0.8 * fill["COLAMD"], fill
