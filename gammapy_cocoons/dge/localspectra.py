"""Local (solar-circle) H and He spectra fitted to the bundled direct and air-shower data.

Each species follows a smoothly broken power law in rigidity R [GV]::

    J(R) = K (R / 1 TV)^-gamma  prod_b [1 + (R / R_b)^(1 / w_b)]^(-Delta_b w_b)

where each break b changes the index by Delta_b (> 0 a softening, < 0 a hardening) over about
w_b in ln R. H and He have breaks of their own (rigidity, index change and width each), in order:

* ``hardening`` at a few hundred GV (AMS-02, DAMPE, CALET);
* ``softening`` at ~10-30 TV (DAMPE, CALET);
* ``hardening2`` at 0.1-1 PV, only for variants whose knee data start below 1 PeV (LHAASO: its
  proton spectrum rises from 0.3 PeV to the knee, its helium spectrum flattens above 1 PeV);
* ``knee``, set by the variant's air-shower data. With ``shared_knee`` the two species share one
  knee in rigidity (R_k, Delta_k, w_k): the default where the knee data do not separate H and He
  (KASCADE-Grande's light component).

Data (errors: statistical and systematic in quadrature, on the side of the model): AMS-02 H and He
above 20 GV, DAMPE 2025 and CALET H and He, and the knee data of one variant
(:data:`KNEE_VARIANTS`) up to :data:`KNEE_E_MAX`. The space-borne data are compared with the
local interstellar spectra through the force field (phi = 0.6 GV, the AMS-02 2011-2018 value, for
all three: 5 % at 50 GeV, 1 % at 300 GeV). The calorimeters' energy scales are nuisance parameters
with Gaussian priors of the widths in :data:`ENERGY_SCALE_PRIORS` (a scale s means the
experiment's energy E_exp = s E, so its flux is J(E_exp / s) / s). AMS-02, a magnetic
spectrometer, is the reference (its rigidity-scale uncertainty is part of its systematic errors),
and the air-shower systematic errors already hold their energy scales.

The fit is judged in log space: each point contributes ln(model / data) / (error / data), so a
data set with 50 % errors cannot be left 5x below (a relative residual (model - data) / error would
allow it). It is a scipy least-squares fit, run once per (variant, shared_knee) and cached.
"""
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from .._kiss import read_kiss_table
from ..physics.cosmicrays import HELIUM, PROTON

__all__ = ["LocalSpectra", "local_spectra", "KNEE_VARIANTS", "DEFAULT_VARIANT", "ENERGY_SCALE_PRIORS",
           "KNEE_E_MAX", "SPECIES"]

PHI_GV = 0.6  # force-field potential for the AMS-02 2011-2018 period
_LN10 = np.log(10.0)
_SPECIES = {"H": PROTON, "He": HELIUM}
#: the species of the local spectra
SPECIES = tuple(_SPECIES)

#: air-shower data of each knee variant: (file, species), where species "light" is H + He
KNEE_VARIANTS = {
    "lhaaso": (("LHAASO_EPOS-LHC_H_totalEnergy.txt", "H"), ("LHAASO_EPOS-LHC_He_totalEnergy.txt", "He")),
    "lhaaso-qgsjet": (("LHAASO_QGSJET-II-04_H_totalEnergy.txt", "H"),
                      ("LHAASO_QGSJET-II-04_He_totalEnergy.txt", "He")),
    "lhaaso-sibyll": (("LHAASO_SIBYLL-2.3d_H_totalEnergy.txt", "H"),
                      ("LHAASO_SIBYLL-2.3d_He_totalEnergy.txt", "He")),
    "icetop": (("IceTop_IceCube_SIBYLL-2.1_H_totalEnergy.txt", "H"),
               ("IceTop_IceCube_SIBYLL-2.1_He_totalEnergy.txt", "He")),
    "kascade-grande": (("KASCADE-Grande_QGSJET-II-04_light_totalEnergy.txt", "light"),),
}
#: the default knee variant: LHAASO (EPOS-LHC) measures H and He separately through the knee with
#: the smallest errors (5-15 %) and starts at 0.18 PeV, where DAMPE ends
DEFAULT_VARIANT = "lhaaso"

