"""One function run in a forked copy of this process: a command's independent step overlapping
its other steps on a second core, with nothing to import or rebuild (``fit``'s outputs).

``ForkedCall(function)`` forks at once (Linux): the child starts with everything this process
holds (imported modules, models, the DGE cube: copy-on-write, nothing is copied up front), calls
``function()`` and sends back its result (pickled) or its exception, then ends with ``os._exit``
(no atexit handlers, no second flush of this process's buffers). :meth:`~ForkedCall.result` waits
for it and returns the result or raises the child's exception. Where forking is not safe or not
available (not Linux: macOS's system libraries and Windows; ``fork=False``; a child that cannot
start) the function runs in this process when the result is asked for, so the caller's steps run
in order as they would without this module. :meth:`~ForkedCall.cancel` (also on leaving a
``with`` block without the result) ends the child.

The function must not touch what this process shares with the outside (its output set, progress
bars, open files it writes): a child's changes stay in the child. Unlike
:class:`~gammapy_cocoons.analysis.background.BackgroundCall` (a fresh interpreter, for work that
shares nothing) it costs no import and no rebuild, and is only for the command line: the caller
decides (a notebook's kernel, with its threads and sockets, must not fork).
"""
import os
import pickle
import signal
import sys
import warnings

__all__ = ["ForkedCall", "can_fork"]


def can_fork():
    """Whether :class:`ForkedCall` runs its function in a child: on Linux (``os.fork``)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkedCall:
    """``function()`` in a forked child (``fork`` and :func:`can_fork`), else in this process at
    :meth:`result`."""

    def __init__(self, function, fork=True):
        from .._validation import boolean

        fork = boolean(fork, "fork")
        if not callable(function):
            raise TypeError(f"function must be callable, got {function!r}")
        self._function = function
        self._pid = None
        self._done = False
        if not (fork and can_fork()):
            return
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        read, write = os.pipe()
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns on fork with threads; the child runs only numpy, matplotlib
                # (Agg) and file writes, and the threads it leaves behind (BLAS, tqdm) are idle
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: never returns
            os.close(read)
            _child(function, write)
        os.close(write)
        self._pid, self._read = pid, read

    @property
    def forked(self):
        """Whether the function runs in a child process."""
        return self._pid is not None

    def result(self):
        """The function's result (its exception raised here), from the child or computed now."""
        if self._done:
            raise RuntimeError("the result of a ForkedCall is collected once")
        self._done = True
        if self._pid is None:
            return self._function()
        chunks = []
        with os.fdopen(self._read, "rb") as stream:  # read all before waiting: a full pipe blocks the child
            while True:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        pid, self._pid = self._pid, None
        _, status = os.waitpid(pid, 0)
        data = b"".join(chunks)
        if not data:
            raise RuntimeError(f"the forked child ended without a result (wait status {status})")
        ok, value = pickle.loads(data)
        if ok:
            return value
        raise value

    def cancel(self):
        """End the child if it still runs (its result is dropped)."""
        pid, self._pid = self._pid, None
        self._done = True
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(self._read)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False


def _child(function, write):
    """The child's side: call, send (True, result) or (False, exception), and end."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child; the parent reports
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            payload = (True, function())
        except BaseException as error:  # noqa: BLE001 - every failure goes to the parent
            payload = (False, error)
        try:
            data = pickle.dumps(payload)
        except Exception as error:  # an unpicklable result or exception: say what it was
            data = pickle.dumps((False, RuntimeError(f"the forked child's {'result' if payload[0] else 'error'} "
                                                     f"could not be sent back: {payload[1]!r} ({error})")))
        with os.fdopen(write, "wb") as stream:
            stream.write(data)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)
