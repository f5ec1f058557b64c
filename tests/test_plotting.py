"""Issue 24 item 16: figures a reader trusts. Each figure function renders without overlapping
text (matplotlib's renderer boxes), cites every dataset with its caveat, and states its parameters
with units; energies in GeV everywhere."""
import numpy as np
import pytest
import astropy.units as u
from astropy.table import QTable

from gammapy_cocoons.analysis.plotting import (
    dataset_note, figure_note, plot_neutrino_bands, plot_sed_panel, plot_spectrum, text_overlaps,
)
from gammapy_cocoons.datasets import load_band, load_flux_points


@pytest.fixture(autouse=True)
def agg():
    import matplotlib

    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_overlap_check_sees_overlaps():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="a curve")
    ax.legend(loc="lower left")
    ax.text(0.02, 0.02, "a note under the legend", transform=ax.transAxes)
    assert text_overlaps(fig)
    fig, ax = plt.subplots()
    ax.set_xlim(1, 2)  # ticks beyond the view limits are not drawn and do not count
    ax.set_title("t")
    assert text_overlaps(fig) == []


def test_spectrum_plot_states_chi0_r0_and_the_dge():
    energy = np.geomspace(10, 1e6, 5) * u.GeV
    e2i = u.Unit("GeV cm-2 s-1 sr-1")
    table = QTable({"e_ref": energy, "cocoons": np.geomspace(1e-6, 1e-9, 5) * e2i,
                    "dge": np.geomspace(1e-5, 1e-9, 5) * e2i, "total": np.geomspace(1.1e-5, 2e-9, 5) * e2i},
                   meta={"region": "lhaaso-inner", "solid_angle_sr": 0.33, "secondary": "gamma",
                         "grammage": "exponential", "chi0_g_cm2": 0.4, "r0_TV": 20.0, "dge": "min: embedded DGE"})
    fig = plot_spectrum(table)
    text = " ".join(t.get_text() for t in fig.texts)
    assert "chi0 = 0.4 g cm-2" in text and "R0 = 20 TV" in text and "DGE: min: embedded DGE" in text
    assert fig.axes[0].get_xlabel() == "E [GeV]" and text_overlaps(fig) == []


def test_sed_panels_cite_every_dataset_and_its_caveat():
    """Fig. 2, B.2, B.3 style panels with the bundled points: the note names each reference, and the
    Fermi-LAT LHAASO-region points (legend marked *) carry their factor-2 caveat."""
    from gammapy_cocoons.analysis.plotting import new_figure

    points = {"inner": [load_flux_points("lhaaso-km2a-2023-inner"), load_flux_points("fermi-lat-lhaaso-inner")],
              "outer": [load_flux_points("lhaaso-km2a-2023-outer")]}
    energy = np.geomspace(1, 3e6, 30) * u.GeV
    curve = 1e-6 * (energy.value / 10) ** -0.7
    fig, axes = new_figure(1, 2)
    for ax, region in zip(axes[0], points):
        plot_sed_panel(ax, energy, 0.1 * curve, (curve, 1.3 * curve), points[region], title=region,
                       lines=[(0.5 * curve, dict(color="k", ls="--", label="free fit (dashed)"))])
    note = dataset_note([p for ps in points.values() for p in ps])
    figure_note(fig, "Cocoons: chi0 = 0.4 g cm-2, R0 = 20 TV\n" + note)
    assert "Cao et al. (LHAASO) 2023" in note and "2x the Ackermann" in note
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Fermi-LAT (LHAASO inner region) *" in labels
    assert text_overlaps(fig) == []


def test_neutrino_figure_cites_icecube():
    bands = {r"IceCube 2023, $\pi^0$": load_band("icecube-2023-pi0"),
             r"IceCube 2023, KRA$_\gamma^5$": load_band("icecube-2023-kra5")}
    energy = np.geomspace(100, 1e6, 20) * u.GeV
    cocoons = 1e-7 * (energy.value / 100) ** -0.5
    fig = plot_neutrino_bands(energy, cocoons, (2 * cocoons, 3 * cocoons), bands, note="DGE: as computed")
    text = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "Science 380, 1338" in text and "public release" in text and "DGE: as computed" in text
    assert text_overlaps(fig) == []


