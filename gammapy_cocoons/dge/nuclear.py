"""Secondaries from nuclei heavier than helium, relative to the H + He emissivity of the DGE.

The embedded DGE computes p-p, p-He, He-p and He-He with AAfrag. Cosmic rays heavier than He
(CNO, Ne-Si, Fe) on H and He gas, and H + He cosmic rays on ISM nuclei heavier than He, add

    h(E) = [sum_{i heavy} sum_j y_j Z_ij I_i + sum_{i = p, He} I_i Z_ip sum_{k metals} x_k A_k^0.9]
           / sum_{i = p, He} sum_j y_j Z_ij I_i

* Z_ij(E, alpha_i): the "Z-factors" [mb] of Kachelriess, Moskalenko & Ostapchenko (2014, ApJ 789,
  136, Table 3) for projectile groups p, He, CNO, Mg-Si, Fe on p and He targets at E_gamma = 10,
  100, 1000 GeV and spectral indices alpha = 2-3, with the CR fluxes per nucleon I_i at E_gamma
  (their definition); QGSJET-II-04 and EPOS-LHC averaged (they differ by 1-2 % in h).
* I_i(E): the CR composition of Honda et al. (2004, PRD 70, 043008), the parametrisation
  I = K (E + b exp(-c sqrt(E)))^-alpha per nucleon [GeV] (table below; its He/p at 10 GeV/n is 0.055,
  AMS-02 gives 0.063).
* y_j: ISM helium n_He / n_H (the DGE's helium_fraction).
* ISM metals k (C, N, O, Ne, Mg, Si, S, Fe; solar abundances x_k = n_k / n_H of Asplund, Grevesse,
  Sauval & Scott 2009, ARA&A 47, 481, dust included: CRs see nuclei in grains too): their yield
  per target nucleus relative to hydrogen taken as A_k^0.9, the scaling of KMO's own p-He / p-p
  Z-factors (3.5 for A = 4). An estimate: it adds 1.0 % of the H + He emissivity.

h is 0.10-0.13 at 10 GeV - 1 TeV; below 10 GeV the value at 10 GeV is used (KMO tabulate from 10
GeV; their spectrally averaged factors vary slowly), above 1 TeV the value at 1 TeV (the heavier
composition beyond the knee is not modelled). The same h multiplies the neutrino emissivity (an
approximation: KMO computed photons).
"""
import numpy as np

__all__ = ["heavier_nuclei_ratio", "KMO2014_Z_FACTORS", "HONDA2004_COMPOSITION", "ISM_METALS_ASPLUND2009"]

