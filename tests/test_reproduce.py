"""`gammapy-cocoons reproduce`: every figure, its table and the summary, checked against
independent computations (the engine instead of the gammapy models, Eq. 9 by hand)."""
import json

import numpy as np
import pytest
import astropy.constants as const
import astropy.units as u
from astropy.table import QTable
from click.testing import CliRunner

from gammapy_cocoons import LHAASO_INNER, LHAASO_OUTER
from gammapy_cocoons.cli import main
from gammapy_cocoons.analysis.fitting import INNER_MASK_SCALE
from gammapy_cocoons.analysis.reproduce import output_files

E2I = u.Unit("GeV cm-2 s-1 sr-1")


@pytest.fixture(scope="module")
def run(reproduced):
    return reproduced


def test_every_output_is_written_and_readable(run):
    outdir, output = run
    for name in output_files():
        path = outdir / name
        assert path.is_file() and path.stat().st_size > 0, name
    for png in outdir.glob("*.png"):
        import matplotlib.image

        image = matplotlib.image.imread(png)
        assert image.shape[0] > 400 and image.shape[1] > 600
        assert np.std(image[..., :3]) > 0.05, f"{png.name} is blank"
    for pdf in outdir.glob("*.pdf"):
        assert pdf.read_bytes()[:5] == b"%PDF-"
    assert "chi0 from B/C" in output


def test_fig2_cocoons_match_the_engine(run, fiducial):
    """The gammapy-model path of the figure against CocoonEmission's own region intensity."""
    outdir, _ = run
    table = QTable.read(outdir / "fig2_sed.ecsv")
    energy = table["e_ref"]
    pick = (energy > 10 * u.GeV) & (energy < 20 * u.TeV)  # where the cocoons are not cut off
    for region, sky, scale in (("inner", LHAASO_INNER, INNER_MASK_SCALE), ("outer", LHAASO_OUTER, 1.0)):
        engine = (scale * energy[pick] ** 2 * fiducial.intensity(energy[pick], sky)).to_value(E2I)
        assert np.allclose(table[f"{region}_cocoons"][pick].to_value(E2I), engine, rtol=2e-3)
        total = table[f"{region}_cocoons"] + table[f"{region}_dge_min"]
        assert np.allclose(table[f"{region}_total_min"], total, rtol=1e-12)
        # "min" / "max" are the envelope of the knee variants; below 30 GeV they differ only by the
        # variants' fits of the same direct data, within 0.5 % (0.33 % at 1 GeV: the "icetop" fit,
        # without the second hardening, bends the proton hardening a little)
        above = energy > 100 * u.TeV
        assert np.all(table[f"{region}_total_max"][above] > table[f"{region}_total_min"][above])
        ratio = table[f"{region}_dge_max"] / table[f"{region}_dge_min"]
        assert np.all(np.abs(ratio[energy < 30 * u.GeV] - 1) < 5e-3)


def test_fig2_components_equal_models_made_for_each_region(run):
    """Fig. 2 draws both panels' DGE components from one set of models (component_models): the
    same numbers as models made afresh for each region (component_seds' own)."""
    from gammapy_cocoons.analysis.leptonic import component_models, component_seds

    outdir, _ = run
    table = QTable.read(outdir / "fig2_sed.ecsv")
    energy = table["e_ref"][::7]
    for region, sky, scale in (("inner", LHAASO_INNER, INNER_MASK_SCALE), ("outer", LHAASO_OUTER, 1.0)):
        fresh = component_seds(sky, energy, scale, "min")
        for name in ("pi0", "ic", "bremsstrahlung"):
            np.testing.assert_allclose(table[f"{region}_dge_min_{name}"][::7].to_value(E2I), fresh[name], rtol=1e-12)
    with pytest.raises(ValueError, match=r"models must be component_models\('max'\)"):
        component_seds(LHAASO_INNER, energy, 1.0, "max", component_models("min"))


def test_the_r0_scans_statistics_equal_a_fresh_build(run):
    """lhaaso_stat builds the LHAASO likelihood once per grammage law and sets chi0, R0 and the norms
    for each case: the R0 scan's statistics equal those of a likelihood built for that case."""
    from gammapy_cocoons.analysis.fitting import build_lhaaso_fit
    from gammapy_cocoons.analysis.reproduce import PAPER_TARGET

    summary = json.loads((run[0] / "summary.json").read_text())
    for r0 in (10.0, 50.0):
        datasets, _, norms = build_lhaaso_fit(r0=r0 * u.TV, target=PAPER_TARGET)
        for norm in norms.values():
            norm.norm.value = 1.0
        assert summary["r0_scan_lhaaso_chi2"][f"{r0:g} TV"] == float(datasets.stat_sum())


