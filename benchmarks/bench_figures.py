"""Benchmark of a paper figure's layout and writing (issue 25). Prints a table of medians.

    python benchmarks/bench_figures.py [--repeat 7] [--figures 6]

Each round makes ``--figures`` figures like ``reproduce``'s Fig. B.2 (two log-log SED panels, eight
curves of 400 energies, measured points with error bars, legends with mathtext, a note under the
axes laid out by :func:`~gammapy_cocoons.analysis.plotting.figure_note`) and writes each as PNG and
PDF with :func:`~gammapy_cocoons.analysis.plotting.save_figure`: once with the figures made at the
PNG's dpi (:func:`~gammapy_cocoons.analysis.plotting.figures_at`, as ``reproduce`` now makes them)
and, as the baseline of the same run, once at matplotlib's default dpi (as before), in alternating
order. CPU time of the process (user + system) for making, laying out and writing; medians over
the rounds.
"""
import argparse
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from _medians import cpu_seconds, print_medians  # noqa: E402
from gammapy_cocoons.analysis.plotting import figure_note, figures_at, save_figure  # noqa: E402

MODES = {"made at the PNG's dpi": figures_at, "baseline: default dpi": nullcontext}


def _figure():
    import matplotlib.pyplot as plt

    energy = np.geomspace(1.0, 3e6, 400)
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.2), squeeze=False)
    for k, ax in enumerate(axes[0]):
        for i, r0 in enumerate((10, 20, 50, 90)):
            cocoons = 1e-6 * energy ** -0.1 * np.exp(-energy / (r0 * 1e3))
            ax.loglog(energy, cocoons, ls="--", color=f"C{i}")
            ax.loglog(energy, cocoons + 1e-5 * energy ** -0.7, color=f"C{i}", label=f"$R_0$ = {r0} TV")
        e_points = np.geomspace(1e4, 1e6, 10)
        ax.errorbar(e_points, 1e-7 * (e_points / 1e4) ** -0.6, yerr=2e-8 * (e_points / 1e4) ** -0.6, fmt="o",
                    color="k", label="LHAASO-KM2A (2023) *")
        ax.set_xlabel("E [GeV]")
        ax.set_ylabel(r"$E^2\,I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]")
        ax.set_title(("inner", "outer")[k] + r" Galaxy, $15^\circ<l<125^\circ$, $|b|<5^\circ$")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    figure_note(fig, "Dashed: cocoons; solid: DGE + cocoons. " * 8 + "\nData: LHAASO-KM2A (2023). " * 3)
    return fig


def _round(mode, figures, directory):
    directory.mkdir(parents=True)
    start, cpu = time.perf_counter(), cpu_seconds()
    for i in range(figures):
        with MODES[mode]():
            save_figure(_figure(), directory / f"fig{i}", layout=False)
    return time.perf_counter() - start, cpu_seconds() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--figures", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _round("baseline: default dpi", 1, Path(tmp) / "warm-up")  # fonts, imports
        runs = {mode: [] for mode in MODES}
        for k in range(args.repeat):
            for mode in (MODES if k % 2 == 0 else reversed(list(MODES))):
                runs[mode].append(_round(mode, args.figures, Path(tmp) / f"{k}-{mode[:4]}"))
    print(f"# bench_figures: {args.figures} figures (PNG + PDF) per round, medians of {args.repeat} rounds")
    print_medians(("figures", "wall", "CPU"), runs, ("{:.2f} s", "{:.2f} s"))


if __name__ == "__main__":
    main()
