"""Cocoon lifetime and size conditions: Eqs. 9 and 10 of Ambrosone et al. (2025).

Eq. 9: CRs accumulate chi_c in a time chi_c / (m_p n_gas c); the cocoon must live at least
that long. Eq. 10: the cocoons alive at any time, R_SN tau of them, must not overfill the
source disc, R_SN tau (4 pi / 3) R_c^3 <= pi R_G^2 (2 h), hence
R_c <= (3 R_G^2 h / (2 R_SN tau))^(1/3).
"""
import numpy as np

from ..constants import C_CM_S, PROTON_MASS_G, YR_S

__all__ = ["confinement_time", "maximum_cocoon_radius"]


def confinement_time(chi0, n_gas):
    """Time [s] to accumulate grammage ``chi0`` [g cm-2] in gas of density ``n_gas`` [cm-3] (Eq. 9)."""
    return np.asarray(chi0, float) / (PROTON_MASS_G * np.asarray(n_gas, float) * C_CM_S)


def maximum_cocoon_radius(chi0, n_gas, dist):
    """Largest cocoon radius [pc] for which the cocoons do not overfill the disc (Eq. 10).

    ``dist`` is the :class:`~gammapy_cocoons.physics.galaxy.SourceDistribution` that sets the
    disc (R_G, h) and the rate R_SN.
    """
    tau_yr = confinement_time(chi0, n_gas) / YR_S
    r_g_pc = dist.r_max * 1e3
    h_pc = dist.h * 1e3
    return (3.0 * r_g_pc**2 * h_pc / (2.0 * dist.rate_per_yr * tau_yr)) ** (1.0 / 3.0)
