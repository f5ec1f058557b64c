"""A Galactic cosmic-ray sea whose diffusion slope changes with Galactocentric radius (KRA-gamma).

The default sea (:mod:`.crsea`) has one diffusion coefficient for the whole halo. Fermi-LAT's
diffuse gamma rays are harder towards the inner Galaxy than such a sea makes them; Gaggero et al.
(2015, PRD 91, 083012; 2015, ApJ 815, L25; 2017, PRL 119, 031101) reproduce this with a slope of
D(rigidity) that grows with Galactocentric radius, the "KRA-gamma" models::

    delta(r) = A min(r, r_flat) + B,    A = 0.035 kpc-1, B = 0.21, r_flat = 11 kpc,

with D independent of r at a reference rigidity rho_0 (so the inner Galaxy diffuses more slowly,
and holds its CRs longer, the higher the rigidity) and a wind in the inner Galaxy,
u = (dV/dz) abs(z) with dV/dz = 100 km s-1 kpc-1 at r < 6.5 kpc. The public DRAGON2 code
(github.com/cosmicrays/DRAGON2-Beta_version) implements this slope in ``diffusion.cc`` ("variable
delta(R) = Ar + B", constant beyond a threshold radius, D = D0 beta^eta (rho / rho_0)^delta(r));
its example ``examples/BaseModel_CaseSource.xml`` has rho_0 = 4 GV, L = 4 kpc, R_max = 20 kpc and a
wind with ``dvdz_kmskpc`` = 100 and ``conv_threshold`` = 6.5 (in DRAGON2's own "Radial" profile a
floor on the source density, not a radius: the 6.5 kpc wind radius is the papers' description, quoted
here without the papers' full text at hand). The wind matters mostly below ~1 TV (without it the
3-5 kpc / local density ratio is 1.50 instead of 0.88 at 10 GeV, 2.57 instead of 2.35 at 1 TeV).

Here, with the B/C transport of this package (:data:`.crsea.DEFAULT_TRANSPORT`: halo H, D_BC(rho),
advection u_BC) fixing the Sun::

    D(r, rho) = D_BC(rho) (rho / rho_n)^(delta(r_sun) - delta_BC) (rho / rho_0)^(delta(r) - delta(r_sun))
    u(r, z)   = u_BC + [r < r_wind] (dV/dz) |z|

* Local normalisation: at the Sun the CRs see the B/C fit's transport. With ``delta_intercept =
  None`` (the default) delta(r_sun) is the B/C fit's delta, so D(r_sun, rho) = D_BC(rho) at every
  rigidity and the local grammage, hence B/C, is the fit's exactly; only the gradient A of KRA-gamma
  is kept (B = delta_BC - A r_sun = 0.3225). With the literal B = 0.21 (``delta_intercept=0.21``)
  the local slope is 0.5075 and D at the Sun equals D_BC at rho_n = 10 GV only (the local grammage
  at 100 GV is then 10^(0.62 - 0.5075) = 1.30 times the B/C fit's; refitting the paper set-up's
  AMS-02 B/C + C/O with delta fixed at 0.5075 gives chi2 63.6 against 54.4 at 0.62 for 82 points,
  chi0 going to 0). The inner-to-local CR ratio at high rigidity depends on delta(r) - delta(r_sun)
  only, the same in both.
* The break of D_BC (312 GV) and beta are kept, the same factor everywhere (KRA-gamma puts the
  hardening in the injection instead: the local spectrum is measured here, so the difference only
  enters where the wind competes with diffusion).
* The wind adds to the B/C fit's u_BC = 7 km s-1 (which the local B/C needs); the linear profile is
  the GALPROP/DRAGON convention v0 + dV/dz abs(z). Adiabatic losses in the diverging wind are
  neglected (as momentum-space terms everywhere in these seas).
* Sources: the same disc profile as the default sea (Case & Bhattacharya 1998, to R_h = 20 kpc);
  D independent of z (KRA-gamma in DRAGON also scales D with exp(abs(z) / z_t)).

The transport equation is solved in (r, z) by finite volumes (:mod:`gammapy_cocoons.physics.
transport2d`) at rigidity nodes, each solution normalised to 1 at the Sun; between the nodes the
shapes are interpolated linearly in log(D_sun / u_BC), like the default sea, through the same
interface (:meth:`weights`, :meth:`node_shapes`), so :class:`~.conventional.ConventionalDGE` takes
it as ``sea=``. Unlike the default sea, the shape keeps changing in the pure-diffusion regime
(roughly as rho^(delta(r_sun) - delta(r))), and the inner wind changes it fast at low rigidity: 24
nodes from 2 GV to 100 PV (:data:`RADIAL_DELTA_NODES`), between which the interpolated shape is
within 0.9 % of a direct solve wherever the gas is (r < 20 kpc, abs(z) < 1 kpc, shape > 0.05; tests/
test_radial_delta.py).
Above the last node the shape is held (protons beyond 100 PV make gamma rays mostly above the 5 PeV
of the DGE cubes).
"""
import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .._validation import healpix_nside
from ..constants import KPC_CM
from ..physics.galaxy import SourceDistribution
from ..physics.transport import GalacticTransport
from ..physics.transport2d import solve_steady_state, uniform_grid
from .crsea import DEFAULT_TRANSPORT, CosmicRaySea, _proton_beta, check_transport, dge_source_distribution

