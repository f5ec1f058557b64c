"""Cocoon grammage laws chi_c(R) of rigidity: Eq. 6 and Eq. B.1 of Ambrosone et al. (2025).

Every law is a callable ``law(rigidity_gv) -> grammage in g cm-2`` on float arrays, with a
``chi0`` attribute; the emission is exactly linear in ``chi0``. Internal units: GV and g cm-2.
"""
import numpy as np
import astropy.units as u

from .._validation import positive_float

__all__ = [
    "GrammageLaw",
    "ExponentialGrammage",
    "EscapeGrammage",
    "ConstantGrammage",
    "CallableGrammage",
    "DIFFUSION_INDICES",
    "get_grammage_law",
    "grammage_shape",
]

#: named turbulence spectra for the escape law (Appendix B): delta of D ~ R^delta
DIFFUSION_INDICES = {"kolmogorov": 1.0 / 3.0, "kraichnan": 0.5, "bohm": 1.0}


class GrammageLaw:
    """Base class: ``chi0`` [g cm-2] times a dimensionless shape of rigidity."""

    #: parameter names of the shape, besides chi0
    shape_parameters = ()

    def __init__(self, chi0=0.4):
        self.chi0 = positive_float(chi0, "chi0 (cocoon grammage, g cm-2)")

    def shape(self, rigidity):
        raise NotImplementedError

    def __call__(self, rigidity):
        return self.chi0 * self.shape(np.asarray(rigidity, dtype=float))

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("chi0",) + self.shape_parameters)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


class ExponentialGrammage(GrammageLaw):
    """chi0 exp(-R / R0) (Eq. 6). ``r0`` in GV; the paper's fiducial R0 = 20 TV."""

    shape_parameters = ("r0",)

    def __init__(self, chi0=0.4, r0=2e4):
        super().__init__(chi0)
        self.r0 = positive_float(r0, "r0 (cut-off rigidity, GV)")

    @staticmethod
    def shape_of(rigidity, r0):
        return np.exp(-rigidity / r0)

    def shape(self, rigidity):
        return self.shape_of(rigidity, self.r0)


class EscapeGrammage(GrammageLaw):
    """chi0 / (1 + (R / R0)^delta) (Eq. B.1).

    ``delta`` is a number or a name in :data:`DIFFUSION_INDICES` (kolmogorov 1/3, kraichnan 1/2,
    bohm 1). ``r0`` in GV.
    """

    shape_parameters = ("r0", "delta")

    def __init__(self, chi0=0.4, r0=2e4, delta="kraichnan"):
        super().__init__(chi0)
        self.r0 = positive_float(r0, "r0 (cut-off rigidity, GV)")
        if isinstance(delta, str):
            if delta not in DIFFUSION_INDICES:
                raise ValueError(f"delta must be a number or one of {sorted(DIFFUSION_INDICES)}, got {delta!r}")
            delta = DIFFUSION_INDICES[delta]
        self.delta = positive_float(delta, "delta (escape-law slope)", upper=3.0)

    @staticmethod
    def shape_of(rigidity, r0, delta):
        return 1.0 / (1.0 + (rigidity / r0) ** delta)

    def shape(self, rigidity):
        return self.shape_of(rigidity, self.r0, self.delta)


class ConstantGrammage(GrammageLaw):
    """chi0 at every rigidity (the R0 -> infinity limit of both laws)."""

    def shape(self, rigidity):
        return np.ones_like(rigidity)


class CallableGrammage(GrammageLaw):
    """Any user function of rigidity.

    ``function`` takes rigidity as a Quantity (GV) and returns a grammage Quantity; it is
    evaluated once per rigidity grid and must be finite and non-negative. ``chi0`` scales it
    (default 1, i.e. the function as given).
    """

    shape_parameters = ("function",)

    def __init__(self, function, chi0=1.0):
        if not callable(function):
            raise TypeError(f"grammage must be callable, got {type(function).__name__}")
        super().__init__(chi0)
        self.function = function

    def shape(self, rigidity):
        value = self.function(rigidity * u.GV)
        try:
            value = u.Quantity(value).to_value(u.g / u.cm**2)
        except u.UnitConversionError:
            raise u.UnitConversionError(
                f"grammage function must return g cm-2, got unit '{u.Quantity(value).unit}'"
            ) from None
        value = np.broadcast_to(np.asarray(value, dtype=float), rigidity.shape)
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise ValueError("grammage function returned negative or non-finite values")
        return value


_LAWS = {"exponential": ExponentialGrammage, "escape": EscapeGrammage, "constant": ConstantGrammage}


def get_grammage_law(grammage="exponential", chi0=0.4, r0=2e4, delta=None):
    """Build a grammage law from a name, a law instance or a callable.

    Names: "exponential" (Eq. 6), "escape" (Eq. B.1, needs ``delta``), "constant", or the
    escape-law presets "kolmogorov", "kraichnan", "bohm". A law instance is returned as is.
    """
    if isinstance(grammage, GrammageLaw):
        return grammage
    if isinstance(grammage, str):
        if grammage in DIFFUSION_INDICES:
            return EscapeGrammage(chi0, r0, grammage if delta is None else delta)
        if grammage == "escape":
            if delta is None:
                raise ValueError("grammage='escape' needs delta (a number or kolmogorov/kraichnan/bohm)")
            return EscapeGrammage(chi0, r0, delta)
        if grammage == "exponential":
            return ExponentialGrammage(chi0, r0)
        if grammage == "constant":
            return ConstantGrammage(chi0)
        raise ValueError(
            f"grammage must be one of {sorted(set(_LAWS) | set(DIFFUSION_INDICES))}, a GrammageLaw "
            f"or a callable, got {grammage!r}"
        )
    if callable(grammage):
        return CallableGrammage(grammage)
    raise TypeError(f"grammage must be a name, a GrammageLaw or a callable, got {type(grammage).__name__}")


def grammage_shape(law, r0_gv, delta=None):
    """The dimensionless shape chi_c(R) / chi0 of a named law as a function of rigidity [GV].

    Unlike the law objects this takes no chi0, so models can scale it by a chi0 that may be 0 or
    an array of parameter samples. ``law``: "exponential", "constant", "escape" or a preset name.
    """
    if law == "exponential":
        return lambda rigidity: ExponentialGrammage.shape_of(rigidity, r0_gv)
    if law == "constant":
        return lambda rigidity: np.ones_like(rigidity)
    if law == "escape" or law in DIFFUSION_INDICES:
        if delta is None:
            delta = DIFFUSION_INDICES.get(law)
        if delta is None:
            raise ValueError("grammage='escape' needs delta")
        return lambda rigidity: EscapeGrammage.shape_of(rigidity, r0_gv, delta)
    raise ValueError(f"grammage must be one of exponential, constant, escape, {sorted(DIFFUSION_INDICES)}; got {law!r}")
