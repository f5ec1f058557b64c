"""analysis._forked.ForkedCall: a function in a forked copy of the process, its result returned, and a
child that fails never hides anything (the call runs in the parent)."""
import os

import numpy as np
import pytest

from gammapy_cocoons.analysis import _forked as forked
from gammapy_cocoons.analysis._forked import ForkedCall


def _pid_and_sum(array):
    return os.getpid(), float(array.sum())


def test_the_child_computes_on_the_parents_data():
    data = np.arange(1e6)
    with ForkedCall(_pid_and_sum, data) as call:
        assert call.forked
        pid, total = call.result()
    assert pid != os.getpid() and total == data.sum()
    assert not call.forked


def test_a_child_that_fails_leaves_the_call_to_the_parent():
    parent = os.getpid()

    def fails_in_a_child(x):
        if os.getpid() != parent:
            raise RuntimeError("child only")
        return x + 1

    def dies_in_a_child(x):
        if os.getpid() != parent:
            os._exit(3)
        return x + 2

    assert ForkedCall(fails_in_a_child, 1).result() == 2
    assert ForkedCall(dies_in_a_child, 1).result() == 3

    def fails(x):
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 4"):  # the error as raised in the parent, with its traceback
        ForkedCall(fails, 4).result()


def test_without_fork_the_call_runs_at_result(monkeypatch):
    monkeypatch.delattr(forked.os, "fork")
    call = ForkedCall(_pid_and_sum, np.ones(3))
    assert not call.forked and call.result() == (os.getpid(), 3.0)


def test_leaving_the_block_ends_a_child_not_collected():
    import time

    with ForkedCall(time.sleep, 60) as call:
        pid = call._pid
    assert not call.forked
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def _warns(x):
    import warnings

    warnings.warn(f"careful with {x}", RuntimeWarning)
    return x


def test_the_childs_warnings_are_issued_in_the_parent():
    call = ForkedCall(_warns, 5)
    assert call.forked
    with pytest.warns(RuntimeWarning, match="careful with 5"):
        assert call.result() == 5
