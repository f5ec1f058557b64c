"""numpy's transparent-huge-page advice, for the command line and the tests.

On Linux numpy marks every array of 4 MB or more with ``madvise(MADV_HUGEPAGE)``. Where the kernel's
``transparent_hugepage/defrag`` is ``madvise`` (Debian's and most distributions' default), a page
fault in such a region compacts memory synchronously when no huge page is free, which on a machine
with fragmented memory costs far more than the huge pages save (numpy issue #31590). This package's
commands allocate and free cubes of tens of MB and fork children that touch them: on the 2-core
reference machine the advice cost ``fit`` 1.9 s of system CPU out of ~13 s (3.5 -> 1.7 s without it,
user time unchanged). So the command line and the tests turn the advice off unless the user has
chosen through numpy's own variable, ``NUMPY_MADVISE_HUGEPAGE``; the kernel may still use huge pages
where its ``enabled`` setting is ``always``. The library itself never changes it.
"""
import os

__all__ = ["HUGEPAGE_VARIABLE", "avoid_hugepage_advice"]

#: numpy's environment variable for its huge-page advice (read when numpy is imported)
HUGEPAGE_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"


def avoid_hugepage_advice(environ=None):
    """Turn numpy's huge-page advice off in this process and in the processes it starts, unless
    :data:`HUGEPAGE_VARIABLE` is set in ``environ`` (default ``os.environ``); returns whether it
    was on before, or None if the user chose (nothing is changed) or numpy has no runtime setter.

    numpy reads the variable when it is imported, so it is set for fresh interpreters started from
    here; this process's numpy is switched with its runtime setter (where numpy has none, only
    the variable is set)."""
    environ = os.environ if environ is None else environ
    if HUGEPAGE_VARIABLE in environ:
        return None
    environ[HUGEPAGE_VARIABLE] = "0"
    setter = _numpy_setter()
    return None if setter is None else bool(setter(False))


def _numpy_setter():
    """numpy's ``_set_madvise_hugepage(enabled)`` (returns the previous state), or None."""
    return _numpy_function("_set_madvise_hugepage")


def _numpy_getter():
    """numpy's ``_get_madvise_hugepage()``, or None."""
    return _numpy_function("_get_madvise_hugepage")


def _numpy_function(name):
    """``name`` of numpy's multiarray module: ``numpy._core.multiarray`` (2.x), ``numpy.core.multiarray``
    (1.x, where the first is missing or a stub without it); None if neither has it."""
    import importlib

    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            function = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if function is not None:
            return function
    return None
