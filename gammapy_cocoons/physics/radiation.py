"""Leptonic radiation: inverse Compton and bremsstrahlung kernels, and the electron energy losses.

Inverse Compton (IC) on an isotropic photon gas, the exact Klein-Nishina kernel of Jones (1968,
Phys. Rev. 167, 1159) in the form of Blumenthal & Gould (1970, Rev. Mod. Phys. 42, 237; BG70,
eq. 2.48), for an electron of Lorentz factor gamma and a photon of energy eps [m c^2 units]::

    dN / dt dE_g = (3 sigma_T c / 4 gamma^2 eps) n(eps) deps F(q, G),      G = 4 eps gamma,
    F = 2 q ln q + (1 + 2q)(1 - q) + (G q)^2 (1 - q) / (2 (1 + G q)),
    q = w / (G (1 - w)),  w = E_g / (gamma m c^2),   1 / (4 gamma^2) <= q <= 1 .

Bremsstrahlung on *neutral* hydrogen and helium with atomic screening (BG70 eq. 3.46-3.50;
Gould 1969, Phys. Rev. 185, 72; as GALPROP, Strong, Moskalenko & Reimer 2000, ApJ 537, 763),
for an ultra-relativistic electron of total energy E0 -> E1 = E0 - k::

    dsigma / dk = (4 alpha r_e^2 / k) [(1 + (E1/E0)^2) phi1(delta) - (2/3)(E1/E0) phi2(delta)],
    delta = k m c^2 / (2 E0 E1),

with the screening functions of the atom's form factor F(q) (q: momentum transfer in m c)::

    H  (Z = 1): phi1 = 2 [1 + I1],  phi2 = 2 [5/6 + I2],  F = (1 + (q / 2 alpha)^2)^-2
    He (Z = 2): phi1 = 4 [3/2 + I1], phi2 = 4 [5/4 + I2], one-parameter Hylleraas function,
                F = (1 + (q / 2 alpha Z')^2)^-2, Z' = Z - 5/16, screening weight 2 (1 - F) - (1 - F^2) / Z
    I1 = int_delta^1 (q - delta)^2 / q^3 S(q) dq,
    I2 = int_delta^1 [q^3 + (3 - 6 ln(q / delta)) delta^2 q - 4 delta^3] / q^4 S(q) dq,

each capped by the unscreened Bethe-Heitler value (Z^2 + Z)(ln(1 / delta) - 1/2) (atomic
electrons included as targets). At complete screening phi1(0) equals Z^2 (L_rad - f) + Z L'_rad
of Tsai (1974; PDG), i.e. the radiation lengths 63.0 (H) and 94.3 g cm-2 (He). Valid for
E0 >~ 10 MeV (the high-energy form); kernels here are refused below 0.01 GeV. naima's
``Bremsstrahlung`` is for a fully ionised gas (electron-ion + electron-electron), up to ~2x
different at GeV: not used.

Energy losses abs(dE/dt) [GeV s-1] of an electron of total energy E: IC (integral of the
kernel above, Klein-Nishina), synchrotron (4/3) sigma_T c gamma^2 B^2 / 8 pi (pitch-angle
average), bremsstrahlung c sum_i n_i int k dsigma_i/dk dk, and ionisation of neutral H,
7.64e-18 (3 ln gamma + 19.8) GeV s-1 per H atom cm-3 (Longair 2011, High Energy Astrophysics,
3rd ed., the ionisation loss of relativistic electrons in neutral hydrogen; helium counted per
bound electron, an approximation: ionisation matters only below ~1 GeV).

Internal units: GeV, cm, s. Photon fields are given as dn / d ln eps [cm-3] on a log-spaced grid
(as :class:`~gammapy_cocoons.physics.isrf.RadiationField`), linear in ln eps between nodes.
"""
from functools import lru_cache

import numpy as np

from ..constants import C_CM_S

