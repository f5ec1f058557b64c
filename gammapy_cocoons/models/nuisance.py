"""Nuisance parameters for joint fits: a log-normal constraint and an instrument's energy scale.

:class:`LogNormalPrior` is a gammapy ``Prior`` for a positive scale factor x (a DGE normalisation,
an energy scale): the constraint term of an auxiliary measurement of ln x with Gaussian error,

    -2 ln L_aux = (ln(x / mu) / sigma)^2,

added to the fit statistic by gammapy (``Datasets.stat_sum`` adds ``Parameters.prior_stat_sum``).
Unlike gammapy's ``GaussianPrior`` (-2 ln of a normalised density), it carries no constant term
and no Jacobian, so the statistic at the prior's median is the data's chi2-like statistic alone
and ``stat`` stays comparable between fits with and without the constraint.

:class:`EnergyScaleSpectralModel` wraps a spectral model for one instrument whose energies are
reconstructed a factor s too low (E_reported = E_true / s): the points it reports at E are the
true spectrum at s E, squeezed into bins narrower by s,

    dN/dE_reported(E) = s dN/dE(s E).

s = 1 is no shift; the fit gets s as a Parameter (shared by all datasets of one instrument)
constrained by a :class:`LogNormalPrior` of the instrument's quoted energy-scale uncertainty.
"""
from functools import lru_cache

import numpy as np
import astropy.units as u
from gammapy.modeling import Parameter, Parameters, PriorParameter
from gammapy.modeling.models import Prior, SpectralModel

__all__ = ["LogNormalPrior", "EnergyScaleSpectralModel", "EnergyScaleFactor"]


