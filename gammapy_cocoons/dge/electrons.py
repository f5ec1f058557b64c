"""The local electron + positron spectrum, fitted to the bundled direct and Cherenkov-telescope data.

One spectrum of e+ + e- (the DGE does not tell them apart) in total energy E [GeV]::

    J(E) = K (E / 100 GeV)^-gamma  l(E)  b(E; E_h, -Delta_h, w)  b(E; E_b, Delta_b, w_b)
    b(E; E_x, Delta, w) = [1 + (E / E_x)^(1/w)]^(-Delta w),   l(E) = [1 + (E_l / E)^2]^(-Delta_l / 2)

a hardening by Delta_l below E_l (a few GeV; its smoothness is fixed; Delta_l has the Gaussian
prior 0.9 +- 0.3 of the injection break at ~4 GeV, from index 1.6 to 2.5, that the Galactic
synchrotron emission requires, Strong, Orlando & Jaffe 2011, A&A 534, A54), a hardening at E_h (~ 50 GeV, the positron excess and the electron
hardening) and the TeV break at E_b (DAMPE 2017, H.E.S.S.). Solar modulation: the force field
with one potential phi for all data, J(E) = J_LIS(E + phi) E^2 / (E + phi)^2 (electrons are
ultra-relativistic), with the Gaussian prior phi = 0.6 +- 0.2 GV (the nuclei's 0.6 GV; the
experiments' periods differ); only data above :data:`E_MIN_GEV` enter, where the force field
is a fair description (modulation <~ 40 %). Below 5 GeV the LIS is the fitted shape continued
(no Voyager data are bundled): the 5-10 GeV points place the low-energy break only loosely and
its size comes from the prior, so the spectrum at 1 GeV is uncertain by a factor ~2 (without
the break it would be 3-7x higher), which the bremsstrahlung at ~1 GeV inherits.

Each experiment has an energy-scale nuisance s (measured energy = (1 + s) true energy, so
J_meas(E) = J(E / (1 + s)) / (1 + s)) with a Gaussian prior of the width it quotes for its
absolute energy scale (:data:`ENERGY_SCALE_PRIORS`): AMS-02 2 %, CALET 2 %, DAMPE 1.5 %,
Fermi-LAT 5 % (+2 / -5 % quoted), VERITAS 20 % (an air-Cherenkov energy scale). These widths carry
no citation and have not been checked against the papers' systematics sections; CALET's 2 % in
particular is unverified for its e+e- spectrum (PRL 131, 191001, 2023). Errors are
statistical and systematic in quadrature, on the side of the model (asymmetric); the fit is
scipy least squares on these residuals and the priors, run once and cached.
"""
from dataclasses import dataclass
from functools import cached_property
from functools import lru_cache

import numpy as np
from scipy import optimize

from .._kiss import read_kiss_table

__all__ = ["LocalElectrons", "local_electrons", "ELECTRON_DATA", "ENERGY_SCALE_PRIORS", "E_MIN_GEV", "ElectronSea",
           "MagneticField"]

#: (file, experiment) of the local e+e- data
ELECTRON_DATA = (
    ("AMS-02_e+e-_rigidity.txt", "AMS-02"),
    ("CALET_e+e-_totalEnergy.txt", "CALET"),
    ("DAMPE_e+e-_totalEnergy.txt", "DAMPE"),
    ("FERMI_e+e-_totalEnergy.txt", "Fermi-LAT"),
    ("VERITAS_e+e-_totalEnergy.txt", "VERITAS"),
)
#: Gaussian prior widths of the energy-scale nuisances (fractions)
ENERGY_SCALE_PRIORS = {"AMS-02": 0.02, "CALET": 0.02, "DAMPE": 0.015, "Fermi-LAT": 0.05, "VERITAS": 0.20}
#: lowest energy of the fitted data [GeV]
E_MIN_GEV = 5.0
#: force-field prior [GV]
PHI_PRIOR_GV = (0.6, 0.2)
#: prior of the low-energy hardening Delta_l (Strong, Orlando & Jaffe 2011)
DELTA_L_PRIOR = (0.9, 0.3)
_SPECTRAL = ("log_k", "gamma", "log_e_h", "delta_h", "log_e_b", "delta_b", "w", "w_b", "phi", "log_e_l", "delta_l")
_E_PIVOT = 100.0


