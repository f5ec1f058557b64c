"""Steady-state diffusion, advection and continuous energy losses in an axisymmetric halo.

For the electron sea (:mod:`gammapy_cocoons.dge.electrons`): the density n(E, r, z) per unit
energy solves, in a cylinder r <= R_h, abs(z) <= H, symmetric in z::

    -div(D(E) grad n) + d/dz (u sign(z) n) - d/dE (b(E, r, z) n) = Q(E, r, z)

with n = 0 on the cylinder's surface (free escape), b = abs(dE/dt) > 0 and advection u away from the
disc. Space: finite volumes on cells in (r, z >= 0) (cylindrical volumes and face areas; zero
flux through the mid-plane by symmetry, the advective outflow upwind). Energy: with G = b n and
s = -ln E the equation is a diffusion problem in the "time" s,

    dG/ds = E Q + E L(G / b),    L = div(D grad .) - d/dz(u .),

marched from the highest energy (n = 0 above it) downwards with the second-order, L-stable BDF2
scheme (one backward-Euler start step), one sparse LU factorisation per energy.

Optionally the source *spectrum* is inferred step by step so that n at a reference position
equals a target spectrum (the local measurement): at each energy n = q x + y with
x = A^-1 S and y = A^-1 (history), both from the same factorisation, and q is chosen so that
n(ref) = target (clipped at 0, where the target falls more slowly than the cooled electrons
from above can supply).

Units: lengths kpc, D kpc2 s-1, u kpc s-1, E GeV, b GeV s-1; Q and n in any consistent unit.
"""
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg

#: SuperLU's column ordering: the pattern is symmetric (a face couples both of its cells; the upwind
#: advection only adds to entries diffusion already has), for which minimum degree on A^T + A gives
#: sparser factors than the default COLAMD (81 000 against 127 000 entries on the electron sea's grid)
PERMUTATION = "MMD_AT_PLUS_A"

__all__ = ["CylinderGrid", "solve_diffusion_loss"]


@dataclass(frozen=True)
class CylinderGrid:
    """Finite-volume cells of an axisymmetric half-cylinder (z >= 0).

    Parameters
    ----------
    r_faces, z_faces : tuple of float
        Increasing cell faces from 0 to R_h and from 0 to H [kpc].
    """

    r_faces: tuple
    z_faces: tuple

    def __post_init__(self):
        for name in ("r_faces", "z_faces"):
            faces = np.asarray(getattr(self, name), float)
            if faces.ndim != 1 or faces.size < 3 or faces[0] != 0 or np.any(np.diff(faces) <= 0) \
                    or not np.all(np.isfinite(faces)):
                raise ValueError(f"{name} must be increasing finite faces starting at 0 kpc (>= 2 cells)")
            object.__setattr__(self, name, tuple(faces))

    @classmethod
    def default(cls, radius, height, dr=0.25, dz_disc=0.02, z_fine=0.2, growth=1.15, dz_max=0.25):
        """Uniform dr; dz_disc up to z_fine, then growing by ``growth`` per cell up to dz_max."""
        r = np.linspace(0.0, radius, int(round(radius / dr)) + 1)
        z = [0.0]
        width = dz_disc
        while z[-1] < height - 1e-9:
            if z[-1] >= z_fine - 1e-9:
                width = min(width * growth, dz_max)
            z.append(min(z[-1] + width, height))
        if height - z[-2] < 0.3 * width and len(z) > 2:  # no sliver at the top
            z.pop(-2)
        return cls(tuple(r), tuple(z))

    @property
    def r(self):
        """Cell centres in r [kpc]."""
        f = np.asarray(self.r_faces)
        return 0.5 * (f[1:] + f[:-1])

    @property
    def z(self):
        """Cell centres in z [kpc]."""
        f = np.asarray(self.z_faces)
        return 0.5 * (f[1:] + f[:-1])

    @property
    def shape(self):
        return (len(self.z_faces) - 1, len(self.r_faces) - 1)

    @property
    def volumes(self):
        """Cell volumes per radian [kpc3], shape (n_z, n_r)."""
        rf, zf = np.asarray(self.r_faces), np.asarray(self.z_faces)
        return np.outer(np.diff(zf), 0.5 * np.diff(rf**2))

    def operators(self, advection):
        """Sparse (diffusion with D = 1, advection with speed ``advection`` [kpc s-1]) matrices M
        with M n = net outflow of each cell (per radian)."""
        rf, zf = np.asarray(self.r_faces), np.asarray(self.z_faces)
        rc, zc = self.r, self.z
        nz, nr = self.shape
        index = np.arange(nz * nr).reshape(nz, nr)
        dz = np.diff(zf)
        ring = 0.5 * np.diff(rf**2)
        # radial faces between cells
        g_r = (rf[1:-1][None, :] * dz[:, None]) / np.diff(rc)[None, :]
        a, b = index[:, :-1].ravel(), index[:, 1:].ravel()
        g = g_r.ravel()
        rows_d = [a, a, b, b]
        cols_d = [a, b, b, a]
        vals_d = [g, -g, g, -g]
        # vertical faces between cells
        g_z = ring[None, :] / np.diff(zc)[:, None]
        a, b = index[:-1, :].ravel(), index[1:, :].ravel()
        g = g_z.ravel()
        rows_d += [a, a, b, b]
        cols_d += [a, b, b, a]
        vals_d += [g, -g, g, -g]
        # Dirichlet n = 0 on the outer faces r = R_h and z = H
        edge_r = index[:, -1]
        rows_d.append(edge_r)
        cols_d.append(edge_r)
        vals_d.append(rf[-1] * dz / (rf[-1] - rc[-1]))
        edge_z = index[-1, :]
        rows_d.append(edge_z)
        cols_d.append(edge_z)
        vals_d.append(ring / (zf[-1] - zc[-1]))
        n = nz * nr
        diffusion = sparse.csc_matrix((np.concatenate(vals_d), (np.concatenate(rows_d), np.concatenate(cols_d))),
                                      shape=(n, n))
        # advection upwards (upwind): each cell loses u A n through its top face to the cell above
        flux = advection * np.broadcast_to(ring, (nz, nr))
        a, b = index[:-1, :].ravel(), index[1:, :].ravel()
        rows_a = [index.ravel(), b]
        cols_a = [index.ravel(), a]
        vals_a = [flux.ravel(), -flux[:-1].ravel()]
        advective = sparse.csc_matrix((np.concatenate(vals_a), (np.concatenate(rows_a), np.concatenate(cols_a))),
                                      shape=(n, n))
        return diffusion, advective

    def interpolation_weights(self, r, z):
        """Bilinear weights (n_cells,) of the cell-centre values at one point (r, z) [kpc]
        (held at the first / last centres)."""
        nz, nr = self.shape
        fi = np.interp(r, self.r, np.arange(nr))
        fj = np.interp(abs(z), self.z, np.arange(nz))
        i0, j0 = min(int(fi), nr - 2), min(int(fj), nz - 2)
        ti, tj = fi - i0, fj - j0
        w = np.zeros((nz, nr))
        w[j0, i0] = (1 - ti) * (1 - tj)
        w[j0, i0 + 1] = ti * (1 - tj)
        w[j0 + 1, i0] = (1 - ti) * tj
        w[j0 + 1, i0 + 1] = ti * tj
        return w.ravel()