__all__ = ["RadialDeltaSea", "kra_gamma_sea", "KRA_GAMMA", "RADIAL_DELTA_NODES", "radial_delta_dge",
           "prefetch_radial_delta"]

log = logging.getLogger(__name__)

#: proton rigidities [GV] of the node shapes, 2 GV - 100 PV: dense where the inner wind competes
#: with diffusion (a factor 1.35-2.5 up to 1 TV), half-decades above
RADIAL_DELTA_NODES = (2.0, 2.7, 3.6, 5.0, 7.0, 10.0, 15.0, 22.0, 35.0, 55.0, 100.0, 200.0, 400.0, 1e3) \
    + tuple(float(f"{x:.4g}") for x in np.geomspace(10**3.5, 1e8, 10))

#: the KRA-gamma parameters (Gaggero et al. 2015, 2017; DRAGON2 BaseModel example): gradient A of
#: delta [kpc-1], radius beyond which delta is constant [kpc], rigidity where D is the same at all
#: radii [GV], wind gradient dV/dz [km s-1 kpc-1] inside the wind radius [kpc]
KRA_GAMMA = {"delta_gradient": 0.035, "flat_radius": 11.0, "uniform_rigidity": 4.0,
             "wind_gradient": 100.0, "wind_radius": 6.5}

_KM_KPC = 1e5 / KPC_CM  # 1 km in kpc