def _positive(value, name, what):
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        number = float(u.Quantity(value).to_value(u.dimensionless_unscaled))
    except (TypeError, ValueError, u.UnitsError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be finite and > 0 ({what}), got {value!r}")
    return number


class LogNormalPrior(Prior):
    """Constraint (ln(x / mu) / sigma)^2 on a positive parameter x (see the module documentation).

    Parameters
    ----------
    mu : float
        Median of x (the auxiliary measurement), > 0. Default 1.
    sigma : float
        Width of ln x, > 0 (a fractional uncertainty for small sigma). Default 0.1.
    weight : float
        gammapy's prior weight (default 1).
    """

    tag = ["LogNormalPrior"]
    _type = "prior"
    mu = PriorParameter(name="mu", value=1.0)
    sigma = PriorParameter(name="sigma", value=0.1)

    def __init__(self, **kwargs):
        for name, what in (("mu", "the median of the constrained factor"), ("sigma", "the prior width of ln x")):
            if name in kwargs and not isinstance(kwargs[name], PriorParameter):
                _positive(kwargs[name], name, what)
        super().__init__(**kwargs)
        _positive(self.mu.value, "mu", "the median of the constrained factor")
        _positive(self.sigma.value, "sigma", "the prior width of ln x")

    @staticmethod
    def evaluate(value, mu, sigma):
        """(ln(value / mu) / sigma)^2; infinite for value <= 0 (outside the prior's support)."""
        value = np.asarray(value, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = (np.log(value / mu) / sigma) ** 2
        return np.where(value > 0, stat, np.inf)

    @property
    def _random_variable(self):
        from scipy.stats import lognorm

        return lognorm(s=self.sigma.value, scale=self.mu.value)


class EnergyScaleFactor(SpectralModel):
    """The holder of one instrument's energy scale s (a Parameter, bounds 0.5-2). It is not a flux:
    :class:`EnergyScaleSpectralModel` uses it, so that gammapy finds, shares and serialises s like
    any model parameter."""

    tag = ["EnergyScaleFactor"]
    energy_scale = Parameter("energy_scale", 1.0, min=0.5, max=2.0)

    @staticmethod
    def evaluate(energy, energy_scale):
        return np.ones(np.shape(energy)) * energy_scale


#: nodes per decade of energy of :meth:`EnergyScaleSpectralModel.evaluate` (log-log interpolation between
#: nodes 0.9 % apart: 1e-5 of a spectrum whose log-log slope changes by 1 per e-fold of energy; the
#: cocoons: within 6e-4 where E^2 F is within four decades of its peak, tests/test_likelihood.py)
NODES_PER_DECADE = 256


@lru_cache(maxsize=64)
def _log_grid(unit, low, high):
    """low, the energies 10^(k / NODES_PER_DECADE) [unit] strictly between, and high: the same array
    for every call with the same bounds, and never beyond them (a template's range). One read-only
    Quantity per bounds (a fit asks for the same ones at every step)."""
    k0 = int(np.floor(np.log10(low) * NODES_PER_DECADE)) + 1
    k1 = int(np.ceil(np.log10(high) * NODES_PER_DECADE)) - 1
    inner = 10.0 ** (np.arange(k0, k1 + 1) / NODES_PER_DECADE)
    nodes = np.unique(np.concatenate([[low], inner[(inner > low) & (inner < high)], [high]])) * unit
    nodes.flags.writeable = False
    return nodes


class EnergyScaleSpectralModel(SpectralModel):
    """``model`` seen by an instrument with energy scale s: s dN/dE(s E) (module documentation).

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`
        The true spectrum (any spectral model; its Parameter objects are shared, not copied).
    energy_scale : float or `~gammapy.modeling.Parameter`
        s, or a Parameter to share between the datasets of one instrument (default 1, fixed
        bounds 0.5-2). A :class:`LogNormalPrior` on it states the instrument's uncertainty.
    """

    tag = ["EnergyScaleSpectralModel", "energy-scale"]

    def __init__(self, model, energy_scale=1.0, factor=None):
        if not isinstance(model, SpectralModel):
            raise TypeError(f"model must be a gammapy SpectralModel, got {type(model).__name__}")
        self.model = model
        if factor is None:
            factor = EnergyScaleFactor()
            if isinstance(energy_scale, Parameter):
                factor.energy_scale = energy_scale
            else:
                factor.energy_scale.value = _positive(energy_scale, "energy_scale", "a factor on the energies")
        self._factor = factor
        super().__init__()

    def __getattribute__(self, name):
        # ``energy_scale`` is the holder's Parameter (gammapy's links may replace it there after reading YAML)
        if name == "energy_scale":
            return object.__getattribute__(self, "_factor").energy_scale
        return super().__getattribute__(name)

    @property
    def _models(self):
        return [self.model, self._factor]

    @property
    def parameters(self):
        return self.model.parameters + Parameters([self._factor.energy_scale])

    def __call__(self, energy):
        values = [p.quantity for p in self.model.parameters]  # positional: names repeat in compound models
        return self.evaluate(energy, *values, self.energy_scale.quantity)

    def evaluate(self, energy, *args):
        """s dN/dE(s E); the last argument is s, the others the wrapped model's parameters.

        The wrapped model is evaluated on a fixed logarithmic grid of energies (:data:`NODES_PER_DECADE`
        per decade, covering the energies times every allowed s) and interpolated log-log at s E: the
        grid does not move with s, so a model that prepares per energy array (the cocoons' production
        kernel, seconds) prepares once per dataset, not at every step of a fit (reproduce: 152 kernels).
        Parameter samples (error bands) are evaluated directly."""
        energy = u.Quantity(energy)
        if np.iscomplexobj(energy.value) or not np.all(np.isfinite(energy.value) & (energy.value > 0)):
            raise ValueError(f"energy must be real, finite and > 0, got {energy!r}")
        scale = np.asarray(u.Quantity(args[-1]).to_value(u.dimensionless_unscaled), dtype=float)
        if scale.ndim > 0 or any(np.ndim(a) > 0 for a in args[:-1]):
            # parameter samples (gammapy's evaluate_error: every parameter, s too, an array): directly;
            # samples may leave the fit's bounds of s, but not s > 0
            if not np.all(np.isfinite(scale) & (scale > 0)):
                raise ValueError("energy_scale samples must be finite and > 0")
            return scale * self.model.evaluate(energy * scale, *args[:-1])
        scale = float(scale)
        low, high = self.energy_scale.min, self.energy_scale.max
        if not (np.isfinite(scale) and low <= scale <= high):
            raise ValueError(f"energy_scale must be within [{low:g}, {high:g}], got {scale!r}")
        if energy.size == 0:
            return scale * self.model.evaluate(energy * scale, *args[:-1])
        nodes = _log_grid(energy.unit, float(np.min(energy.value)) * low, float(np.max(energy.value)) * high)
        try:
            values = u.Quantity(self.model.evaluate(nodes, *args[:-1]))
        except ValueError:
            # the grid reaches beyond the wrapped model's energies (a template's range) where s E does not
            # (energies other than the points': a plot's): the direct evaluation, which refuses s E outside
            return scale * self.model.evaluate(energy * scale, *args[:-1])
        logs = np.log(np.maximum(values.value, np.finfo(float).tiny))
        shifted = np.log(energy.value * scale)
        return scale * np.exp(np.interp(shifted, np.log(nodes.value), logs)) * values.unit

    def to_dict(self, full_output=False):
        return {"spectral": {"type": self.tag[0], "model": self.model.to_dict(full_output)["spectral"],
                             "factor": self._factor.to_dict(full_output)["spectral"]}}

    @classmethod
    def from_dict(cls, data, **kwargs):
        from gammapy.modeling.models import SPECTRAL_MODEL_REGISTRY

        spectral = data.get("spectral", data)
        inner = SPECTRAL_MODEL_REGISTRY.get_cls(spectral["model"]["type"]).from_dict({"spectral": spectral["model"]})
        factor = EnergyScaleFactor.from_dict({"spectral": spectral["factor"]})
        return cls(inner, factor=factor)