__all__ = [
    "SIGMA_T_CM2", "ELECTRON_MASS_GEV", "ic_kernel", "ic_emissivity_matrix", "ic_loss_matrix",
    "synchrotron_loss", "screening_functions", "bremsstrahlung_cross_section", "bremsstrahlung_emissivity_matrix",
    "bremsstrahlung_loss", "ionisation_loss", "electron_quadrature",
]

SIGMA_T_CM2 = 6.6524587321e-25
ELECTRON_MASS_GEV = 0.51099895e-3
ALPHA = 7.2973525693e-3
R_E_CM = 2.8179403262e-13
#: 1 erg [GeV]
_ERG_GEV = 624.150907
#: lowest electron energy of the bremsstrahlung kernel [GeV] (high-energy form)
BREMS_MIN_ENERGY_GEV = 0.01
#: atoms: Z, bound electrons, screening (form-factor) charge
_ATOMS = {"H": (1, 1, 1.0), "He": (2, 2, 2.0 - 5.0 / 16.0)}


# -- inverse Compton ----------------------------------------------------------------------------
def ic_kernel(electron_energy, photon_energy, gamma_energy):
    """Scattered-photon spectrum per electron per target photon, (dN / dt dE_g) / (c n) [cm2 GeV-1]
    (i.e. dsigma / dE_g averaged over isotropic directions), broadcast over the three energies
    [GeV] (BG70 eq. 2.48; zero outside the kinematic range)."""
    gamma = np.asarray(electron_energy, float) / ELECTRON_MASS_GEV
    eps = np.asarray(photon_energy, float) / ELECTRON_MASS_GEV
    w = np.asarray(gamma_energy, float) / ELECTRON_MASS_GEV / gamma
    big_g = 4.0 * eps * gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        q = w / (big_g * (1.0 - w))
        gq = big_g * q
        f = 2.0 * q * np.log(q) + (1.0 + 2.0 * q) * (1.0 - q) + 0.5 * gq**2 * (1.0 - q) / (1.0 + gq)
        valid = (w < 1.0) & (q <= 1.0) & (q >= 0.25 / gamma**2)
        value = 0.75 * SIGMA_T_CM2 * f / (gamma**2 * eps * ELECTRON_MASS_GEV)
    return np.where(valid, np.maximum(value, 0.0), 0.0)


def _photon_hats(photon_energy, n_sub):
    """Fine photon energies [GeV], their ln-eps trapezoid weights and the hat functions that
    interpolate dn/dln eps linearly in ln eps between the nodes: (eps_fine, weight (n_fine, n_nodes))."""
    eps = np.asarray(photon_energy, float)
    x = np.log(eps)
    if eps.ndim != 1 or eps.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("photon_energy must be an increasing 1-d grid [GeV]")
    t = np.linspace(0.0, 1.0, n_sub + 1)
    fine = np.concatenate([x[i] + t[:-1] * (x[i + 1] - x[i]) for i in range(x.size - 1)] + [x[-1:]])
    dx = np.empty_like(fine)  # trapezoid weights in ln eps
    dx[1:-1] = 0.5 * (fine[2:] - fine[:-2])
    dx[0], dx[-1] = 0.5 * (fine[1] - fine[0]), 0.5 * (fine[-1] - fine[-2])
    weights = np.zeros((fine.size, eps.size))
    j = np.clip(np.searchsorted(x, fine, side="right") - 1, 0, eps.size - 2)
    tt = (fine - x[j]) / (x[j + 1] - x[j])
    weights[np.arange(fine.size), j] = (1.0 - tt) * dx
    weights[np.arange(fine.size), j + 1] += tt * dx
    return np.exp(fine), weights