@dataclass(frozen=True)
class RadialDeltaSea:
    """Shape of the Galactic CR density, 1 at the Sun, for a diffusion slope delta(r) (and an inner
    wind), from a 2-D finite-volume solve at each rigidity node. See the module documentation.

    Parameters
    ----------
    transport : GalacticTransport
        The B/C transport: halo height H, D at the Sun, advection u_BC everywhere.
    source_distribution : SourceDistribution or str
        Disc sources (a key of :data:`.crsea.DGE_SOURCES`, default "case1998", or an instance).
    halo_radius : float
        R_h [kpc], >= the source radius.
    delta_gradient : float
        A = d delta / dr [kpc-1] inside ``flat_radius`` (0: a uniform slope, the default sea).
    delta_intercept : float or None
        B: delta(r) = A min(r, r_flat) + B. None (default): delta(r_sun) = the transport's delta.
    flat_radius : float
        delta is constant beyond this radius [kpc].
    uniform_rigidity : float
        rho_0 [GV], where D is the same at all radii (the KRA-gamma reference rigidity).
    normalisation_rigidity : float
        rho_n [GV], where D(r_sun) equals the transport's when delta(r_sun) is not its delta.
    wind_gradient : float
        dV/dz [km s-1 kpc-1] of the wind added at r < ``wind_radius`` (0: none).
    wind_radius : float
        Outer radius of that wind [kpc].
    rigidity_nodes : sequence of float
        Proton rigidities [GV] of the node shapes (increasing).
    grid_step : tuple of float
        (dr, dz) of the finite-volume grid [kpc], which is also the table of the shapes; each must
        divide the halo.
    """

    transport: GalacticTransport = DEFAULT_TRANSPORT
    source_distribution: SourceDistribution = "case1998"
    halo_radius: float = 20.0
    delta_gradient: float = KRA_GAMMA["delta_gradient"]
    delta_intercept: float = None
    flat_radius: float = KRA_GAMMA["flat_radius"]
    uniform_rigidity: float = KRA_GAMMA["uniform_rigidity"]
    normalisation_rigidity: float = 10.0
    wind_gradient: float = KRA_GAMMA["wind_gradient"]
    wind_radius: float = KRA_GAMMA["wind_radius"]
    rigidity_nodes: tuple = RADIAL_DELTA_NODES
    grid_step: tuple = (0.1, 0.05)
    _tables: tuple = field(init=False, repr=False, compare=False)
    _stacked: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "source_distribution", dge_source_distribution(self.source_distribution))
        check_transport(self.transport)
        if not (np.isfinite(self.halo_radius) and self.halo_radius >= self.source_distribution.r_max):
            raise ValueError(f"halo_radius must be >= the source radius {self.source_distribution.r_max} kpc, "
                             f"got {self.halo_radius!r}")
        if not (np.isfinite(self.delta_gradient) and abs(self.delta_gradient) <= 0.2):
            raise ValueError(f"delta_gradient must be within [-0.2, 0.2] kpc-1, got {self.delta_gradient!r}")
        if self.delta_intercept is not None and not (np.isfinite(self.delta_intercept)
                                                     and -1.0 <= self.delta_intercept <= 1.0):
            raise ValueError(f"delta_intercept must be None or within [-1, 1], got {self.delta_intercept!r}")
        for name in ("flat_radius", "uniform_rigidity", "normalisation_rigidity", "wind_radius"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if not (np.isfinite(self.wind_gradient) and 0 <= self.wind_gradient <= 1e3):
            raise ValueError(f"wind_gradient must be within [0, 1000] km s-1 kpc-1, got {self.wind_gradient!r}")
        r_in = np.linspace(0.0, self.halo_radius, 201)
        if np.any(self.delta(r_in) <= 0) or np.any(self.delta(r_in) > 1.5):
            raise ValueError(f"delta(r) must stay within (0, 1.5] in the halo, got {self.delta(r_in).min():.3f} - "
                             f"{self.delta(r_in).max():.3f}")
        nodes = np.asarray(self.rigidity_nodes, float)
        if nodes.ndim != 1 or nodes.size < 1 or np.any(~np.isfinite(nodes)) or np.any(nodes <= 0) \
                or np.any(np.diff(nodes) <= 0):
            raise ValueError(f"rigidity_nodes must be increasing positive rigidities [GV], got {self.rigidity_nodes!r}")
        object.__setattr__(self, "rigidity_nodes", tuple(nodes))
        step = tuple(float(s) for s in np.atleast_1d(self.grid_step))
        if len(step) != 2 or not all(np.isfinite(s) and 0 < s <= 1.0 for s in step):
            raise ValueError(f"grid_step must be (dr, dz) within (0, 1] kpc, got {self.grid_step!r}")
        object.__setattr__(self, "grid_step", step)
        grid = uniform_grid(self.halo_radius, self.halo_height, *step)
        if not (np.allclose(np.diff(grid.r), step[0]) and np.allclose(np.diff(grid.z), step[1])):
            raise ValueError(f"grid_step {step} must divide the halo ({self.halo_radius} x {self.halo_height} kpc)")
        object.__setattr__(self, "_tables", tuple(self._tabulate(grid, x) for x in nodes))
        object.__setattr__(self, "_stacked", np.stack([table.ravel() for _, _, table in self._tables], axis=1))

    # -- transport ------------------------------------------------------------------------------
    @property
    def halo_height(self):
        """Half-height H of the halo [kpc] (the transport's)."""
        return self.transport.halo_height

    @property
    def r_sun(self):
        """Galactocentric radius of the Sun [kpc] (the source distribution's)."""
        return self.source_distribution.r_sun

    def delta(self, r):
        """The slope delta(r) of D at Galactocentric radius r [kpc] (below the break of D_BC)."""
        intercept = self.delta_intercept
        if intercept is None:
            intercept = self.transport.delta - self.delta_gradient * min(self.r_sun, self.flat_radius)
        return self.delta_gradient * np.minimum(np.asarray(r, float), self.flat_radius) + intercept

    def _spatial_factor(self, r, rigidity):
        """D(r, rho) / D(r_sun, rho)."""
        slope = self.delta(r) - self.delta(self.r_sun)
        return (np.asarray(rigidity, float) / self.uniform_rigidity) ** slope

    def local_diffusion(self, rigidity, beta):
        """D at the Sun [cm2 s-1] at rigidity [GV] and velocity beta."""
        rigidity, beta = np.asarray(rigidity, float), np.asarray(beta, float)
        if not (np.all(np.isfinite(rigidity)) and np.all(rigidity > 0)):
            raise ValueError(f"rigidity must be finite and > 0 GV, got {rigidity!r}")
        if not (np.all(beta > 0) and np.all(beta <= 1)):
            raise ValueError(f"beta must be within (0, 1], got {beta!r}")
        local_slope = self.delta(self.r_sun) - self.transport.delta
        return self.transport.diffusion(rigidity, beta) * (rigidity / self.normalisation_rigidity) ** local_slope

    def diffusion(self, r, rigidity, beta):
        """D(r, rho) [cm2 s-1] at Galactocentric radius r [kpc] (broadcast)."""
        return self.local_diffusion(rigidity, beta) * self._spatial_factor(r, rigidity)

    def advection(self, r, z):
        """Wind speed away from the disc u(r, z) [km s-1]: u_BC plus the inner wind."""
        r, z = np.asarray(r, float), np.abs(np.asarray(z, float))
        return self.transport.advection + np.where(r < self.wind_radius, self.wind_gradient * z, 0.0)

    @property
    def reference_speed(self):
        """u_BC [km s-1] (1 km s-1 without advection): the speed of :meth:`diffusion_length`."""
        return self.transport.advection if self.transport.advection > 0 else 1.0

    def diffusion_length(self, rigidity, beta):
        """D at the Sun / :attr:`reference_speed` [kpc]: the variable the node shapes are
        interpolated in (monotonic in rigidity; the default sea's D/u when the local slope is the
        transport's)."""
        return self.local_diffusion(rigidity, beta) / KPC_CM**2 / (self.reference_speed * _KM_KPC)

    @property
    def node_lengths(self):
        """:meth:`diffusion_length` of a proton at each rigidity node [kpc]."""
        nodes = np.asarray(self.rigidity_nodes)
        return self.diffusion_length(nodes, _proton_beta(nodes))

    # -- the solve --------------------------------------------------------------------------------
    def _tabulate(self, grid, rigidity):
        """n / n(r_sun, 0) on the grid nodes at a proton rigidity: D in units of D at the Sun."""
        dist = self.source_distribution
        local = self.local_diffusion(rigidity, _proton_beta(rigidity)) / KPC_CM**2  # kpc2 s-1
        source = grid.source_average(dist.radial, breaks=(dist.r_max,))
        density = solve_steady_state(
            grid,
            lambda r, z: self._spatial_factor(r, rigidity) + 0.0 * z,
            lambda r, z: self.advection(r, z) * _KM_KPC / local,
            source,
            breaks=(self.wind_radius, self.flat_radius),
        )
        dr, dz = grid.r[1] - grid.r[0], grid.z[1] - grid.z[0]
        i = self.r_sun / dr
        k = int(np.floor(i))
        sun = density[k, 0] + (i - k) * (density[k + 1, 0] - density[k, 0])
        return dr, dz, np.maximum(density / sun, 0.0)

    # -- the CosmicRaySea interface: the same interpolation of tabulated node shapes ---------------
    weights = CosmicRaySea.weights
    node_shape = CosmicRaySea.node_shape
    node_shapes = CosmicRaySea.node_shapes
    node_shape_integrals = CosmicRaySea.node_shape_integrals
    __call__ = CosmicRaySea.__call__


@lru_cache(maxsize=4)
def kra_gamma_sea(delta_intercept=None, source_distribution="case1998"):
    """The KRA-gamma sea on the B/C transport (:data:`KRA_GAMMA`), built once per process.

    Parameters
    ----------
    delta_intercept : float or None
        None (default): the local slope is the B/C fit's (only the gradient A of KRA-gamma kept);
        0.21: the literal KRA-gamma delta(r) = 0.035 r + 0.21, D normalised at the Sun at 10 GV.
    source_distribution : str
        A key of :data:`.crsea.DGE_SOURCES`.
    """
    return RadialDeltaSea(delta_intercept=delta_intercept, source_distribution=source_distribution)


# -- the DGE on this sea (hypothesis (d) of issue 23) ---------------------------------------------------

@lru_cache(maxsize=1)
def _kra_gamma_dge():
    """The embedded DGE's ingredients on the KRA-gamma sea (one per process: its geometry, the HI
    weights and H2 tables of 24 node shapes, is built once and shared by every cube)."""
    from .conventional import ConventionalDGE

    return ConventionalDGE(sea=kra_gamma_sea())


def _cube_key(member, secondary, nside):
    from .conventional import _DEFAULT_ENERGIES
    from .localspectra import KNEE_VARIANTS

    from .diskcache import cube_key

    # the built-in cubes' key (the embedded model's inputs, the data files, the libraries) and the sea
    return cube_key("radial_delta_dge", _DEFAULT_ENERGIES, sea=dict(KRA_GAMMA), delta_intercept=None,
                    sources="case1998", secondary=secondary, member=member, nside=int(nside),
                    variants=list(KNEE_VARIANTS))


def _build_cubes(nside, secondaries=("gamma", "nu_per_flavour")):
    """{(member, secondary): data} of the envelopes on the KRA-gamma sea (the geometry once for all)."""
    import astropy.units as u

    from .conventional import _DEFAULT_ENERGIES, envelope_cubes

    out = {}
    for secondary in secondaries:
        low, high = envelope_cubes(_kra_gamma_dge(), _DEFAULT_ENERGIES * u.GeV, nside=nside, secondary=secondary)
        out[("min", secondary)], out[("max", secondary)] = np.asarray(low.data), np.asarray(high.data)
    return out


def build_radial_delta_cache(nside=128):
    """Compute every radial-delta cube (min, max; gamma rays and neutrinos per flavour) and store them
    in the disk cache; returns the number of entries written. Run in a child process by
    :func:`_radial_delta_cube`, so that the geometry's memory (~0.5 GB) is freed with it. Two
    processes building at once: the second waits for the first (the disk cache's build lock, on
    the first cube's entry) and writes nothing."""
    from contextlib import nullcontext

    from .._cache import _build_lock, _entry_name, cache_directory, cached_arrays

    nside = healpix_nside(nside)
    directory = cache_directory()
    first = None if directory is None else directory / _entry_name("radial-delta-dge", _cube_key("min", "gamma", nside))
    with nullcontext() if first is None else _build_lock(first):
        if first is not None and not _missing(nside):  # built meanwhile by the lock's holder
            return 0
        cubes = _build_cubes(nside)
        for (member, secondary), data in cubes.items():
            cached_arrays("radial-delta-dge", _cube_key(member, secondary, nside), lambda data=data: {"cube": data},
                          names=("cube",))
    return len(cubes)


def release_geometry():
    """Forget this process's KRA-gamma DGE geometry (the HI weights and H2 tables of its 24 node
    shapes, ~0.15 GB): after :func:`build_radial_delta_cache` the cubes are on disk and the fits
    need only them. A later build computes it again. The sea itself (its tables) is kept."""
    from . import conventional

    if not _kra_gamma_dge.cache_info().currsize:
        return
    sea = _kra_gamma_dge().sea
    _kra_gamma_dge.cache_clear()
    for key in [k for k in conventional._GEOMETRY if any(part is sea for part in k)]:
        del conventional._GEOMETRY[key]


# the child process building the cubes of each nside (started by prefetch_radial_delta or on a
# miss), and its stderr; None once it has been waited for
_BUILDS = {}


def _start_build(nside):
    """Start the child process building every radial-delta cube of ``nside`` into the disk cache
    (a fresh interpreter, not multiprocessing: it would re-run the caller's unguarded script)."""
    import atexit
    import subprocess
    import sys
    import tempfile

    code = f"from gammapy_cocoons.dge.radial_delta import build_radial_delta_cache; build_radial_delta_cache({nside})"
    errors = tempfile.TemporaryFile("w+")
    if not _BUILDS:
        atexit.register(_stop_builds)
    _BUILDS[nside] = (subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=errors),
                      errors)


