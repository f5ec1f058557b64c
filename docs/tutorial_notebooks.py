"""The tutorials as executed Jupyter notebooks, for the documentation and the tests.

Each ``tutorials/NAME.py`` is a sphinx-gallery script. It is converted to a notebook by
sphinx-gallery's own converter and executed once with nbclient (an ipykernel kernel) in a scratch
directory; the executed notebook, with its printed output and inline figures, is what the
documentation shows (myst-nb, no execution there) and what the tests check. Executed notebooks
are cached by the hash of their script, so the tests and the docs build share one execution.

Used by ``docs/conf.py`` and ``tests/test_tutorials.py``.
"""
import copy
import hashlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))
#: where executed notebooks are kept between the tests and the docs build (set by the tests)
CACHE_VARIABLE = "GAMMAPY_COCOONS_NOTEBOOKS"
_HASH_KEY = "gammapy_cocoons_script_sha256"


class TutorialError(RuntimeError):
    """A tutorial failed: the message names it and the error."""


def script_hash(script):
    return hashlib.sha256(Path(script).read_bytes()).hexdigest()


def to_notebook(script):
    """The sphinx-gallery notebook of ``script`` (an nbformat NotebookNode)."""
    import nbformat
    from sphinx_gallery import gen_gallery
    from sphinx_gallery.notebook import jupyter_notebook
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    conf = copy.deepcopy(gen_gallery.DEFAULT_GALLERY_CONF)
    conf["first_notebook_cell"] = "%matplotlib inline"
    _, blocks = split_code_and_text_blocks(str(script))
    content = jupyter_notebook(blocks, conf, Path(script).parent)
    notebook = nbformat.reads(json.dumps(content), as_version=4)  # joins the cells' line lists
    notebook.metadata[_HASH_KEY] = script_hash(script)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(script, directory, timeout=900):
    """Execute ``script`` as a notebook, write ``directory/NAME.ipynb`` and return its path.

    A notebook already there from the same script (same hash) is reused. A failing cell raises
    :class:`TutorialError` naming the tutorial, the cell and the error.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    script = Path(script)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{script.stem}.ipynb"
    if target.exists():
        cached = nbformat.read(target, as_version=4)
        if cached.metadata.get(_HASH_KEY) == script_hash(script):
            return target
    notebook = to_notebook(script)
    scratch = directory / "run" / script.stem
    scratch.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(scratch)}})
    try:
        client.execute()
    except CellExecutionError as error:
        import re

        lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
        raise TutorialError(f"tutorial {script.name} failed: {lines[-1] if lines else error}") from None
    temporary = target.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, target)
    return target


def executed_notebooks(directory=None, workers=None):
    """Every tutorial executed (or reused from ``directory`` / $GAMMAPY_COCOONS_NOTEBOOKS), up to
    ``workers`` kernels at a time (default: the number of cores)."""
    from concurrent.futures import ThreadPoolExecutor

    directory = Path(directory or os.environ.get(CACHE_VARIABLE) or ROOT / "docs" / "_build" / "notebooks")
    workers = workers or os.cpu_count() or 1
    # the slowest first, so that the kernels finish together
    order = sorted(TUTORIALS, key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(order, pool.map(lambda script: execute(script, directory), order)))
    return [done[script] for script in TUTORIALS]


def outputs(path):
    """(printed text, number of inline images, error outputs) of an executed notebook."""
    notebook = json.loads(Path(path).read_text())
    text, images, errors = [], 0, []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(output.get("ename"))
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text.append("".join(output["text"]))
            data = output.get("data", {})
            images += int("image/png" in data)
            if "text/plain" in data:
                text.append("".join(data["text/plain"]))
    return "".join(text), images, errors
