"""One likelihood over every dataset, with the DGE's and the instruments' systematics as nuisances.

For gamma-ray dataset d of instrument i over region r_d the model is

    F_d(E) = s_i k_d [ N D_d(s_i E) + C_d(s_i E) + X_d(s_i E) ]

* D_d: the DGE integrated over r_d (any baseline of :func:`~gammapy_cocoons.dge.select.dge_model`,
  or the radial-delta DGE of hypothesis (d)); N its normalisation, shared by all datasets, with a
  log-normal constraint (ln N / sigma_N)^2 of width :data:`DGE_NORM_PRIOR_WIDTH` derived from the GeV
  validation (:mod:`.priors`); ``dge_norm="free"`` or ``"fixed"`` (N = 1) instead.
* C_d: the cocoons (Eq. 8 over r_d; chi0, R0 shared), hypothesis (b); optionally without the
  cocoons LHAASO would detect (``masked_cocoons``, :mod:`.masked_cocoons`).
* X_d: an extra exponential-cut-off power law A (E / 10 TeV)^-Gamma exp(-E / E_c) with the cocoons'
  morphology (the source disc: an unresolved-source population), hypothesis (c) (Zhang et al. 2023,
  ApJ 957, 43: Gamma = 2.40, E_c ~ 30 TeV).
* k_d: the dataset's fixed mask factor: the paper's 0.65 for the LHAASO inner region
  (``masks="scalar"``), or, with ``masks="1lhaaso"``, the regions of the LHAASO datasets without
  the 1LHAASO source circles and k_d = Omega(r_d) / Omega(unmasked) (:mod:`.masks`).
* s_i: the instrument's energy scale (:class:`~gammapy_cocoons.models.EnergyScaleSpectralModel`),
  one per instrument, constrained by (ln s_i / sigma_i)^2 with sigma_i the instrument's quoted
  energy-scale uncertainty (:data:`ENERGY_SCALE_UNCERTAINTY`).

The points are compared with gammapy's ``stat_type="distrib"`` statistic: a Gaussian with the
point's upper error where the model is above it and the lower error where it is below, and
upper limits through the complementary error function (Mohanty et al. 2013, Eq. C7). The bundled
points carry statistical and systematic errors in quadrature (:mod:`~gammapy_cocoons.datasets`).

Other terms (``datasets``):

* ``"icecube-2023-pi0"``: IceCube's Galactic-plane neutrinos (Abbasi et al. 2023, Science 380,
  1338; :class:`NeutrinoFluxDataset`): the per-flavour all-sky energy flux int E dN/dE dE over the
  energies of the bundled band (0.80-68.9 TeV), from the pi0-template fit, 21.8 +5.3 -4.9 x its
  model flux, against the prediction N x (the DGE's neutrino cube over the sky) + cocoon neutrinos
  (chi0, R0 shared), with the same asymmetric-Gaussian statistic. The extra component of (c) is
  given no neutrinos (Zhang et al. leave its nature open). Caveat (the paper's Appendix C): the fit
  assumed the pi0 template's morphology; cocoons and a radial-delta DGE are distributed
  differently on the sky and IceCube's cascade sample weights the sky unevenly (~7 deg resolution),
  so the all-sky flux is only approximately what IceCube measured for them.
* ``"ams02-bc"``: AMS-02 B/C and C/O of the B/C fit's paper set-up (:mod:`.bcfit`), sharing chi0
  and R0 with the gamma rays (:func:`~.bcfit.share_cocoon_parameters`: the same cocoon gas).
* the user's points (``points``, e.g. LHAASO-WCDA), as :func:`~.fitting.build_lhaaso_fit` takes
  them; no energy-scale nuisance unless ``energy_scales`` names their instrument
  (``meta["instrument"]``, default their name).

Overlapping regions of different instruments are allowed (they are different measurements); the
same measurement twice is refused by value (:func:`check_duplicate_measurements`).
"""
from dataclasses import dataclass, field

import numpy as np
import astropy.units as u
from gammapy.datasets import Dataset, Datasets
from gammapy.modeling.models import (DatasetModels, ExpCutoffPowerLawSpectralModel, PowerLawNormSpectralModel,
                                     SkyModel)

from .._validation import boolean, choice
from ..datasets import load_band
from ..dge.select import BASELINES, describe_baseline, dge_model
from ..models import (GRAMMAGE_LAWS, CocoonSpatialModel, CocoonSpectralModel, EnergyScaleSpectralModel,
                      LogNormalPrior, RegionFluxSpectralModel)
from ..models.sky import DeclaredUnitSkyModel
from ..physics.targetgas import describe_target
from .fitting import FIT_DATASETS, SpectralFluxPointsDataset, check_dataset_names, _fit_points, _PointsSkyModel
from .priors import DGE_NORM_PRIOR_WIDTH, ENERGY_SCALE_UNCERTAINTY, INSTRUMENTS