def _wait_build(nside):
    """Wait for the build of ``nside`` if one was started; log its failure (the cubes are then built
    in this process)."""
    build = _BUILDS.get(nside)
    if build is None:
        return
    process, errors = build
    _BUILDS[nside] = None
    if process.wait() != 0:
        errors.seek(0)
        log.warning("the radial-delta cubes could not be built in a child process (%s); building them here",
                    errors.read().strip().splitlines()[-1:] or process.returncode)
    errors.close()


def _stop_builds():
    """End the builds nobody waited for (no child outlives this process)."""
    for build in _BUILDS.values():
        if build is not None and build[0].poll() is None:
            build[0].kill()
            build[0].wait()


def _missing(nside):
    """Whether any radial-delta cube of ``nside`` is missing from the disk cache (False without one)."""
    from .._cache import _entry_name, cache_directory

    directory = cache_directory()
    return directory is not None and any(
        not (directory / _entry_name("radial-delta-dge", _cube_key(m, s, nside))).is_file()
        for m in ("min", "max") for s in ("gamma", "nu_per_flavour"))


def prefetch_radial_delta(nside=128):
    """Start building the radial-delta cubes of ``nside`` (min, max; gamma rays and neutrinos) in a
    child process now, if the disk cache lacks any of them: a caller that will need them
    (:func:`radial_delta_dge`) can overlap the build with its own work, and waits only for what is
    left of it. Returns whether a build is running. A build nobody waited for is ended at exit."""
    nside = healpix_nside(nside)
    if nside not in _BUILDS and _missing(nside):
        _start_build(nside)
    return _BUILDS.get(nside) is not None