def test_r0_scan_is_ordered(run):
    """A higher cut-off rigidity gives more cocoon emission at every energy above 1 TeV (Fig. B.2)."""
    outdir, _ = run
    table = QTable.read(outdir / "figB2_r0_scan.ecsv")
    high = table["e_ref"] > 1 * u.TeV
    for region in ("inner", "outer"):
        curves = [table[f"{region}_cocoons_r0_{r}TV"][high].value for r in (10, 20, 50, 90)]
        assert all(np.all(b > a) for a, b in zip(curves, curves[1:]))
        # below the cut-offs the scan changes little: R0 only sets the cut-off
        low = table["e_ref"] < 30 * u.GeV
        ratio = table[f"{region}_cocoons_r0_90TV"][low] / table[f"{region}_cocoons_r0_10TV"][low]
        assert np.all(ratio < 1.1)


def test_summary_numbers(run):
    outdir, _ = run
    summary = json.loads((outdir / "summary.json").read_text())
    # Eq. 9 by hand: chi / (m_p n c) for 0.4 g cm-2 and 1 cm-3 of pure hydrogen; the paper quotes 2.5e5 yr,
    # Eq. 10 120 pc; on ISM gas (1.4 m_p per H atom, the fits' gas) 1 / 1.4 of the time
    tau = (0.4 * u.g / u.cm**2 / (const.m_p * u.cm**-3 * const.c)).to_value(u.yr)
    fiducial, ism = summary["eq9_eq10"]["fiducial"], summary["eq9_eq10"]["fiducial_ism"]
    assert fiducial["target"] == "hydrogen" and ism["target"] == "ism"
    assert fiducial["confinement_time_yr"] == pytest.approx(tau, rel=1e-6)
    assert ism["confinement_time_yr"] == pytest.approx(tau / 1.4, rel=1e-6)
    assert fiducial["maximum_cocoon_radius_pc"] == pytest.approx(120, rel=0.03)
    # Eq. 10 scales as chi0^(-1/3) on the same gas
    fitted = summary["eq9_eq10"]["bc_fit"]
    assert fitted["target"] == "ism"
    assert fitted["maximum_cocoon_radius_pc"] == pytest.approx(
        ism["maximum_cocoon_radius_pc"] * (fitted["chi0_g_cm2"] / 0.4) ** (-1 / 3), rel=1e-9)
    # every output says which gas: the paper's curves on its Eq. 7 target, the fits on ISM gas
    assert "hydrogen" in summary["cocoon_gas"]["paper_curves"] and "Eq. 7" in summary["cocoon_gas"]["paper_curves"]
    assert "mass grammage" in summary["cocoon_gas"]["fits"]
    for fit in ("bc_fit", "lhaaso_fit", "joint_fit"):
        assert "mass grammage" in summary[fit]["chi0_convention"], fit
    for figure in ("fig2_sed", "figB1_neutrinos", "figB2_r0_scan", "figB3_grammage_laws", "figP_population"):
        assert "Eq. 7" in QTable.read(outdir / f"{figure}.ecsv").meta["cocoon_gas"], figure
    # B/C prefers cocoons, as in the paper
    assert summary["bc_fit"]["delta_stat_no_cocoons"] > 9
    assert summary["bc_fit"]["parameters"]["chi0"]["value"] > 0.2
    # fractions: 1, 10, 100 TeV per region, falling with energy past the cut-off, consistent with
    # Fig. 2, whose DGE is drawn as computed (no fitted scaling)
    fig2 = QTable.read(outdir / "fig2_sed.ecsv")
    for region in ("inner", "outer"):
        rows = [r for r in summary["cocoon_fraction"] if r["region"] == region]
        assert [r["energy_tev"] for r in rows] == [1, 10, 100]
        fractions = [r["fraction_dge_min"] for r in rows]
        assert fractions[0] > fractions[1] > fractions[2] >= 0
        e = fig2["e_ref"].to_value("TeV")
        cocoons = np.exp(np.interp(np.log(1.0), np.log(e), np.log(fig2[f"{region}_cocoons"].value)))
        dge = np.exp(np.interp(np.log(1.0), np.log(e), np.log(fig2[f"{region}_dge_min"].value)))
        assert fractions[0] == pytest.approx(cocoons / (cocoons + dge), rel=2e-3)
    # the DGE in the figures is the model as computed, region mean x the mask factor
    from gammapy_cocoons import RegionFluxSpectralModel
    from gammapy_cocoons.dge import conventional_dge

    e = fig2["e_ref"][[20, 60]]
    for region, sky, scale in (("inner", LHAASO_INNER, INNER_MASK_SCALE), ("outer", LHAASO_OUTER, 1.0)):
        flux = RegionFluxSpectralModel(conventional_dge("min"), region=sky, scale=scale)
        expected = (e**2 * flux(e) / flux.solid_angle()).to_value(E2I)
        assert np.allclose(fig2[f"{region}_dge_min"][[20, 60]].to_value(E2I), expected, rtol=1e-6)
    # data / model ratios of every bundled diffuse dataset, reported; the LHAASO stat without free parameters
    ratios = summary["data_model_ratios"]
    assert set(ratios) == {"lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer", "tibet-asgamma-2021-a",
                           "tibet-asgamma-2021-b", "argo-ybj-2015"}
    assert ratios["lhaaso-km2a-2023-outer"]["n_points"] == 5
    for entry in ratios.values():
        # adding the cocoons can only lower data / model
        assert entry["data_over_dge_min_plus_cocoons"]["max"] <= entry["data_over_dge_min"]["max"]
    assert summary["lhaaso_fit"]["dge_norms"] == "one shared by all datasets"
    assert summary["lhaaso_stat_as_computed"] > 0
    text = (outdir / "SUMMARY.md").read_text()
    assert f"{summary['bc_fit']['parameters']['chi0']['value']:.2f}" in text
    assert "drawn as computed" in text and "Data / model" in text
    assert "Cocoon gas: the paper's curves" in text and "mass grammage of ISM gas" in text
    # the leptonic components: Fig. 2 carries the DGE min's components, which add up to it; the GeV
    # comparison with Fermi-LAT data is reported
    for region in ("inner", "outer"):
        parts = sum(fig2[f"{region}_dge_min_{c}"].to_value(E2I) for c in ("ic", "bremsstrahlung"))
        assert np.allclose(fig2[f"{region}_dge_min_pi0"].to_value(E2I), fig2[f"{region}_dge_min"].to_value(E2I),
                           rtol=1e-5)
        assert np.all(parts > 0)
    gev = summary["leptonic_gev_comparison"]
    assert set(gev["points"]) == {"fermi-lat-ackermann2012-inner", "fermi-lat-lhaaso-inner"}
    for rows in gev["points"].values():
        assert all(row[7] <= row[6] for row in rows)  # the cocoons lower data / model
    assert "leptonic components against Fermi-LAT data" in text
    # issue 23's answer: compare's row for the default DGE, quoted; its B/C chi0 is this run's Fig. 1 fit
    answer = summary["answer"]
    assert answer["dge"] == "embedded min"
    assert {r["hypothesis"] for r in answer["rows"]} == {"dge", "dge+cocoons", "dge+ecpl", "radial-delta"}
    assert answer["preferred"] == min(answer["rows"], key=lambda r: r["delta_aic"])["hypothesis"]
    assert 0 <= answer["ts_r0_20"] <= answer["ts_free"] + 1e-6  # free R0 can only do better
    assert answer["chi0_bc"]["value"] == summary["bc_fit"]["parameters"]["chi0"]["value"]
    assert "Does the data want cocoons?" in text and f"{answer['ts_free']:.2f} for free R0" in text


