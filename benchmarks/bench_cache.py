"""Benchmark of the disk cache's writes and reads (issue 25). Prints a table of medians.

    python benchmarks/bench_cache.py [--repeat 5] [--cubes 10]

A cold ``reproduce`` stores ten DGE cubes of 45 MB (float32) and reads several back. Each round
stores ``--cubes`` such cubes (distinct random data) into a fresh directory and loads them, once per
writer, in alternating order: the cache's writer (``gammapy_cocoons._cache._store`` / ``_load``,
each array written in 1 MB pieces); as baselines of the same run, the same writer with one write()
per array (as before the pieces), and the writer it replaced (``numpy.savez`` after a separate
CRC-32 pass over the arrays, and that pass again on reading). Wall time and the process's CPU time
(user + system, ``resource.getrusage``) per round; medians over the rounds.
"""
import argparse
import shutil
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from _medians import cpu_seconds
from gammapy_cocoons import _cache

CUBE_BYTES = 45 * 1024 * 1024


def _crc(arrays):
    crc = 0
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        crc = zlib.crc32(memoryview(array).cast("B"), zlib.crc32(name.encode(), crc))
    return f"crc32:{crc:08x}"


def _store_savez(path, arrays):
    """The previous writer: numpy.savez (it copies every 16 MB chunk) after a CRC-32 pass."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays, __checksum__=np.array(_crc(arrays)))


def _load_savez(path, names):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name != "__checksum__"}
        if str(data["__checksum__"]) != _crc(arrays):
            raise ValueError("wrong checksum")
    return arrays


def _store_one_write(path, arrays):
    """The cache's writer as it was before it wrote each array in 1 MB pieces: one write() per array."""
    pieces, _cache._WRITE_BYTES = _cache._WRITE_BYTES, 1 << 62
    try:
        _cache._store(path, arrays)
    finally:
        _cache._WRITE_BYTES = pieces


WRITERS = {"cache": (_cache._store, _cache._load), "one write per array": (_store_one_write, _cache._load),
           "baseline savez": (_store_savez, _load_savez)}


def _round(writer, cubes, directory):
    store, load = WRITERS[writer]
    out = {}
    start, cpu = time.perf_counter(), cpu_seconds()
    for i, cube in enumerate(cubes):
        store(directory / f"{i}.npz", {"data": cube})
    out["store"] = (time.perf_counter() - start, cpu_seconds() - cpu)
    start, cpu = time.perf_counter(), cpu_seconds()
    for i, cube in enumerate(cubes):
        if not np.array_equal(load(directory / f"{i}.npz", ("data",))["data"], cube):
            raise AssertionError("a cube did not read back equal")
    out["load"] = (time.perf_counter() - start, cpu_seconds() - cpu)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cubes", type=int, default=10)
    args = parser.parse_args()
    cubes = [np.random.default_rng(i).random(CUBE_BYTES // 4, dtype=np.float32) for i in range(args.cubes)]
    runs = {writer: [] for writer in WRITERS}
    for k in range(args.repeat):
        for writer in (WRITERS if k % 2 == 0 else reversed(list(WRITERS))):
            directory = Path(tempfile.mkdtemp(prefix="bench-cache-"))
            try:
                runs[writer].append(_round(writer, cubes, directory))
            finally:
                shutil.rmtree(directory)
    print(f"# disk cache: {args.cubes} cubes of {CUBE_BYTES / 2**20:.0f} MB, medians of {args.repeat} rounds")
    print(f"{'writer':20s} {'store wall':>10s} {'store CPU':>10s} {'load wall':>10s} {'load CPU':>10s}")
    for writer, rounds in runs.items():
        cells = [statistics.median(r[step][i] for r in rounds) for step in ("store", "load") for i in (0, 1)]
        print(f"{writer:20s} " + " ".join(f"{value:9.2f}s" for value in cells))


if __name__ == "__main__":
    main()