__all__ = ["build_likelihood", "JointLikelihood", "PointsDataset", "NeutrinoFluxDataset", "HYPOTHESES",
           "LIKELIHOOD_DATASETS", "DEFAULT_LIKELIHOOD_DATASETS", "DGE_NORM_MODES", "MASK_MODES", "ICECUBE_TERM",
           "BC_TERM", "ConstraintDataset", "check_duplicate_measurements", "icecube_measurement", "ECPL_REFERENCE", "dge_neutrino_model",
           "hypothesis_dge"]

#: the rival explanations of issue 23, item 5
HYPOTHESES = {
    "dge": "(a) the DGE alone",
    "dge+cocoons": "(b) DGE + cocoons (chi0, R0)",
    "dge+ecpl": "(c) DGE + an exponential-cut-off power law of free index and cut-off, with the cocoons' morphology",
    "radial-delta": "(d) the DGE on a CR sea whose diffusion slope changes with radius (KRA-gamma)",
}
#: the IceCube Galactic-plane term and the B/C term
ICECUBE_TERM = "icecube-2023-pi0"
BC_TERM = "ams02-bc"
LIKELIHOOD_DATASETS = tuple(FIT_DATASETS) + (ICECUBE_TERM, BC_TERM)
DEFAULT_LIKELIHOOD_DATASETS = tuple(FIT_DATASETS) + (ICECUBE_TERM,)
DGE_NORM_MODES = ("prior", "free", "fixed")
MASK_MODES = ("scalar", "1lhaaso")
ECPL_REFERENCE = "Zhang et al. 2023, ApJ 957, 43 (index 2.40, cut-off ~30 TeV)"
_FLUX = u.Unit("cm-2 s-1 TeV-1")
_ENERGY_FLUX = u.Unit("GeV cm-2 s-1")


# -- the measured neutrino flux -------------------------------------------------------------------------

def icecube_measurement(band="icecube-2023-pi0"):
    """IceCube's per-flavour all-sky energy flux over the band's energies, from a bundled band.

    Returns a dict: ``e_min``, ``e_max`` [GeV] (the band's ends), ``flux``, ``errn``, ``errp``
    [GeV cm-2 s-1] (int E dN/dE dE of the best fit and of the band's ends: the fit's asymmetric
    1-sigma range, 21.8 +5.3 -4.9 for pi0), and the reference. The integral is the trapezoid rule in
    ln E of E^2 dN/dE on the band's 40-odd log-spaced nodes (the band is a power law there, so
    exact to 1e-4).
    """
    table = load_band(band)
    e = table["e_ref"].to_value("GeV")
    x = np.log(e)
    values = {}
    for column in ("e2dnde", "e2dnde_low", "e2dnde_high"):
        y = table[column].to_value(_ENERGY_FLUX)
        values[column] = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))
    return {"e_min": float(e[0]), "e_max": float(e[-1]), "flux": values["e2dnde"],
            "errn": values["e2dnde"] - values["e2dnde_low"], "errp": values["e2dnde_high"] - values["e2dnde"],
            "reference": table.meta["reference"], "band": band}


def _asymmetric_chi2(model, value, errn, errp):
    """gammapy's "distrib" statistic of measured points: ((model - value) / err)^2 with the upper
    error where the model is at or above the value, the lower one below."""
    scale = np.where(model >= value, errp, errn)
    return ((model - value) / scale) ** 2


