"""One function run in a forked copy of this process, on a second core: a command's independent
step overlapping its other steps, on the data the process already holds (``population``: the
regions' containment of a million cocoons, the PDF of a figure).

``ForkedCall(function, *args)`` forks (POSIX; ``fork=False``: no child) and returns at once; the child calls
``function(*args)`` on its copy of the memory (shared with the parent until either writes it, so
nothing is copied or pickled on the way in), sends back the pickled result through a pipe and
ends. :meth:`~ForkedCall.result` waits for it and returns it. Nothing is hidden: if the child
fails, is killed or cannot start, :meth:`~ForkedCall.result` calls ``function(*args)`` in this
process (the same result, or the error raised here with its traceback). Without ``os.fork``
(Windows) or with ``fork=False`` the call runs in this process, at :meth:`~ForkedCall.result`.
Leaving a ``with`` block ends a child whose result was not collected.

The child never writes files, prints, or runs exit handlers (``os._exit``); it returns data, and
the caller publishes what it must. Its warnings are issued again in this process with the
result, so that this process's filters decide about them. Use it for pure computations on numpy arrays and for drawing
figures: a forked child holds only the thread that forked, so a function must not rely on other
threads of the parent.
"""
import os
import pickle
import signal
import warnings

__all__ = ["ForkedCall"]


class ForkedCall:
    """``function(*args)`` in a forked child (module docstring); :meth:`result` returns its value."""

    def __init__(self, function, *args, fork=True):
        self._function, self._args = function, args
        self._pid = self._read = None
        if not fork or not hasattr(os, "fork"):
            return
        read, write = os.pipe()
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking a process with threads (an idle BLAS pool):
                # the child runs only this function, on the thread that forked
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: compute, send, end without running the parent's exit handlers
            code = 1
            try:
                os.close(read)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # an interrupt ends the child at once
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    value = function(*args)
                issued = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
                payload = pickle.dumps((value, issued), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(payload)
                code = 0
            except BaseException:  # noqa: BLE001 (reported to the parent by the missing result)
                pass
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._read = pid, read

    @property
    def forked(self):
        """Whether a child is computing the result (False: :meth:`result` computes it here)."""
        return self._pid is not None

    def result(self):
        """The function's return value: the child's, or computed here if there was no child or it failed."""
        if self._pid is None:
            return self._function(*self._args)
        try:
            with os.fdopen(self._read, "rb") as pipe:
                self._read = None
                payload = pipe.read()
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
        except BaseException:
            self.cancel()
            raise
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return self._function(*self._args)
        value, issued = pickle.loads(payload)
        for message, category, filename, lineno in issued:  # the child's warnings, under this process's filters
            warnings.warn_explicit(message, category, filename, lineno)
        return value

    def cancel(self):
        """End the child (if any) without waiting for its result."""
        if self._read is not None:
            os.close(self._read)
            self._read = None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False
