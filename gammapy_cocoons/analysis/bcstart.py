"""``bc``'s variant fits started in a child interpreter, from a module light enough to import before
gammapy: the command line starts the child first, so that the child's imports and fits run on the
second core while this process imports gammapy, fits the main set-up and draws
(:func:`~gammapy_cocoons.analysis.bcfit.run_bc`'s ``background``)."""
import logging

__all__ = ["start_bc_variants"]

log = logging.getLogger(__name__)


def start_bc_variants(grammage="exponential", production="galprop17-opt12", correlation_length=None):
    """:func:`~gammapy_cocoons.analysis.bcfit.bc_variants` with these options, started in a child
    interpreter (a :class:`~gammapy_cocoons.analysis.background.BackgroundCall`; about 0.3 GB while
    it fits), or None if no child could start (then :func:`~gammapy_cocoons.analysis.bcfit.run_bc`
    fits the variants itself). The options are checked by ``run_bc``, which ends the child if it
    refuses them."""
    from .background import BackgroundCall

    try:
        return BackgroundCall("gammapy_cocoons.analysis.bcfit:bc_variants", grammage, production, correlation_length)
    except OSError as error:
        log.warning("the B/C variants are fitted in this process: no child process (%s)", error)
        return None
