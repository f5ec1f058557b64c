"""Deprecated: moved to :mod:`gammapy_cocoons.analysis.fitting` (kept for one release)."""
import sys
import warnings

from .analysis import fitting as _moved

warnings.warn("gammapy_cocoons.fitting moved to gammapy_cocoons.analysis.fitting; import it from there",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