def _broken(energy, e_x, delta, width):
    return (1.0 + (energy / e_x) ** (1.0 / width)) ** (-delta * width)


def _lis(p, energy):
    """J(E) [GeV-1 m-2 s-1 sr-1] for a parameter dict."""
    value = 10.0 ** p["log_k"] * (energy / _E_PIVOT) ** -p["gamma"]
    value = value * (1.0 + (10.0 ** p["log_e_l"] / energy) ** 2) ** (-0.5 * p["delta_l"])
    value = value * _broken(energy, 10.0 ** p["log_e_h"], -p["delta_h"], p["w"])
    return value * _broken(energy, 10.0 ** p["log_e_b"], p["delta_b"], p["w_b"])


@dataclass(frozen=True)
class LocalElectrons:
    """The fitted local e+e- spectrum (see the module documentation).

    Attributes
    ----------
    parameters : dict
        Best-fit spectral parameters (log10 K in GeV-1 m-2 s-1 sr-1 at 100 GeV, log10 of the
        break energies in GeV, phi in GV) and ``scale.<experiment>`` nuisances.
    errors : dict
        1-sigma errors from the Jacobian at the best fit.
    table : list of dict
        Per data set: experiment, n points, chi2, largest pull.
    chi2, ndof : float, int
        Totals (data and priors; ndof = points - free parameters).
    """

    parameters: dict
    errors: dict
    table: tuple
    chi2: float
    ndof: int

    #: the highest energy with data [GeV]: above it J is the fitted power law continued
    e_max_data: float = 7.5e3

    def flux(self, energy_gev):
        """Local interstellar J(E) [GeV-1 m-2 s-1 sr-1] at total energies [GeV] (finite, > 0)."""
        energy = np.asarray(energy_gev, float)
        if not (np.all(np.isfinite(energy)) and np.all(energy > 0)):
            raise ValueError(f"energy_gev must be finite and > 0 GeV, got {energy_gev!r}")
        return _lis(self.parameters, energy)

    def intensity(self, energy_gev):
        """J(E) in the package's internal units [GeV-1 cm-2 s-1 sr-1]."""
        return self.flux(energy_gev) * 1e-4

    def measured(self, experiment, energy_gev):
        """The model as experiment ``experiment`` sees it (modulation, its energy scale) [GeV-1 m-2 s-1 sr-1]."""
        return _measured(self.parameters, experiment, np.asarray(energy_gev, float))


def _measured(p, experiment, energy):
    scale = 1.0 + p[f"scale.{experiment}"]
    true = energy / scale
    phi = p["phi"]
    return _lis(p, true + phi) * true**2 / (true + phi) ** 2 / scale


def electron_data():
    """The bundled e+e- points used by the fit: list of (experiment, E [GeV], J, error_lo, error_up)."""
    out = []
    for name, experiment in ELECTRON_DATA:
        table = read_kiss_table(name)
        keep = (table["y"] > 0) & (table["x"] >= E_MIN_GEV) & (table["error_lo"] > 0) & (table["error_up"] > 0)
        # x: rigidity [GV] (AMS-02) = total energy [GeV] for electrons to < 1e-8 above 5 GeV
        out.append((experiment, table["x"][keep], table["y"][keep], table["error_lo"][keep], table["error_up"][keep]))
    return out


def _names():
    return list(_SPECTRAL) + [f"scale.{e}" for _, e in ELECTRON_DATA]


