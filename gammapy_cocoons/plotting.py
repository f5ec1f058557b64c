"""Deprecated: moved to :mod:`gammapy_cocoons.analysis.plotting` (kept for one release)."""
import sys
import warnings

from .analysis import plotting as _moved

warnings.warn("gammapy_cocoons.plotting moved to gammapy_cocoons.analysis.plotting; import it from there",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
