"""CocoonSpectralModel: the all-sky cocoon flux of Eq. 8 as a gammapy SpectralModel."""
from collections import OrderedDict
import warnings

from functools import lru_cache

import numpy as np
import astropy.units as u
from gammapy.modeling import Parameter
from gammapy.modeling.models import SpectralModel

from .._validation import choice
from ..constants import KPC_CM
from ..emission import ENERGY_RANGE, _target_argument
from .. import _ranges
from ..physics.cosmicrays import HELIUM, PROTON, Injection
from ..physics.crosssections import CROSS_SECTION_MODELS, SECONDARIES
from ..physics.galaxy import SOURCE_DISTRIBUTIONS, get_source_distribution
from ..physics.grammage import DIFFUSION_INDICES, grammage_shape
from ..physics.production import KERNEL_CACHE_BYTES, ProductionKernel
from ..physics.targetgas import TargetGas, resolve_target
from ._keywords import check_parameter_keywords
from .spatial import _all_sky

__all__ = ["CocoonSpectralModel", "GRAMMAGE_LAWS"]

#: grammage laws of the model: Eq. 6, Eq. B.1 (free delta or a turbulence preset), constant
GRAMMAGE_LAWS = _ranges.GRAMMAGE_LAWS
if set(GRAMMAGE_LAWS) != {"exponential", "escape", "constant", *DIFFUSION_INDICES}:
    raise ImportError("gammapy_cocoons._ranges.GRAMMAGE_LAWS must list the presets of DIFFUSION_INDICES")

_KERNELS = OrderedDict()
#: the last source terms Q_sec (chi0 = 1) per kernel and parameters: (kernel, q) by key, most recent last
_SOURCE_TERMS = OrderedDict()
_SOURCE_TERMS_SIZE = 16
_ENERGY_RANGE_GEV = tuple(e.to_value(u.GeV) for e in ENERGY_RANGE)
_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
_GRAMMAGE = u.Unit("g cm-2")


#: units of the parameter values inside evaluate
_EVALUATE_UNITS = {"chi0": "g cm-2", "r0": "GV"}


@lru_cache(maxsize=64)
def _unit_scale(from_unit, to_unit):
    """Factor from one unit to another (strings or Unit objects), computed once per pair."""
    return float(u.Unit(from_unit).to(u.Unit(to_unit)))


#: the Parameters of the model, in evaluate's order
_PARAMETER_NAMES = ("chi0", "r0", "delta", "eps_h", "index_h", "eps_he", "index_he")


def _kernel(options, energy_gev):
    """ProductionKernel for the model options and flat energies [GeV]; shared by all models."""
    key = options + (energy_gev.tobytes(),)
    if key not in _KERNELS:
        secondary, cross_sections, helium_fraction, per_decade = options
        # eps and index are overridden at evaluation; only the species and p_max shape the kernel
        injections = (Injection(PROTON, 0.05, 4.26), Injection(HELIUM, 0.012, 4.16))
        _KERNELS[key] = ProductionKernel(
            injections, secondary, energy_gev, cross_sections=cross_sections,
            helium_fraction=helium_fraction, per_decade=per_decade,
        )
        # bounded by memory like the matrices themselves (a kernel holds one matrix per channel)
        while len(_KERNELS) > 1 and sum(sum(c[3].nbytes for c in k.channels) for k in _KERNELS.values()) \
                > KERNEL_CACHE_BYTES:
            _, dropped = _KERNELS.popitem(last=False)
            # its kept source terms hold it too: dropped with it, or the memory bound would not hold
            for stale in [k for k, (kernel, _) in _SOURCE_TERMS.items() if kernel is dropped]:
                del _SOURCE_TERMS[stale]
    _KERNELS.move_to_end(key)
    return _KERNELS[key]


def _source_term(kernel, grammage, values):
    """Q_sec (chi0 = 1) of ``kernel`` for the grammage law and the scalar parameter ``values``, kept for
    the last :data:`_SOURCE_TERMS_SIZE` (kernel, parameters): a fit's steps in chi0, a DGE norm or an
    energy scale leave it unchanged (it is the same array, read-only). None if not kept."""
    key = (id(kernel), grammage) + tuple(values[name] for name in ("r0", "delta", "eps_h", "index_h", "eps_he",
                                                                    "index_he"))
    entry = _SOURCE_TERMS.get(key)
    if entry is not None and entry[0] is kernel:
        _SOURCE_TERMS.move_to_end(key)
        return entry[1]
    return None


