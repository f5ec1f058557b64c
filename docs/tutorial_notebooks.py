"""The tutorials as executed Jupyter notebooks, for the documentation and the tests.

Each ``tutorials/NAME.py`` is a sphinx-gallery script. It is converted to a notebook by
sphinx-gallery's own converter and executed once with nbclient (an ipykernel kernel) in a scratch
directory; the executed notebook, with its printed output and inline figures, is what the
documentation shows (myst-nb, no execution there) and what the tests check. Executed notebooks
are cached by the hash of their script, so the tests and the docs build share one execution.

Several tutorials run one after another in one kernel, as sphinx-gallery runs its examples in one
interpreter: the imports and the package's in-memory caches are paid once per kernel, not once
per tutorial (a kernel costs ~3.5 s of CPU to start and import gammapy). Each starts in a fresh
namespace (``%reset -f``: a tutorial that forgot an import still fails), in its own working
directory, with no open figure and matplotlib's settings as at start-up. What a namespace reset
cannot undo is shared: imported modules (a tutorial using ``astropy.units`` after only ``import
astropy`` would pass after one that imported it), warnings already shown once, and the package's
caches (the same numbers, sooner).

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


class Kernel:
    """One Jupyter kernel for several tutorials in turn (a context manager; shut down on exit)."""

    def __init__(self):
        self._client = None  # the last NotebookClient; its kernel manager runs the next one

    def run(self, notebook, scratch, timeout):
        """Execute ``notebook`` in a fresh namespace with ``scratch`` as working directory."""
        import nbformat
        from nbclient import NotebookClient

        previous = self._client
        reset = nbformat.v4.new_code_cell(
            f"%reset -f\nimport os as _os; _os.chdir({str(scratch)!r}); del _os\n"
            "import matplotlib as _mpl, matplotlib.pyplot as _plt; _plt.close('all'); _mpl.rc_file_defaults()\n"
            "del _mpl, _plt")
        notebook.cells.insert(0, reset)
        self._client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                      km=None if previous is None else previous.km,
                                      resources={"metadata": {"path": str(scratch)}})
        if previous is not None and previous.kc is not None:
            previous.kc.stop_channels()  # one listening client per kernel
        try:
            self._client.execute(cleanup_kc=False)
        finally:
            # the notebook as if run alone: without the reset cell, cells numbered from 1
            notebook.cells.pop(0)
            for cell in notebook.cells:
                if cell.cell_type == "code" and cell.get("execution_count"):
                    cell.execution_count -= 1
                    for output in cell.outputs:
                        if "execution_count" in output:
                            output.execution_count = cell.execution_count

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._client is not None and self._client.km is not None:
            self._client._cleanup_kernel()


def execute(script, directory, timeout=900, kernel=None):
    """Execute ``script`` as a notebook, write ``directory/NAME.ipynb`` and return its path.

    A notebook already there from the same script (same hash) is reused. ``kernel`` (a
    :class:`Kernel`) runs it after the tutorials it ran before; None: a kernel of its own. A
    failing cell raises :class:`TutorialError` naming the tutorial, the cell and the error.
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError

    script = Path(script)
    directory = Path(directory).resolve()  # a shared kernel's working directory is the last tutorial's
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{script.stem}.ipynb"
    if target.exists():
        cached = nbformat.read(target, as_version=4)
        if cached.metadata.get(_HASH_KEY) == script_hash(script):
            return target
    notebook = to_notebook(script)
    scratch = directory / "run" / script.stem
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        if kernel is None:
            with Kernel() as own:
                own.run(notebook, scratch, timeout)
        else:
            kernel.run(notebook, scratch, timeout)
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

    import queue

    directory = Path(directory or os.environ.get(CACHE_VARIABLE) or ROOT / "docs" / "_build" / "notebooks").resolve()
    workers = workers or os.cpu_count() or 1
    # the slowest first, so that the kernels finish together; each kernel takes the next one left
    waiting = queue.SimpleQueue()
    for script in sorted(TUTORIALS, key=lambda p: -p.stat().st_size):
        waiting.put(script)
    done = {}

    def work():
        with Kernel() as kernel:
            while True:
                try:
                    script = waiting.get_nowait()
                except queue.Empty:
                    return
                done[script] = execute(script, directory, kernel=kernel)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
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
