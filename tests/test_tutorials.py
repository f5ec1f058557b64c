"""Every tutorial runs as a Jupyter notebook, shows its output and figures inline, and is written
for a notebook user (sphinx-gallery title and cells, no temporary directories or backends)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import tutorial_notebooks  # noqa: E402

TUTORIALS = tutorial_notebooks.TUTORIALS
#: tutorials that draw, and how many figures each shows at least
FIGURES = {"03_bc_and_joint_fit": 1, "04_lhaaso_fit_with_dge": 1, "05_neutrinos_vs_icecube": 1, "06_sky_maps": 2,
           "07_own_dge_and_points": 1, "08_cocoon_population": 2}


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_a_notebook(script, executed_tutorials):
    text, images, errors = tutorial_notebooks.outputs(executed_tutorials[script.stem])
    assert not errors
    assert text.strip()
    assert images >= FIGURES.get(script.stem, 0)


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_written_for_notebooks(script):
    source = script.read_text()
    lines = source.splitlines()
    assert lines[0] == '"""' and set(lines[2]) == {"="} and len(lines[2]) >= len(lines[1]), "gallery title"
    assert "# %%" in source
    for forbidden in ("matplotlib.use", "tempfile", "savefig"):
        assert forbidden not in source, forbidden


def test_the_required_topics_are_there():
    names = {p.stem for p in TUTORIALS}
    assert {"07_own_dge_and_points", "08_cocoon_population"} <= names and len(names) >= 8


def test_a_failing_tutorial_names_itself(tmp_path):
    broken = tmp_path / "99_broken.py"
    broken.write_text('"""\nBroken\n======\n\nA tutorial with an error.\n"""\n\n# %%\n# text\n\n1 / 0\n')
    with pytest.raises(tutorial_notebooks.TutorialError, match="99_broken.py.*ZeroDivisionError"):
        tutorial_notebooks.execute(broken, tmp_path / "out")


def test_tutorials_sharing_a_kernel_start_afresh(tmp_path, monkeypatch):
    """One kernel runs tutorials in turn (executed_notebooks): each in its own namespace and working
    directory, numbered from 1 without the reset cell; a relative notebook folder works."""
    import json

    first = tmp_path / "98_first.py"
    first.write_text('"""\nFirst\n=====\n\nDefines x.\n"""\n\n# %%\n# text\n\n'
                     'import os\nx = 1\nprint(os.getcwd())\n\n# %%\n# more\n\nx + 1\n')
    second = tmp_path / "99_second.py"
    second.write_text('"""\nSecond\n======\n\nUses x without defining it.\n"""\n\n# %%\n# text\n\nx\n')
    monkeypatch.chdir(tmp_path)
    with tutorial_notebooks.Kernel() as kernel:
        path = tutorial_notebooks.execute(first, "out", kernel=kernel)
        with pytest.raises(tutorial_notebooks.TutorialError, match="99_second.py.*NameError"):
            tutorial_notebooks.execute(second, "out", kernel=kernel)
    notebook = json.loads(path.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert "".join(code[0]["source"]).startswith("%matplotlib inline") and "%reset" not in path.read_text()
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert code[-1]["outputs"][0]["execution_count"] == len(code)
    text, _, errors = tutorial_notebooks.outputs(path)
    assert not errors and str(tmp_path / "out" / "run" / "98_first") in text
