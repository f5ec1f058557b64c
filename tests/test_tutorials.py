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