class NeutrinoFluxDataset(Dataset):
    """One measured energy flux, int_{e_min}^{e_max} E dN/dE dE, and a model of dN/dE.

    Parameters
    ----------
    measurement : dict
        As :func:`icecube_measurement` returns (e_min, e_max [GeV], flux, errn, errp [GeV cm-2 s-1]).
    models : `~gammapy.modeling.models.SkyModel`, optional
        Its spectral model is the all-sky per-flavour dN/dE [cm-2 s-1 TeV-1].
    name : str
    n_nodes : int
        Gauss-Legendre nodes in ln E over [e_min, e_max] (default 48: 1e-8 for these spectra).
    """

    tag = "NeutrinoFluxDataset"
    stat_type = "distrib"

    def __init__(self, measurement, models=None, name=ICECUBE_TERM, n_nodes=48):
        for key in ("e_min", "e_max", "flux", "errn", "errp"):
            value = float(measurement[key])
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"measurement[{key!r}] must be finite and > 0, got {measurement[key]!r}")
        if not measurement["e_min"] < measurement["e_max"]:
            raise ValueError("measurement: e_min must be below e_max")
        self.measurement = dict(measurement)
        self._name = name
        x, w = np.polynomial.legendre.leggauss(int(n_nodes))
        log_min, log_max = np.log(measurement["e_min"]), np.log(measurement["e_max"])
        self._energy = np.exp(log_min + 0.5 * (x + 1.0) * (log_max - log_min)) * u.GeV
        # int E dN/dE dE = int E^2 dN/dE dlnE
        self._weights = 0.5 * w * (log_max - log_min)
        self._model = None
        self.models = models
        self.mask_safe = None
        self.mask_fit = None

    @property
    def energy_nodes(self):
        """The quadrature energies [GeV] and weights (of E^2 dN/dE in ln E)."""
        return self._energy, self._weights

    @property
    def models(self):
        return None if self._model is None else DatasetModels([self._model])

    @models.setter
    def models(self, models):
        if models is None:
            self._model = None
            return
        candidates = [models] if isinstance(models, SkyModel) else list(models)
        if len(candidates) != 1 or not isinstance(candidates[0], SkyModel):
            raise ValueError("models must be one SkyModel (the all-sky per-flavour neutrino flux)")
        self._model = candidates[0]

    def predicted_flux(self):
        """int E dN/dE dE of the model over the measurement's energies [GeV cm-2 s-1]."""
        if self._model is None:
            raise ValueError(f"dataset {self.name!r} has no model")
        dnde = self._model.spectral_model(self._energy).to_value("GeV-1 cm-2 s-1")
        return float(np.sum(self._weights * self._energy.to_value("GeV") ** 2 * dnde))

    def stat_array(self):
        m = self.measurement
        return np.atleast_1d(_asymmetric_chi2(self.predicted_flux(), m["flux"], m["errn"], m["errp"]))

    def stat_sum(self):
        return float(np.sum(self.stat_array()))

    def _stat_sum_likelihood(self):
        return self.stat_sum()

    def __str__(self):
        m = self.measurement
        return (f"{type(self).__name__}: {self.name}, {m['flux']:.3g} -{m['errn']:.2g} +{m['errp']:.2g} GeV cm-2 s-1 "
                f"over {m['e_min']:.3g}-{m['e_max']:.3g} GeV")


class ConstraintDataset(Dataset):
    """The constraint terms of the nuisance parameters, each counted once.

    gammapy 2.1 adds ``Parameter.prior`` terms through ``DatasetModels.parameters``, which lists a
    parameter once per model that holds it: a DGE normalisation shared by six datasets would count
    its prior six times (tests/test_likelihood.py shows it). The constraints are therefore this
    dataset of their own: sum_k (ln(x_k / mu_k) / sigma_k)^2 over distinct Parameters
    (:class:`~gammapy_cocoons.models.LogNormalPrior`). It holds no models (the parameters belong to the
    datasets that use them), so gammapy's Fit sees it as one more term of ``Datasets.stat_sum``.

    Parameters
    ----------
    constraints : dict
        label -> (Parameter, LogNormalPrior).
    """

    tag = "ConstraintDataset"
    stat_type = "chi2"

    def __init__(self, constraints, name="constraints"):
        self.constraints = {}
        for label, (parameter, prior) in constraints.items():
            if not isinstance(prior, LogNormalPrior):
                raise TypeError(f"constraints[{label!r}] needs a LogNormalPrior, got {type(prior).__name__}")
            self.constraints[str(label)] = (parameter, prior)
        self._name = name
        self.mask_safe = None
        self.mask_fit = None

    @property
    def models(self):
        return None

    @models.setter
    def models(self, models):
        if models is not None:
            raise ValueError("a ConstraintDataset holds no models")

    def stat_array(self):
        return np.array([float(prior.evaluate(parameter.value, prior.mu.value, prior.sigma.value))
                         for parameter, prior in self.constraints.values()])

    def stat_sum(self):
        return float(np.sum(self.stat_array())) if self.constraints else 0.0

    def _stat_sum_likelihood(self):
        return self.stat_sum()

    def __str__(self):
        return f"{type(self).__name__}: " + ", ".join(
            f"{label} (width {prior.sigma.value:g})" for label, (_, prior) in self.constraints.items())


