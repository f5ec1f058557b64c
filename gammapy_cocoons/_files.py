"""Safe outputs: check every file a command will write before writing any, publish each one
atomically, and keep the whole set of a run or none of it.

:func:`check_outputs` refuses existing files (unless ``overwrite``), directories in the way,
missing or unwritable parent directories, with one-line messages that name the file.
:func:`publish` writes through a temporary file in the same directory and then links it to the
final name with ``os.link``, which fails if the name exists (no check-then-write race: of two
concurrent runs one wins, the other gets a clear error); only ``overwrite`` uses ``os.replace``.
A killed run therefore never leaves a truncated final file; the temporary (a hidden
``.<name>.<random><suffix>`` file) is removed on any exception, including the ``SystemExit``
that the command line raises on SIGTERM. Files get the permissions of the umask, like any other
file the user creates (``mkstemp`` alone gives 0600).

:func:`output_set` makes a run all or nothing: inside it every published file is recorded; if
the run fails or is interrupted (an exception, Ctrl-C, SIGTERM) the files it published are
removed, the files it replaced (``overwrite``) restored and the directories it created removed;
if it succeeds, the replaced files are dropped. For a run into a directory a journal
(:data:`JOURNAL`) lists what it published, so that even after ``kill -9`` the next run into that
directory (:func:`prepare_outdir`) undoes the interrupted one instead of refusing its leftovers.
Output sets nest: an inner one joins the outermost, which alone commits or rolls back.
"""
import contextvars
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ._validation import boolean

__all__ = ["check_outputs", "prepare_outdir", "publish", "publish_text", "publish_figure", "publish_table",
           "output_set", "unrecorded", "JOURNAL"]

log = logging.getLogger(__name__)

#: hidden file in an output directory while a run publishes into it
JOURNAL = ".gammapy-cocoons-journal"

_ACTIVE = contextvars.ContextVar("gammapy_cocoons_output_set", default=None)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_outputs(paths, overwrite=False, option="--overwrite (overwrite=True in Python)"):
    """Raise before anything is written if any of ``paths`` cannot be published.

    Raises
    ------
    FileExistsError
        Some outputs exist and ``overwrite`` is False (all of them are named).
    IsADirectoryError, FileNotFoundError, PermissionError
        An output is a directory, or its directory is missing or not writable.
    """
    overwrite = boolean(overwrite, "overwrite")
    paths = [Path(p) for p in paths]
    existing = []
    for path in paths:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory, not a file")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(f"directory {str(parent)!r} for {path.name} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"directory {str(parent)!r} is not writable")
        if path.exists():
            existing.append(path)
    if existing and not overwrite:
        more = " ..." if len(existing) > 4 else ""
        parents = {p.parent for p in existing}
        if len(existing) > 1 and len(parents) == 1:
            names = ", ".join(p.name for p in existing[:4])
            raise FileExistsError(f"{str(parents.pop())!r} already holds {names}{more}; pass {option} to replace them")
        names = ", ".join(str(p) for p in existing[:4])
        raise FileExistsError(f"{names}{more} exist{'s' if len(existing) == 1 else ''}; pass {option} to replace")


