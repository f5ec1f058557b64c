"""One function run in a fresh Python interpreter, in the background: a command's independent step
overlapping its other steps on a second core (``reproduce``'s answer row).

``BackgroundCall("package.module:function", *args)`` starts ``function(*args)`` in a child
interpreter (``python -c``, not multiprocessing: a fresh interpreter never re-runs the caller's
script) and returns at once; :meth:`~BackgroundCall.result` waits for it and returns what the
function returned. Arguments and result travel as JSON (numbers exactly: floats by their repr).
The child's warnings and log records (WARNING and above) are issued again in the caller when the
result is collected, so the caller's filters and handlers decide about them. A child that fails is
never hidden: :meth:`~BackgroundCall.result` raises :class:`BackgroundError` with the last line of
its error output, and the caller may then run the function itself. The child's memory is the
operating system's again when it exits. :meth:`~BackgroundCall.cancel` (also on leaving a
``with`` block without the result) ends the child and the processes it started.
"""
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from .._files import json_default

__all__ = ["BackgroundCall", "BackgroundError"]

_CHILD = ("import sys\nif {root!r} not in sys.path: sys.path.insert(0, {root!r})\n"
          "from gammapy_cocoons.analysis.background import _child\n_child(sys.argv[1])")


class BackgroundError(RuntimeError):
    """The function failed in its child process (or the child could not start or was ended)."""


class BackgroundCall:
    """``target`` ("module:function") called with ``args`` (JSON-able) in a child interpreter."""

    def __init__(self, target, *args):
        module, _, name = str(target).partition(":")
        if not module or not name:
            raise ValueError(f"target must be 'module:function', got {target!r}")
        self.target, self.args = target, tuple(args)
        self._directory = Path(tempfile.mkdtemp(prefix="gammapy-cocoons-background-"))
        (self._directory / "call.json").write_text(json.dumps({"module": module, "name": name, "args": list(args)},
                                                              default=json_default))
        # the directory that holds this copy of the package: the child imports the same one
        root = str(Path(__file__).resolve().parents[2])
        self._errors = open(self._directory / "stderr.txt", "wb")
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD.format(root=root), str(self._directory)], stdin=subprocess.DEVNULL,
                stdout=self._errors, stderr=self._errors, start_new_session=os.name == "posix")
        except OSError:
            self._cleanup()
            raise

    def running(self):
        return self._process is not None and self._process.poll() is None

    def result(self):
        """Wait for the child and return the function's result (BackgroundError if it failed)."""
        if self._process is None:
            raise BackgroundError(f"{self.target}: the background call was cancelled or already collected")
        code = self._process.wait()
        self._process = None
        try:
            output = self._directory / "result.json"
            if code != 0 or not output.is_file():
                lines = (self._directory / "stderr.txt").read_text(errors="replace").strip().splitlines()
                raise BackgroundError(f"{self.target} failed in its child process (exit code {code}): "
                                      f"{lines[-1] if lines else 'no error output'}")
            payload = json.loads(output.read_text())
        finally:
            self._cleanup()
        for entry in payload["warnings"]:
            reissue_warning(entry["message"], _category(entry["category"]), entry["filename"], entry["lineno"])
        reissue_log_records(payload["log"])
        return payload["result"]

    def cancel(self):
        """End the child (and the processes it started) if it still runs; forget its result."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: the child and its children
                else:
                    process.kill()
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        self._cleanup()

    def _cleanup(self):
        if not self._errors.closed:
            self._errors.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False


def _category(name):
    module, _, qualname = name.rpartition(".")
    try:
        category = getattr(importlib.import_module(module or "builtins"), qualname)
    except (ImportError, AttributeError):
        return UserWarning
    return category if isinstance(category, type) and issubclass(category, Warning) else UserWarning


class _Records(logging.Handler):
    """A child's log records of WARNING and above, kept as plain dicts (JSON-able, picklable) for
    :func:`reissue_log_records` in the parent (also :mod:`.forked`'s children)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append({"name": record.name, "level": record.levelno, "message": record.getMessage()})


def reissue_warning(message, category, filename, lineno):
    """A child process's warning issued here under this process's filters, with the name of the
    module loaded from ``filename`` (as ``warnings.warn`` there would give it), so that the filters'
    module patterns match it (without it, warnings made it of the file's path)."""
    module = next((m.__name__ for m in list(sys.modules.values()) if getattr(m, "__file__", None) == filename), None)
    warnings.warn_explicit(message, category, filename, lineno, module=module)


def _record_warnings_and_above(replace_handlers=False):
    """A :class:`_Records` on the root logger, which passes WARNING and above to it; with
    ``replace_handlers`` the only handler (nothing reaches the terminal). Returns the handler."""
    records, root = _Records(), logging.getLogger()
    if replace_handlers:
        root.handlers = [records]
    else:
        root.addHandler(records)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    return records


def reissue_log_records(records):
    """Issue a child's records (:class:`_Records`) again through this process's loggers and handlers."""
    for entry in records:
        logging.getLogger(entry["name"]).log(entry["level"], "%s", entry["message"])


def _child(directory):
    """The child's side: call the function, write its result, warnings and log records."""
    from .._collector import skip_collection_at_exit

    skip_collection_at_exit()  # the caller waits for this process's exit, not only for its result
    directory = Path(directory)
    call = json.loads((directory / "call.json").read_text())
    records = _record_warnings_and_above()
    try:
        with warnings.catch_warnings(record=True) as caught:
            function = getattr(importlib.import_module(call["module"]), call["name"])
            result = function(*call["args"])
    finally:
        logging.getLogger().removeHandler(records)
    payload = {"result": result, "log": records.records,
               "warnings": [{"message": str(w.message), "category": f"{w.category.__module__}.{w.category.__qualname__}",
                             "filename": w.filename, "lineno": w.lineno} for w in caught]}
    temporary = directory / "result.json.part"
    temporary.write_text(json.dumps(payload, default=json_default))
    temporary.replace(directory / "result.json")