def _keep_source_term(kernel, grammage, values, q):
    key = (id(kernel), grammage) + tuple(values[name] for name in ("r0", "delta", "eps_h", "index_h", "eps_he",
                                                                    "index_he"))
    q.flags.writeable = False
    _SOURCE_TERMS[key] = (kernel, q)  # the kernel itself: its id stays its own while kept
    while len(_SOURCE_TERMS) > _SOURCE_TERMS_SIZE:
        _SOURCE_TERMS.popitem(last=False)


def _all_sky_geometry(source_distribution):
    """int dOmega int ds rho / (4 pi) over the whole sky [s-1 cm-2] (cached)."""
    return _all_sky(source_distribution) / KPC_CM**2 / (4.0 * np.pi)


class CocoonSpectralModel(SpectralModel):
    """All-sky flux of cocoon gamma rays or neutrinos (Ambrosone et al. 2025, Eqs. 3-8).

    dN/dE = Q_sec(E) / (4 pi) int dOmega int ds rho, in cm-2 s-1 TeV-1, so that this model
    times :class:`~gammapy_cocoons.CocoonSpatialModel` (normalised to 1 over the sky) is the
    intensity. Q_sec is Eq. 7 with the cocoon grammage chi_c(R) and the H and He injection of
    Eqs. 3-4 (p_max = Z PeV).

    Parameters
    ----------
    secondary : str
        "gamma" (default), "nu_all", "nu_per_flavour" (one flavour at Earth) or one neutrino
        species at the source ("nu_e", "anu_e", "nu_mu", "anu_mu").
    grammage : str
        "exponential" (Eq. 6, default), "escape" (Eq. B.1 with the ``delta`` parameter),
        "constant", or an escape-law preset "kolmogorov", "kraichnan", "bohm" (sets the initial
        ``delta``).
    cross_sections : str
        "aafrag" (default), "kafexhiu2014" (gamma only), "kamae2006".
    source_distribution : str
        Source profile whose all-sky integral normalises the flux: "green2015" (default),
        "case1998", "lorimer2006", "yusifov2004".
    target : str or float
        The cocoon gas, as in :class:`~gammapy_cocoons.CocoonEmission`: "ism" (default, He/H = 0.1 by
        number, p-H, p-He, He-H and He-He channels), "hydrogen" (the paper's Eq. 7: pure hydrogen on
        chi0 / m_p) or a He/H number in [0, 1]. ``chi0`` is its mass grammage, the same quantity as
        the B/C model's. A YAML model without ``target`` (written before it existed) is read with its
        old meaning: its ``helium_fraction`` (0 when absent: pure hydrogen on chi0 / m_p); a
        warning says so.
    helium_fraction : float, optional
        Deprecated alias of ``target`` given as a number.
    per_decade : int
        Primary-energy grid density of Eq. 7 (default 64).
    **kwargs
        Initial values of the gammapy Parameters: a Quantity for those with a unit (gammapy refuses
        a bare number for them), a number for the dimensionless ones:

        - ``chi0``: cocoon grammage normalisation [g cm-2] (mass grammage of the cocoon gas),
          default 0.4, bounds [0, 20];
        - ``r0``: cut-off rigidity R0 [TV], default 20, bounds [1e-3, 1e5];
        - ``delta``: slope of the escape law (Eq. B.1), frozen; ignored by the exponential law;
        - ``eps_h``, ``index_h``, ``eps_he``, ``index_he``: injection efficiency and momentum
          slope of H and He (Eqs. 3-4), frozen, defaults 0.05 / 4.26 and 0.012 / 4.16.

        The options above are not Parameters; they are serialised with the model.
    """

    tag = ["CocoonSpectralModel", "cocoon"]

    chi0 = Parameter("chi0", 0.4, unit="g cm-2", min=_ranges.CHI0_RANGE_G_CM2[0], max=_ranges.CHI0_RANGE_G_CM2[1])
    r0 = Parameter("r0", 20.0, unit="TV", min=_ranges.R0_RANGE_TV[0], max=_ranges.R0_RANGE_TV[1])
    delta = Parameter("delta", 0.5, min=0.05, max=3.0, frozen=True)
    eps_h = Parameter("eps_h", 0.05, min=0.0, max=1.0, frozen=True)
    index_h = Parameter("index_h", 4.26, min=3.01, max=5.99, frozen=True)
    eps_he = Parameter("eps_he", 0.012, min=0.0, max=1.0, frozen=True)
    index_he = Parameter("index_he", 4.16, min=3.01, max=5.99, frozen=True)

    def __init__(
        self,
        secondary="gamma",
        grammage="exponential",
        cross_sections="aafrag",
        source_distribution="green2015",
        target="ism",
        per_decade=64,
        helium_fraction=None,
        **kwargs,
    ):
        self.secondary = choice(secondary, SECONDARIES, "secondary")
        self.grammage = choice(grammage, GRAMMAGE_LAWS, "grammage")
        self.cross_sections = choice(cross_sections, CROSS_SECTION_MODELS, "cross_sections")
        if not isinstance(source_distribution, str):
            raise TypeError(
                "source_distribution must be a name (serialisable): one of "
                f"{sorted(SOURCE_DISTRIBUTIONS)}"
            )
        self.source_distribution = get_source_distribution(source_distribution).name
        self.target = _target_argument(target, helium_fraction, self.cross_sections)
        if not isinstance(per_decade, (int, np.integer)) or per_decade < 8:
            raise ValueError(f"per_decade must be an integer >= 8, got {per_decade!r}")
        self.per_decade = int(per_decade)
        if grammage in DIFFUSION_INDICES and "delta" not in kwargs:
            kwargs["delta"] = DIFFUSION_INDICES[grammage]
        check_parameter_keywords(self, kwargs)
        super().__init__(**kwargs)
        self._geometry = _all_sky_geometry(get_source_distribution(self.source_distribution))

    @property
    def options(self):
        """The non-parameter settings, as stored in YAML."""
        return {
            "secondary": self.secondary,
            "grammage": self.grammage,
            "cross_sections": self.cross_sections,
            "source_distribution": self.source_distribution,
            "target": self.target,
            "per_decade": self.per_decade,
        }

    @property
    def cocoon_gas(self):
        """The cocoon gas (:class:`~gammapy_cocoons.physics.targetgas.TargetGas`) whose mass grammage chi0 is."""
        return TargetGas.from_target(self.target)

    @property
    def helium_fraction(self):
        """He/H by number of the cocoon gas (0 for ``target="hydrogen"``)."""
        return self.cocoon_gas.helium_fraction

    def _kernel_options(self):
        return (self.secondary, self.cross_sections, self.helium_fraction, self.per_decade)

    def _grammage_shape(self, r0_gv, delta):
        return grammage_shape(self.grammage, r0_gv, delta)

    @staticmethod
    def _value(quantity, unit=u.dimensionless_unscaled):
        """A float or, for parameter samples, a flat array (constant samples collapse)."""
        if isinstance(quantity, u.Quantity) and np.ndim(quantity) == 0:
            # the common case (a fit, a plot): no Quantity arithmetic, the unit factor cached
            return float(quantity.value) * _unit_scale(quantity.unit, unit)
        value = np.asarray(u.Quantity(quantity).to_value(unit), dtype=float)
        if value.size == 1 or np.all(value == value.flat[0]):
            return float(value.flat[0])
        return value.ravel()

    def __call__(self, energy):
        """dN/dE [cm-2 s-1 TeV-1] at ``energy`` for the current parameter values: gammapy's
        ``SpectralModel.__call__`` (evaluate at the parameters' values) without its Quantity round
        trip and its conversion of energy-like parameters (this model has none)."""
        e = self._energy_gev(energy)
        values = {p.name: float(p.value) * _unit_scale(p.unit, _EVALUATE_UNITS.get(p.name, "")) for p in self.parameters}
        return self._evaluate(e, values, ())

    def evaluate(self, energy, chi0, r0, delta, eps_h, index_h, eps_he, index_he):
        """dN/dE [cm-2 s-1 TeV-1]; broadcasts over a trailing parameter-sample axis."""
        e = self._energy_gev(energy)
        values = {
            "chi0": self._value(chi0, _GRAMMAGE), "r0": self._value(r0, u.GV), "delta": self._value(delta),
            "eps_h": self._value(eps_h), "index_h": self._value(index_h),
            "eps_he": self._value(eps_he), "index_he": self._value(index_he),
        }
        parameters = (chi0, r0, delta, eps_h, index_h, eps_he, index_he)
        sample_shape = np.broadcast_shapes(*(np.shape(p) for p in parameters)) if any(
            np.ndim(p) for p in parameters) else ()
        return self._evaluate(e, values, sample_shape)

    def _energy_gev(self, energy):
        energy = energy if isinstance(energy, u.Quantity) else u.Quantity(energy)
        e = energy.to_value(u.GeV)
        if np.iscomplexobj(e):
            raise TypeError(f"energy must be real, got {energy!r}")
        lo, hi = _ENERGY_RANGE_GEV
        if np.size(e) and not (np.min(e) >= lo and np.max(e) <= hi):  # NaN fails too
            raise ValueError(
                f"energy must be within {ENERGY_RANGE[0]} - {ENERGY_RANGE[1]} for {type(self).__name__}"
            )
        return e

    def _evaluate(self, e, values, sample_shape):
        """dN/dE at energies ``e`` [GeV] for parameter ``values`` (floats in g cm-2, GV and
        dimensionless, or flat sample arrays of ``sample_shape``)."""
        bounds = self._bounds()
        self._clip_samples(values, bounds)
        self._check_ranges(values, bounds)
        samples = [np.size(v) for v in values.values() if np.ndim(v) > 0]
        if samples and (len(set(samples)) > 1 or len(sample_shape) != 1 or not self._separable(e.shape, sample_shape)):
            raise ValueError(
                "parameter samples must share one trailing axis that the energy array leaves free "
                f"(energy shape {e.shape}, parameter shape {sample_shape})"
            )
        if samples:
            energy_flat = np.ascontiguousarray(e[..., 0]).ravel()
            out_shape = e.shape[:-1] + sample_shape
        else:
            energy_flat = np.ascontiguousarray(e).ravel()
            out_shape = np.broadcast_shapes(e.shape, sample_shape)

        kernel = _kernel(self._kernel_options(), energy_flat)
        # keyed on the class too: a subclass may define its own grammage shape
        law = (type(self), self.grammage)
        q = _source_term(kernel, law, values) if not samples else None
        if q is None:
            q = self._source_term(kernel, values)
            if not samples:
                _keep_source_term(kernel, law, values, q)
        q = np.reshape(q, (energy_flat.size, -1)) if samples else q.reshape(energy_flat.size)
        # dN/dE in GeV-1 -> TeV-1; chi0 enters linearly
        flux = q * values["chi0"] * self._geometry * 1e3
        return np.broadcast_to(flux.reshape(out_shape), out_shape) * _FLUX_UNIT

    def _source_term(self, kernel, values):
        """Q_sec of Eq. 7 at chi0 = 1 on the kernel's energies (a trailing sample axis if sampled)."""
        r0_gv, delta_v = values["r0"], values["delta"]
        if np.ndim(r0_gv) or np.ndim(delta_v):
            shape = self._grammage_shape(np.atleast_1d(r0_gv), np.atleast_1d(delta_v))
            grammage = lambda rigidity: shape(rigidity[:, None])  # noqa: E731
        else:
            grammage = self._grammage_shape(r0_gv, delta_v)
        return kernel.evaluate(
            grammage,
            efficiencies=(values["eps_h"], values["eps_he"]),
            indices=(values["index_h"], values["index_he"]),
        )

    def _bounds(self):
        """name -> (min, max, Parameter) in the units evaluate works in (g cm-2, GV, dimensionless),
        as plain floats. This runs in every evaluation: kept while no parameter object, bound, unit
        or prior changed (:meth:`_bounds_key`)."""
        key = self._bounds_key()
        cached = self.__dict__.get("_bounds_cache")
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        bounds = {}
        for parameter in self.parameters:
            scale = _unit_scale(parameter.unit, _EVALUATE_UNITS.get(parameter.name, ""))
            bounds[parameter.name] = (parameter.min * scale, parameter.max * scale, parameter)
        self.__dict__["_bounds_cache"] = (key, bounds)
        return bounds

    def _bounds_key(self):
        """What the bounds depend on, read without gammapy's attribute machinery (gammapy keeps each
        Parameter in the instance dict under its name); None if that layout is not there."""
        try:
            parameters = [self.__dict__[name] for name in _PARAMETER_NAMES]
            return tuple((id(p), p._min, p._max, p._unit, p.prior) for p in parameters)
        except (KeyError, AttributeError):
            return None

    def _clip_samples(self, values, bounds):
        """Clip parameter samples to the parameters' bounds, in place.

        gammapy's error propagation (``evaluate_error``, error bands of plots) draws samples from
        the covariance without the bounds, so an uncertain R0 gives negative samples for which
        exp(-R / R0) overflows; inside the bounds every sample is a physical model.
        """
        for name, value in values.items():
            if np.ndim(value) == 0:
                continue
            low, high, _ = bounds[name]
            values[name] = np.clip(value, low if np.isfinite(low) else -np.inf, high if np.isfinite(high) else np.inf)

    def _check_ranges(self, values, bounds):
        """Refuse parameter values outside the parameters' bounds (gammapy enforces the bounds only
        inside its optimiser; a model evaluated with chi0 = -1 would return negative fluxes)."""
        for name, value in values.items():
            low, high, parameter = bounds[name]
            if np.ndim(value) == 0:
                if low <= value <= high:  # False for NaN
                    continue
                bad = value
            else:
                outside = ~((value >= low) & (value <= high))
                if not np.any(outside):
                    continue
                bad = value.flat[np.argmax(outside)]
            shown = bad * _unit_scale(_EVALUATE_UNITS.get(name, ""), parameter.unit)
            raise ValueError(f"{name} must be within [{parameter.min:g}, {parameter.max:g}] {parameter.unit}, "
                             f"got {shown:g}")

    @staticmethod
    def _separable(energy_shape, sample_shape):
        return len(energy_shape) >= 1 and energy_shape[-1] == 1

    def evaluate_integral(self, energy_min, energy_max, **kwargs):
        """int dN/dE dE over [energy_min, energy_max] [cm-2 s-1], Gauss-Legendre in ln E."""
        emin = u.Quantity(energy_min)
        emax = u.Quantity(energy_max).to(emin.unit)
        if np.iscomplexobj(emin) or np.iscomplexobj(emax):
            raise TypeError(f"energy_min and energy_max must be real, got {energy_min!r}, {energy_max!r}")
        if emin.size == 0 or not (np.all(np.isfinite(emin.value)) and np.all(np.isfinite(emax.value))) \
                or np.any(emin.value <= 0) or np.any(emax.value < emin.value):
            raise ValueError(f"energy_min and energy_max must be finite with 0 < energy_min <= energy_max, "
                             f"got {energy_min!r}, {energy_max!r}")
        n_pieces = int(np.clip(np.ceil(np.max(np.log10(emax / emin)) / 0.25), 1, 64))
        x, w = np.polynomial.legendre.leggauss(6)
        edges = np.linspace(0.0, 1.0, n_pieces + 1)
        nodes = (edges[:-1, None] + 0.5 * (x + 1.0) / n_pieces).ravel()
        weights = np.tile(0.5 * w / n_pieces, n_pieces)
        log_min = np.log(emin.value)[..., None]
        log_width = np.log(emax.value / emin.value)[..., None]
        energy = np.exp(log_min + log_width * nodes) * emin.unit
        dnde = self.evaluate(energy.ravel(), **kwargs).reshape(energy.shape)
        return np.sum(dnde * energy * weights, axis=-1) * log_width[..., 0]

    def to_dict(self, full_output=False):
        data = super().to_dict(full_output)
        data["spectral"].update(self.options)
        # for readers older than ``target``: their helium_fraction meant this same gas (ignored on reading)
        data["spectral"]["helium_fraction"] = self.helium_fraction
        return data

    @classmethod
    def from_dict(cls, data, **kwargs):
        spectral = data.get("spectral", data)
        options = {key: spectral[key] for key in (
            "secondary", "grammage", "cross_sections", "source_distribution", "target", "per_decade"
        ) if key in spectral}
        if "target" not in options and "target" not in kwargs:
            # written before the target existed: its helium_fraction (default 0) meant this very gas
            options["target"] = resolve_target(spectral.get("helium_fraction", 0.0), "helium_fraction")
            warnings.warn(f"{cls.__name__} without 'target' (written before issue 23): read with its old meaning, "
                          f"target={options['target']!r} (helium_fraction {spectral.get('helium_fraction', 0.0)!r}; "
                          "0 is pure hydrogen on chi0 / m_p, the paper's Eq. 7)", UserWarning, stacklevel=2)
        return super().from_dict(data, **options, **kwargs)
