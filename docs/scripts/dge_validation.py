"""Write docs/images/dge_validation.png: the embedded DGE against the Fermi-LAT pi0 template.

Run from the repository root: ``python docs/scripts/dge_validation.py`` (about 15 s).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from gammapy_cocoons.dge import conventional_dge  # noqa: E402
from gammapy_cocoons.plotting import plot_dge_validation  # noqa: E402

out = Path(__file__).resolve().parents[1] / "images" / "dge_validation.png"
fig = plot_dge_validation(conventional_dge("min"))
fig.savefig(out, dpi=72)
print("wrote", out)
