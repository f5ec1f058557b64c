"""Checks at the public boundary: Quantities in, plain floats out, errors that name the argument."""
import math

import numpy as np
import astropy.units as u

__all__ = ["to_value", "positive_value", "positive_float", "choice", "boolean", "integer", "check_parameter_bounds"]


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
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be real, got the complex {quantity!r}")
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


def nonnegative_number(value, unit, name, what=""):
    """A finite number >= 0 given as a plain number in ``unit`` or a Quantity convertible to it
    (a gas or dust conversion factor); ValueError naming ``name``, the unit and ``what`` else."""
    label = f"{name} must be a number [{u.Unit(unit)}]"
    try:
        number = u.Quantity(value, unit).value if isinstance(value, u.Quantity) else float(value)
    except (TypeError, ValueError, u.UnitConversionError):
        raise ValueError(f"{label}, a Quantity of that unit{what}, got {value!r}") from None
    if not (np.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be finite and >= 0 [{u.Unit(unit)}], got {value!r}")
    return float(number)


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


def boolean(value, name):
    """``value`` if it is True or False (numpy booleans too), else a TypeError naming ``name``.

    A string is refused: ``bool("no")`` is True, so ``absorption="no"`` would silently absorb.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def integer(value, name, *, minimum=None, maximum=None):
    """``value`` as an int if it is an integer (not a bool, not a float) within [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f">= {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be {' and '.join(x for x in (low, high) if x)}, got {value!r}")
    return int(value)


def healpix_nside(value, name="nside", minimum=8):
    """``value`` as an int, or a ValueError naming ``name``: a HEALPix nside, a power of 2 >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or value & (value - 1):
        raise ValueError(f"{name} must be a power of 2 >= {minimum}, got {value!r}")
    return int(value)


def check_parameter_bounds(parameters, owner=""):
    """Refuse a gammapy Parameter outside its [min, max] (or NaN), naming it and its range.

    gammapy enforces the bounds only inside its optimiser: a model evaluated with a parameter
    set outside them must refuse, as its evaluate would compute unphysical numbers. NaN bounds
    are open.
    """
    for parameter in parameters:
        value, low, high = float(parameter.value), float(parameter.min), float(parameter.max)
        # math on Python floats: the B/C model checks its 15 parameters in every fit evaluation
        inside = math.isfinite(value) and not (math.isfinite(low) and value < low) and not (
            math.isfinite(high) and value > high)
        if not inside:
            unit = f" {parameter.unit}" if str(parameter.unit) else ""
            where = f"{owner} " if owner else ""
            raise ValueError(f"{where}{parameter.name} must be within [{low:g}, {high:g}]{unit}, got {value:g}")
