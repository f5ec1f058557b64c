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
import numpy as np
import astropy.units as u
from gammapy.modeling import Parameter, Parameters, PriorParameter
from gammapy.modeling.models import Prior, SpectralModel

__all__ = ["LogNormalPrior", "EnergyScaleSpectralModel", "EnergyScaleFactor"]


def _positive(value, name, what):
    try:
        number = float(u.Quantity(value).value)
    except (TypeError, ValueError):
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
        """s dN/dE(s E); the last argument is s, the others the wrapped model's parameters."""
        scale = float(u.Quantity(args[-1]).value)
        if not (np.isfinite(scale) and self.energy_scale.min <= scale <= self.energy_scale.max):
            raise ValueError(f"energy_scale must be within [{self.energy_scale.min:g}, {self.energy_scale.max:g}], "
                             f"got {scale!r}")
        return scale * self.model.evaluate(u.Quantity(energy) * scale, *args[:-1])

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
