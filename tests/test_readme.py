"""The README's quick start runs as written, and its commands are the ones CI runs."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_runs(tmp_path, monkeypatch):
    section = README.split("## Quick start", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith(("import", "from"))]) <= 12
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    assert namespace["result"].success
    assert (tmp_path / "outer.png").stat().st_size > 10_000
    import matplotlib.pyplot as plt

    plt.close("all")


def test_readme_commands_are_what_ci_runs():
    commands = re.findall(r"```bash\n(.*?)\n```", README.split("## Two commands", 1)[1].split("##", 1)[0])
    assert commands == ["pip install . && gammapy-cocoons reproduce --outdir paper-figures",
                        'pip install ".[test]" && python -m pytest']
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install ".[test]"' in ci and "python -m pytest" in ci
    assert (ROOT / "docs" / "images" / "fig2_sed.png").is_file()