def test_save_figure_measures_the_overlaps_on_the_png_it_writes(tmp_path):
    """save_figure draws each figure once for the PNG and its text overlaps (and skips the empty
    layout pass tight_layout leaves to savefig): the same PNG, pixel for pixel, and the same
    overlaps as a separate check draw followed by a plain savefig."""
    import matplotlib.image
    import matplotlib.pyplot as plt

    from gammapy_cocoons.analysis.plotting import save_figure

    def figure():
        fig, ax = plt.subplots()
        ax.loglog([1, 1e3], [1e-8, 1e-6], label=r"$E^2$ curve")
        ax.legend(loc="lower left")
        ax.text(0.02, 0.02, "a note under the legend", transform=ax.transAxes)
        figure_note(fig, "a note under the axes")
        return fig

    reference = figure()
    expected = text_overlaps(reference)
    reference.savefig(tmp_path / "reference.png", dpi=150)
    assert expected
    assert save_figure(figure(), tmp_path / "fast") == expected
    assert np.array_equal(matplotlib.image.imread(tmp_path / "fast.png"),
                          matplotlib.image.imread(tmp_path / "reference.png"))
    assert (tmp_path / "fast.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_figure_made_at_its_png_dpi_is_measured_once(tmp_path):
    """figures_at: a figure made at the dpi its PNG is written at is laid out by the renderer that
    draws the PNG, and that draw measures (almost) no text again; the layout is the one made at
    matplotlib's default dpi (within 0.01 inch); the rc setting is restored afterwards."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import RendererAgg

    from gammapy_cocoons.analysis.plotting import FIGURE_DPI, figures_at, save_figure

    measured = [0]
    measure = RendererAgg.get_text_width_height_descent

    def counted(self, *args, **kwargs):
        measured[0] += 1
        return measure(self, *args, **kwargs)

    def figure():
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax in axes:
            ax.loglog([1, 1e5], [1e-9, 1e-3], label=r"$R_0$ = 20 TV")
            ax.set_xlabel("E [GeV]")
            ax.set_ylabel(r"$E^2 I$ [GeV cm$^{-2}$ s$^{-1}$]")
            ax.legend(loc="lower left")
        figure_note(fig, "a note under the axes " * 12)
        return fig

    default_dpi = matplotlib.rcParams["figure.dpi"]
    assert default_dpi != FIGURE_DPI  # (else this test compares nothing)
    RendererAgg.get_text_width_height_descent = counted
    try:
        results = {}
        for made_at in ("default", "png"):
            with figures_at() if made_at == "png" else figures_at(default_dpi):
                fig = figure()
            assert fig.dpi == (FIGURE_DPI if made_at == "png" else default_dpi)
            measured[0] = 0
            assert save_figure(fig, tmp_path / made_at, layout=False) == []  # (closes it)
            results[made_at] = measured[0], vars(fig.subplotpars).copy(), fig.get_size_inches()
    finally:
        RendererAgg.get_text_width_height_descent = measure
    assert matplotlib.rcParams["figure.dpi"] == default_dpi
    (slow, layout, size), (fast, layout_png, size_png) = results["default"], results["png"]
    assert slow >= 10 and fast * 4 <= slow, (slow, fast)  # the PNG's draw: ~19 measurements against ~2
    for name, value in layout.items():
        inches = size[0] if name in ("left", "right", "wspace") else size[1]
        assert abs(layout_png[name] - value) * inches < 0.01, name
    assert np.array_equal(size, size_png)


def test_figures_at_restores_the_dpi_and_leaves_every_other_setting():
    """Only figure.dpi is restored on leaving (even after an error, nested too): a setting made
    inside stays, as the interactive mode a notebook's inline backend turns on when it loads."""
    import matplotlib

    from gammapy_cocoons.analysis.plotting import figures_at

    dpi, linewidth, interactive = (matplotlib.rcParams[k] for k in ("figure.dpi", "lines.linewidth", "interactive"))
    try:
        with pytest.raises(KeyError):
            with figures_at(150):
                with figures_at(130):
                    assert matplotlib.rcParams["figure.dpi"] == 130
                assert matplotlib.rcParams["figure.dpi"] == 150
                matplotlib.rcParams["lines.linewidth"] = linewidth + 1
                matplotlib.interactive(not interactive)
                raise KeyError("inside")
        assert matplotlib.rcParams["figure.dpi"] == dpi
        assert matplotlib.rcParams["lines.linewidth"] == linewidth + 1
        assert matplotlib.is_interactive() is (not interactive)
    finally:
        matplotlib.rcParams["lines.linewidth"] = linewidth
        matplotlib.interactive(interactive)
    for bad in (0, -72, float("nan"), "high"):
        with pytest.raises((ValueError, TypeError), match="dpi"):
            with figures_at(bad):
                pass
    assert matplotlib.rcParams["figure.dpi"] == dpi


@pytest.mark.parametrize("bad", [0, -130, float("inf"), "high"])
def test_plot_population_refuses_a_bad_dpi_in_one_line(bad):
    from gammapy_cocoons.analysis.plotting import plot_population

    with pytest.raises((ValueError, TypeError), match="^dpi must"):
        plot_population(None, None, None, dpi=bad)  # refused before the tables are read


def test_tight_layout_measured_once_is_matplotlibs():
    """figure_note's tight layout, each axes measured once: the subplot parameters of matplotlib's own
    tight_layout with the same rect."""
    import matplotlib.pyplot as plt

    from gammapy_cocoons.analysis.plotting import _tight_layout_once

    params = []
    for layout in (_tight_layout_once, lambda fig, rect: fig.tight_layout(rect=rect)):
        fig, axes = plt.subplots(1, 3, figsize=(9, 3))
        for ax in axes:
            ax.loglog([1, 1e5], [1e-9, 1e-3])
            ax.set_xlabel("E [GeV]")
            ax.set_ylabel(r"$E^2 I$ [GeV cm$^{-2}$ s$^{-1}$]")
            ax.legend(["x"], loc="lower left")
        layout(fig, rect=(0, 0.2, 1, 1))
        params.append(vars(fig.subplotpars).copy())
        plt.close(fig)
    assert params[0] == params[1]