@lru_cache(maxsize=2)
def _radial_delta_cube(member, secondary, nside):
    """One envelope cube on the KRA-gamma sea, from the disk cache; on a miss all four are built in a
    child process (the geometry takes seconds and ~0.4 GB) and stored there. Without a disk cache
    they are built here and kept for the process."""
    from .._cache import _entry_name, cache_directory, cached_arrays

    directory = cache_directory()
    if directory is None:
        return _in_process_cubes(int(nside))[(member, secondary)]
    key = _cube_key(member, secondary, nside)
    if nside not in _BUILDS and not (directory / _entry_name("radial-delta-dge", key)).is_file():
        _start_build(nside)  # once per process: after a failed build the cubes are built here
    _wait_build(nside)
    return cached_arrays("radial-delta-dge", key, lambda: {"cube": _in_process_cubes(int(nside))[(member, secondary)]},
                         names=("cube",))["cube"]


@lru_cache(maxsize=1)
def _in_process_cubes(nside):
    return _build_cubes(nside)


def radial_delta_dge(variant="min", secondary="gamma", nside=128, name=None):
    """The embedded DGE on the KRA-gamma sea as a gammapy SkyModel, like
    :func:`~.conventional.conventional_dge` (the same gas, local spectra, cross sections, absorption
    and energies; "min" / "max" the envelopes of the knee variants). Cached on disk
    (:mod:`gammapy_cocoons._cache`) and per process."""
    from .._validation import choice
    from ..physics.crosssections import SECONDARIES
    from .conventional import ENVELOPES, _builtin_model, _cube_map

    choice(variant, ENVELOPES, "variant")
    choice(secondary, SECONDARIES, "secondary")
    nside = healpix_nside(nside)
    data = _radial_delta_cube(variant, secondary, nside)
    data.flags.writeable = False  # shared by every model of it (and, built here, by later calls)
    return _builtin_model(_cube_map(int(nside), data), name or f"dge-radial-delta-{variant}")
