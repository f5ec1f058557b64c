"""Safe outputs: check every file a command will write before writing any, and publish each one
atomically.

:func:`check_outputs` refuses existing files (unless ``overwrite``), directories in the way,
missing or unwritable parent directories, with one-line messages that name the file.
:func:`publish` writes through a temporary file in the same directory and then links it to the
final name with ``os.link``, which fails if the name exists (no check-then-write race: of two
concurrent runs one wins, the other gets a clear error); only ``overwrite`` uses ``os.replace``.
A killed run therefore never leaves a truncated final file; the temporary (a hidden
``.<name>.<random><suffix>`` file) is removed on any exception, including the ``SystemExit``
that the command line raises on SIGTERM. Files get the permissions of the umask, like any other
file the user creates (``mkstemp`` alone gives 0600).
"""
import os
import tempfile
from pathlib import Path

__all__ = ["check_outputs", "prepare_outdir", "publish", "publish_text", "publish_figure", "publish_table"]


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


def prepare_outdir(outdir, names, overwrite=False):
    """Create ``outdir`` and check every output ``names`` in it before anything is written."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise NotADirectoryError(f"outdir {str(outdir)!r} is a file, not a directory")
    outdir.mkdir(parents=True, exist_ok=True)
    check_outputs([outdir / name for name in names], overwrite)
    return outdir


def publish(path, write, overwrite=False):
    """Create ``path`` by ``write(temporary_path)`` and an atomic link (or replace with ``overwrite``)."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffixes else ""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    os.close(descriptor)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise FileExistsError(f"{path} exists (written meanwhile by another run?); pass --overwrite "
                                      "to replace it") from None
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