#: energy-scale priors of the calorimeters: experiment -> (Gaussian width of s - 1, reference)
ENERGY_SCALE_PRIORS = {
    "DAMPE": (0.029, "Zang et al. 2025 (arXiv:2510.03854): the BGO calorimeter's absolute scale is "
                     "1.013 +- 0.012 (stat) +- 0.026 (sys) times its calibration (width: the two in quadrature)"),
    # the width's source is unverified (see the reference)
    "CALET": (0.02, "+-2 % for the TASC energy scale, not verified against the papers of the fitted data "
                    "(protons: Adriani et al. 2022, PRL 129, 101102; helium: 2023, PRL 130, 171002); it was "
                    "cited to the C/O paper (PRL 125, 251102), not these data's, whose text was not checked either"),
}
#: direct data: (file, species, experiment with an energy-scale nuisance or None)
_DIRECT = (
    ("AMS-02_H_rigidity.txt", "H", None),
    ("AMS-02_He_rigidity.txt", "He", None),
    ("DAMPE2025_H_kineticEnergy.txt", "H", "DAMPE"),
    ("DAMPE2025_He_kineticEnergy.txt", "He", "DAMPE"),
    ("CALET_H_kineticEnergy.txt", "H", "CALET"),
    ("CALET_He_kineticEnergy.txt", "He", "CALET"),
)
#: air-shower points above this total energy [GeV] are left out (few events, the Galactic to
#: extragalactic transition; gamma rays below 10 PeV come from lower energies)
KNEE_E_MAX = 1e8
#: AMS-02 points below this rigidity [GV] are left out (solar modulation beyond the force field)
AMS_R_MIN = 20.0
# knee data starting below this total energy [GeV] constrain the spectrum below the knee: the
# second hardening is fitted (LHAASO), otherwise the softening runs into the knee
_SECOND_HARDENING_BELOW = 1e6

# breaks in rigidity order: start and bounds of log10(R_b / GV) and of Delta_b (the breaks of the
# direct data change the index by less than 1: published fits find 0.1-0.5)
_BREAKS = {
    "hardening": ((2.7, 2.0, 3.7), (-0.3, -1.0, 0.0)),
    "softening": ((4.2, 3.5, 5.2), (0.3, 0.0, 1.0)),
    "hardening2": ((5.4, 4.6, 6.3), (-0.3, -1.5, 0.0)),
    "knee": ((6.5, 5.7, 7.5), (1.0, 0.1, 3.0)),
}
_WIDTH = (0.3, 0.02, 1.0)  # start and bounds of w_b (ln R)


@dataclass(frozen=True)
class _DataSet:
    name: str
    species: str  # "H", "He" or "light"
    quantity: str  # "rigidity", "kineticEnergy", "totalEnergy"
    experiment: str
    scale: str  # the energy-scale nuisance of the experiment, or None
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    error_lo: np.ndarray = field(repr=False)
    error_up: np.ndarray = field(repr=False)

    @property
    def direct(self):
        return self.quantity != "totalEnergy"

    def per_total_energy(self):
        """(total energy per particle [GeV], flux, error_lo, error_up [GeV-1 m-2 s-1 sr-1]): the
        points as published, in total energy (rigidity data converted with the species' Z and mass)."""
        if self.quantity != "rigidity":
            offset = _SPECIES[self.species].mass if self.quantity == "kineticEnergy" else 0.0
            return self.x + offset, self.y, self.error_lo, self.error_up
        sp = _SPECIES[self.species]
        total = np.hypot(self.x * sp.charge, sp.mass)
        dx_de = total / (sp.charge**2 * self.x)  # dR/dE = E / (Z^2 R)
        return total, self.y * dx_de, self.error_lo * dx_de, self.error_up * dx_de


def _kinetic(x, quantity, species):
    """Kinetic energy per particle [GeV] of data binned in ``quantity``."""
    if quantity == "rigidity":
        return np.hypot(x * species.charge, species.mass) - species.mass
    return x - species.mass if quantity == "totalEnergy" else x


def _dkinetic_dx(kinetic, quantity, species):
    """dT/dx: Z p / E for rigidity, 1 for energies."""
    if quantity != "rigidity":
        return np.ones_like(kinetic)
    total = kinetic + species.mass
    return species.charge * np.sqrt(kinetic * (kinetic + 2 * species.mass)) / total


def _break_key(parameters, species, name):
    """The prefix of a break's parameters, per species or shared (None if the break is absent)."""
    for key in (f"{species}.{name}", name):
        if f"{key}.log_r" in parameters:
            return key
    return None