def electron_quadrature(electron_energy, n_sub=4, index=3.0):
    """Quadrature of int dE N(E) g(E) over a log-spaced electron grid: fine energies [GeV] and a
    matrix W (n_fine, n_nodes) with int N g dE ~ sum_f g(E_f) sum_k W[f, k] N_k.

    N E^index is interpolated linearly in ln E between the nodes (so steep spectra are
    integrated accurately), trapezoid in ln E on ``n_sub`` sub-intervals per node interval.
    """
    energy = np.asarray(electron_energy, float)
    x = np.log(energy)
    if energy.ndim != 1 or energy.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("electron_energy must be an increasing 1-d grid [GeV]")
    fine, hats = _photon_hats(energy, n_sub)
    # hats interpolate N E^index; undo the scaling and include dE = E dlnE
    scale = (fine ** (1.0 - index))[:, None] * (energy**index)[None, :]
    return fine, hats * scale


def ic_emissivity_matrix(electron_energy, photon_energy, gamma_energy, n_sub_photon=6, n_sub_electron=4):
    """K (n_gamma, n_electron, n_photon) [cm2 GeV-1 x GeV] such that the IC emissivity per sr is

        j(E_g) = sum_{e, p} K[g, e, p] J_e (dn / dln eps)_p       [GeV-1 s-1 sr-1 cm-3]

    for electron intensities J_e [GeV-1 cm-2 s-1 sr-1] at ``electron_energy`` and photon
    densities dn/dln eps [cm-3] at ``photon_energy`` (isotropic scattering)."""
    from scipy import sparse

    gamma_energy = np.atleast_1d(np.asarray(gamma_energy, float))
    eps_fine, photon_w = _photon_hats(photon_energy, n_sub_photon)
    e_fine, electron_w = electron_quadrature(electron_energy, n_sub_electron)
    photon_w, electron_t = sparse.csr_matrix(photon_w), sparse.csr_matrix(electron_w.T)
    out = np.empty((gamma_energy.size, electron_w.shape[1], photon_w.shape[1]))
    for i, eg in enumerate(gamma_energy):  # one gamma-ray energy at a time bounds the memory
        # only electrons above the gamma-ray energy contribute
        live = e_fine > eg
        kernel = np.zeros((e_fine.size, eps_fine.size))
        kernel[live] = ic_kernel(e_fine[live, None], eps_fine[None, :], eg)
        out[i] = electron_t @ (photon_w.T @ kernel.T).T
    return out


@lru_cache(maxsize=1)
def _ic_loss_nodes(n=64):
    return np.polynomial.legendre.leggauss(n)


def ic_loss_matrix(electron_energy, photon_energy, n_sub_photon=6):
    """L (n_electron, n_photon) [GeV s-1 cm3] with the IC energy-loss rate
    abs(dE/dt) = sum_p L[e, p] (dn / dln eps)_p (Klein-Nishina; the energy given to each scattered
    photon, int E_g dN/dt dE_g, which exceeds the electron's loss by the target energy eps << E_g)."""
    energy = np.atleast_1d(np.asarray(electron_energy, float))
    eps_fine, photon_w = _photon_hats(photon_energy, n_sub_photon)
    gamma = energy[:, None, None] / ELECTRON_MASS_GEV
    big_g = 4.0 * (eps_fine[None, :, None] / ELECTRON_MASS_GEV) * gamma
    # int over q in [1/4gamma^2, 1] in ln q (Gauss-Legendre): E_g = E G q / (1 + G q)
    x, w = _ic_loss_nodes()
    lo = np.log(0.25 / gamma**2)
    half = -0.5 * lo
    lnq = lo + half * (x + 1.0)
    q = np.exp(lnq)
    gq = big_g * q
    f = 2.0 * q * lnq + (1.0 + 2.0 * q) * (1.0 - q) + 0.5 * gq**2 * (1.0 - q) / (1.0 + gq)
    e_gamma = energy[:, None, None] * gq / (1.0 + gq)
    de_dq = energy[:, None, None] * big_g / (1.0 + gq) ** 2
    rate = 0.75 * SIGMA_T_CM2 * C_CM_S * f / (gamma**2 * eps_fine[None, :, None])  # per GeV of E_g
    loss = np.sum(w * half * q * de_dq * e_gamma * np.maximum(rate, 0.0), axis=-1)  # (n_e, n_eps_fine)
    return loss @ photon_w


