"""Workflows built on the library: fits, the B/C fit, the reproduction of the paper, the cocoon
population runs, and their figures.

They compose the layers below (physics, models, templates, DGE, data); nothing below imports them.
Import the submodule you need (``from gammapy_cocoons.analysis.fitting import build_lhaaso_fit``):
this package imports none of them itself, so ``import gammapy_cocoons`` stays light.
"""
__all__ = ["fitting", "bcfit", "reproduce", "population", "plotting"]