def _log_flux_rigidity(parameters, species, rigidity, gradient=None, index=None, weight=1.0):
    """ln J(R) [J in GV-1 m-2 s-1 sr-1]; with ``gradient`` (n_parameters, n) and ``index`` (name ->
    row), add ``weight`` x d ln J / d parameter. ln(1 + u) is computed as logaddexp(0, ln u): sharp
    breaks far from R_b overflow u = (R / R_b)^(1/w) otherwise."""
    p = parameters
    ln_r = np.log(rigidity / 1e3)
    value = _LN10 * p[f"{species}.log_k"] - p[f"{species}.gamma"] * ln_r
    if gradient is not None:
        gradient[index[f"{species}.log_k"]] += weight * _LN10
        gradient[index[f"{species}.gamma"]] -= weight * ln_r
    for name in _BREAKS:
        key = _break_key(p, species, name)
        if key is None:
            continue
        log_r, delta, width = p[f"{key}.log_r"], p[f"{key}.delta"], p[f"{key}.width"]
        ln_u = (ln_r + _LN10 * (3.0 - log_r)) / width
        soft = np.logaddexp(0.0, ln_u)
        value = value - delta * width * soft
        if gradient is not None:
            sigmoid = special.expit(ln_u)
            gradient[index[f"{key}.log_r"]] += weight * delta * _LN10 * sigmoid
            gradient[index[f"{key}.delta"]] -= weight * width * soft
            gradient[index[f"{key}.width"]] -= weight * delta * (soft - sigmoid * ln_u)
    return value


def _flux_rigidity(parameters, species, rigidity):
    """Local interstellar J(R) [GV-1 m-2 s-1 sr-1]."""
    return np.exp(_log_flux_rigidity(parameters, species, rigidity))


def _flux_kinetic(parameters, species, kinetic):
    """Local interstellar dN/dT [GeV-1 m-2 s-1 sr-1] at kinetic energy T per particle [GeV]."""
    sp = _SPECIES[species]
    momentum = np.sqrt(kinetic * (kinetic + 2 * sp.mass))
    return _flux_rigidity(parameters, species, momentum / sp.charge) / _dkinetic_dx(kinetic, "rigidity", sp)


def _observed_terms(data, scale=1.0):
    """Per species of a data set: (species, rigidity [GV] of the local spectrum, ln of the factor
    taking J(R) to the data's binning): the force field for the space-borne data, energy scale ``scale``."""
    species = SPECIES if data.species == "light" else (data.species,)
    terms = []
    for name in species:
        sp = _SPECIES[name]
        kinetic = _kinetic(data.x / scale, data.quantity, sp)
        log_extra = np.log(_dkinetic_dx(kinetic, data.quantity, sp) / scale)
        if data.direct:
            # force field (Gleeson & Axford 1968): J(T) = J_LIS(T + Z phi) T (T + 2m) / ((T + Z phi)(T + Z phi + 2m))
            shifted = kinetic + sp.charge * PHI_GV
            log_extra = log_extra + np.log(kinetic * (kinetic + 2 * sp.mass) / (shifted * (shifted + 2 * sp.mass)))
            kinetic = shifted
        rigidity = np.sqrt(kinetic * (kinetic + 2 * sp.mass)) / sp.charge
        log_jacobian = np.log(_dkinetic_dx(kinetic, "rigidity", sp))
        terms.append((name, rigidity, log_extra - log_jacobian))
    return terms


def _log_observed(parameters, data, scale=1.0, gradient=None, index=None):
    """ln of the model in the data's binning (force field for the space-borne data, energy scale
    ``scale``); with ``gradient``, d ln model / d (spectral parameter) is added to it."""
    logs = _observed_terms(data, scale)
    values = [_log_flux_rigidity(parameters, name, rigidity) + extra for name, rigidity, extra in logs]
    total = values[0] if len(values) == 1 else np.logaddexp(*values)
    if gradient is not None:
        for (name, rigidity, _), value in zip(logs, values):
            _log_flux_rigidity(parameters, name, rigidity, gradient, index, weight=np.exp(value - total))
    return total


