"""Sphinx configuration of the gammapy-cocoons documentation (build: sphinx-build -W -b html docs docs/_build)."""
from importlib import metadata

project = "gammapy-cocoons"
author = "the gammapy-cocoons developers"
copyright = "2026, " + author
try:
    release = metadata.version("gammapy-cocoons")
except metadata.PackageNotFoundError:
    release = "unknown"

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
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

html_theme = "alabaster"
html_title = f"gammapy-cocoons {release}"
html_static_path = []
version = release
