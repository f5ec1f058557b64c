"""Python's cyclic garbage collector in the command line's processes.

A command holds a few hundred thousand objects (gammapy, astropy, scipy, matplotlib and the
models) that live until the process ends. Two collections over them cost time and nothing else:

* at exit, the interpreter collects everything it tears down: ~0.5 s of a command's wall time on
  the 2-core machine, after its last output is written. :func:`skip_collection_at_exit` freezes
  the objects instead (:func:`gc.freeze`), after the exit handlers registered later than itself
  (those the libraries register while a command runs; it is called as the command starts); the
  process's memory is the operating system's again at exit either way.
* a forked child (:mod:`.analysis.forked`) inherits the parent's objects copy-on-write; its first
  full collection would visit, and so copy, every page that holds one. The child freezes them
  when it starts (:func:`freeze_inherited`): it collects only the garbage it makes itself.
* a long command's own full collections (~10-14 in ``reproduce``, ~0.1 s each for the ~0.2
  million objects of the imports alone) walk the imports every time. Frozen once the command has
  imported its modules, they walk only what the command makes: ``reproduce``'s main process spent
  0.98 s in collections, 0.39 s with its imports frozen. It is done for the run only
  (:func:`frozen_imports`): a command run in-process, e.g. by click's test runner, leaves the
  process as it found it.

Frozen objects are never freed by the collector, so neither is for a long-lived process that
keeps working (a notebook): the command line and the children call them, the library does not.
"""
import atexit
import gc
from contextlib import contextmanager

__all__ = ["frozen_imports", "freeze_inherited", "skip_collection_at_exit", "skips_collection_at_exit"]

_registered = False


def skip_collection_at_exit():
    """Freeze all objects at exit, once the exit handlers registered after this call have run (once
    per process)."""
    global _registered
    if not _registered:
        # handlers run last-registered first: this one, registered as the command starts, runs
        # after those the libraries register while the command runs
        atexit.register(gc.freeze)
        _registered = True


def skips_collection_at_exit():
    """Whether :func:`skip_collection_at_exit` was called in this process."""
    return _registered


def freeze_inherited():
    """Freeze the objects this (forked) process holds now: its collections skip them."""
    gc.freeze()


@contextmanager
def frozen_imports():
    """The objects this process holds now frozen for the block, unfrozen after it (module
    docstring); a process with frozen objects already is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
