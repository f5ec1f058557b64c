"""The package's layers point down only (physics <- models <- templates/dge <- analysis <- cli),
and the names that moved to gammapy_cocoons.analysis keep working with a DeprecationWarning."""
import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "gammapy_cocoons"

#: rank of each top-level part; a module may import its own rank or lower ones
RANKS = {
    "constants": 0, "_validation": 0, "_files": 0, "_threads": 0, "_collector": 0, "_cache": 0, "_ranges": 0,
    "_kiss": 0, "_hugepages": 0,
    "physics": 0, "skyregions": 0, "pixelweights": 0,
    "emission": 1, "datasets": 1,
    "models": 2,
    "templates": 3, "dge": 3, "population": 3,
    "analysis": 4,
    "cli": 5,
}
#: deprecated modules that re-export from analysis/ for one release
SHIMS = ("fitting", "bcfit", "reproduce", "plotting")


def _imported_parts(path, package_root=PACKAGE):
    """Top-level parts of gammapy_cocoons imported by the module at ``path`` (static imports)."""
    module = list(path.relative_to(package_root.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module[:-1]
    package = [p for p in package if p != "__init__"]
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")
            names = [target] if len(target) > 1 else [target + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for name in names:
            if name[0] == "gammapy_cocoons" and len(name) > 1:
                parts.add(name[1])
    return parts


def _part(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_point_down(path):
    part = _part(path)
    if part in SHIMS:
        return
    assert part in RANKS, f"{part} has no layer: add it to RANKS"
    upward = {p for p in _imported_parts(path) if p in RANKS and RANKS[p] > RANKS[part]}
    assert not upward, f"{path.relative_to(PACKAGE)} ({part}) imports the higher layer(s) {sorted(upward)}"


def test_the_checker_sees_upward_imports(tmp_path):
    root = tmp_path / "gammapy_cocoons"
    source = root / "physics" / "bad.py"
    source.parent.mkdir(parents=True)
    source.write_text("from ..analysis.fitting import build_lhaaso_fit\nfrom .. import dge\n"
                      "import gammapy_cocoons.cli\nfrom . import lineofsight\n")
    assert _imported_parts(source, root) == {"analysis", "dge", "cli", "physics"}


@pytest.mark.parametrize("name", SHIMS)
def test_moved_modules_warn_and_are_the_new_ones(name):
    sys.modules.pop(f"gammapy_cocoons.{name}", None)
    with pytest.warns(DeprecationWarning, match=f"gammapy_cocoons.analysis.{name}"):
        old = importlib.import_module(f"gammapy_cocoons.{name}")
    assert old is importlib.import_module(f"gammapy_cocoons.analysis.{name}")


@pytest.mark.parametrize("name, where", [("run_population", "analysis.population"),
                                         ("lhaaso_comparison", "analysis.population"),
                                         ("lhaaso_catalog", "datasets")])
def test_moved_population_names_warn(name, where):
    import gammapy_cocoons.population as population

    with pytest.warns(DeprecationWarning, match=f"gammapy_cocoons.{where}.{name}"):
        value = getattr(population, name)
    assert value is getattr(importlib.import_module(f"gammapy_cocoons.{where}"), name)
    with pytest.raises(AttributeError):
        population.no_such_name  # noqa: B018


def test_blas_threads_are_limited_unless_the_user_chose():
    from threadpoolctl import threadpool_info

    from gammapy_cocoons._threads import limit_blas_threads

    assert limit_blas_threads(environ={"OPENBLAS_NUM_THREADS": "2"}) is None
    limiter = limit_blas_threads(1, environ={})
    try:
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    finally:
        limiter.restore_original_limits()


def test_hugepage_advice_is_off_unless_the_user_chose():
    from gammapy_cocoons._hugepages import HUGEPAGE_VARIABLE, _numpy_getter, _numpy_setter, avoid_hugepage_advice

    get, set_ = _numpy_getter(), _numpy_setter()  # numpy._core (2.x) or numpy.core (1.26)
    before = set_(True)
    try:
        chosen = {HUGEPAGE_VARIABLE: "1"}
        assert avoid_hugepage_advice(environ=chosen) is None
        assert chosen == {HUGEPAGE_VARIABLE: "1"} and get()  # the user's choice: untouched
        environ = {}
        assert avoid_hugepage_advice(environ=environ) is True  # it was on
        assert environ == {HUGEPAGE_VARIABLE: "0"} and not get()
    finally:
        set_(before)


def test_the_command_line_turns_the_hugepage_advice_off_for_itself_and_its_children():
    # numpy reads the variable at import: a fresh interpreter started by the command line has it off
    # too; a user's NUMPY_MADVISE_HUGEPAGE is kept
    script = ("import os, sys; from click.testing import CliRunner; from gammapy_cocoons.cli import main; "
              "from gammapy_cocoons._hugepages import _numpy_getter; "
              "CliRunner().invoke(main, ['spectra', '--help'], standalone_mode=False); "
              "print(_numpy_getter()(), os.environ.get('NUMPY_MADVISE_HUGEPAGE'))")
    import os
    import subprocess

    for chosen, expected in ((None, ["False", "0"]), ("1", ["True", "1"])):
        environ = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
        if chosen is not None:
            environ["NUMPY_MADVISE_HUGEPAGE"] = chosen
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env=environ).stdout.split()
        assert out == expected


def test_blas_libraries_loaded_later_are_limited_too():
    # scipy bundles its own OpenBLAS, loaded after the limit (and `import gammapy_cocoons` loads no numpy):
    # it starts with one thread too (two threads on two busy cores made a 57x4 @ 4x8192 product 70x slower)
    script = ("import os; [os.environ.pop(n, None) for n in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', "
              "'MKL_NUM_THREADS', 'BLIS_NUM_THREADS')]; "
              "from gammapy_cocoons._threads import limit_blas_threads; limit_blas_threads(); import scipy.linalg; "
              "from threadpoolctl import threadpool_info; "
              "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}), "
              "len([p for p in threadpool_info() if p['user_api'] == 'blas']) > 1)")
    assert _run(script) == ["[1]", "True"]


def _run(script):
    import subprocess

    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()


def test_import_is_lazy_and_registers_in_either_order():
    # importing the package loads no heavy module; its models join gammapy's registries as soon as
    # these exist, whichever is imported first (two fresh interpreters, ~3 s each: one per order)
    check = ("from gammapy.modeling.models import SPECTRAL_MODEL_REGISTRY as S, SPATIAL_MODEL_REGISTRY as P, "
             "MODEL_REGISTRY as M; print(sorted(c.__name__ for c in S + P + M if c.__module__.startswith('gammapy_c')))")
    expected = ("['BoronCarbonModel', 'CocoonSpatialModel', 'CocoonSpectralModel', 'EnergyScaleFactor', "
                "'EnergyScaleSpectralModel', 'RegionFluxSpectralModel']")
    # package first: nothing heavy on import; a public name imports its module on first access
    # (one that needs no gammapy); gammapy imported after it finds the package's models in its
    # registries; then a model's name
    package_first = ("import sys, gammapy_cocoons as g\n"
                     "print('gammapy.modeling.models' in sys.modules, 'astropy.units' in sys.modules)\n"
                     "print('gammapy_cocoons.physics.cosmicrays' in sys.modules, type(g.PROTON).__name__, "
                     "'gammapy_cocoons.physics.cosmicrays' in sys.modules, 'gammapy.modeling.models' in sys.modules)\n"
                     + check + "\nprint(g.CocoonSpectralModel.__name__, 'ENERGY_RANGE' in dir(g))")
    lines = _run(package_first)
    assert lines[:6] == ["False", "False", "False", "Species", "True", "False"]
    assert lines[-2:] == ["CocoonSpectralModel", "True"]
    assert " ".join(lines[6:-2]) == expected
    assert " ".join(_run("import gammapy.modeling.models\nimport gammapy_cocoons\n" + check)) == expected


def test_unknown_package_attributes_raise():
    import gammapy_cocoons

    with pytest.raises(AttributeError, match="no attribute 'NoSuchModel'"):
        gammapy_cocoons.NoSuchModel  # noqa: B018