def _log_observed_sets(parameters, sets, scales, terms=None, gradients=None, index=None):
    """:func:`_log_observed` of every data set in ``sets`` (energy scales ``scales``), with one
    evaluation of the local spectrum per species over all of them (the same numbers, element by
    element); ``terms``: their :func:`_observed_terms` where already known (None entries computed)."""
    terms = [t if t is not None else _observed_terms(d, s) for t, d, s in zip(terms or [None] * len(sets), sets, scales)]
    values = [[None] * len(t) for t in terms]
    places = {}
    for k, t in enumerate(terms):
        for m, (name, rigidity, _) in enumerate(t):
            places.setdefault(name, []).append((k, m))
    joined = {}
    for name, where in places.items():
        sizes = [terms[k][m][1].size for k, m in where]
        joined[name] = np.concatenate([terms[k][m][1] for k, m in where]), np.cumsum(sizes)[:-1]
        flux = np.split(_log_flux_rigidity(parameters, name, joined[name][0]), joined[name][1])
        for (k, m), part in zip(where, flux):
            values[k][m] = part + terms[k][m][2]
    totals = [v[0] if len(v) == 1 else np.logaddexp(*v) for v in values]
    if gradients is not None:
        for name, where in places.items():
            rigidity, splits = joined[name]
            weight = np.concatenate([np.exp(values[k][m] - totals[k]) for k, m in where])
            gradient = np.zeros((gradients[0].shape[0], rigidity.size))
            _log_flux_rigidity(parameters, name, rigidity, gradient, index, weight=weight)
            for (k, _), part in zip(where, np.split(gradient, splits, axis=1)):
                gradients[k] += part
    return totals


def _observed(parameters, data, scale=1.0):
    """The model in the data's binning and units."""
    return np.exp(_log_observed(parameters, data, scale))


@lru_cache(maxsize=None)
def _read(name, species, experiment_scale):
    table = read_kiss_table(name)
    quantity = table["meta"]["X Quantity"]
    keep = (table["y"] > 0) & (table["error_lo"] > 0) & (table["error_up"] > 0)
    if quantity == "rigidity":
        keep &= table["x"] > AMS_R_MIN
    if quantity == "totalEnergy":
        keep &= table["x"] <= KNEE_E_MAX
    experiment = table["meta"].get("Experiment", name)
    return _DataSet(name, species, quantity, experiment, experiment_scale, *(
        np.array(table[k][keep]) for k in ("x", "y", "error_lo", "error_up")))


def _datasets(variant):
    """The data sets of a variant's fit: the direct data, then its knee data."""
    return [_read(*entry) for entry in _DIRECT] + [_read(name, species, None) for name, species in
                                                   KNEE_VARIANTS[variant]]


def _relative_errors(log_model, data):
    """error / y on the side of the model."""
    return np.where(log_model > np.log(data.y), data.error_up, data.error_lo) / data.y


def _log_pulls(model, data):
    """ln(model / y) / (error / y), the error on the side of the model."""
    log_model = np.log(model)
    return (log_model - np.log(data.y)) / _relative_errors(log_model, data)


def _variant_breaks(variant):
    """The breaks a variant's data ask for (the second hardening where its knee data start below 1 PeV)."""
    first_knee_energy = min(_read(name, species, None).x.min() for name, species in KNEE_VARIANTS[variant])
    return tuple(b for b in _BREAKS if b != "hardening2" or first_knee_energy < _SECOND_HARDENING_BELOW)


def _parameter_table(breaks, shared_knee):
    """(name, start, lower, upper) of every fitted parameter."""
    rows = []
    for species, (log_k, gamma) in (("H", (-4.3, 2.85)), ("He", (-4.8, 2.78))):
        rows += [(f"{species}.log_k", log_k, log_k - 2.0, log_k + 2.0), (f"{species}.gamma", gamma, 2.3, 3.3)]
        for b in breaks:
            if b == "knee" and shared_knee:
                continue
            (r0, r_lo, r_hi), (d0, d_lo, d_hi) = _BREAKS[b]
            rows += [(f"{species}.{b}.log_r", r0, r_lo, r_hi), (f"{species}.{b}.delta", d0, d_lo, d_hi),
                     (f"{species}.{b}.width",) + _WIDTH]
    if shared_knee and "knee" in breaks:
        (r0, r_lo, r_hi), (d0, d_lo, d_hi) = _BREAKS["knee"]
        rows += [("knee.log_r", r0, r_lo, r_hi), ("knee.delta", d0, d_lo, d_hi), ("knee.width",) + _WIDTH]
    rows += [(f"scale.{e}", 1.0, 1.0 - 5 * w, 1.0 + 5 * w) for e, (w, _) in ENERGY_SCALE_PRIORS.items()]
    return rows


