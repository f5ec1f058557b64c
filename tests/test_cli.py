import numpy as np
import pytest
import astropy.units as u
from click.testing import CliRunner

from gammapy_cocoons import LHAASO_INNER, CocoonEmission
from gammapy_cocoons.cli import main


def test_spectra_table_matches_the_api():
    result = CliRunner().invoke(main, ["spectra", "--n-energies", "5"])
    assert result.exit_code == 0, result.output
    rows = np.array([[float(x) for x in line.split()] for line in result.output.splitlines() if not line.startswith("#")])
    assert rows.shape == (5, 4)
    energy = rows[:, 0] * u.GeV
    inner = (energy**2 * CocoonEmission().intensity(energy, LHAASO_INNER)).to_value("GeV cm-2 s-1 sr-1")
    assert np.allclose(rows[:, 1], inner, rtol=1e-3)
    assert "Eq. 9" in result.output and "Eq. 10" in result.output


def test_bad_option_is_one_line():
    result = CliRunner().invoke(main, ["spectra", "--emin", "1e3", "--emax", "10"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--emin" in result.output


def test_bad_physics_value_is_one_line():
    result = CliRunner().invoke(main, ["spectra", "--chi0", "-1"])
    assert result.exit_code == 2
    assert "chi0" in result.output and "Traceback" not in result.output


def test_library_errors_name_the_command_line_option(tmp_path):
    # the library says "datasets: ..." (its argument); the command line names the option typed
    result = CliRunner().invoke(main, ["fit", "--datasets", "ams02-bc", "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("Error: --datasets: the fit needs gamma-ray points"), result.output
    assert not (tmp_path / "out").exists()


def test_option_vocabulary_leaves_other_names_alone():
    import click

    from gammapy_cocoons.cli import _option_vocabulary

    command = click.Command("c", params=[click.Option(["--energy-scales/--no-energy-scales"]),
                                         click.Option(["--dge"])])
    with click.Context(command):
        assert _option_vocabulary("energy_scales: bad") == "--energy-scales: bad"
        assert _option_vocabulary("dge: bad") == "--dge: bad"
        assert _option_vocabulary("path: not an option here") == "path: not an option here"
        assert _option_vocabulary("no name first") == "no name first"
    assert _option_vocabulary("dge: outside a command") == "dge: outside a command"


def test_fit_command_writes_the_results(tmp_path, monkeypatch, written_figures):
    import json

    from gammapy.maps import Map
    from gammapy.modeling.models import Models

    monkeypatch.chdir(tmp_path)
    outdir = tmp_path / "fit"
    result = CliRunner().invoke(main, ["fit", "--outdir", "fit", "--profile-points", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads((outdir / "fit_summary.json").read_text())
    # 15 points and the constraint terms of the DGE norm and KM2A's energy scale; chi0, R0, the norm, the scale
    assert summary["success"] and summary["ndof"] == 15 + 2 - 4
    assert set(summary["parameters"]) >= {"chi0", "r0", "dge_norm", "energy_scale_lhaaso-km2a"}
    assert summary["dge_norm"] == "prior" and set(summary["dge_norm_options"]) == {"free", "fixed"}
    for entry in summary["dge_norm_options"].values():  # each says which parameters it left at a bound
        bound = {name for name, p in entry["parameters"].items() if "at_bound" in p}
        assert isinstance(entry["at_bound"], dict) and set(entry["at_bound"]) <= bound | {"norm", "chi0", "r0"}
    # the other choice is reported: one DGE norm per dataset
    assert set(summary["alternative"]["parameters"]) >= {"chi0", "r0", "dge_norm_inner", "dge_norm_outer"}
    assert summary["alternative"]["ndof"] == 15 + 3 - 5
    assert summary["alternative"]["stat"] <= summary["stat"] + 1e-3  # one more free parameter
    assert summary["mask_scales"] == {"inner": 0.65, "outer": 1.0}
    assert summary["ts_cocoons"] >= 0 and summary["stat"] <= summary["stat_chi0_zero"]
    for name in ("fit_result.yaml", "profile_chi0.ecsv", "profile_r0.ecsv", "sed_inner.png", "sed_outer.png",
                 "profiles.png", "dge_template.fits", "neutrinos.ecsv", "neutrinos.png"):
        assert (outdir / name).exists(), name
    # made at the dpi they are written at (those this process writes; forked outputs write the others)
    from gammapy_cocoons.analysis.plotting import FIT_FIGURE_DPI

    assert "profiles.png" in written_figures
    assert all(made == written == FIT_FIGURE_DPI for made, written in written_figures.values()), written_figures
    # the written models come back with the fitted values and shared cocoon parameters
    models = Models.read(outdir / "fit_result.yaml")
    inner, outer = models["inner"].spectral_model.model, models["outer"].spectral_model.model  # inside the energy scale
    assert models["inner"].spectral_model.energy_scale is models["outer"].spectral_model.energy_scale
    assert inner.model1.parameters["chi0"] is outer.model1.parameters["chi0"]
    assert inner.model2.parameters["norm"] is outer.model2.parameters["norm"]  # one DGE norm
    assert inner.model1.parameters["chi0"].value == pytest.approx(summary["parameters"]["chi0"]["value"])
    assert models.covariance is not None
    # a second run refuses to overwrite
    again = CliRunner().invoke(main, ["fit", "--outdir", str(outdir)])
    assert again.exit_code == 2 and "overwrite" in again.output and "Traceback" not in again.output
    # issue 15 item 10: the YAML referenced the DGE cube as typed ("fit/dge_template.fits"); now
    # relative to itself, so the folder can move and be read from anywhere
    assert str(tmp_path) not in (outdir / "fit_result.yaml").read_text()
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    outdir.rename(moved)
    monkeypatch.chdir(moved.parent)
    read = Models.read(moved / "fit_result.yaml")
    spatial = read["inner"].spectral_model.model.model2.sky_model.spatial_model
    assert np.array_equal(spatial.map.data, Map.read(moved / "dge_template.fits").data)
    assert read["inner"].spectral_model.model.model1.parameters["chi0"].value == pytest.approx(
        summary["parameters"]["chi0"]["value"])


def test_spectrum_command_matches_the_models(tmp_path, written_figures):
    from astropy.table import QTable

    out = tmp_path / "s.ecsv"
    result = CliRunner().invoke(main, ["spectrum", "--region", "box:20,40,-2,2", "--n-energies", "4",
                                       "--dge", "none", "--output", str(out), "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    table = QTable.read(out)
    from astropy.coordinates import SkyCoord
    from regions import RectangleSkyRegion

    box = RectangleSkyRegion(SkyCoord(30, 0, unit="deg", frame="galactic"), 20 * u.deg, 4 * u.deg)
    expected = (table["e_ref"] ** 2 * CocoonEmission().intensity(table["e_ref"], box)).to("GeV cm-2 s-1 sr-1")
    assert u.allclose(table["cocoons"], expected, rtol=1e-10)
    assert (tmp_path / "s.png").exists()
    assert written_figures == {"s.png": (130, 130)}  # made at the dpi it is written at (plotting.figures_at)
    again = CliRunner().invoke(main, ["spectrum", "--output", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = CliRunner().invoke(main, ["spectrum", "--region", "box:40,20,-2,2", "--output", str(tmp_path / "x.ecsv")])
    assert bad.exit_code == 2 and "--region" in bad.output and "box:-320,20,-2,2" in bad.output


def test_template_command_writes_each_format(tmp_path):
    import healpy as hp
    from gammapy.maps import Map

    gadf = tmp_path / "c.fits"
    result = CliRunner().invoke(main, ["template", "--output", str(gadf), "--width", "20", "4", "--binsz", "1",
                                       "--n-energies", "2"])
    assert result.exit_code == 0, result.output
    assert Map.read(gadf).data.shape == (2, 4, 20)
    hpx = tmp_path / "h.fits"
    result = CliRunner().invoke(main, ["template", "--output", str(hpx), "--format", "healpix", "--nside", "8",
                                       "--n-energies", "2"])
    assert result.exit_code == 0, result.output
    assert hp.read_map(hpx, field=None).shape == (2, hp.nside2npix(8))
    again = CliRunner().invoke(main, ["template", "--output", str(hpx), "--format", "healpix", "--nside", "8"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = CliRunner().invoke(main, ["template", "--output", str(tmp_path / "f.fits"), "--format", "fermi",
                                    "--nside", "8"])
    assert bad.exit_code == 2 and "WCS" in bad.output


def test_fit_with_chosen_datasets_user_points_and_a_dge_file(tmp_path):
    """--datasets, --points FILE:REGION and --dge FILE: Tibet + ARGO + a user's ECSV of intensities,
    against a user DGE cube exported from the embedded one (the same numbers: the fit must agree with
    the embedded DGE's)."""
    import json

    from astropy.table import QTable
    from gammapy_cocoons.datasets import load_flux_points
    from gammapy_cocoons.dge.conventional import _DEFAULT_ENERGIES, default_model

    cube = default_model().cube(_DEFAULT_ENERGIES[_DEFAULT_ENERGIES > 200] * u.GeV, nside=32)
    dge_file = tmp_path / "my_dge.fits"
    cube.write(dge_file)
    # the user's points: the LHAASO outer table written as intensities per sr
    outer = load_flux_points("lhaaso-km2a-2023-outer")
    omega = outer.meta["solid_angle"] * u.sr
    table = QTable({"e_ref": outer.energy_ref, "dnde": outer.dnde.quantity.ravel() / omega,
                    "dnde_errn": outer.dnde_errn.quantity.ravel() / omega,
                    "dnde_errp": outer.dnde_errp.quantity.ravel() / omega})
    points_file = tmp_path / "my_points.ecsv"
    table.write(points_file)
    outdir = tmp_path / "fit"
    result = CliRunner().invoke(main, [
        "fit", "--outdir", str(outdir), "--no-profiles", "--datasets", "tibet-asgamma-2021-a",
        "--datasets", "argo-ybj-2015", "--points", f"{points_file}:lhaaso-outer", "--dge", str(dge_file)])
    assert result.exit_code == 0, result.output
    summary = json.loads((outdir / "fit_summary.json").read_text())
    assert summary["datasets"] == ["tibet-a", "argo", "my_points"]
    # the points and the constraint terms of the DGE norm and of Tibet's and ARGO's energy scales
    assert "my_dge.fits" in summary["dge"] and summary["n_points"] == 3 + 3 + 5 + 3
    assert "dge_norm" in summary["parameters"] and "r0=" in result.output
    # item 10: the user's DGE file is referenced relative to the YAML (it was an absolute path),
    # so the folder and the file move together; item 14: the YAML says how to read it back
    yaml_text = (outdir / "fit_result.yaml").read_text()
    assert "filename: ../my_dge.fits" in yaml_text and str(tmp_path) not in yaml_text
    assert yaml_text.startswith("# Written by gammapy-cocoons") and "import gammapy_cocoons" in yaml_text
    from gammapy_cocoons.analysis.fitting import read_fit_result

    moved = tmp_path / "moved"
    moved.mkdir()
    for path in (outdir, dge_file):
        path.rename(moved / path.name)
    read = read_fit_result(moved / "fit" / "fit_result.yaml")
    assert read["argo"].spectral_model.model.model2.sky_model.spatial_model.map.data.shape == cube.data.shape
    # item 7: the summary says which parameters sit at a bound, and the figures have no overlapping text
    assert isinstance(summary["at_bound"], dict) and "at_bound=" in result.output
    assert not any(summary["figure_text_overlaps"].values()), summary["figure_text_overlaps"]
    # progress over the steps (item 20 of issue 15), on stderr
    assert "refit without cocoons" in result.stderr and "writing the outputs" in result.stderr
    bad = CliRunner().invoke(main, ["fit", "--outdir", str(tmp_path / "x"), "--points", f"{points_file}:nowhere"])
    assert bad.exit_code == 2 and "REGION" in bad.output and "Traceback" not in bad.output
    missing = CliRunner().invoke(main, ["fit", "--outdir", str(tmp_path / "y"), "--dge", str(tmp_path / "no.fits")])
    assert missing.exit_code == 2 and "existing file" in missing.output and "--dge" in missing.output


@pytest.mark.parametrize("args", [
    ["spectrum", "--chi0", "-1"], ["spectrum", "--chi0", "nan"], ["spectrum", "--r0", "0"], ["spectrum", "--r0", "-20"],
    ["template", "--chi0", "-0.4"], ["template", "--width", "360", "200"], ["template", "--width", "inf", "10"],
])
def test_unphysical_values_are_refused_before_writing(tmp_path, args):
    """Issue 15 item 3: negative or NaN grammage, R0 <= 0, a map beyond the poles: one line,
    exit 2, nothing written."""
    output = tmp_path / ("out.fits" if args[0] == "template" else "out.ecsv")
    result = CliRunner().invoke(main, args + ["--output", str(output)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not output.exists()


# -- issue 24: a campaign of bad inputs over every command and option --------------------------------

def _valid_args(command, tmp_path):
    """The required options of ``command`` with valid values."""
    if command in ("spectrum", "template"):
        return ["--output", str(tmp_path / ("out.ecsv" if command == "spectrum" else "out.fits"))]
    if command in ("fit", "bc", "population", "reproduce"):
        return ["--outdir", str(tmp_path / "out")]
    return []


def _bad_values(option):
    """Values of each kind an option must refuse: not a number, NaN, infinities, beyond its range."""
    import click

    from gammapy_cocoons.cli import Number

    kind = option.type
    if isinstance(kind, Number):
        bad = ["abc", "nan", "inf", "-inf"]
        bad += [f"{kind.low - 1:g}"] if np.isfinite(kind.low) else []
        bad += [f"{kind.high * 10 + 1:g}"] if np.isfinite(kind.high) else []
        if kind.low_open:
            bad.append(f"{kind.low:g}")
        return bad
    if isinstance(kind, click.IntRange):
        return ["1.5", "x"] + ([str(kind.min - 1)] if kind.min is not None else []) + (
            [str(kind.max + 1)] if kind.max is not None else [])
    if isinstance(kind, click.Choice):
        return ["bogus"]
    return []


def _campaign(tmp_path):
    """(args, option) of every command with a bad value of each kind in each option it takes,
    and the semantic cases: regions, points, DGE files, energy order, outputs in the way."""
    cases = []
    for name, command in main.commands.items():
        for option in command.params:
            if option.hidden or not option.opts[0].startswith("--"):
                continue
            for value in _bad_values(option):
                values = [value] * option.nargs if option.nargs > 1 else [value]
                cases.append(([name] + _valid_args(name, tmp_path) + [option.opts[0]] + values, option.opts[0]))
    points = tmp_path / "p.ecsv"
    semantic = [
        (["spectra", "--emin", "1e3", "--emax", "10"], "--emin"),
        (["spectrum", "--region", "box:350,10,-5,5"], "--region"),
        (["spectrum", "--region", "box:0,400,-5,5"], "--region"),
        (["spectrum", "--region", "box:0,20,-95,5"], "--region"),
        (["spectrum", "--region", "box:0,20"], "--region"),
        (["spectrum", "--region", "circle:30,0,500"], "--region"),
        (["spectrum", "--region", "circle:30,nan,5"], "--region"),
        (["spectrum", "--region", "nowhere"], "--region"),
        (["spectrum", "--dge", str(tmp_path / "missing.fits")], "--dge"),
        (["spectrum", "--dge", "embedded", "--dge", "fermi-pi0"], "--dge"),
        (["spectrum", "--plot", str(tmp_path / "p.txt")], "--plot"),
        (["template", "--nside", "3"], "--nside"),
        (["template", "--width", "20", "200"], "--width"),
        (["fit", "--dge", "none"], "--dge"),
        (["fit", "--points", f"{points}:nowhere"], "--points"),
        (["fit", "--points", f"{points}:all-sky"], "--points"),
        (["fit", "--points", f"{points}:box:40,20,-5,5"], "--points"),
        (["fit", "--points", f"{tmp_path / 'missing.ecsv'}:lhaaso-inner"], "--points"),
        (["fit", "--masked-cocoons", "--hypothesis", "dge"], "--masked-cocoons"),
        (["reproduce", "--points", "no-region-given"], "--points"),
        (["reproduce", "--dge", str(tmp_path / "missing.fits")], "--dge"),
        (["population", "--chi0", "0"], "--chi0"),
    ]
    cases += [(args[:1] + _valid_args(args[0], tmp_path) + args[1:], option) for args, option in semantic]
    (tmp_path / "a-file").write_text("in the way")
    for name in ("fit", "bc", "population", "reproduce"):  # outdir: a file in the way, a folder one cannot create
        cases.append(([name, "--outdir", str(tmp_path / "a-file")], "outdir"))
        cases.append(([name, "--outdir", "/proc/gammapy-cocoons-test/out"], "outdir"))
    for name in ("spectrum", "template"):
        cases.append(([name, "--output", str(tmp_path / "missing-folder" / "x")], "missing-folder"))
    return cases


def test_campaign_of_bad_inputs(tmp_path):
    """Every command, every option, every kind of bad value: exit code 2, no traceback, one line
    that names the option, nothing written (the campaign of issue 24 as a test; about 150 cases)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "p.ecsv").write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: e_ref, unit: TeV, datatype: float64}\n"
                                   "# - {name: dnde, unit: cm-2 s-1 TeV-1, datatype: float64}\n"
                                   "# - {name: dnde_err, unit: cm-2 s-1 TeV-1, datatype: float64}\n"
                                   "e_ref dnde dnde_err\n10 1e-12 1e-13\n")
    runner = CliRunner()
    cases = _campaign(inputs)
    assert len(cases) > 120
    failures = []
    for args, option in cases:
        result = runner.invoke(main, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error:")]
        ok = (result.exit_code == 2 and "Traceback" not in result.output and len(errors) == 1
              and option in errors[0] and lines[-1] == errors[0])
        if not ok:
            failures.append((args, result.exit_code, result.output[-300:]))
    assert not failures, failures[:5]
    assert sorted(p.name for p in inputs.iterdir()) == ["a-file", "p.ecsv"]  # nothing written


@pytest.mark.parametrize("old, new", [
    (["--box", "20", "40", "-2", "2"], ["--region", "box:20,40,-2,2"]),
    (["--circle", "30", "0", "5"], ["--region", "circle:30,0,5"]),
    (["--dge", "none"], ["--dge", "none"]),
])
def test_deprecated_region_spellings_still_work(tmp_path, old, new):
    """Item 15: the old spellings are kept for one release, with one line of warning."""
    from astropy.table import QTable

    outputs = []
    for args in (old, new):
        out = tmp_path / f"{len(outputs)}.ecsv"
        result = CliRunner().invoke(main, ["spectrum", "--n-energies", "2", "--output", str(out)]
                                    + args + (["--dge", "none"] if "--dge" not in args else []))
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.stderr.splitlines() if "deprecated" in line]
        assert len(warnings) == (1 if args is old and args != new else 0), result.stderr
        outputs.append(QTable.read(out))
    assert np.array_equal(outputs[0]["cocoons"], outputs[1]["cocoons"])


def test_deprecated_dge_and_points_spellings(tmp_path, capsys):
    from gammapy_cocoons.cli import resolve_dge, user_points

    cube = tmp_path / "d.fits"
    cube.write_text("not read here")
    assert resolve_dge(("max",)) == ("embedded", "max")  # --dge max: the member of the band
    assert resolve_dge((), old_dge_model="fermi-pi0") == ("fermi-pi0", "min")
    assert resolve_dge((), old_dge_files=(str(cube),)) == (str(cube), "min")
    assert resolve_dge((str(cube), str(cube))) == ([str(cube), str(cube)], "min")
    assert resolve_dge(("none",), allow_none=True) == (None, "min")
    assert capsys.readouterr().err.count("is deprecated") == 3
    points = tmp_path / "p.ecsv"
    points.write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: e_ref, unit: TeV, datatype: float64}\n"
                      "# - {name: dnde, unit: cm-2 s-1 TeV-1 sr-1, datatype: float64}\n"
                      "# - {name: dnde_err, unit: cm-2 s-1 TeV-1 sr-1, datatype: float64}\n"
                      "e_ref dnde dnde_err\n10 1e-12 1e-13\n")
    old, = user_points([f"{points}:20,40,-2,2"])
    new, = user_points([f"{points}:box:20,40,-2,2"])
    assert "deprecated" in capsys.readouterr().err
    assert old.meta["solid_angle"] == new.meta["solid_angle"] > 0


def test_deprecated_bc_flags(tmp_path):
    (tmp_path / "bc_summary.json").write_text("{}")  # stops the run right after the options are read
    for flag, new in (("--no-profile", "--no-profiles"), ("--with-dampe-calet", "--dampe-calet")):
        result = CliRunner().invoke(main, ["bc", "--outdir", str(tmp_path), flag])
        assert result.exit_code == 2 and "bc_summary.json" in result.stderr
        assert f"{flag.replace('--no-', '--').split('/')[0]}" in result.stderr and new in result.stderr


def test_radius_beyond_eq10_warns(tmp_path):
    """Item 15: --radius far beyond the Eq. 10 bound (~120 pc) was accepted without a word."""
    (tmp_path / "population_summary.json").write_text("{}")  # stops the run after the options are read
    result = CliRunner().invoke(main, ["population", "--outdir", str(tmp_path), "--radius", "500"])
    assert result.exit_code == 2 and "population_summary.json" in result.stderr
    assert "Warning: --radius 500 pc is above the largest cocoon radius of Eq. 10" in result.stderr
    quiet = CliRunner().invoke(main, ["population", "--outdir", str(tmp_path), "--radius", "30"])
    assert "Warning" not in quiet.stderr


def test_help_imports_neither_astropy_nor_gammapy():
    """--help answers without the heavy libraries (issue 25: 3.4 s before); the option ranges are the
    models' own (gammapy_cocoons._ranges is the one place both read)."""
    import subprocess
    import sys

    from gammapy_cocoons import CocoonSpectralModel
    from gammapy_cocoons.models.spectral import GRAMMAGE_LAWS

    code = ("import sys, gammapy_cocoons.cli as cli; "
            "print(sorted(m for m in ('astropy', 'gammapy', 'scipy', 'matplotlib') if m in sys.modules)); "
            "print(cli._CHI0_RANGE, cli._R0_RANGE, cli.GRAMMAGE_LAWS)")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "[]"
    chi0, r0 = CocoonSpectralModel.default_parameters["chi0"], CocoonSpectralModel.default_parameters["r0"]
    assert lines[1] == f"{(chi0.min, chi0.max)} {(r0.min, r0.max)} {GRAMMAGE_LAWS}"
    assert chi0.unit == u.Unit("g cm-2") and r0.unit == u.TV