class PointsDataset(SpectralFluxPointsDataset):
    """Flux points compared with gammapy's ``stat_type="distrib"`` statistic (the default here).

    gammapy's own "distrib" needs an upper-limit column even where there are no limits; here the
    points without ``dnde_ul`` are all measurements. The statistic is gammapy's
    ``Chi2AsymmetricErrorFitStatistic`` on cached arrays (tested equal to gammapy's to 1e-12 on points
    with limits): asymmetric Gaussians for measurements, 2 ln[erfc((ul - m) / ul) / erfc(1)] for an
    upper limit ul (the model m above the limit costs).
    """

    def __init__(self, *args, stat_type="distrib", **kwargs):
        super().__init__(*args, stat_type="chi2", **kwargs)
        self.stat_type = stat_type

    @property
    def stat_type(self):
        return self._stat_type

    @stat_type.setter
    def stat_type(self, stat_type):
        if stat_type != "distrib":
            SpectralFluxPointsDataset.stat_type.fset(self, stat_type)
            return
        data = self.data
        is_ul = np.asarray(data.is_ul.data, bool) if data.is_ul is not None else np.zeros(data.dnde.data.shape, bool)
        try:
            dnde_ul = data.dnde_ul.data
        except AttributeError:
            dnde_ul = np.full(data.dnde.data.shape, np.nan)
            is_ul = np.zeros_like(is_ul)
        self._mask_valid = (is_ul & np.isfinite(dnde_ul)) | (~is_ul & np.isfinite(data.dnde.data))
        self._ul_arrays = (is_ul, dnde_ul)
        self._stat_type = "distrib"
        from gammapy.stats import FIT_STATISTICS_REGISTRY

        self._fit_statistic = FIT_STATISTICS_REGISTRY["distrib"]

    def stat_array(self):
        if self.stat_type != "distrib":
            return super().stat_array()
        from scipy.special import erfc

        data = self._data_arrays()
        model = np.zeros(np.shape(data["dnde"])) + self.flux_pred().to_value(data["unit"])
        value = data["dnde"]
        errp = data["dnde_errp"] if data["dnde_errp"] is not None else data["dnde_err"]
        errn = data["dnde_errn"] if data["dnde_errn"] is not None else data["dnde_err"]
        is_ul, ul = self._ul_arrays
        ul = np.asarray(ul, dtype=float) * 1.0
        stat = np.zeros(model.shape)
        measured = ~is_ul & np.isfinite(value)
        stat[measured] = _asymmetric_chi2(model[measured], value[measured], errn[measured], errp[measured])
        if np.any(is_ul):
            limit = ul[is_ul]
            stat[is_ul] = 2 * np.log(erfc((limit - model[is_ul]) / limit) / erfc(1.0))
        stat[np.isnan(stat)] = 0.0
        return stat

    def stat_sum(self):
        if self.stat_type != "distrib":
            return super().stat_sum()
        return float(np.sum(self.stat_array()[self.mask]))


# -- duplicates -----------------------------------------------------------------------------------------

def _intensity_points(flux_points):
    """(energy [TeV], intensity or flux) of measured points: per sr when the solid angle is known."""
    energy = flux_points.energy_ref.to_value("TeV")
    dnde = np.ravel(flux_points.dnde.quantity.to_value(_FLUX))
    omega = flux_points.meta.get("solid_angle")
    return np.ravel(energy), dnde / omega if omega else dnde, bool(omega)


def check_duplicate_measurements(named_points, rtol=1e-3):
    """Refuse the same measurement given twice, judged by values, not names.

    Two datasets are the same measurement if at least half the points of the smaller one (at least
    one) coincide with points of the other in energy and in intensity (per sr where both know their
    solid angle, else in flux) within ``rtol``. ``named_points`` is [(name, FluxPoints)].
    """
    prepared = [(name, *_intensity_points(points)) for name, points in named_points]
    for i, (name_a, e_a, v_a, sr_a) in enumerate(prepared):
        for name_b, e_b, v_b, sr_b in prepared[i + 1:]:
            if sr_a != sr_b:
                continue
            close = (np.abs(e_a[:, None] / e_b[None, :] - 1) <= rtol) & (np.abs(v_a[:, None] - v_b[None, :])
                                                                          <= rtol * np.abs(v_b[None, :]))
            matched = int(np.sum(np.any(close, axis=1)))
            if matched >= max(1, int(np.ceil(0.5 * min(e_a.size, e_b.size)))):
                raise ValueError(f"datasets: {name_a!r} and {name_b!r} are the same measurement ({matched} points "
                                 f"coincide in energy and intensity within {rtol:g}); give it once")


# -- DGE templates of the hypotheses ----------------------------------------------------------------------

def hypothesis_dge(hypothesis, dge, variant, secondary="gamma"):
    """The DGE SkyModel a hypothesis uses: ``dge``'s member ``variant``, or for "radial-delta" the
    embedded DGE on the KRA-gamma sea (only with ``dge="embedded"``)."""
    if hypothesis == "radial-delta":
        if not (isinstance(dge, str) and dge == "embedded"):
            raise ValueError(f"hypothesis 'radial-delta' changes the embedded DGE's cosmic-ray sea: dge must be "
                             f"'embedded', got {dge!r}")
        from ..dge.radial_delta import radial_delta_dge

        return radial_delta_dge(variant, secondary)
    if secondary != "gamma":
        return dge_neutrino_model(dge, variant)
    return dge_model(dge, variant)


def dge_neutrino_model(dge, variant):
    """The per-flavour neutrino DGE of a built-in baseline; a DGE read from files has none."""
    if not (isinstance(dge, str) and dge in BASELINES):
        raise ValueError(f"datasets: the IceCube term ({ICECUBE_TERM!r}) needs the DGE's neutrinos, and {dge!r} holds "
                         f"gamma rays only (a DGE file); use dge {list(BASELINES)} or leave {ICECUBE_TERM!r} out")
    return dge_model(dge, variant, secondary="nu_per_flavour")