def _creatable(directory):
    """Raise unless ``directory`` exists as a writable directory or can be created."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"outdir {str(directory)!r} is a file, not a directory")
    ancestor = directory
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"outdir {str(directory)!r}: {str(ancestor)!r} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"outdir {str(directory)!r}: directory {str(ancestor)!r} is not writable")


def prepare_outdir(outdir, names, overwrite=False):
    """Check every output ``names`` in ``outdir`` before anything is written, and create ``outdir``.

    Inside an :func:`output_set` a created directory is removed again if the run fails. Leftovers
    of a run into ``outdir`` that was killed (its journal) are undone first.
    """
    overwrite = boolean(overwrite, "overwrite")
    outdir = Path(outdir)
    _creatable(outdir)
    _recover(outdir)
    missing = []
    ancestor = outdir
    while not ancestor.exists():
        missing.append(ancestor)
        ancestor = ancestor.parent
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise type(error)(f"outdir {str(outdir)!r} cannot be created: {error.strerror or error}") from None
    run = _ACTIVE.get()
    if run is not None:
        run.created_directories.extend(missing)
        run.directory = run.directory or outdir
    check_outputs([outdir / name for name in names], overwrite)
    return outdir


class _OutputSet:
    """What one run published (and replaced) so far."""

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory is not None else None
        self.published = []  # paths this run created or replaced, in order
        self.backups = {}  # path -> hidden hard link of the file it replaced
        self.created_directories = []
        self._journal_open = False

    # -- the journal: what to undo if this process dies without unwinding (kill -9) ---------
    def _journal(self):
        return None if self.directory is None else self.directory / JOURNAL

    def _note(self, entry):
        journal = self._journal()
        if journal is None or self._journal_open is None or not self.directory.is_dir():
            return
        if not self._journal_open:
            try:  # exclusive: a concurrent run into the same directory keeps its own journal
                with open(journal, "x") as stream:
                    stream.write(json.dumps({"pid": os.getpid()}) + "\n")
            except FileExistsError:
                self._journal_open = None
                return
            self._journal_open = True
        with open(journal, "a") as stream:
            stream.write(json.dumps(entry) + "\n")

    def backup(self, path):
        """Keep the file ``path`` is about to replace until the run commits."""
        if path in self.backups or not path.exists():
            return
        descriptor, backup = tempfile.mkstemp(prefix=f".{path.name}.replaced.", dir=path.parent)
        os.close(descriptor)
        os.unlink(backup)
        os.link(path, backup)
        self.backups[path] = Path(backup)
        self._note({"backup": str(path), "to": backup})

    def record(self, path):
        self.published.append(path)
        self._note({"published": str(path)})

    def rollback(self):
        for path in reversed(self.published):
            _unlink(path)
        for path, backup in self.backups.items():
            os.replace(backup, path)
        self._close_journal()
        for directory in self.created_directories:  # deepest first
            try:
                os.rmdir(directory)  # only if empty: never a user's file
            except OSError:
                pass
        if self.published:
            log.info("removed the %d files this run had published", len(set(self.published) - set(self.backups)))

    def commit(self):
        for backup in self.backups.values():
            _unlink(backup)
        self._close_journal()

    def _close_journal(self):
        if self._journal_open:
            _unlink(self._journal())


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover(outdir):
    """Undo a run into ``outdir`` that died without unwinding, as recorded in its journal."""
    journal = Path(outdir) / JOURNAL
    if not journal.is_file():
        return
    entries = []
    for line in journal.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass  # a line cut by the kill
    pid = next((e["pid"] for e in entries if "pid" in e), None)
    run = _ACTIVE.get()
    if pid is not None and pid != os.getpid() and _pid_alive(pid):
        raise FileExistsError(f"another run (process {pid}) is writing into {str(outdir)!r}; wait for it, or remove "
                              f"{str(journal)!r} if it is gone")
    if run is not None and pid == os.getpid():
        return  # this very run (nested preparation)
    removed = 0
    backups = {e["backup"]: e["to"] for e in entries if "backup" in e}
    for entry in entries:
        if "published" in entry and entry["published"] not in backups:
            removed += os.path.exists(entry["published"])
            _unlink(entry["published"])
    for path, backup in backups.items():
        if os.path.exists(backup):
            os.replace(backup, path)
    _unlink(journal)
    log.warning("undid an interrupted run in %s: removed %d files, restored %d", outdir, removed, len(backups))


@contextmanager
def output_set(directory=None):
    """All or nothing for the files published inside: see the module documentation.

    ``directory`` (optional) is the run's output directory, where the journal is kept.
    """
    outer = _ACTIVE.get()
    if outer is not None:  # nested: the outermost run commits or rolls back
        if outer.directory is None and directory is not None:
            outer.directory = Path(directory)
        yield outer
        return
    run = _OutputSet(directory)
    token = _ACTIVE.set(run)
    try:
        yield run
    except BaseException:
        run.rollback()
        raise
    else:
        run.commit()
    finally:
        _ACTIVE.reset(token)


@contextmanager
def unrecorded():
    """Publish outside the active output set: for files a run writes into a private directory
    first and publishes itself afterwards (they are not the run's, nor in its journal)."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def publish(path, write, overwrite=False):
    """Create ``path`` by ``write(temporary_path)`` and an atomic link (or replace with ``overwrite``)."""
    overwrite = boolean(overwrite, "overwrite")
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffixes else ""
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    except OSError as error:
        raise type(error)(f"cannot write {path}: {error.strerror or error}") from None
    os.close(descriptor)
    run = _ACTIVE.get()
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        if overwrite:
            if run is not None:
                run.backup(path)
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise FileExistsError(f"{path} exists (written meanwhile by another run?); pass --overwrite "
                                      "to replace it") from None
        if run is not None:
            run.record(path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def publish_text(path, text, overwrite=False):
    """Publish a text file."""
    return publish(path, lambda temporary: Path(temporary).write_text(text), overwrite)


def publish_table(table, path, overwrite=False, **kwargs):
    """Publish an astropy table (``kwargs`` go to ``Table.write``, e.g. format)."""
    return publish(path, lambda temporary: table.write(temporary, overwrite=True, **kwargs), overwrite)


def publish_figure(fig, path, overwrite=False, **kwargs):
    """Publish a matplotlib figure; the format is the path's extension."""
    fmt = Path(path).suffix.lstrip(".") or None
    return publish(path, lambda temporary: fig.savefig(temporary, format=fmt, **kwargs), overwrite)


def json_default(value):
    """``json.dumps(default=...)`` for numpy scalars and arrays and paths (the outputs' JSON)."""
    import numpy as np

    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-able: {value!r}")