@dataclass(frozen=True)
class LocalSpectra:
    """Fitted local H and He spectra for one knee variant (see the module documentation).

    Attributes
    ----------
    variant : str
    shared_knee : bool
        Whether H and He share one knee in rigidity.
    parameters : dict
        Best-fit values: per species ``log_k`` (log10 of K [GV-1 m-2 s-1 sr-1] at 1 TV), ``gamma``,
        and per break ``<species>.<break>.log_r`` (log10 R_b [GV]), ``.delta``, ``.width``
        (``knee.*`` when shared); the energy scales ``scale.<experiment>``.
    chi2, ndof : float, int
        Sum of the squared log-space pulls of the data and the nuisances' prior terms; number of
        data points minus the number of spectral parameters.
    """

    variant: str
    shared_knee: bool
    parameters: dict
    chi2: float
    ndof: int

    def flux_rigidity(self, species, rigidity):
        """Local interstellar J(R) [GV-1 m-2 s-1 sr-1] of "H" or "He" at rigidities [GV] (> 0)."""
        _check_species(species)
        rigidity = np.asarray(rigidity, dtype=float)
        bad = rigidity[~(np.isfinite(rigidity) & (rigidity > 0))]
        if bad.size:
            raise ValueError(f"rigidity must be finite and > 0 GV, got {bad.size} value(s) that are not, "
                             f"e.g. {bad.flat[0]!r}")
        return _flux_rigidity(self.parameters, species, rigidity)

    def flux_total_energy(self, species, total_energy):
        """Local interstellar dN/dE [GeV-1 m-2 s-1 sr-1] at total energies per particle [GeV]
        (above the rest mass). Above the fitted data (100 PeV) the last power law continues."""
        _check_species(species)
        sp = _SPECIES[species]
        energy = np.asarray(total_energy, dtype=float)
        bad = energy[~(np.isfinite(energy) & (energy > sp.mass))]
        if bad.size:
            raise ValueError(f"total_energy must be finite and above the {species} mass ({sp.mass:.4g} GeV), got "
                             f"{bad.size} value(s) that are not, e.g. {bad.flat[0]!r}")
        return _flux_kinetic(self.parameters, species, energy - sp.mass)

    @property
    def energy_scales(self):
        """Fitted energy scale of each calorimeter (the experiment's energy / the true one)."""
        return {e: self.parameters[f"scale.{e}"] for e in ENERGY_SCALE_PRIORS}

    def model(self, data):
        """The model of one data set of the fit, in its binning and units."""
        scale = self.parameters[f"scale.{data.scale}"] if data.scale else 1.0
        return _observed(self.parameters, data, scale)

    def pulls(self):
        """Log-space pulls ln(model / data) / (error / data) per data set of the fit: a list of
        (data set, pulls)."""
        return [(data, _log_pulls(self.model(data), data)) for data in _datasets(self.variant)]

    def fit_table(self):
        """Per data set: name, experiment, species, number of points, chi2 and the largest abs(pull)."""
        from astropy.table import Table

        rows = [(data.name, data.experiment, data.species, data.x.size, float(np.sum(p**2)),
                 float(np.max(np.abs(p)))) for data, p in self.pulls()]
        return Table(rows=rows, names=("dataset", "experiment", "species", "n", "chi2", "max_abs_pull"),
                     meta={"variant": self.variant, "chi2": self.chi2, "ndof": self.ndof,
                           "energy_scales": self.energy_scales})


def _check_species(species):
    if species not in _SPECIES:
        raise ValueError(f"species must be one of {list(_SPECIES)}, got {species!r}")


def _objective(sets, names):
    """The residuals (log-space pulls of ``sets``, then the energy-scale priors) as functions of
    the parameter vector ``names``, and their Jacobian: analytic for the spectral parameters, by
    finite differences for the energy scales."""
    index = {name: i for i, name in enumerate(names)}
    priors = [(index[f"scale.{e}"], w) for e, (w, _) in ENERGY_SCALE_PRIORS.items()]
    log_y = [np.log(data.y) for data in sets]

    # the data sets without an energy scale have the same rigidities at every step
    fixed = [None if data.scale else _observed_terms(data) for data in sets]

    def log_models(vector, gradients=None):
        parameters = dict(zip(names, vector))
        scales = [parameters[f"scale.{data.scale}"] if data.scale else 1.0 for data in sets]
        return _log_observed_sets(parameters, sets, scales, fixed, gradients, index)

    def residuals(vector):
        logs = log_models(vector)
        out = [(m - ly) / _relative_errors(m, d) for m, ly, d in zip(logs, log_y, sets)]
        out.append(np.array([(vector[i] - 1.0) / w for i, w in priors]))
        return np.concatenate(out)

    def jacobian(vector):
        gradients = [np.zeros((len(names), d.x.size)) for d in sets]
        logs = log_models(vector, gradients)
        for (i, _), (e, _) in zip(priors, ENERGY_SCALE_PRIORS.items()):  # d ln model / d s, one-sided
            step = 1e-6
            shifted = vector.copy()
            shifted[i] += step
            parameters = dict(zip(names, shifted))
            scaled = [k for k, data in enumerate(sets) if data.scale == e]
            moved = _log_observed_sets(parameters, [sets[k] for k in scaled], [shifted[i]] * len(scaled))
            for k, value in zip(scaled, moved):
                gradients[k][i] = (value - logs[k]) / step
        blocks = [(g / _relative_errors(m, d)).T for g, m, d in zip(gradients, logs, sets)]
        prior_rows = np.zeros((len(priors), len(names)))
        for row, (i, w) in enumerate(priors):
            prior_rows[row, i] = 1.0 / w
        return np.vstack(blocks + [prior_rows])

    return residuals, jacobian


