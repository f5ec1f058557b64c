"""One function run in a forked copy of this process: a command's independent step overlapping
its other steps on a second core, on the data the process already holds, with nothing to import
or rebuild (``fit``'s outputs; ``population``'s containment, smooth model and PDF).

``ForkedCall(function, *args)`` forks at once (Linux, :func:`can_fork`): the child starts with
everything this process holds (imported modules, models, cubes: copy-on-write, nothing copied or
pickled on the way in), calls ``function(*args)``, sends back its pickled result or exception, its
warnings (each once) and its log records of WARNING and above through a pipe, and ends with
``os._exit`` (no exit handlers, no second flush of this process's buffers). :meth:`~ForkedCall.result`
waits for it and returns the result, issuing the child's warnings and log records again here (this
process's filters and handlers decide about them), or raises the child's exception. Ctrl-C and
SIGTERM are held back across the fork, so that the child never runs this process's code (one that
arrived meanwhile ends the child here too); with ``new_group`` the child leads a process group of
its own (ended whole by :meth:`~ForkedCall.cancel`, with what it forks) and writes nothing to the
terminal. A child that ends without a result (killed, out of memory) is an error, unless the call
was made with ``rerun=True``: then the function runs again in this process, as it does for a child
that raised (the same result, or the error raised here with its traceback); only for functions
that hold no resource of the parent's (file descriptors, pipes).

Where forking is not safe or not available (not Linux: macOS's system libraries and Windows;
``fork=False``; a child that cannot start) the function runs in this process when the result is
asked for, so the caller's steps run in order as they would without this module.
:meth:`~ForkedCall.cancel` (also on leaving a ``with`` block without the result) ends the child.

The function must not touch what this process shares with the outside (its output set, progress
bars, files it writes): a child's changes stay in the child; it returns data, and the caller
publishes. A forked child holds only the thread that forked, so the function must not rely on
other threads of the parent. Unlike :class:`~gammapy_cocoons.analysis.background.BackgroundCall`
(a fresh interpreter, for work that shares nothing) it costs no import and no rebuild, and it is
only for the command line: the caller decides (a notebook's kernel, with its threads and sockets,
must not fork).
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
    """``function(*args)`` in a forked child (``fork`` and :func:`can_fork`), else in this process at
    :meth:`result` (module docstring; ``rerun``: a failed child's call runs again here; ``new_group``:
    the child leads a process group of its own, which :meth:`cancel` ends whole, with the processes
    the function forks in turn)."""

    def __init__(self, function, *args, fork=True, rerun=False, new_group=False):
        from .._validation import boolean

        fork, rerun = boolean(fork, "fork"), boolean(rerun, "rerun")
        self._new_group = boolean(new_group, "new_group")
        if not callable(function):
            raise TypeError(f"function must be callable, got {function!r}")
        self._function, self._args, self._rerun = function, args, rerun
        self._pid = self._read = None
        self._done = False
        if not (fork and can_fork()):
            return
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        read, write = os.pipe()
        # Ctrl-C and SIGTERM held back across the fork (in this thread; with other threads, Python may
        # still raise a Ctrl-C here at any step): the child resets their handlers before it takes
        # them and never runs this process's code; this process ends the child if one is raised
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        pid = None
        try:
            try:
                with warnings.catch_warnings():
                    # Python >= 3.12 warns on fork with threads; the child runs only this function, on
                    # the thread that forked, and the threads it leaves behind (BLAS, tqdm) are idle
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
            except OSError:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                os.close(read)
                os.close(write)
                return
            if pid == 0:  # the child: never returns
                try:
                    _start_child(read, write, self._new_group, held)
                    _child(function, args, write)
                finally:
                    os._exit(1)
            self._pid, self._read = pid, read
            os.close(write)
            if self._new_group:  # here too: a cancel right after the fork finds the group
                try:
                    os.setpgid(pid, pid)
                except OSError:  # the child did it first (or has ended)
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            _take_pending_signals()
        except BaseException:  # e.g. a Ctrl-C held back during the fork: the child ends too
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            if pid and self._pid is None:
                self._pid, self._read = pid, read
            self.cancel()
            raise

    @property
    def forked(self):
        """Whether a child is computing the result (False: :meth:`result` computes it here)."""
        return self._pid is not None

    def result(self):
        """The function's result (its exception raised here), from the child or computed now."""
        if self._done:
            raise RuntimeError("the result of a ForkedCall is collected once")
        self._done = True
        if self._pid is None:
            return self._function(*self._args)
        try:
            with os.fdopen(self._read, "rb") as stream:  # read all before waiting: a full pipe blocks the child
                self._read = None
                data = stream.read()
            pid, self._pid = self._pid, None
            _, status = os.waitpid(pid, 0)
        except BaseException:
            self.cancel()
            raise
        if not data:
            if self._rerun:
                return self._function(*self._args)
            raise RuntimeError(f"the forked child ended without a result (wait status {status})")
        ok, value, issued, records = pickle.loads(data)
        if not ok and self._rerun:
            return self._function(*self._args)
        from .background import reissue_log_records, reissue_warning

        for message, category, filename, lineno in issued:  # under this process's filters
            reissue_warning(message, category, filename, lineno)
        reissue_log_records(records)  # through this process's handlers
        if ok:
            return value
        raise value

    def cancel(self):
        """End the child if it still runs (its result is dropped)."""
        self._done = True
        if self._read is not None:
            os.close(self._read)
            self._read = None
        pid, self._pid = self._pid, None
        if pid is None:
            return
        if self._new_group:
            try:
                os.killpg(pid, signal.SIGKILL)  # the child and what it started
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False