# -- synchrotron --------------------------------------------------------------------------------
def synchrotron_loss(electron_energy, field_gauss):
    """abs(dE/dt) [GeV s-1] = (4/3) sigma_T c gamma^2 B^2 / 8 pi (isotropic pitch angles), broadcast."""
    gamma = np.asarray(electron_energy, float) / ELECTRON_MASS_GEV
    u_b = np.asarray(field_gauss, float) ** 2 / (8.0 * np.pi) * _ERG_GEV  # GeV cm-3
    return 4.0 / 3.0 * SIGMA_T_CM2 * C_CM_S * gamma**2 * u_b


# -- bremsstrahlung -----------------------------------------------------------------------------
def _screening_integrands(q, delta, atom):
    z, _, z_screen = _ATOMS[atom]
    form = 1.0 / (1.0 + (q / (2.0 * ALPHA * z_screen)) ** 2) ** 2
    weight = (1.0 - form) if atom == "H" else (2.0 * (1.0 - form) - (1.0 - form**2) / z)
    f1 = (q - delta) ** 2 / q**3 * weight
    f2 = (q**3 + (3.0 - 6.0 * np.log(q / delta)) * delta**2 * q - 4.0 * delta**3) / q**4 * weight
    return f1, f2


@lru_cache(maxsize=4)
def _screening_table(atom, n_delta=241, n_nodes=96):
    """phi1, phi2 (screened, before the unscreened cap) on ln delta in [ln 1e-8, 0]."""
    z, electrons, _ = _ATOMS[atom]
    ln_delta = np.linspace(np.log(1e-8), 0.0, n_delta)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    delta = np.exp(ln_delta)[:, None]
    # int_delta^1 dq in ln q: q = exp(t), t in [ln delta, 0]
    half = -0.5 * np.log(delta)
    t = np.log(delta) + half * (x + 1.0)
    q = np.exp(t)
    f1, f2 = _screening_integrands(q, delta, atom)
    i1 = np.sum(w * half * q * f1, axis=-1)
    i2 = np.sum(w * half * q * f2, axis=-1)
    if atom == "H":
        return ln_delta, 2.0 * (1.0 + i1), 2.0 * (5.0 / 6.0 + i2)
    scale = 1.0 + (electrons - 1.0) / z
    return ln_delta, 2.0 * z * (scale + i1), 2.0 * z * (5.0 / 6.0 * scale + i2)


def screening_functions(delta, atom="H"):
    """phi1, phi2 (in units of 4 of BG70: phi1(0) = Z^2 (L_rad - f) + Z L'_rad) of neutral "H" or
    "He" at screening parameter ``delta`` = k m c^2 / (2 E0 E1), capped by the unscreened value."""
    if atom not in _ATOMS:
        raise ValueError(f"atom must be one of {sorted(_ATOMS)}, got {atom!r}")
    delta = np.asarray(delta, float)
    z, electrons, _ = _ATOMS[atom]
    ln_delta, phi1, phi2 = _screening_table(atom)
    x = np.log(np.clip(delta, 1e-300, None))
    p1 = np.interp(x, ln_delta, phi1)  # held at complete screening below delta = 1e-8
    p2 = np.interp(x, ln_delta, phi2)
    unscreened = (z * z + electrons) * (-x - 0.5)
    return np.clip(np.minimum(p1, unscreened), 0.0, None), np.clip(np.minimum(p2, unscreened), 0.0, None)


