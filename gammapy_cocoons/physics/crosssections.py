"""Differential production cross sections dsigma/dE(E_primary, E_secondary) [mb GeV-1].

Models (all through aafragpy):

* ``"aafrag"`` (default, as in the paper): AAfrag, Koldobskiy et al. (2021), PRD 104, 123027.
  Tables for p-p, He-p (and p-He, He-He for an ISM helium target); gamma rays and each
  neutrino flavour. Primary total energies 4 GeV (p) / 5 GeV (He) to 4e11 / 2.5e9 GeV.
  Below the tables (down to the pion threshold) the p-p channel is filled with Kafexhiu 2014
  (gamma rays) or Kamae 2006 (neutrinos), as the AAfrag authors recommend; without this the
  gamma-ray production would miss 8 % at 1 GeV (measured here; < 1e-4 above 3 GeV). The
  helium-target channels have no such extension (they start at 4-5 GeV).
* ``"kafexhiu2014"``: Kafexhiu et al. (2014), PRD 90, 123014, GEANT parameters; p-p, gamma
  rays only, from threshold.
* ``"kamae2006"``: Kamae et al. (2006), ApJ 647, 692; p-p, gamma rays and neutrinos, proton
  kinetic energy below 512 TeV (zero above, so fluxes above ~50 TeV are underestimated).

For the two p-p-only parametrisations a helium projectile is treated by superposition: a He
nucleus of total energy E acts as four nucleons of energy E/4 each,
dsigma_He-p(E) = 4 dsigma_pp(E/4). Applied to AAfrag's p-p table this reproduces AAfrag's own
He-p table to within 4-12 % (tested), below the ~15 % systematic the paper quotes.

All energies are total energies in GeV (of the whole nucleus for helium).
"""
import warnings
from collections import OrderedDict

import numpy as np
import aafragpy

from ..constants import PROTON_MASS_GEV

__all__ = [
    "CROSS_SECTION_MODELS",
    "SECONDARIES",
    "differential_cross_section",
    "primary_energy_range",
]

CROSS_SECTION_MODELS = ("aafrag", "kafexhiu2014", "kamae2006")

#: public secondary name -> (aafragpy product code, factor). "nu_per_flavour" is the flux of one
#: flavour (nu + antinu) at Earth after 1:1:1 oscillation mixing: all flavours / 3.
SECONDARIES = {
    "gamma": ("gam", 1.0),
    "nu_all": ("nu_all", 1.0),
    "nu_per_flavour": ("nu_all", 1.0 / 3.0),
    "nu_e": ("nu_e", 1.0),
    "anu_e": ("anu_e", 1.0),
    "nu_mu": ("nu_mu", 1.0),
    "anu_mu": ("anu_mu", 1.0),
}

_KAMAE_PRODUCTS = {"gam", "nu_all", "nu_e", "anu_e", "nu_mu", "anu_mu"}
# p-p threshold for pion production: T_p = 0.2797 GeV
_PP_THRESHOLD_TOTAL = PROTON_MASS_GEV + 0.2797
_KAMAE_MAX_KINETIC = 512e3


def primary_energy_range(model, projectile, target):
    """(min, max) total primary energy [GeV] where ``model`` is defined for this channel."""
    nucleons = 4.0 if projectile == "He" else 1.0
    if model == "aafrag":
        e_min, e_max = _aafrag_table_range(projectile, target)
        if target == "p":
            e_min = nucleons * _PP_THRESHOLD_TOTAL  # low-energy fill, see the module docstring
        return e_min, e_max
    if model == "kamae2006":
        return nucleons * _PP_THRESHOLD_TOTAL, nucleons * (_KAMAE_MAX_KINETIC + PROTON_MASS_GEV)
    if model == "kafexhiu2014":
        return nucleons * _PP_THRESHOLD_TOTAL, nucleons * 1e7
    raise ValueError(f"cross_sections must be one of {list(CROSS_SECTION_MODELS)}, got {model!r}")


def _aafrag_table_range(projectile, target):
    data = aafragpy.open_data_files("gam", f"{projectile}-{target}")
    if data is None:
        raise ValueError(f"AAfrag has no table for the channel {projectile}-{target}")
    return data[0][0] / 1e9, data[0][-1] / 1e9


def _pp_parametrisation(model, product, e_primary, e_secondary):
    # Energy conservation: no secondary carries more than the collision's total energy, E_p + m_p.
    # Both parametrisations are exactly 0 there (tested), so those columns are zeros without
    # evaluating them: a TeV grid needs none of the low-energy fill's (slow) evaluations.
    # (a NaN among the primaries leaves every column to the evaluation, as before; none give (0, n) zeros)
    possible = ~(e_secondary >= np.max(e_primary, initial=-np.inf) + PROTON_MASS_GEV)
    matrix = np.zeros((e_primary.size, e_secondary.size))
    if np.any(possible):
        # both parametrisations divide by zero at the kinematic edge (the result there is 0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            matrix[:, possible] = _pp_parametrisation_raw(model, product, e_primary, e_secondary[possible])
    return matrix