# -- the likelihood ------------------------------------------------------------------------------------------

@dataclass
class JointLikelihood:
    """What :func:`build_likelihood` built: gammapy Datasets and the handles on their models.

    Attributes
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Every term: :class:`PointsDataset` per gamma-ray dataset, :class:`NeutrinoFluxDataset`,
        the B/C datasets.
    cocoons : SkyModel or None
        The cocoon model whose chi0 and R0 every term shares (hypothesis "dge+cocoons").
    ecpl : SkyModel or None
        The extra component of "dge+ecpl".
    dge_norms : dict
        "all" -> the shared PowerLawNormSpectralModel of the DGE, or dataset name -> its own.
    energy_scales : dict
        instrument -> its energy-scale Parameter.
    bc_model : BoronCarbonModel or None
    setup : dict
        The options, the DGE label, the mask factors and what every nuisance's prior is.
    """

    datasets: Datasets
    cocoons: object
    ecpl: object
    dge_norms: dict
    energy_scales: dict
    bc_model: object
    setup: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)

    @property
    def constraints(self):
        """label -> (Parameter, LogNormalPrior) of the constraint terms ({} without any)."""
        term = next((d for d in self.datasets if isinstance(d, ConstraintDataset)), None)
        return {} if term is None else term.constraints

    @property
    def gamma_datasets(self):
        return [d for d in self.datasets if isinstance(d, PointsDataset)]

    @property
    def neutrino_dataset(self):
        return next((d for d in self.datasets if isinstance(d, NeutrinoFluxDataset)), None)

    @property
    def free_parameters(self):
        return self.datasets.models.parameters.free_unique_parameters


def _check_options(hypothesis, variant, dge_norm, masks, grammage):
    choice(hypothesis, HYPOTHESES, "hypothesis")
    choice(variant, ("min", "max"), "variant")
    choice(dge_norm, DGE_NORM_MODES, "dge_norm")
    choice(masks, MASK_MODES, "masks")
    choice(grammage, GRAMMAGE_LAWS, "grammage")


def _energy_scale_widths(energy_scales):
    """instrument -> width of ln s, from True (the bundled instruments), False/None or a dict."""
    if energy_scales is True:
        return {name: entry[0] for name, entry in ENERGY_SCALE_UNCERTAINTY.items()}
    if energy_scales is False or energy_scales is None:
        return {}
    if not isinstance(energy_scales, dict):
        raise TypeError(f"energy_scales must be True, False or a dict instrument -> width, got {energy_scales!r}")
    out = {}
    for name, width in energy_scales.items():
        out[str(name)] = _prior_width(width, f"energy_scales[{name!r}]", "ln s")
    return out