def _least_squares(sets, rows, start=None):
    """Best-fit parameters (dict), chi2 and number of spectral parameters of ``sets`` (scipy's
    trust-region least squares within the bounds of ``rows``, from ``start`` where given)."""
    names = [r[0] for r in rows]
    start = np.array([(start or {}).get(r[0], r[1]) for r in rows])
    lower, upper = (np.array([r[i] for r in rows]) for i in (2, 3))
    start = np.clip(start, lower, upper)
    residuals, jacobian = _objective(sets, names)
    result = optimize.least_squares(residuals, start, jac=jacobian, bounds=(lower, upper), x_scale="jac",
                                    max_nfev=5000)
    if not result.success:
        raise RuntimeError(f"local-spectrum fit failed: {result.message}")
    return dict(zip(names, map(float, result.x))), float(np.sum(result.fun**2)), len(names) - len(ENERGY_SCALE_PRIORS)


@lru_cache(maxsize=1)
def _direct_fit():
    """The direct data alone (hardening and softening): the common start of every variant's fit, so
    that the variants differ where their knee data do, not by the optimiser's path."""
    sets = [_read(*entry) for entry in _DIRECT]
    return _least_squares(sets, _parameter_table(("hardening", "softening"), False))[0]


def _fit(variant, shared_knee):
    sets = _datasets(variant)
    parameters, chi2, n_parameters = _least_squares(
        sets, _parameter_table(_variant_breaks(variant), shared_knee), start=_direct_fit())
    n_data = sum(d.x.size for d in sets)
    return LocalSpectra(variant, bool(shared_knee), parameters, chi2, int(n_data - n_parameters))


def local_spectra(variant=DEFAULT_VARIANT, shared_knee=None):
    """Fit (once per process) and return the :class:`LocalSpectra` of a knee variant.

    Parameters
    ----------
    variant : str
        A key of :data:`KNEE_VARIANTS` (default :data:`DEFAULT_VARIANT`).
    shared_knee : bool, optional
        One knee in rigidity for H and He. Default: True only where the knee data do not separate
        the species (KASCADE-Grande's light component).
    """
    if variant not in KNEE_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(KNEE_VARIANTS)}, got {variant!r}")
    if shared_knee is None:
        shared_knee = any(species == "light" for _, species in KNEE_VARIANTS[variant])
    if not isinstance(shared_knee, (bool, np.bool_)):
        raise ValueError(f"shared_knee must be True, False or None, got {shared_knee!r}")
    return _cached_fit(variant, bool(shared_knee))


#: (variant, shared_knee) -> LocalSpectra: the fits of this process, and those another process made
#: for it (:func:`adopt_fits`)
_FITS = {}


def _cached_fit(variant, shared_knee):
    key = (variant, shared_knee)
    if key not in _FITS:
        _FITS[key] = _fit(variant, shared_knee)
    return _FITS[key]


def fitted():
    """The fits this process holds, {(variant, shared_knee): LocalSpectra} (a copy)."""
    return dict(_FITS)


def adopt_fits(fits):
    """Hold ``fits`` ({(variant, shared_knee): LocalSpectra}, from :func:`fitted` of a forked copy of
    this process: the same code and data, so the same numbers) as this process's own; a fit already
    held is kept."""
    for key, spectra in fits.items():
        if not isinstance(spectra, LocalSpectra) or key != (spectra.variant, spectra.shared_knee):
            raise ValueError(f"fits must map (variant, shared_knee) to its LocalSpectra, got {key!r}: {spectra!r}")
        _FITS.setdefault(key, spectra)
