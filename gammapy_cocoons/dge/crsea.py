"""The Galactic cosmic-ray sea: diffusion and advection from the disc sources in a cylindrical halo.

The same :class:`~gammapy_cocoons.physics.transport.GalacticTransport` as the B/C model
(halo half-height H, diffusion coefficient D(R) with its break, advection u away from the disc,
Evoli, Aloisio & Blasi 2019) in a cylinder of radius R_h, free escape (n = 0) on its surface,
sources in the thin disc with surface density sigma(r) = int rho dz::

    -D laplace(n) + d/dz (u sign(z) n) = sigma(r) delta(z)

separates in Bessel modes J0(nu_k r / R_h), s_k = nu_k / R_h (e.g. Berezinskii et al. 1990,
ch. 3; Jones et al. 2001, ApJ 547, 264 for the advective vertical problem). For z > 0 each mode
solves D n'' - u n' - D s_k^2 n = 0 with n(H) = 0, and the jump at the disc gives
-2 D n'(0+) + 2 u n(0) = sigma_k::

    n_k(z) = n_k(0) exp(a z) sinh(S_k (H - z)) / sinh(S_k H),   a = u / 2D,  S_k = sqrt(a^2 + s_k^2)
    n_k(0) = sigma_k / (u + 2 D S_k coth(S_k H))
    sigma_k = 2 / (R_h^2 J1(nu_k)^2) int_0^R_h r sigma(r) J0(nu_k r / R_h) dr .

u -> 0 gives pure diffusion, n_k(0) = sigma_k tanh(s_k H) / (2 D s_k); s_k -> 0 the 1-D
weighted slab, n(0) = sigma (1 - exp(-uH/D)) / 2u, the grammage of the B/C model.

Only D/u enters the *shape* n(r, z) / n(r_sun, 0), so the profile changes with rigidity where
advection competes with diffusion (u H / D ~ 1 at a few GV for the B/C fit) and tends to the
pure-diffusion profile above. It is tabulated at a few rigidity nodes and interpolated linearly
in log(D / u) (:meth:`CosmicRaySea.weights`). Energy losses, reacceleration and spallation in
the disc are neglected (< 10 % for protons above 10 GV). The spectrum at the Sun is fixed by the
local measurements (:mod:`.localspectra`); this module gives the shape, 1 at the Sun.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, special

from ..constants import KPC_CM
from ..physics.galaxy import SOURCE_DISTRIBUTIONS, SourceDistribution, get_source_distribution
from ..physics.transport import GalacticTransport

__all__ = ["CosmicRaySea", "DGE_SOURCES", "DEFAULT_TRANSPORT", "DEFAULT_RIGIDITY_NODES"]

#: the source profiles offered for the CR sea: the published SNR/pulsar profiles of
#: :data:`~gammapy_cocoons.physics.galaxy.SOURCE_DISTRIBUTIONS` without the cocoons' 10 kpc cut
#: (they extend to the halo radius and fall off by themselves), and the cocoons' own Green 2015
#: disc (cut at 10 kpc) for a fully consistent picture
DGE_SOURCES = {
    name: (dist if name == "green2015" else dist.replace(r_max=20.0))
    for name, dist in SOURCE_DISTRIBUTIONS.items()
}

#: Galactic transport of the DGE when none is given: the B/C set-up of Evoli, Aloisio & Blasi
#: (2019, PRD 99, 103023; H = 4 kpc, u = 7 km s-1, the 312 GV break) with delta = 0.62 as in the
#: paper set-up of this package's B/C fit and D0 = 1.46e28 cm2 s-1 at 1 GV from that fit (full
#: nuclear network, AMS-02 2018; docs/bc.md). Only D/u shapes the CR sea. tests/test_bcfit.py refits
#: B/C and checks these values against the fit (within its errors, and the CR sea to 1e-3);
#: ``BoronCarbonModel.transport()`` gives the fitted object itself.
DEFAULT_TRANSPORT = GalacticTransport(d0=1.46, delta=0.62)

#: proton rigidities [GV] at which the shape is tabulated
DEFAULT_RIGIDITY_NODES = (2.0, 10.0, 100.0, 1e6)

_PROTON_MASS_GEV = 0.938272


def _proton_beta(rigidity):
    return rigidity / np.hypot(rigidity, _PROTON_MASS_GEV)


def bilinear_sums(stacked, k, step_a, step_b, ta, tb, weights, n_samples):
    """sum over each run of ``n_samples`` consecutive points of weights x (bilinear interpolation of
    the rows of ``stacked``), shape (n_columns, n_points / n_samples).

    ``stacked`` (n_cells, n_columns) holds one table row per grid cell corner; point p lies in the
    cell with lower corner k[p], at fractions ta, tb along the two axes, whose neighbouring corners
    are k + step_a and k + step_b. Each run is one sparse row of four corner weights per point
    times ``stacked``: no (points x columns) temporary (equal to the interpolated values summed
    explicitly, to rounding)."""
    from scipy import sparse

    n_samples = max(int(n_samples), 1)
    low, high = weights * (1.0 - ta), weights * ta  # split along a, then along b
    data = np.empty((k.size, 4))
    data[:, 0], data[:, 1] = low * (1.0 - tb), low * tb
    data[:, 2], data[:, 3] = high * (1.0 - tb), high * tb
    columns = np.empty((k.size, 4), np.int32)
    columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3] = k, k + step_b, k + step_a, k + step_a + step_b
    rows = np.arange(0, 4 * k.size + 1, 4 * n_samples, dtype=np.int32)
    matrix = sparse.csr_matrix((data.ravel(), columns.ravel(), rows), shape=(rows.size - 1, stacked.shape[0]))
    return np.asarray(matrix @ stacked).T


def dge_source_distribution(dist):
    """A CR sea's source profile: a key of :data:`DGE_SOURCES` or a SourceDistribution (validated)."""
    if isinstance(dist, str):
        if dist not in DGE_SOURCES:
            raise ValueError(f"source_distribution must be one of {sorted(DGE_SOURCES)} or a "
                             f"SourceDistribution, got {dist!r}")
        dist = DGE_SOURCES[dist]
    return get_source_distribution(dist)


