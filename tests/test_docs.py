"""The documentation site builds without warnings, and covers every tutorial and bundled file."""
from pathlib import Path

from sphinx.cmd.build import build_main

ROOT = Path(__file__).parents[1]


def test_sphinx_build_has_no_warnings(tmp_path, executed_tutorials, reproduced):
    # -W: every warning (bad docstring markup, broken reference, missing page) fails the build
    status = build_main(["-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
                         str(ROOT / "docs"), str(tmp_path / "html")])
    assert status == 0
    html = (tmp_path / "html" / "api.html").read_text()
    for name in ("CocoonSpectralModel", "RegionFluxSpectralModel", "BoronCarbonModel", "make_cube", "reproduce"):
        assert name in html, f"{name} missing from the API reference"
    # the tutorials: executed notebooks with their figures inline, offered for download
    for name in executed_tutorials:
        page = (tmp_path / "html" / "tutorials" / f"{name}.html").read_text()
        assert f"{name}.ipynb" in page and f"{name}.py" in page, name
    assert "<img" in (tmp_path / "html" / "tutorials" / "08_cocoon_population.html").read_text()
    # the reproduced figures come from the reproduce run, not from committed images
    page = (tmp_path / "html" / "reproduce.html").read_text()
    for figure in ("fig1_bc", "fig2_sed", "figB1_neutrinos", "figB2_r0_scan", "figB3_grammage_laws", "figP_population"):
        assert f"{figure}.png" in page, figure
        assert (tmp_path / "html" / "_images" / f"{figure}.png").is_file(), figure
    page = (tmp_path / "html" / "dge.html").read_text()
    assert "dge_validation.png" in page and "local_spectra.png" in page


def test_data_page_lists_every_bundled_file():
    data = ROOT / "gammapy_cocoons" / "data"
    readme = (data / "README.md").read_text()
    missing = [p.name for p in data.glob("*/*") if p.is_file() and p.name not in readme]
    assert not missing, f"data/README.md does not document {missing}"
