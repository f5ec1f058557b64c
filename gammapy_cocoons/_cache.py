"""A disk cache for expensive products that do not change between runs (the DGE cubes).

An entry is a set of named numpy arrays stored in one ``.npz`` file in the user's cache directory
(platformdirs; ``$GAMMAPY_COCOONS_CACHE`` overrides it, ``off`` disables the cache). Its name is
the hash of:

* the caller's key: every input of the product (a JSON-able dict, given by the caller);
* the package version and a hash of the package's own source code, so that a code change never
  reads an entry built by other code;
* the cache format.

Entries are written to a temporary file in the same directory and renamed into place
(``os.replace``), so concurrent writers of the same entry each publish a whole file and readers
never see a partial one. A build holds a lock file beside its entry (POSIX ``flock``): another
process that misses the same entry meanwhile waits for it and loads the result instead of building
it a second time (a process never waits while it holds a lock itself, so two processes cannot wait
for each other; a holder that dies releases its lock with its files). Every array of an entry
carries the zip format's CRC-32 of its bytes (compared when it is read), and the entry a checksum
of their names, dtypes, shapes and CRCs; a file that does not load, lacks an array or fails a
check is removed and rebuilt, never trusted. Entries honour the umask. A writer
killed mid-write (SIGKILL, power loss) leaves its hidden temporary file (tens of MB for a DGE
cube); the next write removes every temporary untouched for an hour (a live write renames its own
in seconds), and :func:`clear_cache` removes them all. Nothing here knows what the arrays mean.
"""
import hashlib
import json
import logging
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["cache_directory", "cached_arrays", "clear_cache", "deferred_writes", "write_deferred", "CACHE_VARIABLE"]

log = logging.getLogger(__name__)

#: environment variable naming the cache directory ("off" disables the cache)
CACHE_VARIABLE = "GAMMAPY_COCOONS_CACHE"
_FORMAT = 3  # 3: the checksum sums the members' zip CRC-32s (2: a CRC-32 of the arrays, 1: BLAKE2b)
_CHECKSUM = "__checksum__"
#: entries built but not yet written, [(path, arrays)], inside :func:`deferred_writes` (else None)
_DEFERRED = None
#: a temporary file untouched this long [s] was left by a killed writer (a live one renames its own
#: within seconds)
_STALE_SECONDS = 3600.0
#: bytes per write() of an array's data (the same bytes in the file either way): on the project's
#: machine (Linux 6.18, ext4) one write() of a 45 MB DGE cube into a new file took 0.05-0.1 s of
#: kernel CPU, in 1 MB pieces ~0.01 s (benchmarks/bench_cache.py); likely the page cache's large
#: folios for big writes
_WRITE_BYTES = 1 << 20


def cache_directory():
    """The cache directory (created on first write), or None if the cache is off."""
    override = os.environ.get(CACHE_VARIABLE)
    if override is not None:
        return None if override.strip().lower() in ("off", "0", "false", "") else Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("gammapy-cocoons", appauthor=False))


@lru_cache(maxsize=1)
def _code_hash():
    """Hash of the package version and of every module's source (computed once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    try:
        digest.update(version("gammapy-cocoons").encode())
    except PackageNotFoundError:
        digest.update(b"unknown")
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _entry_name(kind, key):
    text = json.dumps({"kind": kind, "key": key, "code": _code_hash(), "format": _FORMAT}, sort_keys=True,
                      default=_json_default)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}.npz"


def _json_default(value):
    if isinstance(value, np.ndarray):
        return {"array": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), "dtype": str(value.dtype),
                "shape": list(value.shape)}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"cache key values must be JSON-able (numbers, strings, lists, dicts, arrays), got {value!r}")


def _checksum(members):
    """The entry's own checksum: CRC-32 of its members' names, dtypes, shapes and the zip format's
    CRC-32 of each member (``{name: (dtype, shape, crc)}``). The zip CRCs cover every byte of the
    arrays and are checked by zipfile whenever a member is read whole, so a flipped byte fails
    there; this sum ties them together, so that a well-formed zip holding other arrays (each member
    with its right CRC) fails here. Not a defence against tampering."""
    crc = 0
    for name in sorted(members):
        dtype, shape, member_crc = members[name]
        for part in (name, str(dtype), str(tuple(shape)), f"{member_crc:08x}"):
            crc = zlib.crc32(part.encode(), crc)
    return f"crc32:{crc:08x}"


def _load(path, names):
    """The arrays of a valid entry, or None (and the file removed) if it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_names = data.zip.namelist()
            if len(set(stored_names)) != len(stored_names) or \
                    any(not n.endswith(".npy") or n[:-4].endswith(".npy") for n in stored_names):
                raise ValueError("member names that numpy.load could mistake for one another")
            # each member read whole: zipfile compares it with its CRC-32 (BadZipFile if it differs)
            arrays = {name: data[name] for name in data.files if name != _CHECKSUM}
            stored = str(data[_CHECKSUM])
            members = {name: (array.dtype, array.shape, data.zip.getinfo(f"{name}.npy").CRC)
                       for name, array in arrays.items()}
        if set(names) <= set(arrays) and stored == _checksum(members):
            return arrays
        reason = "missing arrays or a wrong checksum"
    except FileNotFoundError:
        return None
    except Exception as error:  # a truncated or corrupt file: anything numpy raises
        reason = f"{type(error).__name__}: {error}"
    log.warning("cache entry %s is unusable (%s): rebuilding it", path, reason)
    try:
        path.unlink()
    except OSError:
        pass
    return None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _store(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            _write_npz(handle, arrays)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)  # atomic: a reader sees the old file, the new one, or none
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _remove_stale_temporaries(path.parent)


