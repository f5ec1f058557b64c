"""Every command and hot path of issue 25, timed against an anchor measured in the same run.

    python benchmarks/bench_commands.py [--repeat 3] [--only NAME,...] [--tree LABEL=PATH ...]
                                        [--heavy] [--json FILE]

Each row runs in a fresh Python process (its wall time from outside, its peak memory and CPU time
from the kernel's accounting, ``os.wait4``: the CPU of the process and of the children it waited
for); rounds alternate the rows and, with several ``--tree``, the source trees (``PYTHONPATH``), so
a before/after pair sees the same load. Every row is preceded by the **anchor**: a fixed numpy +
pure-Python workload that does not use the package (about 1 s on the quiet 2-core machine). The
table gives, per row, the median wall time, its ratio to the median anchor of the same tree, the
median CPU time and the median peak memory. The machine is shared: compare ratios, and before with
after of the same run; where the host loses time to steal, the CPU time moves much less than the
wall time and tells a change of work from a change of load.

Rows (``--only`` picks some; ``--heavy`` adds ``dge512``):

* ``help``: ``gammapy-cocoons --help``; ``import``: ``import gammapy_cocoons``; ``import-models``:
  ``import gammapy_cocoons.models`` (gammapy's models and the registration), against
  ``import-gammapy``: ``import gammapy.modeling.models`` alone.
* ``reproduce``, ``fit`` (13-point profiles), ``spectrum`` (LHAASO inner, embedded DGE): an empty
  DGE cache; ``spectrum-warm``: the same with a cache filled before the rounds; ``reproduce-warm``:
  ``reproduce`` with the cache a first ``reproduce`` filled (what every later run of a release reads);
  ``bc``; ``population``.
* ``dge-cold`` / ``dge-warm``: ``conventional_dge("min")`` in a fresh process with an empty /
  a filled cache (the script reports the call's own time); ``pi0-warm``: ``fermi_pi0_dge("min")`` warm.
* ``spectral-call``: ``CocoonSpectralModel`` at 30 energies after a parameter change, against
  gammapy's ``ExpCutoffPowerLawSpectralModel`` (same process); ``error-band``: gammapy's
  ``evaluate_error`` of it (50 energies, 3500 samples per parameter) against naima's
  ``PionDecay`` per parameter sample (the per-sample time of 20 samples times the same number).
* ``dge512`` (``--heavy``): ``conventional_dge("min", nside=512)``, an empty cache: time and memory.

Every command runs with ``--no-progress`` where it has it, outputs in a temporary directory.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ANCHOR = r"""
import numpy as np
rng = np.random.default_rng(0)
total = 0
for i in range(1_500_000):
    total += i % 7
a = rng.random((200, 200))
for _ in range(60):
    a = np.tanh(a @ a / 200.0)
for _ in range(6):
    np.sort(rng.random(1_000_000))
"""

CLI = "import sys; from gammapy_cocoons.cli import main; sys.argv = ['gammapy-cocoons'] + sys.argv[1:]; main()"

DGE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from gammapy_cocoons._threads import limit_blas_threads
limit_blas_threads()
from gammapy_cocoons.dge import conventional_dge, fermi_pi0_dge
nside = int(sys.argv[2]) if len(sys.argv) > 2 else 128
t0 = time.perf_counter()
(fermi_pi0_dge if sys.argv[1] == "pi0" else conventional_dge)("min", **({} if sys.argv[1] == "pi0" else {"nside": nside}))
print(json.dumps({"call": time.perf_counter() - t0}))
"""

SPECTRAL = r"""
import json, timeit, statistics, warnings
warnings.filterwarnings("ignore")
import numpy as np, astropy.units as u
from gammapy_cocoons._threads import limit_blas_threads
limit_blas_threads()
from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel
from gammapy_cocoons import CocoonSpectralModel
energy = np.geomspace(1, 1000, 30) * u.TeV
cocoon, ecpl = CocoonSpectralModel(), ExpCutoffPowerLawSpectralModel()
cocoon(energy), ecpl(energy)
values = iter(np.tile(np.linspace(0.3, 0.5, 1000), 1000))
def call_cocoon():
    cocoon.chi0.value = next(values)
    cocoon(energy)
def call_ecpl():
    ecpl.index.value = 2.0 + next(values)
    ecpl(energy)
out = {}
for name, f in (("cocoon_ms", call_cocoon), ("ecpl_ms", call_ecpl)):
    out[name] = statistics.median(timeit.repeat(f, number=200, repeat=15)) / 200 * 1e3
print(json.dumps(out))
"""

ERROR_BAND = r"""
import json, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, astropy.units as u
from gammapy_cocoons._threads import limit_blas_threads
limit_blas_threads()
from gammapy_cocoons import CocoonSpectralModel
model = CocoonSpectralModel()
names = ["chi0", "r0"]
model.covariance = np.diag([0.1 if p.name in names else 0.0 for p in model.parameters]) ** 2
energy = np.geomspace(1, 1000, 50) * u.TeV
model.evaluate_error(energy[:2])
t0 = time.perf_counter()
model.evaluate_error(energy)
t_band = time.perf_counter() - t0
samples = 3500 * len(model.parameters)
import naima
from naima.models import ExponentialCutoffPowerLaw, PionDecay
rng = np.random.default_rng(1)
t0 = time.perf_counter()
for alpha in 2.3 + 0.1 * rng.standard_normal(20):
    particles = ExponentialCutoffPowerLaw(1e-10 / u.eV, 1 * u.TeV, alpha, 500 * u.TeV)
    PionDecay(particles, nh=1 * u.cm**-3).flux(energy, distance=0)
t_naima = (time.perf_counter() - t0) / 20 * samples
print(json.dumps({"band_s": t_band, "naima_s": t_naima, "samples": samples, "speedup": t_naima / t_band}))
"""


def rows(outdir):
    """name -> (argv after the interpreter, cache state: "cold", "warm" or None)."""
    out = str(outdir)
    return {
        "help": (["-c", CLI, "--help"], None),
        "import": (["-c", "import gammapy_cocoons"], None),
        "import-models": (["-c", "import gammapy_cocoons.models"], None),
        "import-gammapy": (["-c", "import gammapy.modeling.models"], None),
        "reproduce": (["-c", CLI, "reproduce", "--outdir", f"{out}/reproduce", "--no-progress"], "cold"),
        "reproduce-warm": (["-c", CLI, "reproduce", "--outdir", f"{out}/reproduce", "--no-progress"], "warm"),
        "fit": (["-c", CLI, "fit", "--outdir", f"{out}/fit", "--no-progress"], "cold"),
        "bc": (["-c", CLI, "bc", "--outdir", f"{out}/bc", "--no-progress"], None),
        "population": (["-c", CLI, "population", "--outdir", f"{out}/population", "--no-progress"], None),
        "spectrum": (["-c", CLI, "spectrum", "--output", f"{out}/spectrum.ecsv"], "cold"),
        "spectrum-warm": (["-c", CLI, "spectrum", "--output", f"{out}/spectrum.ecsv"], "warm"),
        "dge-cold": (["-c", DGE, "embedded"], "cold"),
        "dge-warm": (["-c", DGE, "embedded"], "warm"),
        "pi0-warm": (["-c", DGE, "pi0"], "warm"),
        "spectral-call": (["-c", SPECTRAL], None),
        "error-band": (["-c", ERROR_BAND], None),
        "dge512": (["-c", DGE, "embedded", "512"], "cold"),
    }


DEFAULT = ["help", "import", "import-models", "import-gammapy", "reproduce", "reproduce-warm", "fit", "bc", "population",
           "spectrum", "spectrum-warm", "dge-cold", "dge-warm", "pi0-warm", "spectral-call", "error-band"]