def check_transport(transport):
    """Refuse anything but a GalacticTransport (the CR sea's diffusion, halo and advection)."""
    if not isinstance(transport, GalacticTransport):
        raise ValueError(f"transport must be a GalacticTransport, got {transport!r}")


@dataclass(frozen=True)
class CosmicRaySea:
    """Shape of the Galactic CR density at a few rigidities, 1 at the Sun.

    Parameters
    ----------
    transport : GalacticTransport
        Halo height, D(R) and advection (shared with the B/C model).
    source_distribution : SourceDistribution or str
        Disc sources: a key of :data:`DGE_SOURCES` (default "case1998", the SNR surface density
        of Case & Bhattacharya 1998) or any SourceDistribution.
    halo_radius : float
        Radius R_h of the diffusion cylinder [kpc], >= the source radius.
    rigidity_nodes : sequence of float
        Proton rigidities [GV] where the shape is tabulated.
    n_terms : int
        Bessel terms of the series.
    """

    transport: GalacticTransport = DEFAULT_TRANSPORT
    source_distribution: SourceDistribution = "case1998"
    halo_radius: float = 20.0
    rigidity_nodes: tuple = DEFAULT_RIGIDITY_NODES
    n_terms: int = 300
    _tables: tuple = field(init=False, repr=False, compare=False)
    _stacked: np.ndarray = field(init=False, repr=False, compare=False)
    _source: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "source_distribution", dge_source_distribution(self.source_distribution))
        check_transport(self.transport)
        dist = self.source_distribution
        if not self.halo_height > dist.h:
            raise ValueError(f"transport.halo_height must exceed the source disc half-height {dist.h} kpc, "
                             f"got {self.halo_height!r}")
        if not (np.isfinite(self.halo_radius) and self.halo_radius >= dist.r_max):
            raise ValueError(f"halo_radius must be >= the source radius {dist.r_max} kpc, got {self.halo_radius!r}")
        nodes = np.asarray(self.rigidity_nodes, float)
        if nodes.ndim != 1 or nodes.size < 1 or np.any(~np.isfinite(nodes)) or np.any(nodes <= 0) \
                or np.any(np.diff(nodes) <= 0):
            raise ValueError(f"rigidity_nodes must be increasing positive rigidities [GV], got {self.rigidity_nodes!r}")
        object.__setattr__(self, "rigidity_nodes", tuple(nodes))
        if int(self.n_terms) < 10:
            raise ValueError(f"n_terms must be >= 10, got {self.n_terms!r}")
        object.__setattr__(self, "_source", self._compute_source_modes())  # the same at every rigidity
        object.__setattr__(self, "_tables", tuple(self._tabulate(x) for x in self.node_lengths))
        object.__setattr__(self, "_stacked", np.stack([table.ravel() for _, _, table in self._tables], axis=1))

    @property
    def halo_height(self):
        """Half-height H of the halo [kpc] (the transport's)."""
        return self.transport.halo_height

    # -- D / u ------------------------------------------------------------------------------
    def diffusion_length(self, rigidity, beta):
        """D / u [kpc] at rigidity [GV] and velocity beta (inf without advection)."""
        rigidity, beta = np.asarray(rigidity, float), np.asarray(beta, float)
        if not (np.all(np.isfinite(rigidity)) and np.all(rigidity > 0)):
            raise ValueError(f"rigidity must be finite and > 0 GV, got {rigidity!r}")
        if not (np.all(beta > 0) and np.all(beta <= 1)):
            raise ValueError(f"beta must be within (0, 1], got {beta!r}")
        diffusion = self.transport.diffusion(np.asarray(rigidity, float), np.asarray(beta, float)) / KPC_CM**2
        speed = self.transport.advection * 1e5 / KPC_CM
        with np.errstate(divide="ignore"):
            return diffusion / speed if speed > 0 else np.full(np.shape(diffusion), np.inf)

    @property
    def node_lengths(self):
        """D / u [kpc] of a proton at each rigidity node."""
        nodes = np.asarray(self.rigidity_nodes)
        return self.diffusion_length(nodes, _proton_beta(nodes))

    def weights(self, length):
        """Interpolation weights (n_nodes, ...) of the node shapes for D/u = ``length`` [kpc].

        Linear in log(D/u) between nodes; held at the first / last node outside their range
        (below the lowest node the primaries make gamma rays under 0.1 GeV; above the highest the
        shape is the pure-diffusion limit, reached to < 1e-3 at u H / D < 1e-3).
        """
        nodes = np.log(self.node_lengths)
        x = np.log(np.asarray(length, float))
        out = np.zeros((nodes.size,) + x.shape)
        if nodes.size == 1 or not np.all(np.isfinite(nodes)):
            out[-1] = 1.0
            return out
        x = np.clip(x, nodes[0], nodes[-1])
        j = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
        t = (x - nodes[j]) / (nodes[j + 1] - nodes[j])
        np.put_along_axis(out, j[None], (1.0 - t)[None], axis=0)
        np.put_along_axis(out, (j + 1)[None], t[None], axis=0)
        return out

    # -- the series ---------------------------------------------------------------------------
    def _source_modes(self):
        """nu_k and sigma_k (up to a constant factor) of the source surface density (computed once)."""
        return self._source

    def _compute_source_modes(self):
        dist = self.source_distribution
        radius = self.halo_radius
        nu = special.jn_zeros(0, int(self.n_terms))
        # Gauss-Legendre on 0.05 kpc pieces resolves the highest Bessel oscillation
        # (wavelength 2 pi R_h / nu_max ~ 0.13 kpc for 300 terms)
        x, w = np.polynomial.legendre.leggauss(8)
        edges = np.linspace(0.0, dist.r_max, int(np.ceil(dist.r_max / 0.05)) + 1)
        half = 0.5 * np.diff(edges)[:, None]
        r = ((edges[:-1, None] + half) + half * x).ravel()
        weight = (half * w).ravel()
        integrals = (weight * r * dist.radial(r)) @ special.j0(np.outer(r, nu) / radius)
        return nu, 2.0 / (radius**2 * special.j1(nu) ** 2) * integrals

    def _modes(self, length):
        """(nu_k, n_k(0) in units of 1/D, a, S_k) for D/u = ``length`` [kpc]."""
        nu, sigma = self._source_modes()
        s = nu / self.halo_radius
        a = 0.0 if not np.isfinite(length) else 0.5 / length
        big_s = np.sqrt(a * a + s * s)
        x = big_s * self.halo_height
        coth = (1.0 + np.exp(-2.0 * x)) / -np.expm1(-2.0 * x)
        # n_k(0) D = sigma_k / (u/D + 2 S_k coth(S_k H)), u / D = 2a
        return nu, sigma / (2.0 * a + 2.0 * big_s * coth), a, big_s

    def _vertical(self, a, big_s, z):
        """exp(a z) sinh(S (H - z)) / sinh(S H) without overflow, for 0 <= z <= H."""
        height = self.halo_height
        return (np.exp(-(big_s - a) * z) - np.exp(-2.0 * big_s * height + (big_s + a) * z)) \
            / -np.expm1(-2.0 * big_s * height)

    def series(self, r, z, length=np.inf):
        """n(r, z) D from the Bessel series (r, z in kpc, broadcast; D/u = ``length`` kpc)."""
        nu, amplitude, a, big_s = self._modes(length)
        r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
        zc = np.minimum(z, self.halo_height)
        terms = amplitude * special.j0(np.multiply.outer(r, nu) / self.halo_radius) \
            * self._vertical(a, big_s, zc[..., None])
        inside = (r <= self.halo_radius) & (z <= self.halo_height)
        return np.where(inside, np.sum(terms, axis=-1), 0.0)

    def _tabulate(self, length):
        nu, amplitude, a, big_s = self._modes(length)
        r = np.linspace(0.0, self.halo_radius, int(round(self.halo_radius / 0.05)) + 1)
        z = np.linspace(0.0, self.halo_height, int(round(self.halo_height / 0.02)) + 1)
        radial = special.j0(np.outer(r, nu) / self.halo_radius) * amplitude
        values = radial @ self._vertical(a, big_s[:, None], z[None, :])
        sun = self.series(self.source_distribution.r_sun, 0.0, length)
        return r[1] - r[0], z[1] - z[0], np.maximum(values / sun, 0.0)

    # -- public -------------------------------------------------------------------------------
    def node_shape(self, node, r, z):
        """n(r, z) / n(r_sun, 0) at rigidity node ``node`` (index), bilinear in a 0.05 x 0.02 kpc
        table; zero outside the halo."""
        dr, dz, table = self._tables[node]
        r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
        coordinates = np.array([r.ravel() / dr, z.ravel() / dz])
        value = ndimage.map_coordinates(table, coordinates, order=1, mode="constant", cval=0.0)
        return value.reshape(r.shape)

    def node_shapes(self, r, z):
        """All node shapes at once, shape (n_nodes,) + broadcast shape of r, z (bilinear, as
        :meth:`node_shape`, sharing the interpolation weights and one gather per corner)."""
        dr, dz, _ = self._tables[0]
        stack = self._stacked  # (n_r * n_z, n_nodes): one contiguous row per grid point
        n_r, n_z = self._tables[0][2].shape
        r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
        x, y = r.ravel() / dr, z.ravel() / dz
        i = np.floor(x).astype(np.intp)
        j = np.floor(y).astype(np.intp)
        inside = (i >= 0) & (j >= 0) & (i < n_r - 1) & (j < n_z - 1)
        i, j = np.where(inside, i, 0), np.where(inside, j, 0)
        tx, ty = (x - i)[:, None], (y - j)[:, None]
        k = i * n_z + j
        values = (stack[k] * (1 - tx) + stack[k + n_z] * tx) * (1 - ty) \
            + (stack[k + 1] * (1 - tx) + stack[k + n_z + 1] * tx) * ty
        values[~inside] = 0.0
        return values.T.reshape((-1,) + r.shape)

    def node_shape_integrals(self, r, z, weights):
        """``sum(weights * node_shapes(r, z), axis=-1)`` without the node shapes themselves, shape
        (n_nodes,) + r.shape[:-1] (r, z, weights of one shape, the last axis summed, e.g. quadrature
        samples along lines of sight).

        The same bilinear interpolation as :meth:`node_shapes`; the weighted sum over the samples of
        a line is a sparse row (four table corners per sample) times the stacked node tables, so no
        (samples x nodes) temporary is made (equal to the explicit sum to rounding, ~1e-15).
        """
        dr, dz, _ = self._tables[0]
        n_r, n_z = self._tables[0][2].shape
        r, z, weights = np.broadcast_arrays(np.asarray(r, float), np.asarray(z, float), np.asarray(weights, float))
        x, y = r.ravel() / dr, np.abs(z.ravel()) / dz
        i = np.floor(x)
        j = np.floor(y)
        inside = (i >= 0) & (j >= 0) & (i < n_r - 1) & (j < n_z - 1)
        i, j = np.where(inside, i, 0.0), np.where(inside, j, 0.0)
        sums = bilinear_sums(self._stacked, (i * n_z + j).astype(np.int32), n_z, 1, x - i, y - j,
                             np.where(inside, weights.ravel(), 0.0), r.shape[-1] if r.ndim else 1)
        return sums.reshape((-1,) + r.shape[:-1])

    def __call__(self, r, z, rigidity=None):
        """n(r, z) / n(r_sun, 0) of protons at ``rigidity`` [GV] (default: the highest node, the
        pure-diffusion limit), interpolated between the node tables; ``rigidity`` broadcasts with
        r and z."""
        if rigidity is None:
            return self.node_shape(len(self.rigidity_nodes) - 1, r, z)
        rigidity = np.asarray(rigidity, float)
        weights = self.weights(self.diffusion_length(rigidity, _proton_beta(rigidity)))
        shapes = self.node_shapes(r, z)
        # (n_nodes,) + rigidity.shape against (n_nodes,) + broadcast(r, z).shape: numpy broadcasting
        # of the trailing axes, the node axis kept in front
        ndim = max(weights.ndim, shapes.ndim) - 1
        weights = weights.reshape(weights.shape[:1] + (1,) * (ndim - weights.ndim + 1) + weights.shape[1:])
        shapes = shapes.reshape(shapes.shape[:1] + (1,) * (ndim - shapes.ndim + 1) + shapes.shape[1:])
        return np.sum(weights * shapes, axis=0)