_ALPHAS = np.array([2.0, 2.2, 2.4, 2.6, 2.8, 3.0])
_GROUPS = ("p", "He", "CNO", "MgSi", "Fe")
#: Kachelriess, Moskalenko & Ostapchenko (2014) Table 3 [mb]: (model, E_gamma [GeV]) -> rows
#: (p, He, CNO, Mg-Si, Fe) on p, then the same on He; columns alpha = 2.0, 2.2, ..., 3.0
KMO2014_Z_FACTORS = {
    ("QGSJET-II-04", 10.0): (
        (5.45, 3.06, 1.84, 1.17, 0.771, 0.529), (22.4, 12.6, 7.62, 4.85, 3.22, 2.21),
        (76.8, 43.8, 26.6, 17.1, 11.4, 7.89), (138, 78.9, 48.2, 31.0, 20.7, 14.4), (298, 171, 105, 67.2, 45.0, 31.2),
        (19.7, 10.9, 6.48, 4.07, 2.68, 1.83), (73.7, 41.0, 24.4, 15.3, 10.1, 6.86),
        (271, 152, 91.2, 57.7, 38.1, 26.1), (473, 266, 160, 101, 66.8, 45.7), (1010, 569, 342, 216, 143, 97.5)),
    ("QGSJET-II-04", 100.0): (
        (5.93, 3.20, 1.86, 1.14, 0.736, 0.492), (24.3, 13.1, 7.65, 4.72, 3.04, 2.04),
        (83.3, 45.4, 26.6, 16.5, 10.7, 7.21), (149, 81.7, 48.0, 29.8, 19.4, 13.1), (330, 181, 107, 66.7, 43.4, 29.3),
        (20.7, 11.0, 6.33, 3.85, 2.45, 1.63), (78.1, 41.7, 23.9, 14.6, 9.29, 6.16),
        (285, 153, 88.6, 54.3, 34.9, 23.3), (506, 273, 159, 97.7, 63.0, 42.2), (1100, 596, 346, 213, 137, 92.1)),
    ("QGSJET-II-04", 1000.0): (
        (6.85, 3.61, 2.05, 1.24, 0.786, 0.519), (28.4, 15.0, 8.51, 5.14, 3.26, 2.14),
        (95.6, 50.6, 28.9, 17.6, 11.2, 7.39), (174, 92.4, 53.0, 32.3, 20.6, 13.6), (378, 202, 117, 71.3, 45.7, 30.5),
        (23.7, 12.2, 6.83, 4.07, 2.56, 1.67), (89.2, 46.1, 25.8, 15.4, 9.66, 6.31),
        (321, 167, 93.5, 55.8, 35.0, 22.9), (567, 296, 167, 100, 63.3, 41.6), (1260, 660, 375, 226, 143, 94.6)),
    ("EPOS-LHC", 10.0): (
        (5.83, 3.31, 2.00, 1.27, 0.844, 0.578), (26.0, 15.0, 9.27, 6.00, 4.04, 2.82),
        (89.6, 52.3, 32.4, 21.1, 14.3, 9.99), (156, 91.5, 57.1, 37.4, 25.5, 18.0), (342, 203, 128, 84.6, 58.2, 41.4),
        (20.7, 11.4, 6.68, 4.12, 2.64, 1.75), (82.5, 46.3, 27.7, 17.5, 11.5, 7.79),
        (309, 175, 106, 67.7, 44.9, 30.8), (562, 322, 196, 126, 83.7, 57.6), (1200, 692, 424, 273, 183, 128)),
    ("EPOS-LHC", 100.0): (
        (6.34, 3.49, 2.06, 1.29, 0.837, 0.564), (26.6, 14.9, 9.01, 5.75, 3.84, 2.66),
        (95.4, 54.9, 33.8, 22.0, 15.0, 10.6), (167, 96.2, 59.1, 38.3, 25.9, 18.1), (373, 216, 134, 87.9, 60.0, 42.4),
        (22.6, 12.3, 7.18, 4.44, 2.88, 1.94), (86.5, 47.2, 27.7, 17.2, 11.2, 7.60),
        (321, 177, 105, 66.3, 43.7, 29.9), (582, 324, 193, 122, 80.2, 54.7), (1320, 744, 449, 286, 190, 130)),
    ("EPOS-LHC", 1000.0): (
        (7.61, 4.15, 2.45, 1.54, 1.01, 0.693), (31.1, 17.3, 10.3, 6.51, 4.31, 2.96),
        (106, 60.2, 36.7, 23.7, 16.0, 11.3), (192, 110, 68.2, 44.7, 30.6, 21.8), (433, 253, 159, 105, 73.6, 53.1),
        (25.3, 13.4, 7.73, 4.71, 3.01, 2.00), (98.3, 53.1, 31.0, 19.2, 12.5, 8.44),
        (360, 197, 116, 72.7, 47.5, 32.3), (654, 361, 214, 135, 88.7, 60.6), (1480, 829, 498, 317, 210, 145)),
}
#: Honda et al. (2004) CR composition per nucleon: group -> (alpha, K [m-2 s-1 sr-1 GeV-1], b [GeV], c)
HONDA2004_COMPOSITION = {
    "p": (2.74, 14900.0, 2.15, 0.21), "He": (2.64, 600.0, 1.25, 0.14), "CNO": (2.60, 33.2, 0.97, 0.01),
    "MgSi": (2.79, 34.2, 2.14, 0.01), "Fe": (2.68, 4.45, 3.07, 0.41),
}
#: ISM nuclei heavier than He: (mass number, n / n_H), Asplund et al. (2009) solar photosphere
ISM_METALS_ASPLUND2009 = {
    "C": (12, 2.69e-4), "N": (14, 6.76e-5), "O": (16, 4.90e-4), "Ne": (20, 8.51e-5), "Mg": (24, 3.98e-5),
    "Si": (28, 3.24e-5), "S": (32, 1.32e-5), "Fe": (56, 3.16e-5),
}
_TARGET_SCALING = 0.9


def _honda_flux(group, energy):
    alpha, k, b, c = HONDA2004_COMPOSITION[group]
    return k * (energy + b * np.exp(-c * np.sqrt(energy))) ** -alpha


def _ratio_at(e_gamma, helium_fraction):
    metals = sum(x * a**_TARGET_SCALING for a, x in ISM_METALS_ASPLUND2009.values())
    values = []
    for model in ("QGSJET-II-04", "EPOS-LHC"):
        z = np.asarray(KMO2014_Z_FACTORS[(model, e_gamma)], float)
        light = heavy = 0.0
        for i, group in enumerate(_GROUPS):
            alpha = HONDA2004_COMPOSITION[group][0]
            on_p, on_he = np.interp(alpha, _ALPHAS, z[i]), np.interp(alpha, _ALPHAS, z[5 + i])
            flux = _honda_flux(group, e_gamma)
            if group in ("p", "He"):
                light += flux * (on_p + helium_fraction * on_he)
                heavy += flux * on_p * metals
            else:
                heavy += flux * (on_p + helium_fraction * on_he)
        values.append(heavy / light)
    return float(np.mean(values))


def heavier_nuclei_ratio(energy_gev, helium_fraction=0.1):
    """h(E): the emissivity of nuclei heavier than He over that of H + He (module documentation),
    at secondary energies [GeV]; log-linear in E between 10 GeV and 1 TeV, constant outside."""
    nodes = np.array([10.0, 100.0, 1000.0])
    values = np.array([_ratio_at(e, helium_fraction) for e in nodes])
    log_e = np.clip(np.log(np.asarray(energy_gev, float)), np.log(nodes[0]), np.log(nodes[-1]))
    return np.interp(log_e, np.log(nodes), values)
