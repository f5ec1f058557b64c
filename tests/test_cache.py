"""The disk cache: hits, misses on any change of key or code, corrupt and concurrent entries,
the umask, and a cache that cannot be written."""
import io
import logging
import os
import stat
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from gammapy_cocoons import _cache
from gammapy_cocoons._cache import cached_arrays, clear_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache"


class Builder:
    def __init__(self, value=1.0):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return {"cube": np.full((3, 4), self.value, dtype=np.float32), "energy": np.geomspace(1, 10, 3)}


def test_a_hit_returns_the_same_arrays_read_only_without_building(cache):
    build = Builder()
    first = cached_arrays("dge-cube", {"variant": "min", "nside": 8}, build)
    second = cached_arrays("dge-cube", {"nside": 8, "variant": "min"}, build)  # key order does not matter
    assert build.calls == 1
    assert np.array_equal(first["cube"], second["cube"]) and second["cube"].dtype == np.float32
    assert not second["cube"].flags.writeable


@pytest.mark.parametrize("key", [{"variant": "max", "nside": 8}, {"variant": "min", "nside": 16},
                                 {"variant": "min", "nside": 8, "energies": np.arange(3.0)}])
def test_any_change_of_the_key_misses(cache, key):
    build = Builder()
    cached_arrays("dge-cube", {"variant": "min", "nside": 8}, build)
    cached_arrays("dge-cube", key, build)
    assert build.calls == 2


def test_arrays_in_the_key_are_hashed_by_value(cache):
    build = Builder()
    cached_arrays("dge-cube", {"map": np.arange(4.0)}, build)
    cached_arrays("dge-cube", {"map": np.arange(4.0)}, build)
    cached_arrays("dge-cube", {"map": np.arange(4.0) + 1e-12}, build)
    assert build.calls == 2


def test_other_code_never_reads_an_entry(cache, monkeypatch):
    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    monkeypatch.setattr(_cache, "_code_hash", lambda: "another version of the code")
    cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_a_corrupt_entry_is_rebuilt_never_trusted(cache, caplog, damage):
    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    (path,) = cache.glob("*.npz")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF  # inside the cube's bytes or the zip directory
    elif damage == "empty":
        data = b""
    else:
        data = b"not a zip file" * 10
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gammapy_cocoons._cache"):
        arrays = cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 2 and "unusable" in caplog.text
    assert np.array_equal(arrays["cube"], Builder()()["cube"])
    assert cached_arrays("dge-cube", {"a": 1}, build) and build.calls == 2  # the rebuilt entry is used


def test_a_well_formed_entry_with_other_arrays_fails_its_checksum(cache, caplog):
    # a valid zip (every member's CRC-32 right) whose cube is not the one the checksum was made of:
    # only the entry's own checksum can tell
    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    (path,) = cache.glob("*.npz")
    with np.load(path) as data:
        members = {name: data[name] for name in data.files}
    members["cube"] = members["cube"] + 1
    with open(path, "wb") as handle:
        np.savez(handle, **members)
    with caplog.at_level(logging.WARNING, logger="gammapy_cocoons._cache"):
        arrays = cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 2 and "wrong checksum" in caplog.text
    assert np.array_equal(arrays["cube"], Builder()()["cube"])


def _stored_checksum(arrays):
    buffer = io.BytesIO()
    _cache._write_npz(buffer, arrays)
    buffer.seek(0)
    with np.load(buffer) as data:
        return str(data[_cache._CHECKSUM])