def test_neutrinos_match_the_engine(run, fiducial):
    outdir, _ = run
    table = QTable.read(outdir / "figB1_neutrinos.ecsv")
    e = table["e_ref"]
    pick = e < 20 * u.TeV
    engine = (e[pick] ** 2 * fiducial.flux(e[pick], "nu_per_flavour")).to_value("GeV cm-2 s-1")
    assert np.allclose(table["cocoons"][pick].to_value("GeV cm-2 s-1"), engine, rtol=2e-3)
    assert np.all(np.isfinite(table["icecube_kra5_best"][(e > 2 * u.TeV) & (e < 90 * u.TeV)]))


def test_refuses_existing_outputs_before_writing(tmp_path):
    (tmp_path / "SUMMARY.md").write_text("mine")
    result = CliRunner().invoke(main, ["reproduce", "--outdir", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2
    assert "SUMMARY.md" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "SUMMARY.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SUMMARY.md"]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = CliRunner().invoke(main, ["reproduce", "--outdir", str(not_a_dir)])
    assert result.exit_code == 2


def test_bad_input_names_the_argument():
    from gammapy_cocoons.analysis.reproduce import cocoon_sed, dge_sed, lhaaso_stat

    with pytest.raises(ValueError, match="region_name"):
        cocoon_sed("middle")
    with pytest.raises(ValueError, match="variant"):
        dge_sed("inner", "median")
    with pytest.raises(ValueError, match="dge"):
        lhaaso_stat(dge="hermes")


def test_lhaaso_stat_checks_chi0_and_r0_as_the_model_does():
    from gammapy_cocoons.analysis.reproduce import lhaaso_stat

    # refused before anything is built (a value out of range, at the evaluation, as before)
    for kwargs, match in (({"r0": 20.0}, "r0 must be an astropy Quantity"), ({"r0": "20 TV"}, "r0 must be one number"),
                          ({"chi0": float("nan")}, "chi0 must be an astropy Quantity")):
        with pytest.raises(TypeError, match=match):
            lhaaso_stat(**kwargs)


def test_data_model_ratios_by_hand():
    """data_model_ratios against the points and the region fluxes computed directly, for the
    data-driven baseline and a user's point set."""
    from gammapy_cocoons import RegionFluxSpectralModel
    from gammapy_cocoons.datasets import load_flux_points
    from gammapy_cocoons.dge import fermi_pi0_dge
    from gammapy_cocoons.analysis.reproduce import data_model_ratios

    mine = load_flux_points("lhaaso-km2a-2023-outer")
    mine.meta["name"] = "mine"
    table = data_model_ratios(dge="fermi-pi0", points=[mine])
    rows = table[table["dataset"] == "mine"]
    expected = mine.dnde.quantity.ravel() / RegionFluxSpectralModel(fermi_pi0_dge("min"), region=LHAASO_OUTER)(
        mine.energy_ref)
    assert np.allclose(rows["data_over_dge_min"], expected.to_value(""), rtol=1e-9)
    inner = table[table["dataset"] == "lhaaso-km2a-2023-inner"]
    points = load_flux_points("lhaaso-km2a-2023-inner")
    direct = points.dnde.quantity.ravel() / RegionFluxSpectralModel(
        fermi_pi0_dge("min"), region=LHAASO_INNER, scale=INNER_MASK_SCALE)(points.energy_ref)
    assert np.allclose(inner["data_over_dge_min"], direct.to_value(""), rtol=1e-9)


def test_joint_fit_shares_one_chi0(run):
    """The reproduction's joint B/C + LHAASO fit: one chi0 Parameter object for both (it appears
    once among the free parameters), and the joint statistic is the sum of its parts."""
    summary = json.loads((run[0] / "summary.json").read_text())["joint_fit"]
    assert summary["success"] and summary["shared_chi0"]
    # and the same gas in both terms (issue 23): the B/C model's cocoon gas is the gamma-ray model's
    assert summary["cocoon_gas"] == {"bc": "ism", "gamma": "ism"} and "mass grammage" in summary["chi0_convention"]
    assert summary["free_parameters"].count("chi0") == 1 and "r0" in summary["free_parameters"]
    assert summary["stat"] == pytest.approx(summary["stat_gamma"] + summary["stat_bc"], rel=1e-10)
    assert summary["parameters"]["chi0"]["value"] > 0


def test_the_joint_fit_and_tables_beside_fig2_are_this_process_s(run, reproduced_forks):
    """The command line makes the joint B/C + LHAASO fit, the cocoon fractions and the data/model
    ratios in a forked copy of its process, beside Fig. 2 (where it forked the answer row's child):
    the summary's entries are, to the bit, those made in this process."""
    from gammapy_cocoons.analysis.reproduce import _joint_fit_and_tables

    forked = dict(reproduced_forks)
    assert "_joint_fit_and_tables" in forked and forked["_joint_fit_and_tables"] == forked.get("answer_fits", False)
    summary = json.loads((run[0] / "summary.json").read_text())
    *entries, seconds = _joint_fit_and_tables("embedded", ())
    for key, value in zip(("joint_fit", "cocoon_fraction", "data_model_ratios"), entries):  # as text: NaN too
        assert json.dumps(value) == json.dumps(summary[key]), key
    # the run says how long the step took where it ran, and how long the main process waited for it
    timings = summary["timings_s"]
    assert list(timings)[list(timings).index("Fig. 2") + 1:][:2] == ["joint fit (its fits)", "joint fit (waited for)"]
    assert timings["joint fit (its fits)"] > 0 and timings["joint fit (waited for)"] > 0 and seconds > 0
    if forked["_joint_fit_and_tables"]:  # it ran beside Fig. 2
        assert timings["joint fit (waited for)"] < timings["joint fit (its fits)"]


def test_figures_a_reader_can_trust(run):
    """Issue 24 item 16: no text of any figure overlaps another (matplotlib's renderer boxes,
    recorded by the run), every plotted dataset is cited with its caveat, and the Fermi-LAT
    points of the LHAASO region carry their possible factor-2 ambiguity."""
    outdir, _ = run
    summary = json.loads((outdir / "summary.json").read_text())
    assert set(summary["figure_text_overlaps"]) == {"fig1_bc", "fig2_sed", "figB1_neutrinos", "figB2_r0_scan",
                                                   "figB3_grammage_laws", "figP_population"}
    assert not any(summary["figure_text_overlaps"].values()), summary["figure_text_overlaps"]
    assert "at_bound" in summary["lhaaso_fit"] and "at_bound" in summary["bc_fit"]


def test_every_figure_is_made_at_the_dpi_it_is_written_at(reproduced_figures):
    """The layout's text measurements serve the PNG's draw (plotting.figures_at): each figure is
    made at its PNG's dpi; the PDFs are written at the same."""
    from gammapy_cocoons.analysis.plotting import FIGURE_DPI

    stems = {"fig1_bc", "fig2_sed", "figB1_neutrinos", "figB2_r0_scan", "figB3_grammage_laws", "figP_population"}
    assert set(reproduced_figures) == {stem + suffix for stem in stems for suffix in (".png", ".pdf")}
    for name, (made, written) in reproduced_figures.items():
        assert made == written == FIGURE_DPI, name


def test_the_answer_rows_child_builds_the_figures_cubes_and_its_own_radial_delta_cubes(tmp_path, monkeypatch):
    # the orchestration only (every build replaced by a record): what the child asks for, in which order
    from gammapy_cocoons import _cache
    from gammapy_cocoons.analysis import answer
    from gammapy_cocoons.dge import conventional, radial_delta

    calls = []
    monkeypatch.setattr(conventional, "conventional_dge",
                        lambda variant="min", secondary="gamma", components=("pi0",): calls.append(
                            ("dge", variant, secondary, components)))
    monkeypatch.setattr(conventional, "release_cubes", lambda **kw: calls.append(("release", kw)))
    monkeypatch.setattr(conventional, "release_models", lambda: calls.append(("release models",)))
    monkeypatch.setattr(radial_delta, "_missing", lambda nside: True)
    monkeypatch.setattr(radial_delta, "build_radial_delta_cache", lambda nside: calls.append(("radial build", nside)))
    monkeypatch.setattr(radial_delta, "release_geometry", lambda: calls.append(("radial release",)))
    monkeypatch.setattr(radial_delta, "radial_delta_dge", lambda variant: calls.append(("radial", variant)))
    monkeypatch.setenv(_cache.CACHE_VARIABLE, str(tmp_path))
    answer.figure_cubes_first()
    answer.radial_delta_first(background=True)
    # in the order the main process asks for them (Fig. 2, with the leptonic cubes, is drawn last); the
    # hadronic cubes leave memory before the leptonic builds
    hadronic = [("dge", "min", "gamma", ("pi0",)), ("dge", "min", "nu_per_flavour", ("pi0",))]
    leptonic = [("dge", "min", "gamma", ("ic",)), ("dge", "min", "gamma", ("bremsstrahlung",)),
                ("release", {"components": ("ic", "bremsstrahlung")})]
    assert calls == hadronic + [("release", {"components": ("pi0",)})] + leptonic + [
        ("release models",), ("radial build", 128), ("radial release",), ("radial", "min")]
    # without a child, in the main process: the leptonic builds first, while it is small
    calls.clear()
    answer.figure_cubes_first(leptonic_first=True)
    assert calls == leptonic + hadronic + [("release models",)]
    # in the main process (the fallback) the radial-delta build stays in a process of its own
    calls.clear()
    answer.radial_delta_first(background=False)
    assert calls == [("radial", "min")]
    # without a disk cache nothing can be shared: no prebuild, the radial-delta cubes built where asked
    monkeypatch.setenv(_cache.CACHE_VARIABLE, "off")
    calls.clear()
    answer.figure_cubes_first()
    answer.radial_delta_first(background=True)
    assert calls == [("radial", "min")]
