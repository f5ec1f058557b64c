"""Deprecated: moved to :mod:`gammapy_cocoons.analysis.bcfit` (kept for one release)."""
import sys
import warnings

from .analysis import bcfit as _moved

warnings.warn("gammapy_cocoons.bcfit moved to gammapy_cocoons.analysis.bcfit; import it from there",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