#: the signals held back while forking (the child's handlers are reset before they are taken)
_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _take_pending_signals():
    """Nothing: calling a Python function runs the handlers of the signals that arrived (a Ctrl-C
    held back during a fork is raised here, inside the caller's ``try``)."""


#: in a forked child: the write end of its own result pipe (a child it forks in turn closes it: the
#: parent's read sees the end of the pipe when this child ends, whatever its own children do)
_OWN_WRITE_END = []


def _start_child(read, write, new_group, mask):
    """The child's first steps, right after the fork with the signals held: default handlers for
    them (Ctrl-C ends the child; the parent reports), the pipe ends it does not own closed, a
    process group of its own with ``new_group`` (and then no terminal output: a background group's
    writes to the terminal can stop it), the signals' mask as it was. Ends the process on failure."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(read)
        for fd in _OWN_WRITE_END:  # an ancestor's result pipe, inherited: not this child's to hold
            try:
                os.close(fd)
            except OSError:
                pass
        _OWN_WRITE_END[:] = [write]
        if new_group:
            os.setpgid(0, 0)
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            os.close(quiet)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    except BaseException:  # noqa: BLE001 - never the parent's code in this process
        os._exit(1)


def _child(function, args, write):
    """The child's side: call, send (ok, result or exception, warnings, log records), and end."""
    from .._collector import freeze_inherited
    from .background import _record_warnings_and_above

    code = 0
    try:
        freeze_inherited()  # the parent's objects: not visited (nor copied) by this child's collections
        # log records of WARNING and above go back to the parent (its handlers decide), not to the
        # terminal the child shares with the parent's progress bar
        records = _record_warnings_and_above(replace_handlers=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                payload = (True, function(*args))
            except BaseException as error:  # noqa: BLE001 - every failure goes to the parent
                payload = (False, error)
        # each warning once (as the parent's default filter would show it: toys repeat theirs)
        issued = list(dict.fromkeys((str(w.message), w.category, w.filename, w.lineno) for w in caught))
        try:
            data = pickle.dumps(payload + (issued, records.records), protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(data)  # what the parent will do: an exception class with other arguments fails here
        except Exception as error:  # an unpicklable (or unrebuildable) result or exception: say what it was
            what = "result" if payload[0] else "error"
            detail = f"{type(payload[1]).__name__}: {payload[1]}" if not payload[0] else repr(payload[1])
            data = pickle.dumps((False, RuntimeError(f"the forked child's {what} could not be sent back: "
                                                     f"{detail} ({error})"), [], records.records))
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