@lru_cache(maxsize=1)
def local_electrons():
    """Fit (once) and return the :class:`LocalElectrons` (chi2 / ndof and the largest pull per
    data set in :attr:`LocalElectrons.table`)."""
    sets = electron_data()
    names = _names()
    experiments = [e for _, e in ELECTRON_DATA]

    def residuals(vector):
        p = dict(zip(names, vector))
        out = []
        for experiment, x, y, lo, up in sets:
            model = _measured(p, experiment, x)
            out.append((model - y) / np.where(model > y, up, lo))
        out.append([p[f"scale.{e}"] / ENERGY_SCALE_PRIORS[e] for e in experiments])
        out.append([(p["phi"] - PHI_PRIOR_GV[0]) / PHI_PRIOR_GV[1]])
        out.append([(p["delta_l"] - DELTA_L_PRIOR[0]) / DELTA_L_PRIOR[1]])
        return np.concatenate(out)

    #        log_k  gamma  log_e_h delta_h log_e_b delta_b  w     w_b   phi  log_e_l delta_l
    # the low break at 1-20 GeV, the hardening at 20-500 GeV, the TeV break at 300 GeV - 5 TeV
    start = [-2.35, 3.2, 2.0, 0.15, 2.95, 0.8, 0.3, 0.1, 0.6, 0.6, 0.5] + [0.0] * len(experiments)
    lower = [-4.0, 2.5, 1.3, 0.0, 2.5, 0.0, 0.05, 0.02, 0.0, 0.0, 0.0] + [-0.5] * len(experiments)
    upper = [-1.0, 4.0, 2.7, 1.0, 3.7, 3.0, 1.0, 1.0, 2.0, 1.3, 2.0] + [0.5] * len(experiments)
    result = optimize.least_squares(residuals, start, bounds=(lower, upper), x_scale="jac", max_nfev=20000)
    if not result.success:
        raise RuntimeError(f"local e+e- fit failed: {result.message}")
    p = dict(zip(names, result.x))
    try:
        covariance = np.linalg.pinv(result.jac.T @ result.jac)
        errors = dict(zip(names, np.sqrt(np.clip(np.diag(covariance), 0, None))))
    except np.linalg.LinAlgError:  # pragma: no cover
        errors = {n: np.nan for n in names}
    table = []
    for experiment, x, y, lo, up in sets:
        model = _measured(p, experiment, x)
        pulls = (y - model) / np.where(model > y, up, lo)
        table.append({"experiment": experiment, "n": int(x.size), "chi2": float(np.sum(pulls**2)),
                      "max_pull": float(pulls[np.argmax(np.abs(pulls))]),
                      "e_range_gev": (float(x.min()), float(x.max()))})
    chi2 = float(np.sum(result.fun**2))
    n_points = sum(t["n"] for t in table)
    return LocalElectrons(p, errors, tuple(table), chi2, int(n_points - len(start) + len(experiments) + 2),
                          e_max_data=float(max(t["e_range_gev"][1] for t in table)))