def _write_npz(handle, arrays):
    """``arrays`` and their checksum as an uncompressed ``.npz`` (what :func:`numpy.load` reads),
    each plain array written from its own memory, in pieces of :data:`_WRITE_BYTES`: ``numpy.savez``
    copies every 16 MB chunk first, which was a third of the time of storing a DGE cube (structured
    arrays, whose header may need a later .npy format, go through numpy's own writer). The zip format
    sums each member (CRC-32) as it is written."""
    members = {}
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            if name == _CHECKSUM or name.endswith(".npy"):  # numpy.load would mistake one member for another
                raise ValueError(f"cache array names must not be {_CHECKSUM!r} nor end in '.npy', got {name!r}")
            array = np.asarray(array, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
            if array.dtype.hasobject:
                raise TypeError(f"cache arrays must not hold Python objects ({name}: {array.dtype})")
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                if array.dtype.names is None:  # a plain dtype: its header fits the .npy format 1.0
                    np.lib.format.write_array_header_1_0(member, np.lib.format.header_data_from_array_1_0(array))
                    data = array.reshape(-1).view(np.uint8)
                    for start in range(0, data.size, _WRITE_BYTES):
                        member.write(data[start:start + _WRITE_BYTES])
                else:  # structured: numpy picks the format its field names and header need
                    np.lib.format.write_array(member, array, allow_pickle=False)
            members[name] = (array.dtype, array.shape, archive.getinfo(f"{name}.npy").CRC)
        with archive.open(f"{_CHECKSUM}.npy", "w") as member:
            np.lib.format.write_array(member, np.array(_checksum(members)), allow_pickle=False)


def _remove_stale_temporaries(directory):
    """Remove the temporary files killed writers left in ``directory`` (untouched for
    :data:`_STALE_SECONDS`); returns how many."""
    import time

    removed, now = 0, time.time()
    for temporary in directory.glob(".*.npz.*.tmp"):
        try:
            if now - temporary.stat().st_mtime > _STALE_SECONDS:
                temporary.unlink()
                removed += 1
        except OSError:  # removed meanwhile by another process, or not ours to remove: left alone
            pass
    return removed


@contextmanager
def deferred_writes():
    """Entries built inside are kept in memory instead of written (and found there by later calls):
    the caller writes them with :func:`write_deferred`, e.g. in a forked child beside its next steps.
    Yields their list, [(path, arrays)]; entries nobody writes are simply built again next time."""
    global _DEFERRED
    outer = _DEFERRED
    _DEFERRED = [] if outer is None else outer
    try:
        yield _DEFERRED
    finally:
        _DEFERRED = outer


def write_deferred(entries):
    """Write the entries of :func:`deferred_writes` (a cache that cannot be written is logged)."""
    for path, arrays in entries:
        try:
            _store(path, arrays)
        except OSError as error:
            log.warning("could not write the cache entry %s (%s); continuing without it", path, error)


_HELD = []  # the build locks this process holds (a nested build never waits for another process)


@contextmanager
def _build_lock(path):
    """Hold the lock of entry ``path`` while building it; yields whether another process held it
    (then this one waited, and the entry may be there now). Without ``fcntl`` (not POSIX), with a
    lock already held here, or when the lock file cannot be made, nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    if _HELD:
        yield False
        return
    lock = path.with_name(f".{path.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            log.info("waiting for another process building %s", path.name)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            waited = True
        _HELD.append(path)
        try:
            yield waited
        finally:
            _HELD.remove(path)
            try:  # only our own lock file (a later builder may have made a new one)
                if os.path.samestat(os.fstat(descriptor), os.stat(lock)):
                    os.unlink(lock)
            except OSError:
                pass
    finally:
        os.close(descriptor)  # releases the lock


def cached_arrays(kind, key, build, names=None):
    """The arrays ``build()`` returns for ``key``, from the disk cache when a valid entry exists.

    Parameters
    ----------
    kind : str
        A short name for the product (file-name prefix), e.g. "dge-cube".
    key : dict
        Every input the product depends on (JSON-able; numpy arrays are hashed).
    build : callable
        Returns a dict of name -> numpy array (numeric, no objects); called on a miss.
    names : sequence of str, optional
        Arrays a valid entry must hold (default: whatever it holds).

    Returns
    -------
    dict
        name -> array (read-only when read from the cache). A cache that cannot be written (a
        read-only directory, a full disk) is logged and skipped: the product is still returned.
    """
    if not isinstance(kind, str) or not kind.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"kind must be a short alphanumeric name, got {kind!r}")
    directory = cache_directory()
    if directory is None:
        return build()
    path = directory / _entry_name(kind, key)
    for pending, arrays in _DEFERRED or ():
        if pending == path:
            return arrays
    arrays = _load(path, names or ())
    if arrays is None:
        with _build_lock(path):
            # built meanwhile by the lock's holder (also when it let go just before this process asked)
            arrays = _load(path, names or ())
            if arrays is None:
                arrays = build()
                if not isinstance(arrays, dict) or not all(isinstance(v, np.ndarray) for v in arrays.values()):
                    raise TypeError("build must return a dict of numpy arrays")
                if _DEFERRED is not None:  # written later by the caller (a process waiting meanwhile builds too)
                    _DEFERRED.append((path, arrays))
                    return arrays
                try:
                    _store(path, arrays)
                except OSError as error:
                    log.warning("could not write the cache entry %s (%s); continuing without it", path, error)
                return arrays
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def clear_cache():
    """Remove every entry of the cache directory, and what killed builds left behind (their
    temporary files and lock files); returns the number of files removed."""
    directory = cache_directory()
    if directory is None or not directory.is_dir():
        return 0
    removed = 0
    for pattern in ("*.npz", ".*.npz.*.tmp", ".*.npz.lock"):
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
