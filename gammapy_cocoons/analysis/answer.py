"""The answer row of ``reproduce``: ``gammapy-cocoons compare``'s four hypotheses for the DGE's "min"
member, fitted in a child process beside the figures.

Light to import (numpy and the package's small modules; the fits import what they use). On Linux
with two or more CPUs the command line forks the child (:func:`start_answer` with ``fork``) once it
has imported gammapy; with the embedded DGE not yet cached, a forked helper has meanwhile computed
the DGE's first steps (the local spectra, the CR sea, the HI weights, the transmission) on the
other core: the child starts with both. Elsewhere the child is a fresh interpreter
(:mod:`.background`), started before the command line imports gammapy so that its own imports run
on the core the parent's imports leave idle. With
the embedded DGE and a disk cache the child first builds the cubes the figures need
(:func:`figure_cubes_first`), then the radial-delta DGE of hypothesis (d) (:func:`radial_delta_first`),
then fits (:func:`answer_fits`).
"""
import gc
import logging
import time

__all__ = ["ANSWER_KEYS", "BACKGROUND_MEMORY_GB", "start_answer", "answer_fits", "figure_cubes_first",
           "radial_delta_first", "return_freed_memory"]

log = logging.getLogger(__name__)

#: what the answer row keeps of compare's rows
ANSWER_KEYS = ("hypothesis", "dge", "stat", "ndof", "aic", "ts_cocoons", "significance", "chi0", "r0")


def answer_fits(dge, background=False):
    """The fits behind the answer row: ``gammapy-cocoons compare``'s four hypotheses on the default
    likelihood for this DGE's "min" member (:func:`~.compare.compare_dge`), the rows' entries the
    row uses (JSON-able: it runs in a child process, :func:`start_answer`, with ``background``
    true)."""
    from contextlib import nullcontext

    from .._collector import frozen_imports
    from .._validation import boolean
    from .compare import compare_dge

    background = boolean(background, "background")
    # in the child, the run's collections skip the imports; a library call leaves its process alone
    with frozen_imports() if background else nullcontext():
        start = time.perf_counter()
        dge = tuple(dge) if isinstance(dge, list) else dge  # a (min, max) pair of files, through JSON
        if isinstance(dge, str) and dge == "embedded":
            if background:
                figure_cubes_first()
            radial_delta_first(background)
        # in the child, half of the toys in a grandchild: the core the figures leave when they end
        rows = [{k: r[k] for k in ANSWER_KEYS if k in r}
                for r in compare_dge(dge, variants=("min",), parallel_toys=background)["rows"]]
        return {"rows": rows, "seconds": time.perf_counter() - start}


def figure_cubes_first(leptonic_first=False):
    """The embedded DGE's cubes that the main process's figures need, into the disk cache (gamma rays
    and neutrinos, "min" and "max" in one pass each; the inverse-Compton and bremsstrahlung cubes of
    Fig. 2): first thing in the answer row's child, while the main process fits B/C and draws the
    population (the main process loads them, or, if it asks first, waits for the build in progress:
    :mod:`.._cache`), in the order the figures ask for them (the LHAASO fit and Figs. B.1-B.3, then
    Fig. 2); without a child, first thing in the main process with ``leptonic_first``: the leptonic
    builds peak at ~0.2 GB above the process (~0.4 GB before their cubes were built in blocks), so
    they run while it is small. Nothing without a disk
    cache. The cubes are freed (the fits load the two "min" cubes they use from the disk cache, ~0.2 s;
    with ``leptonic_first`` these two stay in memory), the models' geometry too."""
    from .._cache import cache_directory
    from .._validation import boolean
    from ..dge import conventional

    leptonic_first = boolean(leptonic_first, "leptonic_first")
    if cache_directory() is None:
        return

    def hadronic():
        conventional.conventional_dge("min")
        conventional.conventional_dge("min", secondary="nu_per_flavour")
        if not leptonic_first:  # (on disk) the leptonic builds peak ~70 MB lower without them
            conventional.release_cubes(components=("pi0",))

    def leptonic():
        for component in ("ic", "bremsstrahlung"):
            conventional.conventional_dge("min", components=(component,))
        conventional.release_cubes(components=("ic", "bremsstrahlung"))

    for build in ((leptonic, hadronic) if leptonic_first else (hadronic, leptonic)):
        build()
    conventional.release_models()
    return_freed_memory()


def radial_delta_first(background):
    """Hypothesis (d)'s DGE before the fits, while this process is still small (the cubes are
    cached; the fits use the same ones). In the background child (``background``) a cold build
    runs here, its geometry (~0.4 GB) released after it: a third interpreter would only import the
    package once more. In the main process (the fallback) it runs in a process of its own, so that
    its memory is freed with it (:func:`~..dge.radial_delta.radial_delta_dge`)."""
    from .._cache import cache_directory
    from ..dge import radial_delta

    if background and cache_directory() is not None and radial_delta._missing(128):
        radial_delta.build_radial_delta_cache(128)
        radial_delta.release_geometry()  # the fits need only the cubes
        return_freed_memory()
    radial_delta.radial_delta_dge("min")


#: memory [GB] the machine must have available to run the answer row's fits beside the figures
BACKGROUND_MEMORY_GB = 2.5


def start_answer(dge, fork=False):
    """The answer row's fits started in a child process (they share nothing with the figures, and
    overlap them on a second core; the child's memory, ~0.6-0.9 GB with the radial-delta DGE's build,
    is freed when it ends), or None (then :func:`.reproduce._answer_row` fits in this process, after the
    figures): with less than :data:`BACKGROUND_MEMORY_GB` available, or if no child could start.

    The child is a fresh interpreter (:class:`~.background.BackgroundCall`), started before this
    process imports gammapy so that its imports run on the other core; with ``fork`` (the command
    line, once it has imported gammapy, :mod:`.forked` where it can fork) a forked copy of this
    process instead, in a process group of its own: it imports only what its fits add, and starts
    with the embedded DGE's prefetched steps (:func:`~..dge.conventional.adopt_prefetched`, installed here
    first), which a forked child computed while this process imported (the command line's
    ``_PrefetchedDGE``): its cube builds skip them."""
    from .._validation import boolean
    from ..dge.diskcache import available_memory_gb
    from .background import BackgroundCall
    from .forked import ForkedCall, can_fork

    fork = boolean(fork, "fork")
    available = available_memory_gb()
    if available is not None and available < BACKGROUND_MEMORY_GB:
        log.info("the answer row's fits run in this process: %.1f GB of memory available", available)
        return None
    if fork and can_fork():
        from ..dge.conventional import adopt_prefetched

        adopt_prefetched()
        call = ForkedCall(answer_fits, dge, True, new_group=True)
        if call.forked:
            return call
    try:
        return BackgroundCall("gammapy_cocoons.analysis.answer:answer_fits",
                              dge if isinstance(dge, str) else [str(p) for p in dge] if isinstance(dge, (tuple, list))
                              else str(dge), True)
    except OSError as error:
        log.warning("the answer row's fits run in this process: no child process (%s)", error)
        return None


def return_freed_memory():
    """Collect garbage and give the C heap's free pages back to the operating system (glibc's
    ``malloc_trim``; elsewhere only the collection): the B/C networks and the population leave
    ~0.2-0.3 GB of small freed blocks that would otherwise stay in this process until it ends."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