def _prior_width(value, name, of):
    """A log-normal prior's width: a plain finite number > 0 (not a bool, a string or an array)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0:
        raise TypeError(f"{name} must be a number > 0 (the prior width of {of}), got {value!r}")
    try:
        width = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number > 0 (the prior width of {of}), got {value!r}") from None
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"{name} must be finite and > 0 (the prior width of {of}), got {value!r}")
    return width


def _check_energy_scale_names(widths, chosen):
    """Every instrument named in an energy_scales dict must be one this package or the points know:
    a misspelt name would otherwise leave that instrument without its scale, silently."""
    known = set(ENERGY_SCALE_UNCERTAINTY) | {fp.meta.get("instrument", name) for name, fp, _ in chosen}
    unknown = sorted(set(widths) - known)
    if unknown:
        raise ValueError(f"energy_scales: unknown instrument(s) {unknown}; known: {sorted(known)} (a user's points "
                         f"name theirs in meta['instrument'], else by their name)")


def _dge_norm_model(mode):
    norm = PowerLawNormSpectralModel()
    norm.tilt.frozen = True
    norm.norm.min, norm.norm.max = 1e-3, 100.0
    norm.norm.frozen = mode == "fixed"
    return norm


def build_likelihood(hypothesis="dge+cocoons", dge="embedded", variant="min", datasets=DEFAULT_LIKELIHOOD_DATASETS,
                     points=(), dge_norm="prior", energy_scales=True, masks="scalar", masked_cocoons=False,
                     grammage="exponential", target="ism", chi0=0.4 * u.Unit("g cm-2"), r0=20 * u.TV,
                     shared_dge_norm=True, dge_norm_width=DGE_NORM_PRIOR_WIDTH, statistic="distrib"):
    """The joint likelihood of one hypothesis (see the module documentation).

    Parameters
    ----------
    hypothesis : str
        A key of :data:`HYPOTHESES`: "dge", "dge+cocoons" (default), "dge+ecpl", "radial-delta".
    dge, variant
        DGE baseline and member ("min" / "max") (:func:`~gammapy_cocoons.dge.select.dge_model`).
    datasets : sequence of str
        Among :data:`LIKELIHOOD_DATASETS`: the bundled gamma-ray points, "icecube-2023-pi0", "ams02-bc".
    points : sequence of FluxPoints or (FluxPoints, mask scale)
        The user's points (``meta["region"]``; ``meta["instrument"]`` optional).
    dge_norm : {"prior", "free", "fixed"}
        The DGE normalisation: log-normal constraint of width ``dge_norm_width`` (default), free, or 1.
    energy_scales : bool or dict
        True: each bundled instrument's energy scale with the prior of
        :data:`~.priors.ENERGY_SCALE_UNCERTAINTY`; False: none; a dict: instrument -> width of ln s.
    masks : {"scalar", "1lhaaso"}
        The paper's 0.65 on the LHAASO inner region, or the 1LHAASO mask circles (:mod:`.masks`).
    masked_cocoons : bool
        Leave out the cocoons LHAASO would detect and mask (:mod:`.masked_cocoons`).
    grammage, target, chi0, r0
        The cocoon model (chi0: mass grammage of the cocoon gas ``target``).
    shared_dge_norm : bool
        One DGE normalisation for all gamma-ray datasets (default) or one per dataset, each with the
        same prior.
    statistic : {"distrib", "chi2"}
        gammapy's statistic of the points: "distrib" (default) or "chi2" (mean errors, no upper
        limits: the paper's fit).

    Returns
    -------
    JointLikelihood
    """
    _check_options(hypothesis, variant, dge_norm, masks, grammage)
    choice(statistic, ("distrib", "chi2"), "statistic")
    for name, value in (("masked_cocoons", masked_cocoons), ("shared_dge_norm", shared_dge_norm)):
        boolean(value, name)
    width = _prior_width(dge_norm_width, "dge_norm_width", "ln N")
    widths = _energy_scale_widths(energy_scales)
    if isinstance(datasets, str):
        raise TypeError(f"datasets must be a sequence of names among {list(LIKELIHOOD_DATASETS)}, got the string "
                        f"{datasets!r}")
    names = check_dataset_names(datasets, list(LIKELIHOOD_DATASETS))
    gamma_names = tuple(n for n in names if n in FIT_DATASETS)
    use_icecube, use_bc = ICECUBE_TERM in names, BC_TERM in names
    if not gamma_names and not points:
        raise ValueError("datasets: the likelihood needs gamma-ray points (a bundled dataset or points)")
    if use_bc and hypothesis != "dge+cocoons":
        raise ValueError(f"datasets: {BC_TERM!r} constrains the cocoon grammage: only with hypothesis 'dge+cocoons'")
    describe_baseline(dge) if hypothesis != "radial-delta" else None
    if use_icecube and hypothesis != "radial-delta":
        if not (isinstance(dge, str) and dge in BASELINES):
            dge_neutrino_model(dge, variant)  # refuses a DGE file before anything is built
    chosen = _fit_points(gamma_names, points)
    short_to_bundled = {v: k for k, v in FIT_DATASETS.items()}
    check_duplicate_measurements([(name, fp) for name, fp, _ in chosen])
    _check_energy_scale_names(widths, chosen)

    cocoons = ecpl = None
    if hypothesis == "dge+cocoons":
        spectral = CocoonSpectralModel(grammage=grammage, chi0=chi0, r0=r0, target=target)
        cocoons = DeclaredUnitSkyModel(spectral_model=spectral, spatial_model=CocoonSpatialModel(), name="cocoons")
    if hypothesis == "dge+ecpl":
        spectral = ExpCutoffPowerLawSpectralModel(index=2.4, amplitude=1e-13 * _FLUX, reference=10 * u.TeV,
                                                  lambda_=1 / 30 / u.TeV)
        spectral.amplitude.min = 0.0
        spectral.index.min, spectral.index.max = 1.0, 4.0
        spectral.lambda_.min, spectral.lambda_.max = 1e-4, 1.0
        ecpl = DeclaredUnitSkyModel(spectral_model=spectral, spatial_model=CocoonSpatialModel(), name="ecpl")
    template = hypothesis_dge(hypothesis, dge, variant)
    _check_energy_coverage(chosen, template, short_to_bundled)
    norms = {"all": _dge_norm_model(dge_norm)} if shared_dge_norm else {}
    scales = {}
    setup_sets, mask_info, parts = [], {}, {}
    out = []
    for name, flux_points, scale in chosen:
        bundled = short_to_bundled.get(name)
        instrument = INSTRUMENTS.get(bundled) if bundled else flux_points.meta.get("instrument", name)
        region = flux_points.meta["region"]
        if masks == "1lhaaso" and bundled in ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer"):
            from .masks import mask_scale, masked_region

            masked = masked_region(region)
            scale = mask_scale(region, masked)
            region = masked
        mask_info[name] = scale
        norm = norms["all"] if shared_dge_norm else norms.setdefault(name, _dge_norm_model(dge_norm))
        dge_region = DeclaredUnitSkyModel(spectral_model=norm, spatial_model=template.spatial_model, name=f"dge-{name}")
        total = _with_shared_integrals(RegionFluxSpectralModel(dge_region, region=region, scale=scale),
                                       _template_key(hypothesis, dge, variant, "gamma"))
        parts[name] = {"dge": total, "norm": norm, "instrument": instrument}
        if cocoons is not None:
            part = parts[name]["cocoons"] = RegionFluxSpectralModel(cocoons, region=region, scale=scale)
            if masked_cocoons:
                from .masked_cocoons import unmasked_fraction_model

                fraction = unmasked_fraction_model(flux_points.meta["region"], chi0=chi0, r0=r0, target=target,
                                                   grammage=grammage)
                parts[name]["unmasked_fraction"] = fraction
                part = part * fraction
            total = part + total
        if ecpl is not None:
            part = parts[name]["ecpl"] = RegionFluxSpectralModel(ecpl, region=region, scale=scale)
            total = total + part
        if instrument in widths:
            if instrument not in scales:
                scales[instrument] = EnergyScaleSpectralModel(total).energy_scale
            total = EnergyScaleSpectralModel(total, scales[instrument])
            parts[name]["energy_scale"] = scales[instrument]
        model = _PointsSkyModel(spectral_model=total, name=name, unit_check_energy=flux_points.energy_ref[0])
        out.append(PointsDataset(data=flux_points, models=model, name=name, stat_type=statistic))
        setup_sets.append({"name": name, "instrument": instrument, "mask_scale": scale,
                           "energy_scale_width": widths.get(instrument)})
    if use_icecube:
        out.append(_neutrino_term(hypothesis, dge, variant, cocoons, norms))
        parts[ICECUBE_TERM] = {"dge": out[-1].models[0].spectral_model if cocoons is None
                               else out[-1].models[0].spectral_model.model2,
                               "cocoons": None if cocoons is None else out[-1].models[0].spectral_model.model1}
    _limit_energy_scales(scales, parts, chosen, template)
    constraints = {}
    if dge_norm == "prior":
        for key, norm in norms.items():
            label = "dge_norm" if key == "all" else f"dge_norm_{key}"
            constraints[label] = (norm.norm, LogNormalPrior(mu=1.0, sigma=width))
    for instrument, parameter in scales.items():
        constraints[f"energy_scale_{instrument}"] = (parameter, LogNormalPrior(mu=1.0, sigma=widths[instrument]))
    if constraints:
        out.append(ConstraintDataset(constraints))
    bc_model = None
    if use_bc:
        from .bcfit import build_bc_fit, share_cocoon_parameters

        bc_datasets, bc_model = build_bc_fit()
        share_cocoon_parameters(bc_model, cocoons.spectral_model)
        out.extend(bc_datasets)
    label = (describe_baseline("embedded") + " on the KRA-gamma CR sea (radial delta)") if hypothesis == "radial-delta" \
        else describe_baseline(dge)
    setup = {
        "hypothesis": hypothesis, "hypothesis_description": HYPOTHESES[hypothesis], "dge": label,
        "dge_choice": dge if isinstance(dge, str) else [str(p) for p in (dge if isinstance(dge, (list, tuple)) else [dge])],
        "dge_variant": variant, "dge_norm": dge_norm,
        "dge_norm_prior": f"log-normal, median 1, width of ln N {width:g}" if dge_norm == "prior" else None,
        "dge_norms": "one shared by all datasets" if shared_dge_norm else "one per dataset",
        "energy_scale_priors": {k: f"log-normal, median 1, width of ln s {v:g}" for k, v in widths.items()
                                if k in scales},
        "masks": masks, "mask_scales": mask_info, "masked_cocoons": masked_cocoons,
        "datasets": [d.name for d in out], "gamma_datasets": setup_sets, "statistic": statistic,
        "target": target, "chi0_convention": describe_target(target) if cocoons is not None else None,
        "grammage": grammage,
    }
    if ecpl is not None:
        setup["ecpl"] = f"A (E / 10 TeV)^-index exp(-lambda E), the cocoons' morphology; start as {ECPL_REFERENCE}"
    if use_icecube:
        setup["icecube"] = ("all-sky per-flavour energy flux over the band's energies, pi0-template fit; its morphology "
                            "assumed (the paper's Appendix C caveat); no neutrinos from the extra component of (c)")
    from .bcfit import FitDatasets  # gammapy's Datasets, its models collected once per evaluation: same value

    return JointLikelihood(FitDatasets(out), cocoons, ecpl, norms, scales, bc_model, setup, parts)


def _check_energy_coverage(chosen, template, short_to_bundled):
    """Refuse, before any model is evaluated, points whose energies the DGE cube or the cocoon model
    does not cover (they failed late, inside the fit, naming neither the points nor the DGE)."""
    from ..emission import ENERGY_RANGE

    axis = template.spatial_model.map.geom.axes[0]
    low, high = axis.center.to_value("TeV")[[0, -1]]
    cocoon_low, cocoon_high = (e.to_value("TeV") for e in ENERGY_RANGE)
    for name, flux_points, _ in chosen:
        energies = np.ravel(flux_points.energy_ref.to_value("TeV"))
        what = "points" if name not in short_to_bundled else "dataset"
        source = flux_points.meta.get("filename") or flux_points.meta.get("name") or name
        if energies.min() < max(low, cocoon_low) or energies.max() > min(high, cocoon_high):
            raise ValueError(
                f"{what} {source!r}: energies {energies.min():.3g}-{energies.max():.3g} TeV reach beyond the DGE "
                f"cube's {low:.3g}-{high:.3g} TeV (dge) or the cocoon model's {cocoon_low:.3g}-{cocoon_high:.3g} TeV; "
                "give points inside both or a DGE cube that covers them")


def _limit_energy_scales(scales, parts, chosen, template):
    """Bound each energy scale (0.5-2) so that s E stays within the DGE cube's energies for every point
    of the instrument (a cube that starts at 200 GeV allows ARGO's 0.39 TeV point s >= 0.54 only)."""
    axis = template.spatial_model.map.geom.axes[0]
    low, high = axis.center.to_value("TeV")[[0, -1]]
    for instrument, parameter in scales.items():
        energies = np.concatenate([np.ravel(fp.energy_ref.to_value("TeV")) for name, fp, _ in chosen
                                   if parts[name]["instrument"] == instrument])
        lower = max(0.5, low / energies.min() * (1 + 1e-9))
        upper = min(2.0, high / energies.max() * (1 - 1e-9))
        if not lower < 1 < upper:
            raise ValueError(f"energy_scales: the DGE cube ({low:.3g}-{high:.3g} TeV) leaves no room for an energy scale "
                             f"of {instrument} around 1 (its points reach {energies.min():.3g}-{energies.max():.3g} "
                             "TeV); give energy_scales=False or a cube with a wider energy range")
        parameter.min, parameter.max = lower, upper


#: (DGE choice, region key) -> the DGE's region integrals at its nodes: shared by the likelihoods of
#: one process (the hypotheses of one DGE choice use the same integrals)
_NODE_INTEGRALS = {}


def _template_key(hypothesis, dge, variant, secondary):
    """What identifies a DGE cube: the choice, and for files their paths and modification times."""
    if isinstance(dge, str) and dge in BASELINES:
        files = dge
    else:
        from pathlib import Path

        paths = [dge] if isinstance(dge, (str, Path)) else list(dge)
        files = tuple((str(Path(p).resolve()), Path(p).stat().st_mtime_ns) for p in paths)
    return (hypothesis == "radial-delta", files, variant, secondary)


def _with_shared_integrals(region_model, template_key):
    """``region_model`` (a DGE template over a region) with its node integrals from the process's
    cache, or computed once and remembered."""
    from ..skyregions import to_lb_region

    key = (template_key, None if region_model.region is None else to_lb_region(region_model.region).key,
           region_model.sky_model.spatial_model.map.data.shape)
    cached = _NODE_INTEGRALS.get(key)
    if cached is not None:
        region_model._template_integrals[("nodes",)] = cached
        return region_model
    axis = region_model.sky_model.spatial_model.map.geom.axes[0]
    region_model._spatial_integral(axis.center[:1], {})
    if len(_NODE_INTEGRALS) > 256:
        _NODE_INTEGRALS.clear()
    _NODE_INTEGRALS[key] = region_model._template_integrals[("nodes",)]
    return region_model


def _neutrino_term(hypothesis, dge, variant, cocoons, norms):
    """The IceCube term: N x (all-sky DGE neutrinos) + cocoon neutrinos sharing chi0 and R0."""
    template = hypothesis_dge(hypothesis, dge, variant, secondary="nu_per_flavour")
    norm = norms.get("all") or next(iter(norms.values()))
    sky = DeclaredUnitSkyModel(spectral_model=norm, spatial_model=template.spatial_model, name="dge-neutrinos")
    total = _with_shared_integrals(RegionFluxSpectralModel(sky, region=None),
                                   _template_key(hypothesis, dge, variant, "nu_per_flavour"))
    if cocoons is not None:
        gamma = cocoons.spectral_model
        options = dict(gamma.options, secondary="nu_per_flavour")
        nu = CocoonSpectralModel(**options)
        for parameter in gamma.parameters:  # one chi0, one R0: the same Parameter objects
            setattr(nu, parameter.name, parameter)
        total = nu + total
    model = DeclaredUnitSkyModel(spectral_model=total, name="icecube-nu")
    return NeutrinoFluxDataset(icecube_measurement(), models=model, name=ICECUBE_TERM)
