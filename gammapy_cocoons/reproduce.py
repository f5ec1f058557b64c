"""Deprecated: moved to :mod:`gammapy_cocoons.analysis.reproduce` (kept for one release)."""
import sys
import warnings

from .analysis import reproduce as _moved

warnings.warn("gammapy_cocoons.reproduce moved to gammapy_cocoons.analysis.reproduce; import it from there",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