def solve_diffusion_loss(grid, energy, diffusion, advection, loss_rate, source_shape, source_spectrum=None,
                         target=None, reference=None):
    """Solve the steady state (see the module documentation).

    Parameters
    ----------
    grid : CylinderGrid
    energy : ndarray
        Log-uniform energies [GeV], increasing (the march starts at the last, n = 0 above it).
    diffusion : ndarray
        D(E) [kpc2 s-1] at ``energy``.
    advection : float
        u [kpc s-1] (>= 0).
    loss_rate : ndarray
        b(E, z, r) > 0 [GeV s-1], shape (n_E,) + grid.shape.
    source_shape : ndarray
        S(z, r) >= 0, shape grid.shape (cell averages).
    source_spectrum : ndarray, optional
        q(E): Q = q S. Give either this or ``target`` with ``reference``.
    target, reference : ndarray, (r, z)
        Infer q(E) so that n(E, reference) = target(E) (see the module documentation).

    Returns
    -------
    n : ndarray
        Shape (n_E,) + grid.shape.
    q : ndarray
        The source spectrum used (given or inferred), shape (n_E,).
    """
    energy = np.asarray(energy, float)
    steps = np.diff(np.log(energy))
    if energy.ndim != 1 or energy.size < 3 or np.any(steps <= 0) or np.ptp(steps) > 1e-6 * steps.mean():
        raise ValueError("energy must be a log-uniform increasing grid of >= 3 energies [GeV]")
    h = float(steps.mean())
    shape = grid.shape
    loss_rate = np.asarray(loss_rate, float).reshape(energy.size, -1)
    if loss_rate.shape[1] != shape[0] * shape[1] or not np.all(np.isfinite(loss_rate)) or np.any(loss_rate <= 0):
        raise ValueError(f"loss_rate must be finite, > 0 and of shape {(energy.size,) + shape}")
    diffusion = np.broadcast_to(np.asarray(diffusion, float), energy.shape)
    if not np.all(np.isfinite(diffusion)) or np.any(diffusion <= 0):
        raise ValueError("diffusion must be finite and > 0 [kpc2 s-1]")
    if not (np.isfinite(advection) and advection >= 0):
        raise ValueError(f"advection must be finite and >= 0, got {advection!r}")
    volume = grid.volumes.ravel()
    source = np.asarray(source_shape, float).ravel() * volume
    inverse = target is not None
    if inverse:
        weights = grid.interpolation_weights(*reference)
        target = np.asarray(target, float)
        q = np.zeros(energy.size)
    else:
        q = np.broadcast_to(np.asarray(source_spectrum, float), energy.shape).copy()
    m_diff, m_adv = grid.operators(advection)
    n = np.zeros((energy.size, volume.size))
    g_above = [np.zeros(volume.size), np.zeros(volume.size)]  # G at k+1, k+2
    for k in range(energy.size - 1, -1, -1):
        first = k == energy.size - 1
        coefficient = (1.0 if first else 1.5) / (h * energy[k])
        history = (g_above[0] if first else 2.0 * g_above[0] - 0.5 * g_above[1]) / (h * energy[k])
        matrix = (m_diff * diffusion[k] + m_adv + sparse.diags(coefficient * loss_rate[k] * volume)).tocsc()
        lu = splinalg.splu(matrix, permc_spec=PERMUTATION)
        if inverse:
            x, y = lu.solve(np.column_stack([source, history * volume])).T
            q[k] = max((target[k] - weights @ y) / (weights @ x), 0.0)
            n[k] = q[k] * x + y
        else:
            n[k] = lu.solve(q[k] * source + history * volume)
        g_above = [loss_rate[k] * n[k], g_above[0]]
    return n.reshape((energy.size,) + shape), q