def _pp_parametrisation_raw(model, product, e_primary, e_secondary):
    if model == "kafexhiu2014":
        if product != "gam":
            raise ValueError("cross_sections='kafexhiu2014' has gamma rays only; use 'aafrag' or 'kamae2006' for neutrinos")
        matrix = _kafexhiu2014_gamma(e_primary, e_secondary)
    else:
        if product not in _KAMAE_PRODUCTS:
            raise ValueError(f"cross_sections='kamae2006' has no product {product!r}")
        matrix, _, _ = aafragpy.get_cross_section_Kamae2006(product, e_primary, e_secondary)
    return np.nan_to_num(np.asarray(matrix, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)


class _AafragCurves:
    """aafragpy's ``get_cross_section`` split in two: its per-primary work (the "curve morphing" between
    the two tabulated primary energies around each primary, ~70 % of its time) done once for a set of
    primaries (each table row's resampled curve once for all the primaries it brackets), and the
    interpolation at secondary energies done per call. The same operations in the
    same order as aafragpy 2.0.4 (outside_bounds="raise", secondary energies given): the same numbers
    bit for bit (tests/test_production.py compares them at random energies)."""

    def __init__(self, product, channel, e_primary):
        data = aafragpy.open_data_files(product, channel)
        if data is None:
            raise ValueError(f"AAfrag has no table for {product} from {channel}")
        ep_grid, es_grid, cs_slice = data
        req_ep = np.atleast_1d(e_primary).flatten() * 1e9
        out_of_range = (req_ep < ep_grid[0] / 1.001) | (req_ep > ep_grid[-1] * 1.001)
        if np.any(out_of_range):
            raise ValueError(f"Primary total energy is not in range: {ep_grid[0] / 1e9:g} -- {ep_grid[-1] / 1e9:g} GeV "
                             f"available for combination: {channel}")
        log_ep_grid = np.log10(ep_grid)
        log_es_grid = np.log10(es_grid)
        log_req_ep = np.log10(req_ep)
        with np.errstate(divide="ignore"):
            log_cs_grid = np.log10(cs_slice)
        idx2_all = np.clip(np.searchsorted(log_ep_grid, log_req_ep), 1, len(log_ep_grid) - 1)
        idx1_all = idx2_all - 1
        span = log_ep_grid[idx2_all] - log_ep_grid[idx1_all]
        cl1_all = np.abs((log_req_ep - log_ep_grid[idx1_all]) / span)
        cl2_all = np.abs((log_req_ep - log_ep_grid[idx2_all]) / span)
        valid_es = log_es_grid < 8
        rows = {}

        def table_row(idx):
            """A table row's curve on 1000 nodes (one per row: several primaries share a bracket)."""
            if idx not in rows:
                si_cs = log_cs_grid[idx, :].copy()
                w = np.where((si_cs == -np.inf) & valid_es)[0]
                if len(w) > 0:
                    si_cs[:w[-1]] = -np.inf
                v = si_cs != -np.inf
                a_x, a_y = log_es_grid[v][1:], si_cs[v][1:]
                if len(a_x) == 0:
                    rows[idx] = None
                else:
                    new_x = np.linspace(a_x[0], a_x[-1], 1000)
                    rows[idx] = (a_x[0], a_x[-1], new_x, np.interp(new_x, a_x, a_y))
            return rows[idx]

        #: per primary: None (no production) or (bounds of the filter, row 1, row 2, cl2, cl1); its curve
        #: (midx, midy) is formed from the two table rows when evaluated (the rows are shared: less memory)
        self.curves = []
        self._rows = rows
        for log_req_e, idx1, idx2, cl1, cl2 in zip(log_req_ep, idx1_all, idx2_all, cl1_all, cl2_all):
            row1, row2 = table_row(idx1), table_row(idx2)
            if row1 is None or row2 is None:
                self.curves.append(None)
                continue
            min_a1_x, max_a1_x, new_a1_x, _ = row1
            min_a2_x, max_a2_x, new_a2_x, _ = row2
            # midx[0] and midx[-1] as aafragpy computes them (element-wise: the same numbers)
            mid_first = cl2 * new_a1_x[0] + cl1 * new_a2_x[0]
            mid_last = cl2 * new_a1_x[-1] + cl1 * new_a2_x[-1]
            bounds = ((min_a1_x if min_a1_x < min_a2_x else min_a2_x) - 1e-5,
                      (max_a1_x if max_a1_x > max_a2_x else max_a2_x) + 1e-5,
                      log_req_e + 1e-5, mid_last + 1e-5, mid_first - 1e-5)
            self.curves.append((bounds, row1, row2, cl2, cl1))
        live = [i for i, c in enumerate(self.curves) if c is not None]
        self._live = np.array(live, dtype=int)
        # the filter's bounds per live primary, as columns (compared with all secondaries at once)
        self._bounds = np.array([self.curves[i][0] for i in live]).reshape(-1, 5).T[..., None]

    @property
    def nbytes(self):
        return sum(r[2].nbytes + r[3].nbytes for r in self._rows.values() if r is not None)

    def evaluate(self, e_secondary):
        """dsigma/dE [mb GeV-1], shape (n_primaries, n_secondaries), at total energies [GeV]."""
        e_secondary = np.atleast_1d(e_secondary).flatten()
        log_req_es = np.log10(e_secondary * 1e9)
        sigma = np.full((len(self.curves), e_secondary.size), -np.inf)  # 10^-inf = 0: aafragpy's zero rows
        low, high, edge, mid_high, mid_low = self._bounds
        keep = ((log_req_es > low) & (log_req_es < high) & (log_req_es <= edge) & (log_req_es <= mid_high)
                & (log_req_es >= mid_low))
        interp, curves = np.interp, self.curves
        for i in self._live[keep.any(axis=1)]:
            _, (_, _, new_a1_x, new_a1_y), (_, _, new_a2_x, new_a2_y), cl2, cl1 = curves[i]
            midx = cl2 * new_a1_x + cl1 * new_a2_x
            midy = cl2 * new_a1_y + cl1 * new_a2_y
            # np.interp is element-wise: at all secondaries, the filter applied after
            sigma[i] = interp(log_req_es, midx, midy)
        sigma[self._live[:, None], np.arange(e_secondary.size)] = np.where(keep, sigma[self._live], -np.inf)
        return np.power(10, sigma) / e_secondary[None, :]


_CURVES = OrderedDict()
#: memory kept for the resampled table rows of :class:`_AafragCurves` (16 kB per row, ~2 MB per channel)
CURVE_CACHE_BYTES = 32 * 2**20


def _aafrag_curves(product, channel, e_primary):
    """:class:`_AafragCurves` for these primaries, cached (bounded by CURVE_CACHE_BYTES)."""
    key = (product, channel, np.asarray(e_primary, dtype=float).tobytes())
    if key in _CURVES:
        _CURVES.move_to_end(key)
    else:
        _CURVES[key] = _AafragCurves(product, channel, e_primary)
        while len(_CURVES) > 1 and sum(c.nbytes for c in _CURVES.values()) > CURVE_CACHE_BYTES:
            _CURVES.popitem(last=False)
    return _CURVES[key]


def _kafexhiu2014_gamma(e_primary, e_secondary):
    """aafragpy's ``get_cross_section_Kafexhiu2014`` (GEANT parameters) with its model function called
    once per primary on all secondary energies (it is written in numpy and takes an array of them)
    instead of once per pair through ``numpy.vectorize``: the same numbers (tests/test_production.py),
    ~100x fewer Python calls."""
    from Kafexhiu2014 import F_gamma_Kafexhiu2014  # aafragpy puts its folder on sys.path

    e_primary = np.atleast_1d(e_primary)
    e_secondary = np.atleast_1d(e_secondary)
    matrix = np.zeros((e_primary.size, e_secondary.size))
    for i, e_p in enumerate(e_primary):
        matrix[i] = F_gamma_Kafexhiu2014(e_p - aafragpy.aafrag.m_p, e_secondary, "GEANT")
    return matrix


def differential_cross_section(model, product, projectile, target, e_primary, e_secondary):
    """dsigma/dE [mb GeV-1], shape (len(e_primary), len(e_secondary)).

    Parameters
    ----------
    model : str
        One of :data:`CROSS_SECTION_MODELS`.
    product : str
        aafragpy product code ("gam", "nu_all", "nu_e", ...).
    projectile, target : str
        "p" or "He".
    e_primary, e_secondary : array
        Total energies [GeV]; primaries must lie in :func:`primary_energy_range`.
    """
    e_primary = np.atleast_1d(np.asarray(e_primary, dtype=float))
    e_secondary = np.atleast_1d(np.asarray(e_secondary, dtype=float))
    if model == "aafrag":
        table_min, _ = _aafrag_table_range(projectile, target)
        in_table = e_primary >= table_min * (1 - 1e-9)  # a grid may start exactly at the table edge
        matrix = np.zeros((e_primary.size, e_secondary.size))
        if np.any(in_table):
            curves = _aafrag_curves(product, f"{projectile}-{target}", e_primary[in_table])
            matrix[in_table] = curves.evaluate(e_secondary)
        if not np.all(in_table):
            if target != "p":
                raise ValueError(f"AAfrag {projectile}-{target} starts at {table_min} GeV total energy")
            low = "kafexhiu2014" if product == "gam" else "kamae2006"
            matrix[~in_table] = differential_cross_section(
                low, product, projectile, target, e_primary[~in_table], e_secondary
            )
        return np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0)
    if model not in CROSS_SECTION_MODELS:
        raise ValueError(f"cross_sections must be one of {list(CROSS_SECTION_MODELS)}, got {model!r}")
    if target != "p":
        raise ValueError(f"cross_sections={model!r} is p-p only: an ISM helium target needs 'aafrag'")
    if projectile == "p":
        return _pp_parametrisation(model, product, e_primary, e_secondary)
    if projectile == "He":
        return 4.0 * _pp_parametrisation(model, product, e_primary / 4.0, e_secondary)
    raise ValueError(f"unknown projectile {projectile!r}")
