"""Sphinx configuration of the gammapy-cocoons documentation (build: sphinx-build -W -b html docs docs/_build)."""
import shutil
import sys
from importlib import metadata
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
import tutorial_notebooks  # noqa: E402

project = "gammapy-cocoons"
author = "the gammapy-cocoons developers"
copyright = "2026, " + author
try:
    release = metadata.version("gammapy-cocoons")
except metadata.PackageNotFoundError:
    release = "unknown"

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "tutorials/*.py", "_generated"]
# the tutorial notebooks arrive executed (below); the docs build never runs a cell itself
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# the API reference documents the members listed in each module's __all__
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# references to other projects are written as `~astropy.units.Quantity`; resolved offline as plain text
default_role = "obj"
nitpicky = False

html_theme = "pydata_sphinx_theme"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_title = f"gammapy-cocoons {release}"
html_static_path = []
version = release


def _tutorial_pages():
    """docs/tutorials/NAME.ipynb (executed, with a download line) and NAME.py for every tutorial.

    The notebooks come from tutorial_notebooks: executed once and cached by script hash (the
    tests execute them and point $GAMMAPY_COCOONS_NOTEBOOKS here, so the build reuses them). A
    failing tutorial stops the build with its name and the error.
    """
    target = Path(__file__).parent / "tutorials"
    target.mkdir(exist_ok=True)
    for executed in tutorial_notebooks.executed_notebooks():
        notebook = nbformat.read(executed, as_version=4)
        name = executed.stem
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(
            f"Download this tutorial as a Jupyter notebook: {{download}}`{name}.ipynb <{name}.ipynb>`, or as a "
            f"Python script: {{download}}`{name}.py <{name}.py>`."))
        nbformat.write(notebook, target / f"{name}.ipynb")
        shutil.copyfile(tutorial_notebooks.ROOT / "tutorials" / f"{name}.py", target / f"{name}.py")



def _reproduced_figures():
    """docs/_generated/*.png: the figures of `gammapy-cocoons reproduce`, from the tests' run
    ($GAMMAPY_COCOONS_REPRODUCED) or from a run of this build (about half a minute, kept in _build)."""
    import os

    source = os.environ.get("GAMMAPY_COCOONS_REPRODUCED")
    if not source:
        source = Path(__file__).parent / "_build" / "reproduce"
        if not (source / "SUMMARY.md").exists():
            from gammapy_cocoons.analysis.reproduce import reproduce

            reproduce(source, overwrite=True)
    target = Path(__file__).parent / "_generated"
    target.mkdir(exist_ok=True)
    for png in sorted(Path(source).glob("fig*.png")):
        shutil.copyfile(png, target / png.name)



#: dpi of the figures drawn for these pages
_DOCS_DPI = 72


def _dge_validation_figure():
    """docs/_generated/dge_validation.png: the embedded DGE against the Fermi-LAT pi0 template (the
    DGE is cached in the process, so within the tests this costs a few seconds)."""
    import matplotlib.pyplot as plt

    from gammapy_cocoons.dge import conventional_dge
    from gammapy_cocoons.analysis.plotting import plot_dge_validation

    target = Path(__file__).parent / "_generated"
    target.mkdir(exist_ok=True)
    fig = plot_dge_validation(conventional_dge("min"))  # (no layout pass: drawn once, when saved)
    fig.savefig(target / "dge_validation.png", dpi=_DOCS_DPI)
    plt.close(fig)


def _local_spectra_figure():
    """docs/_generated/local_spectra.png: the local H and He spectra of every knee variant against
    the data they were fitted to (the fits take about a second together)."""
    import matplotlib.pyplot as plt

    from gammapy_cocoons.analysis.plotting import figures_at, plot_local_spectra

    target = Path(__file__).parent / "_generated"
    target.mkdir(exist_ok=True)
    with figures_at(_DOCS_DPI):  # made at the image's dpi: its draw reuses the layout's text measurements
        fig = plot_local_spectra()
    fig.savefig(target / "local_spectra.png", dpi=_DOCS_DPI)
    plt.close(fig)


def _local_electrons_figure():
    """docs/_generated/local_electrons.png: the local e+e- fit against the data it was fitted to."""
    import matplotlib.pyplot as plt

    from gammapy_cocoons.analysis.plotting import figures_at, plot_local_electrons

    target = Path(__file__).parent / "_generated"
    target.mkdir(exist_ok=True)
    with figures_at(_DOCS_DPI):
        fig = plot_local_electrons()
    fig.savefig(target / "local_electrons.png", dpi=_DOCS_DPI)
    plt.close(fig)


_tutorial_pages()
_reproduced_figures()
_dge_validation_figure()
_local_spectra_figure()
_local_electrons_figure()