def bremsstrahlung_cross_section(electron_energy, gamma_energy, atom="H"):
    """dsigma/dk [cm2 GeV-1] per neutral atom ("H" or "He") for an electron of total energy E0
    [GeV] emitting a photon of energy k [GeV] (broadcast; zero for k >= E0 - m c^2)."""
    e0 = np.asarray(electron_energy, float)
    k = np.asarray(gamma_energy, float)
    if np.any(e0 < BREMS_MIN_ENERGY_GEV):
        raise ValueError(f"electron_energy must be >= {BREMS_MIN_ENERGY_GEV} GeV (the high-energy, "
                         "screened form), got a smaller value")
    e1 = e0 - k
    valid = (k > 0) & (e1 > ELECTRON_MASS_GEV)
    e1 = np.where(valid, e1, ELECTRON_MASS_GEV)
    kk = np.where(valid, k, 1.0)
    delta = kk * ELECTRON_MASS_GEV / (2.0 * e0 * e1)
    phi1, phi2 = screening_functions(delta, atom)
    ratio = e1 / e0
    value = 4.0 * ALPHA * R_E_CM**2 / kk * ((1.0 + ratio**2) * phi1 - 2.0 / 3.0 * ratio * phi2)
    return np.where(valid, np.maximum(value, 0.0), 0.0)


def bremsstrahlung_emissivity_matrix(electron_energy, gamma_energy, helium_fraction=0.1, n_sub_electron=4):
    """B (n_gamma, n_electron) [cm2] with the emissivity per H atom and sr
    j(E_g) = sum_e B[g, e] J_e [GeV-1 s-1 sr-1] for electron intensities J_e [GeV-1 cm-2 s-1 sr-1]
    on a gas with n_He / n_H = ``helium_fraction``."""
    gamma_energy = np.atleast_1d(np.asarray(gamma_energy, float))
    e_fine, weights = electron_quadrature(electron_energy, n_sub_electron)
    sigma = bremsstrahlung_cross_section(e_fine[None, :], gamma_energy[:, None], "H") \
        + helium_fraction * bremsstrahlung_cross_section(e_fine[None, :], gamma_energy[:, None], "He")
    return sigma @ weights


def _brems_loss_per_atom(electron_energy, atom, n=96):
    """int_0^{E0 - m} k dsigma/dk dk / E0 [cm2] (Gauss-Legendre in k / E0)."""
    e0 = np.atleast_1d(np.asarray(electron_energy, float))[:, None]
    x, w = np.polynomial.legendre.leggauss(n)
    top = 1.0 - ELECTRON_MASS_GEV / e0
    v = 0.5 * top * (x + 1.0)
    k = v * e0
    integrand = k * bremsstrahlung_cross_section(e0, k, atom)  # per unit k / E0 ... dk = E0 dv
    return np.sum(w * 0.5 * top * integrand, axis=-1)


def bremsstrahlung_loss(electron_energy, n_h, helium_fraction=0.1):
    """abs(dE/dt) [GeV s-1] of bremsstrahlung on neutral gas of n_H [cm-3] H atoms and helium
    ``helium_fraction`` n_H (broadcast: electron_energy (n,) with n_h (...) gives (n, ...))."""
    energy = np.atleast_1d(np.asarray(electron_energy, float))
    per_h = _brems_loss_per_atom(energy, "H") + helium_fraction * _brems_loss_per_atom(energy, "He")
    n_h = np.asarray(n_h, float)
    return C_CM_S * (energy * per_h).reshape((-1,) + (1,) * n_h.ndim) * n_h


def ionisation_loss(electron_energy, n_h, helium_fraction=0.1):
    """abs(dE/dt) [GeV s-1] of ionisation of neutral gas, 7.64e-18 (3 ln gamma + 19.8) GeV s-1 per
    target electron cm-3 (neutral hydrogen, Longair 2011; helium counted per bound electron)."""
    energy = np.atleast_1d(np.asarray(electron_energy, float))
    gamma = energy / ELECTRON_MASS_GEV
    n_h = np.asarray(n_h, float)
    per = 7.64e-18 * (3.0 * np.log(gamma) + 19.8)
    return per.reshape((-1,) + (1,) * n_h.ndim) * n_h * (1.0 + 2.0 * helium_fraction)
