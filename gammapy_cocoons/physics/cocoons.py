"""Cocoon lifetime and size conditions: Eqs. 9 and 10 of Ambrosone et al. (2025).

Eq. 9: CRs accumulate the grammage chi_c in a time chi_c / (m n_gas c), with m the gas mass per
hydrogen atom and n_gas the hydrogen atoms per cm3 (:mod:`.targetgas`): m = m_p for the paper's
pure-hydrogen gas (Eq. 9 as written, helium_fraction = 0), 1.40 m_p for ISM gas (He/H = 0.1, the
package's default); the cocoon must live at least that long. Eq. 10: the cocoons alive at any
time, R_SN tau of them, must not overfill the source disc, R_SN tau (4 pi / 3) R_c^3 <=
pi R_G^2 (2 h), hence R_c <= (3 R_G^2 h / (2 R_SN tau))^(1/3).
"""
from ..constants import YR_S
from .targetgas import ISM_HELIUM_FRACTION, TargetGas

__all__ = ["confinement_time", "maximum_cocoon_radius"]


def confinement_time(chi0, n_gas, helium_fraction=ISM_HELIUM_FRACTION):
    """Time [s] to accumulate the mass grammage ``chi0`` [g cm-2] in gas of ``n_gas`` hydrogen atoms
    per cm3 with ``helium_fraction`` He per H atom (Eq. 9; helium_fraction = 0 is the paper's
    chi0 / (m_p n_gas c))."""
    return TargetGas(helium_fraction).accumulation_time(chi0, n_gas)


def maximum_cocoon_radius(chi0, n_gas, dist, helium_fraction=ISM_HELIUM_FRACTION):
    """Largest cocoon radius [pc] for which the cocoons do not overfill the disc (Eq. 10).

    ``dist`` is the :class:`~gammapy_cocoons.physics.galaxy.SourceDistribution` that sets the
    disc (R_G, h) and the rate R_SN; ``n_gas`` and ``helium_fraction`` as in :func:`confinement_time`.
    """
    tau_yr = confinement_time(chi0, n_gas, helium_fraction) / YR_S
    r_g_pc = dist.r_max * 1e3
    h_pc = dist.h * 1e3
    return (3.0 * r_g_pc**2 * h_pc / (2.0 * dist.rate_per_yr * tau_yr)) ** (1.0 / 3.0)