# -- the electron sea ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MagneticField:
    """Total (regular + random) Galactic magnetic field for synchrotron losses,

        B(r, z) = b0 exp(-(r - r_sun) / r_scale - abs(z) / z_scale),

    the GALPROP model of Strong, Moskalenko & Reimer (2000, ApJ 537, 763): b0 = 5 microgauss,
    r_scale = 10 kpc, z_scale = 2 kpc (11.7 microgauss at the Galactic centre).

    Parameters
    ----------
    b0 : float
        Field at the Sun [microgauss], > 0.
    r_scale, z_scale : float
        Radial and vertical e-folding lengths [kpc], > 0.
    r_sun : float
        Galactocentric distance of the Sun [kpc].
    """

    b0: float = 5.0
    r_scale: float = 10.0
    z_scale: float = 2.0
    r_sun: float = 8.5

    def __post_init__(self):
        for name in ("b0", "r_scale", "z_scale", "r_sun"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value <= 0:
                unit = "microgauss" if name == "b0" else "kpc"
                raise ValueError(f"MagneticField.{name} must be finite and > 0 {unit}, got {value!r}")

    def __call__(self, r, z):
        """B [gauss] at (r, z) [kpc] (broadcast)."""
        r, z = np.asarray(r, float), np.abs(np.asarray(z, float))
        return 1e-6 * self.b0 * np.exp(-(r - self.r_sun) / self.r_scale - z / self.z_scale)


def _checked_spectrum(spectrum, energy):
    """J(E) [GeV-1 m-2 s-1 sr-1] of a user callable on the grid, refused if negative or not finite."""
    values = np.asarray(spectrum(energy), float)
    if values.shape != energy.shape or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("spectrum must return finite values >= 0 [GeV-1 m-2 s-1 sr-1] of the shape of its "
                         f"energies, within {energy[0]:g} - {energy[-1]:g} GeV")
    if not np.any(values > 0):
        raise ValueError("spectrum must be > 0 somewhere")
    return values


@dataclass(frozen=True)
class ElectronSea:
    """The Galactic e+e- sea: the nuclei's transport with energy losses, normalised to the local spectrum.

    Diffusion D(E) (the :class:`~gammapy_cocoons.physics.transport.GalacticTransport` of the CR
    sea, at rigidity E, beta = 1), advection u and the halo H of the B/C model, the CR sea's
    source profile (sources in the disc), free escape at r = R_h and abs(z) = H, and the losses
    b(E, r, z) = IC (Klein-Nishina, GALPROP ISRF + CMB, isotropic) + synchrotron
    (:class:`MagneticField`) + bremsstrahlung and ionisation on the 3-D gas (H, He). Solved in
    (r, z, E) by :func:`~gammapy_cocoons.physics.diffusionloss.solve_diffusion_loss` with the
    source spectrum inferred so that the density at the Sun is the local spectrum (one smooth
    population of sources; above ~1 TeV the local electrons come from a few nearby sources,
    which a smooth sea cannot describe: it reproduces the local spectrum by construction and
    spreads the same injection over the Galaxy).

    Which regime holds where: below a few GeV escape and advection dominate (loss time > escape
    time H^2 / D); from ~10 GeV the losses (IC + synchrotron) dominate and the density follows
    the sources and the local loss rate within the loss length sqrt(4 D t_loss) (~2 kpc at
    10 GeV, ~0.5 kpc at 10 TeV); the numerical solution covers both and the transition.

    Parameters
    ----------
    sea : CosmicRaySea
        Transport, source profile and halo radius (shared with the nuclei; default the DGE's).
    gas : GasModel
        Targets of bremsstrahlung and ionisation.
    helium_fraction : float
        n_He / n_H.
    magnetic_field : MagneticField
    spectrum : callable, optional
        Local J(E) [GeV-1 m-2 s-1 sr-1] at total energies [GeV]; default the fit of
        :func:`local_electrons`.
    per_decade : int
        Energy grid density (log-uniform from ``e_min`` to ``e_max`` GeV).
    dr : float
        Radial cell size [kpc] (the z cells are 0.02 kpc in the disc, growing above 0.2 kpc).
    """

    sea: object = None
    gas: object = None
    helium_fraction: float = 0.1
    magnetic_field: MagneticField = MagneticField()
    spectrum: object = None
    per_decade: int = 16
    e_min: float = 0.3
    e_max: float = 1e8
    dr: float = 0.25

    def __post_init__(self):
        from .conventional import _default_sea
        from .crsea import CosmicRaySea
        from .gas import GasModel

        if self.sea is None:
            object.__setattr__(self, "sea", _default_sea())
        if not isinstance(self.sea, CosmicRaySea):
            raise ValueError(f"sea must be a CosmicRaySea, got {self.sea!r}")
        if self.gas is None:
            object.__setattr__(self, "gas", GasModel())
        if not isinstance(self.gas, GasModel):
            raise ValueError(f"gas must be a GasModel, got {self.gas!r}")
        if not isinstance(self.magnetic_field, MagneticField):
            raise ValueError(f"magnetic_field must be a MagneticField, got {self.magnetic_field!r}")
        if not 0 <= self.helium_fraction <= 1:
            raise ValueError(f"helium_fraction must be within [0, 1], got {self.helium_fraction!r}")
        if self.spectrum is not None and not callable(self.spectrum):
            raise ValueError(f"spectrum must be a callable J(E [GeV]) [GeV-1 m-2 s-1 sr-1] or None, got {self.spectrum!r}")
        if not (isinstance(self.per_decade, (int, np.integer)) and 4 <= self.per_decade <= 64):
            raise ValueError(f"per_decade must be an integer within 4 - 64, got {self.per_decade!r}")
        if not (0.05 <= self.e_min < self.e_max <= 1e9):
            raise ValueError(f"e_min and e_max must satisfy 0.05 <= e_min < e_max <= 1e9 GeV, got "
                             f"{self.e_min!r}, {self.e_max!r}")
        if not (0.02 <= self.dr <= 1.0):
            raise ValueError(f"dr must be within 0.02 - 1 kpc, got {self.dr!r}")
        if self.spectrum is not None:
            _checked_spectrum(self.spectrum, self.energy)

    # -- grids --------------------------------------------------------------------------------
    @property
    def energy(self):
        """Electron total energies [GeV] of the solution."""
        n = int(round(self.per_decade * np.log10(self.e_max / self.e_min)))
        return np.geomspace(self.e_min, self.e_max, n + 1)

    @property
    def grid(self):
        from ..physics.diffusionloss import CylinderGrid

        return CylinderGrid.default(self.sea.halo_radius, self.sea.halo_height, dr=self.dr)

    def local_intensity(self):
        """J_local(E) [GeV-1 cm-2 s-1 sr-1] on :attr:`energy`."""
        energy = self.energy
        values = local_electrons().flux(energy) if self.spectrum is None else _checked_spectrum(self.spectrum, energy)
        return values * 1e-4

    # -- losses -------------------------------------------------------------------------------
    def loss_rates(self):
        """abs(dE/dt) [GeV s-1] per process ("ic", "synchrotron", "bremsstrahlung", "ionisation"),
        each of shape (n_E,) + grid.shape, on the cell centres."""
        from ..physics import radiation
        from ..physics.isrf import galprop_isrf

        grid, energy = self.grid, self.energy
        r, z = np.meshgrid(grid.r, grid.z)
        isrf = galprop_isrf()
        photons = isrf.number_density(r, z)  # (n_eps, n_z, n_r)
        ic = np.tensordot(radiation.ic_loss_matrix(energy, isrf.eps), photons, axes=1)
        field = self.magnetic_field(r, z)
        n_h = self.gas.hi(r, z) + 2.0 * self.gas.h2(r, z)
        return {
            "ic": ic,
            "synchrotron": radiation.synchrotron_loss(energy[:, None, None], field[None]),
            "bremsstrahlung": radiation.bremsstrahlung_loss(energy, n_h, self.helium_fraction),
            "ionisation": radiation.ionisation_loss(energy, n_h, self.helium_fraction),
        }

    def source_shape(self):
        """Cell averages of the source density rho(r, z) (the CR sea's profile), shape grid.shape."""
        dist = self.sea.source_distribution
        grid = self.grid
        zf = np.minimum(np.asarray(grid.z_faces), dist.h)
        vertical = dist.z0 * (np.exp(-zf[:-1] / dist.z0) - np.exp(-zf[1:] / dist.z0)) / np.diff(grid.z_faces)
        return vertical[:, None] * dist.radial(grid.r)[None, :]

    # -- the solution -------------------------------------------------------------------------
    @property
    def _solution(self):
        """(n (n_E, n_z, n_r), q (n_E,)), solved once per distinct sea in the process."""
        return _solved(self)

    def _solve(self):
        from ..constants import KPC_CM
        from ..physics.diffusionloss import solve_diffusion_loss

        energy = self.energy
        transport = self.sea.transport
        diffusion = transport.diffusion(energy, np.ones_like(energy)) / KPC_CM**2
        advection = transport.advection * 1e5 / KPC_CM
        losses = sum(self.loss_rates().values())
        target = self.local_intensity()
        n, q = solve_diffusion_loss(self.grid, energy, diffusion, advection, losses, self.source_shape(),
                                    target=target, reference=(self.sea.source_distribution.r_sun, 0.0))
        return n, q

    @property
    def injection(self):
        """The inferred source spectrum q(E) (arbitrary units) on :attr:`energy`."""
        return self._solution[1]

    @cached_property
    def _table(self):
        """J(E, z, r) [GeV-1 cm-2 s-1 sr-1] on the centres padded with the mid-plane (held) and
        the zero boundary, and the padded axes."""
        grid = self.grid
        n = self._solution[0]
        sun = np.einsum("ezr,zr->e", n, grid.interpolation_weights(self.sea.source_distribution.r_sun, 0.0)
                        .reshape(grid.shape))
        shape = n / np.where(sun > 0, sun, 1.0)[:, None, None]
        values = shape * self.local_intensity()[:, None, None]
        padded = np.zeros((values.shape[0], values.shape[1] + 2, values.shape[2] + 1))
        padded[:, 1:-1, :-1] = values
        padded[:, 0, :-1] = values[:, 0]
        r = np.concatenate([grid.r, [grid.r_faces[-1]]])
        z = np.concatenate([[0.0], grid.z, [grid.z_faces[-1]]])
        return r, z, padded

    def intensity(self, r, z):
        """J(E, r, z) [GeV-1 cm-2 s-1 sr-1] at :attr:`energy`, shape (n_E,) + broadcast shape of
        r, z [kpc] (bilinear between cell centres; zero outside the halo)."""
        r_axis, z_axis, table = self._table
        return _bilinear(table, r_axis, z_axis, r, z)

    def shape_at(self, energy_index, r, z):
        """J(E_k, r, z) / J(E_k, r_sun, 0) for the energy indices ``energy_index`` (sequence),
        shape (len(energy_index),) + broadcast shape."""
        r_axis, z_axis, table = self._table
        idx = tuple(int(i) for i in np.atleast_1d(energy_index))
        shapes, stacked = self._shape_tables(idx)
        return _bilinear(shapes, r_axis, z_axis, r, z, stacked)

    def shape_integrals(self, energy_index, r, z, weights):
        """``sum(weights * shape_at(energy_index, r, z), axis=-1)`` without the shapes themselves
        (:func:`.crsea.bilinear_sums`), shape (len(energy_index),) + r.shape[:-1]."""
        r_axis, z_axis, _ = self._table
        idx = tuple(int(i) for i in np.atleast_1d(energy_index))
        _, stacked = self._shape_tables(idx)
        return _bilinear_integrals(stacked, r_axis, z_axis, r, z, weights)

    def _shape_tables(self, idx):
        """(shapes (n, n_z, n_r), stacked rows) of J(E_k) / J_local(E_k) at indices idx, cached."""
        cache = self.__dict__.setdefault("_shape_cache", {})
        if idx not in cache:
            table = self._table[2][list(idx)] / self.local_intensity()[list(idx)][:, None, None]
            cache[idx] = (table, np.ascontiguousarray(table.reshape(table.shape[0], -1).T))
        return cache[idx]


@lru_cache(maxsize=4)
def _solved(sea):
    return sea._solve()


def _bilinear_cells(r_axis, z_axis, r, z):
    """Fractional grid indices (fi, fj), whether each point is inside the grid, and the lower cell
    corners (i, j) of the points (r, z) on increasing axes (outside points: index 0)."""
    fi = np.interp(r.ravel(), r_axis, np.arange(r_axis.size), right=np.inf)
    fj = np.interp(z.ravel(), z_axis, np.arange(z_axis.size), right=np.inf)
    inside = np.isfinite(fi) & np.isfinite(fj)
    fi, fj = np.where(inside, fi, 0.0), np.where(inside, fj, 0.0)
    i = np.minimum(fi.astype(np.intp), r_axis.size - 2)
    j = np.minimum(fj.astype(np.intp), z_axis.size - 2)
    return fi, fj, inside, i, j


def _bilinear_integrals(stacked, r_axis, z_axis, r, z, weights):
    """sum(weights * _bilinear(table, r_axis, z_axis, r, z, stacked), axis=-1) for the table whose
    ``stacked`` rows are given (the same interpolation, zero outside; no (points x n) temporary)."""
    from .crsea import bilinear_sums

    r, z, weights = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)), np.asarray(weights, float))
    fi, fj, inside, i, j = _bilinear_cells(r_axis, z_axis, r, z)
    n_r = r_axis.size
    sums = bilinear_sums(stacked, (j * n_r + i).astype(np.int32), 1, n_r, fi - i, fj - j,
                         np.where(inside, weights.ravel(), 0.0), r.shape[-1] if r.ndim else 1)
    return sums.reshape((-1,) + r.shape[:-1])


def _bilinear(table, r_axis, z_axis, r, z, stacked=None):
    """Bilinear interpolation of table (n, n_z, n_r) on increasing axes, zero outside; ``stacked``
    (n_z n_r, n) is the same table with one contiguous row per grid point (faster gathers)."""
    r, z = np.broadcast_arrays(np.asarray(r, float), np.abs(np.asarray(z, float)))
    fi, fj, inside, i, j = _bilinear_cells(r_axis, z_axis, r, z)
    ti, tj = (fi - i)[:, None], (fj - j)[:, None]
    n_r = r_axis.size
    if stacked is None:
        stacked = np.ascontiguousarray(table.reshape(table.shape[0], -1).T)
    k = j * n_r + i
    values = (stacked[k] * (1 - ti) + stacked[k + 1] * ti) * (1 - tj) \
        + (stacked[k + n_r] * (1 - ti) + stacked[k + n_r + 1] * ti) * tj
    values[~inside] = 0.0
    return values.T.reshape((table.shape[0],) + r.shape)
