"""Write docs/images/population.png: the discrete cocoons against the smooth model and 1LHAASO.

Run from the repository root: ``python docs/scripts/population.py`` (about 15 s).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from gammapy_cocoons.plotting import plot_population  # noqa: E402
from gammapy_cocoons.population import population_results  # noqa: E402

out = Path(__file__).resolve().parents[1] / "images" / "population.png"
table, comparison, summary = population_results(realisations=1000, seed=1)
plot_population(table, comparison, summary).savefig(out, dpi=60)
print("wrote", out)
