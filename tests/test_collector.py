"""_collector: the command line's processes skip the garbage collection of their long-lived objects
at exit (gc.freeze after every other exit handler); forked children and background interpreters too."""
import gc
import json
import logging
import subprocess
import sys

import pytest

from gammapy_cocoons import _collector
from gammapy_cocoons.analysis import background
from gammapy_cocoons.analysis.forked import ForkedCall, can_fork

# an exit handler registered before the command starts runs after all others: it sees the freeze
_SEES_THE_FREEZE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
{body}
"""


def _run(body):
    code = _SEES_THE_FREEZE.format(body=body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_the_objects_are_frozen_after_the_exit_handlers_registered_later():
    done = _run("from gammapy_cocoons._collector import skip_collection_at_exit, skips_collection_at_exit\n"
                "before = atexit._ncallbacks(), skips_collection_at_exit()\n"
                "skip_collection_at_exit(); skip_collection_at_exit()\n"
                "print('registered:', atexit._ncallbacks() - before[0], before[1], skips_collection_at_exit())\n"
                "atexit.register(lambda: print('later handler sees a freeze:', gc.get_freeze_count() > 0))")
    assert done.returncode == 0, done.stderr
    # registered once; the handlers registered after it run before it, the earlier one after
    assert done.stdout.split("\n")[:3] == ["registered: 1 False True", "later handler sees a freeze: False",
                                           "frozen at exit: True"]


def test_nothing_is_frozen_at_exit_without_it():
    done = _run("import gammapy_cocoons._collector")
    assert done.stdout.strip() == "frozen at exit: False"


def test_a_command_line_run_skips_the_collection_at_exit():
    # the group's callback runs before the command's options are parsed: an option error suffices
    done = _run("from gammapy_cocoons.cli import main\n"
                "sys.argv = ['gammapy-cocoons', 'spectrum', '--chi0', 'nan']\nmain()")
    assert done.returncode == 2 and "--chi0" in done.stderr
    assert done.stdout.strip() == "frozen at exit: True"


@pytest.mark.skipif(not can_fork(), reason="ForkedCall forks on Linux only")
def test_a_forked_child_freezes_what_it_inherits_and_the_parent_does_not():
    before = gc.get_freeze_count()
    assert ForkedCall(gc.get_freeze_count).result() > 0
    assert gc.get_freeze_count() == before


def test_a_background_interpreter_skips_the_collection_at_exit(tmp_path, monkeypatch):
    registered = []
    monkeypatch.setattr(_collector, "_registered", False)
    monkeypatch.setattr(_collector.atexit, "register", registered.append)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)  # the child's side sets it (its own process's)
    handlers = list(root.handlers)
    (tmp_path / "call.json").write_text(json.dumps({"module": "math", "name": "fsum", "args": [[0.5, 0.25]]}))
    background._child(str(tmp_path))
    assert json.loads((tmp_path / "result.json").read_text())["result"] == 0.75
    assert registered == [gc.freeze]
    assert root.handlers == handlers  # its handler of log records removed again


def test_compare_workers_skip_the_collection_at_exit():
    from gammapy_cocoons.analysis.compare import worker_pool

    with worker_pool(1) as pool:  # its caller waits for their exit
        assert pool.submit(_collector.skips_collection_at_exit).result()


def test_the_answer_child_freezes_its_imports_for_its_fits_and_the_library_call_does_not():
    code = ("import gc\nimport gammapy_cocoons.analysis.compare as compare\n"
            "import gammapy_cocoons.analysis.answer as answer\n"
            "compare.compare_dge = lambda dge, variants, parallel_toys: print(gc.get_freeze_count() > 0, "
            "parallel_toys) or {'rows': []}\n"
            "answer.answer_fits(['a.fits', 'b.fits'], False)\n"
            "answer.answer_fits(['a.fits', 'b.fits'], True); print(gc.get_freeze_count() > 0)")
    # frozen during the child's fits only; the child, a process of the command line, forks half its toys
    assert _python(code).split() == ["False", "False", "True", "True", "False"]


def test_reproduce_freezes_its_imports_before_the_run():
    # (the Fermi DGE: no prefetch helper for the embedded one's cubes, which this stubbed run never builds)
    code = ("import gc, sys\nimport gammapy_cocoons.analysis.reproduce as reproduce\n"
            "import gammapy_cocoons.analysis.answer as answer\n"
            "answer.start_answer = lambda dge, fork=False: None\n"
            "def run(*args, **kwargs):\n"
            "    print('frozen before the run:', gc.get_freeze_count() > 0)\n"
            "    fit = {'parameters': {'chi0': {'value': 0.4, 'error': 0.1}}}\n"
            "    return {'bc_fit': fit, 'lhaaso_fit': fit, 'joint_fit': fit}\n"
            "reproduce.reproduce = run\n"
            "from gammapy_cocoons.cli import main\n"
            "sys.argv = ['gammapy-cocoons', 'reproduce', '--outdir', sys.argv[1], '--dge', 'fermi-pi0']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('frozen after the command:', gc.get_freeze_count() > 0)")
    lines = _python(code, "unused").split("\n")
    assert lines[0] == "frozen before the run: True"
    # only for the run: a command run in-process (click's test runner) leaves the process unfrozen
    assert lines[-2] == "frozen after the command: False"


def test_frozen_imports_leaves_a_frozen_process_frozen():
    code = ("import gc\nfrom gammapy_cocoons._collector import frozen_imports\n"
            "with frozen_imports():\n    inside = gc.get_freeze_count() > 0\n"
            "print(inside, gc.get_freeze_count() > 0)\n"
            "gc.freeze(); count = gc.get_freeze_count()\n"
            "with frozen_imports():\n    pass\n"
            "print(gc.get_freeze_count() == count)")
    assert _python(code).split() == ["True", "False", "True"]


def _python(code, *args):
    """The standard output of ``code`` run by a fresh interpreter (which must succeed)."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout
