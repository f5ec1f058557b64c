"""Shared by the benchmark scripts: the process's CPU time, and a table of medians in markdown."""
import resource
import statistics


def cpu_seconds():
    """User + system CPU time of this process [s]."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_medians(header, runs, formats):
    """A markdown table: ``header`` (the first column's name, then one per measurement), one row per
    entry of ``runs`` (name -> the rounds' tuples of measurements) with the medians over its rounds,
    each written with its entry of ``formats`` (e.g. "{:.2f} s")."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, rounds in runs.items():
        cells = [form.format(statistics.median(r[i] for r in rounds)) for i, form in enumerate(formats)]
        print("| " + " | ".join([name] + cells) + " |")
