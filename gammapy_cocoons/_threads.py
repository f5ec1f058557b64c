"""BLAS threads for the command line and the tests.

Multi-threaded OpenBLAS on two busy cores stalls on the small matrix work this package does (a
spectral call at 1000 energies 25x slower, ``leggauss(400)`` from 12 ms to 2 s), so the command line
and the tests run BLAS on one thread unless the user has chosen a number through the usual
environment variables. The library itself never changes it.
"""
import os

__all__ = ["BLAS_THREAD_VARIABLES", "limit_blas_threads"]

#: environment variables by which a user chooses the BLAS / OpenMP thread count
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_blas_threads(threads=1, environ=None):
    """Limit BLAS to ``threads`` in this process unless one of :data:`BLAS_THREAD_VARIABLES` is set;
    returns the threadpoolctl limiter, or None if the user chose.

    The libraries loaded now are limited by threadpoolctl; those loaded later (scipy bundles its own
    OpenBLAS, and ``import gammapy_cocoons`` loads no numpy at all) and child processes read the
    variables, which are set to ``threads`` here (a BLAS library reads them when it is loaded)."""
    environ = os.environ if environ is None else environ
    if any(name in environ for name in BLAS_THREAD_VARIABLES):
        return None
    import numpy  # noqa: F401  (its BLAS is loaded before the limit is applied)
    from threadpoolctl import threadpool_limits

    for name in BLAS_THREAD_VARIABLES:
        environ[name] = str(int(threads))
    return threadpool_limits(limits=int(threads), user_api="blas")