def test_the_checksum_covers_names_dtypes_shapes_and_every_byte():
    cube = np.arange(12.0).reshape(3, 4)
    reference = _stored_checksum({"cube": cube})
    flipped = cube.copy()
    flipped.view(np.uint8)[-1] ^= 1  # one bit of the last element
    for other in ({"cube": flipped}, {"cube": cube.reshape(4, 3)}, {"cube": cube.view(np.int64)},
                  {"cube2": cube}, {"cube": cube, "energy": np.ones(0)}):
        assert _stored_checksum(other) != reference
    assert _stored_checksum({"cube": np.asfortranarray(cube)}) == reference  # the values, not the memory layout


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_flipped_byte_of_an_array_is_caught_when_it_is_read(cache, caplog, where):
    # the zip format's CRC-32 of the member, compared by zipfile as numpy reads it whole
    cube = np.linspace(1.0, 2.0, 5000).astype(np.float32)
    cached_arrays("dge-cube", {"a": 1}, lambda: {"cube": cube})
    (path,) = cache.glob("*.npz")
    data = bytearray(path.read_bytes())
    start = data.find(cube.tobytes())
    assert start > 0
    data[start + {"first": 0, "middle": cube.nbytes // 2, "last": cube.nbytes - 1}[where]] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gammapy_cocoons._cache"):
        arrays = cached_arrays("dge-cube", {"a": 1}, lambda: {"cube": cube + 1})
    assert "unusable" in caplog.text and "CRC" in caplog.text
    assert np.array_equal(arrays["cube"], cube + 1)  # rebuilt, never the damaged one


@pytest.mark.parametrize("array", [np.arange(12.0).reshape(3, 4), np.asfortranarray(np.arange(12.0).reshape(3, 4)),
                                   np.arange(24.0).reshape(4, 6)[::2, 1::2], np.array(2.5), np.ones((0, 3)),
                                   np.array([True, False]), np.arange(5, dtype=">i4"), np.float32([1, 2]),
                                   np.zeros(2, dtype=[("a", "<f8"), ("b", "<i2")]),
                                   np.zeros(2, dtype=[("\u20ac", "<f8")])])
@pytest.mark.filterwarnings("ignore:Stored array in format 3.0")  # (numpy's own, for the non-latin-1 field name)
def test_an_entry_holds_what_numpy_savez_would(array, monkeypatch):
    # the writer skips numpy's copies, not its format: numpy reads it back as the array, as it reads
    # numpy's own savez of the same array
    ours, numpys = io.BytesIO(), io.BytesIO()
    _cache._write_npz(ours, {"cube": array})
    np.savez(numpys, cube=array)
    ours.seek(0), numpys.seek(0)
    with np.load(ours) as mine, np.load(numpys) as reference:
        assert mine["cube"].dtype == reference["cube"].dtype == array.dtype
        assert mine["cube"].shape == array.shape and np.array_equal(mine["cube"], reference["cube"])
        assert mine["cube"].tobytes() == np.ascontiguousarray(array).tobytes()
    # written in pieces (here 5 bytes, across the elements) or in one write: the same member, CRC too
    monkeypatch.setattr(_cache, "_WRITE_BYTES", 5)
    pieces = io.BytesIO()
    _cache._write_npz(pieces, {"cube": array})
    with zipfile.ZipFile(ours) as whole, zipfile.ZipFile(pieces) as pieced:
        assert pieced.namelist() == whole.namelist()
        for name in whole.namelist():
            assert pieced.read(name) == whole.read(name) and pieced.getinfo(name).CRC == whole.getinfo(name).CRC


def test_arrays_of_python_objects_are_refused():
    with pytest.raises(TypeError, match="objects"):
        _cache._write_npz(io.BytesIO(), {"cube": np.array([{}, 1], dtype=object)})


@pytest.mark.parametrize("name", ["cube.npy", "__checksum__"])
def test_names_numpy_would_confuse_are_refused(name):
    with pytest.raises(ValueError, match="names"):
        _cache._write_npz(io.BytesIO(), {"cube": np.ones(3), name: np.zeros(3)})


def test_an_entry_whose_member_names_numpy_would_confuse_is_rebuilt(cache, caplog):
    # members "a.npy" and "a.npy.npy": numpy.load's key "a.npy" reads the member of "a" (each with
    # its right CRC), so only the names can tell
    import zipfile

    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    (path,) = cache.glob("*.npz")
    arrays = {"cube": np.zeros((3, 4), np.float32), "cube.npy": np.ones((3, 4), np.float32)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with zipfile.ZipFile(buffer) as archive:  # the checksum the writer would give these members
        checksum = _cache._checksum({n: (a.dtype, a.shape, archive.getinfo(f"{n}.npy").CRC) for n, a in arrays.items()})
    with open(path, "wb") as handle:
        np.savez(handle, **arrays, **{_cache._CHECKSUM: np.array(checksum)})
    with caplog.at_level(logging.WARNING, logger="gammapy_cocoons._cache"):
        arrays = cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 2 and "mistake" in caplog.text
    assert np.array_equal(arrays["cube"], Builder()()["cube"])


def test_an_entry_without_a_required_array_is_rebuilt(cache):
    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    cached_arrays("dge-cube", {"a": 1}, build, names=("cube", "transmission"))
    assert build.calls == 2


def _write(args):
    directory, value = args
    os.environ[_cache.CACHE_VARIABLE] = directory
    arrays = cached_arrays("dge-cube", {"a": 1}, Builder(value))
    return float(arrays["cube"][0, 0])


def test_concurrent_writers_leave_one_whole_entry(cache):
    with ProcessPoolExecutor(4) as pool:
        values = list(pool.map(_write, [(str(cache), 2.0)] * 8))
    assert values == [2.0] * 8
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*"))  # no temporaries left
    build = Builder()
    assert cached_arrays("dge-cube", {"a": 1}, build)["cube"][0, 0] == 2.0 and build.calls == 0


def _slow_build(args):
    directory, counter = args
    os.environ[_cache.CACHE_VARIABLE] = directory

    def build():
        with open(counter, "a") as handle:  # one line per build, from any process
            handle.write("built\n")
        time.sleep(0.5)
        return {"cube": np.full((3, 4), 3.0, dtype=np.float32)}

    return float(cached_arrays("dge-cube", {"slow": 1}, build)["cube"][0, 0])


@pytest.mark.skipif(os.name != "posix", reason="the build lock is POSIX flock")
def test_a_second_process_waits_for_a_build_in_progress_instead_of_building(cache, tmp_path):
    counter = tmp_path / "builds.txt"
    with ProcessPoolExecutor(2) as pool:
        values = list(pool.map(_slow_build, [(str(cache), str(counter))] * 2))
    assert values == [3.0, 3.0]
    assert counter.read_text().count("built") == 1  # the other one loaded the entry
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*"))  # no lock or temporary left


def test_entries_honour_the_umask(cache):
    old = os.umask(0o027)
    try:
        cached_arrays("dge-cube", {"a": 1}, Builder())
    finally:
        os.umask(old)
    (path,) = cache.glob("*.npz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_an_unwritable_cache_still_returns_the_product(tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setenv(_cache.CACHE_VARIABLE, str(blocked / "cache"))
    build = Builder()
    with caplog.at_level(logging.WARNING, logger="gammapy_cocoons._cache"):
        arrays = cached_arrays("dge-cube", {"a": 1}, build)
    assert arrays["cube"].shape == (3, 4) and "could not write" in caplog.text


def test_off_builds_every_time_and_clear_removes_entries(cache, monkeypatch):
    build = Builder()
    cached_arrays("dge-cube", {"a": 1}, build)
    assert clear_cache() == 1 and not list(cache.glob("*.npz"))
    monkeypatch.setenv(_cache.CACHE_VARIABLE, "off")
    cached_arrays("dge-cube", {"a": 1}, build)
    cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 3 and clear_cache() == 0


def test_bad_use_is_refused(cache):
    with pytest.raises(ValueError, match="kind"):
        cached_arrays("../escape", {}, Builder())
    with pytest.raises(TypeError, match="JSON-able"):
        cached_arrays("dge-cube", {"object": object()}, Builder())
    with pytest.raises(TypeError, match="dict of numpy arrays"):
        cached_arrays("dge-cube", {"a": 2}, lambda: [1, 2])


def test_deferred_entries_are_kept_in_memory_until_written(cache):
    """Inside deferred_writes a built entry is not written but found by later calls; write_deferred
    writes it whole (fit's DGE child does, beside the fit), after which a fresh lookup reads it."""
    from gammapy_cocoons._cache import deferred_writes, write_deferred

    build = Builder(2.0)
    with deferred_writes() as pending:
        built = cached_arrays("dge-cube", {"variant": "min"}, build)
        again = cached_arrays("dge-cube", {"variant": "min"}, build)
    assert build.calls == 1 and again is built and len(pending) == 1
    assert not cache.exists() or not list(cache.glob("*.npz"))
    write_deferred(pending)
    read = cached_arrays("dge-cube", {"variant": "min"}, Builder(3.0))  # not built: read from the disk
    assert np.array_equal(read["cube"], built["cube"]) and not read["cube"].flags.writeable
    assert _cache._DEFERRED is None


def _killed_while_storing(path):
    """A build killed while it writes its entry (the lock held, a temporary half written)."""
    def slow_write(handle, arrays):
        handle.write(b"half an entry")
        handle.flush()
        time.sleep(60)

    _cache._write_npz = slow_write  # in the forked child only
    with _cache._build_lock(path):
        _cache._store(path, {"cube": np.ones(3)})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_clear_removes_what_a_killed_build_left(cache):
    from gammapy_cocoons.analysis.forked import ForkedCall

    cached_arrays("dge-cube", {"a": 1}, Builder())
    path = cache / _cache._entry_name("dge-cube", {"a": 2})
    call = ForkedCall(_killed_while_storing, path)
    deadline = time.monotonic() + 30
    while not list(cache.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.02)
    call.cancel()  # SIGKILL: no clean-up runs
    leftovers = sorted(p.name for p in cache.iterdir() if p.name.startswith("."))
    assert len(leftovers) == 2 and any(n.endswith(".lock") for n in leftovers), leftovers
    assert clear_cache() == 3 and not list(cache.iterdir())


def test_an_entry_stored_just_before_the_lock_is_taken_is_not_built_again(cache, monkeypatch):
    """The lock's holder can finish between this process's miss and its taking the lock: the entry
    is read again under the lock, waited or not."""
    from contextlib import contextmanager

    other = Builder(value=2.0)

    @contextmanager
    def lock_after_the_holder_finished(path):
        _cache._store(path, other())  # the other process's entry, stored as this one asks for the lock
        yield False

    monkeypatch.setattr(_cache, "_build_lock", lock_after_the_holder_finished)
    build = Builder()
    arrays = cached_arrays("dge-cube", {"a": 1}, build)
    assert build.calls == 0 and float(arrays["cube"][0, 0]) == 2.0


def test_a_write_removes_what_killed_writers_left_an_hour_ago(cache):
    """A killed writer's hidden temporary (tens of MB for a cube) would stay forever: the next write
    removes those untouched for an hour, not a live writer's (touched just now)."""
    cache.mkdir(parents=True)
    stale = cache / ".dge-cube-0123.npz.abcd.tmp"
    live = cache / ".dge-cube-4567.npz.efgh.tmp"
    for path in (stale, live):
        path.write_bytes(b"half a file")
    hour_ago = time.time() - _cache._STALE_SECONDS - 60
    os.utime(stale, (hour_ago, hour_ago))
    cached_arrays("dge-cube", {"a": 1}, Builder())
    assert not stale.exists() and live.exists()
    assert _cache._remove_stale_temporaries(cache) == 0
