"""Benchmark of the significance's toy experiments (issue 25). Prints a table of medians.

    python benchmarks/bench_toys.py [--repeat 5] [--toys 30] [--tree LABEL=PATH ...]

Each round runs, in a fresh process per source tree (``PYTHONPATH``; alternating order, so a
before/after pair sees the same load), what the answer row of ``reproduce`` and ``compare`` do for
the free-R0 significance: the default likelihood with cocoons on the embedded DGE ("min"), its best
and null fits (not timed), then :func:`~gammapy_cocoons.analysis.significance.calibrate` with
``--toys`` toys in one process (the null fit and the 20-node R0 scan of every toy: 22 compiled
fits each, 41 before the seventeenth round). It reports the calibration's CPU time (user + system)
and the number of compiled fits, and checks whether every tree gives the same toys: their TS (free
R0 and at 20 TV) and upcrossings, compared bit for bit (trees with different scans differ). The DGE cube comes from a disk cache shared by the rounds (filled before them
for the first tree; the cache key holds a hash of the source, so another tree fills its own entry
in its first round, before the timed calibration).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _medians import print_medians

ROOT = Path(__file__).resolve().parents[1]

ROUND = r"""
import hashlib, json, sys, time
import numpy as np
from _medians import cpu_seconds
from gammapy_cocoons._threads import limit_blas_threads
limit_blas_threads()
from gammapy_cocoons.analysis.compare import build_likelihood
from gammapy_cocoons.analysis import compiled
from gammapy_cocoons.analysis.significance import calibrate

like = build_likelihood(hypothesis="dge+cocoons", dge="embedded", variant="min")
c = compiled.CompiledLikelihood(like)
best, _ = c.best_fit()
null = min((c.null_fit(start=best.parameters), c.null_fit()), key=lambda f: f.stat)
fits = [0]
fit = c.fit
def counted(*args, **kwargs):
    fits[0] += 1
    return fit(*args, **kwargs)
c.fit = counted
start, cpu = time.perf_counter(), cpu_seconds()
result = calibrate(c, null.parameters, n_toys=int(sys.argv[1]), r0_grid=compiled.default_r0_grid())
wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
digest = hashlib.sha256(np.concatenate([result["ts_free"], result["ts_20"], [result["mean_upcrossings"]]]).tobytes())
print(json.dumps({"wall": wall, "cpu": cpu, "fits": fits[0], "digest": digest.hexdigest()[:16]}))
"""


def _run(tree, toys, environ):
    env = dict(environ, PYTHONPATH=os.pathsep.join([str(tree), str(ROOT / "benchmarks")]))
    out = subprocess.run([sys.executable, "-c", ROUND, str(toys)], capture_output=True, text=True, check=True,
                         env=env, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--toys", type=int, default=30)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH",
                        help="a source tree to time (repeatable; default: this one)")
    args = parser.parse_args()
    trees = dict(entry.split("=", 1) for entry in args.tree) or {"this": str(ROOT)}
    with tempfile.TemporaryDirectory() as cache:
        environ = dict(os.environ, GAMMAPY_COCOONS_CACHE=cache)
        _run(next(iter(trees.values())), 1, environ)  # fills the disk cache
        runs = {label: [] for label in trees}
        digests = {label: set() for label in trees}
        for k in range(args.repeat):
            for label in (list(trees) if k % 2 == 0 else list(reversed(list(trees)))):
                r = _run(trees[label], args.toys, environ)
                runs[label].append((r["wall"], r["cpu"], r["fits"]))
                digests[label].add(r["digest"])
                print(f"round {k + 1} {label:8s} {r['wall']:.2f} s  {r['cpu']:.2f} s CPU  {r['fits']} fits", flush=True)
    print(f"# bench_toys: {args.toys} toys per round, medians of {args.repeat} rounds")
    print_medians(("tree", "wall", "CPU", "compiled fits"), runs, ("{:.2f} s", "{:.2f} s", "{:.0f}"))
    same = len(set.union(*digests.values())) == 1
    print(f"the same toys (TS free, TS at 20 TV, upcrossings) in every round and tree: {'yes' if same else 'NO'} "
          f"({', '.join(f'{k}: {sorted(v)}' for k, v in digests.items())})")


if __name__ == "__main__":
    main()
