"""One check of the keyword arguments every cocoon model takes for its gammapy Parameters.

gammapy's ``ModelBase`` raises a NameError for an unknown keyword, turns a complex value into
its real part, parses strings ("0.3") and takes True as 1; here every model refuses them with a
TypeError or ValueError naming the argument.
"""
import numpy as np
import astropy.units as u
from gammapy.modeling import Parameter

from .._validation import to_value

__all__ = ["check_parameter_keywords"]

#: keywords gammapy's base classes take besides the Parameters
_BASE_KEYWORDS = ("covariance_data", "frame")


def check_parameter_keywords(model, kwargs):
    """Refuse unknown keywords and values that are not one real number in the parameter's unit."""
    parameters = model.default_parameters
    for key, value in kwargs.items():
        if key in _BASE_KEYWORDS:
            continue
        if key not in parameters.names:
            raise TypeError(f"{type(model).__name__} got an unexpected keyword argument {key!r}; its parameters "
                            f"are {', '.join(parameters.names)}")
        if isinstance(value, Parameter):
            continue
        unit = parameters[key].unit
        if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0:
            raise TypeError(f"{key} must be one number{' (a Quantity in ' + str(unit) + ')' if str(unit) else ''}, "
                            f"got {value!r}")
        if str(unit):
            to_value(value, unit, key)
        else:
            to_value(u.Quantity(value), u.dimensionless_unscaled, key)
