"""Checks at the public boundary: Quantities in, plain floats out, errors that name the argument."""
import numpy as np
import astropy.units as u

__all__ = ["to_value", "positive_value", "choice"]


def to_value(quantity, unit, name, *, finite=True):
    """Convert ``quantity`` to a float array in ``unit``.

    Raises
    ------
    TypeError
        If ``quantity`` is not an astropy Quantity (a bare number has no unit to trust).
    astropy.units.UnitConversionError
        If it cannot be converted to ``unit``; the message names ``name``.
    ValueError
        If ``finite`` and any element is NaN or infinite.
    """
    if not isinstance(quantity, u.Quantity):
        raise TypeError(
            f"{name} must be an astropy Quantity in units of {u.Unit(unit)}, "
            f"got {type(quantity).__name__} {quantity!r}"
        )
    try:
        value = quantity.to_value(unit)
    except u.UnitConversionError:
        raise u.UnitConversionError(
            f"{name} must be convertible to {u.Unit(unit)}, got unit '{quantity.unit}'"
        ) from None
    value = np.asarray(value, dtype=float)
    if value.size == 0:
        raise ValueError(f"{name} must not be empty")
    if finite and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite, got {quantity!r}")
    return value


def positive_value(quantity, unit, name, *, allow_zero=False):
    """Like :func:`to_value` and also require every element > 0 (or >= 0)."""
    value = to_value(quantity, unit, name)
    bad = value < 0 if allow_zero else value <= 0
    if np.any(bad):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} (in {u.Unit(unit)}), got {quantity!r}")
    return value


def positive_float(value, name, *, allow_zero=False, upper=None):
    """A plain positive number (no unit), e.g. an efficiency or a spectral index."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(value) or (value < 0 if allow_zero else value <= 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value!r}")
    return value


def choice(value, allowed, name):
    """Return ``value`` if it is one of ``allowed``, else a ValueError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value