def run_measured(argv, tree, cache):
    """(wall time [s], peak memory [MB] of that process alone, last stdout line, CPU time [s] of the
    process and the children it waited for) of one fresh process (os.wait4)."""
    env = dict(os.environ, PYTHONPATH=str(tree), GAMMAPY_COCOONS_CACHE=str(cache) if cache else "off",
               MPLBACKEND="Agg")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, *argv], env=env, cwd=tree, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[-1] if len(argv) < 4 else ' '.join(argv[2:5])} failed ({process.returncode}):\n"
                           f"{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, (stdout.strip().splitlines() or [""])[-1], usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated rows (default: all but dge512)")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH",
                        help="source tree to measure (repeatable; default: this repository)")
    parser.add_argument("--heavy", action="store_true", help="add dge512 (minutes, several GB)")
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("this", str(ROOT))]
    names = [n for n in args.only.split(",") if n] or DEFAULT + (["dge512"] if args.heavy else [])
    work = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    results = {label: {name: [] for name in names + ["anchor"]} for label, _ in trees}
    try:
        table = rows(work / "out")
        unknown = [n for n in names if n not in table]
        if unknown:
            parser.error(f"unknown rows {unknown}; choose from {sorted(table)}")
        warm = {}
        for label, tree in trees:  # fill one cache per tree for the warm rows
            warm[label] = work / f"warm-{label}"
            if any(table[n][1] == "warm" for n in names):
                run_measured(["-c", DGE, "embedded"], tree, warm[label])
                run_measured(["-c", DGE, "pi0"], tree, warm[label])
            if "reproduce-warm" in names:  # every cube reproduce reads, the radial-delta DGE's too
                run_measured(["-c", CLI, "reproduce", "--outdir", str(work / f"fill-{label}"), "--no-progress"], tree,
                             warm[label])
        for round_ in range(args.repeat):
            for label, tree in trees:
                for name in names:
                    wall, rss, _, cpu = run_measured(["-c", ANCHOR], tree, None)
                    results[label]["anchor"].append((wall, rss, {}, cpu))
                    argv, state = table[name]
                    shutil.rmtree(work / "out", ignore_errors=True)
                    (work / "out").mkdir()
                    cache = None
                    if state == "cold":
                        cache = work / f"cold-{label}-{round_}-{name}"
                    elif state == "warm":
                        cache = warm[label]
                    wall, rss, line, cpu = run_measured(argv, tree, cache)
                    if cache is not None and state == "cold":
                        shutil.rmtree(cache, ignore_errors=True)
                    extra = {}
                    if line.startswith("{"):
                        extra = json.loads(line)
                    results[label][name].append((wall, rss, extra, cpu))
                    print(f"round {round_ + 1} {label:8s} {name:15s} {wall:7.2f} s {cpu:7.2f} s CPU {rss:6.0f} MB "
                          f"{extra or ''}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"# bench_commands: medians of {args.repeat} rounds; load average at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores")
    header = "| row | " + " | ".join(f"{label}: median | / anchor | CPU | peak MB" for label, _ in trees) + " |"
    print(header)
    print("|---|" + "---|---|---|---|" * len(trees))
    for name in ["anchor"] + names:
        cells = []
        for label, _ in trees:
            runs = results[label][name]
            anchor = statistics.median(a[0] for a in results[label]["anchor"])
            wall = statistics.median(r[0] for r in runs)
            ratio = wall / anchor
            rss = statistics.median(r[1] for r in runs)
            cpu = statistics.median(r[3] for r in runs)
            cells += [f"{wall:.2f} s", f"{ratio:.2f}", f"{cpu:.2f} s", f"{rss:.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for label, _ in trees:
        for name in names:
            extras = [r[2] for r in results[label][name] if r[2]]
            if extras:
                keys = extras[0].keys()
                medians = {k: statistics.median(e[k] for e in extras) for k in keys}
                print(f"{label} {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in medians.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "results": results}, indent=1, default=str))


if __name__ == "__main__":
    main()
