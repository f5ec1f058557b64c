"""Secondary production per source: Eq. 7 of Ambrosone et al. (2025) as a matrix-vector product.

    Q_sec(E) = (1/m_p) sum_i int dE_i Q^E_i(E_i) chi_c(R_i) dsigma_i/dE(E_i, E)

On a fixed logarithmic grid of primary total energies E_k (Simpson's rule in ln E) this is
Q_sec(E_j) = sum_i sum_k M_i[j, k] Q^E_i(E_k) chi_c(R_k): the matrices M_i hold the cross
sections, quadrature weights and 1/m_p, and are built once per set of output energies. A new
spectrum after changing the grammage or the injection is then one small product per species.

Units: E in GeV, Q^E in GeV-1 per source, chi in g cm-2, result in GeV-1 per source.
chi is the mass grammage of the target gas (:mod:`.targetgas`): with y = n_He/n_H by number it
holds a hydrogen column chi / (m_p (1 + 4y)) and a helium column y times that, and the sum runs
over the four channels p-H, p-He, He-H, He-He. y = 0 is the paper's Eq. 7 as written (pure
hydrogen on chi / m_p).
"""
from collections import OrderedDict

import numpy as np

from ..constants import MB_CM2, PROTON_MASS_G
from .crosssections import SECONDARIES, differential_cross_section, primary_energy_range
from .targetgas import TargetGas

__all__ = ["PrimaryGrid", "ProductionKernel", "channel_grids", "target_columns"]

#: kernel rows by output energy, per channel and primary grid (:class:`_RowStore`)
_ROW_STORES = OrderedDict()
#: the cross-section rows kept for reuse, bounded by memory (1e4 output energies are ~20 MB per
#: channel), the oldest channel dropped first
KERNEL_CACHE_BYTES = 256 * 2**20


class PrimaryGrid:
    """Logarithmic grid of primary total energies [GeV] with Simpson weights for int dE.

    Parameters
    ----------
    e_min, e_max : float
        Range of total energy [GeV].
    per_decade : int
        Nodes per decade (rounded so that the number of intervals is even).
    """

    def __init__(self, e_min, e_max, per_decade=32):
        n_intervals = max(2, int(np.ceil(np.log10(e_max / e_min) * per_decade)))
        n_intervals += n_intervals % 2
        u = np.linspace(np.log(e_min), np.log(e_max), n_intervals + 1)
        step = u[1] - u[0]
        simpson = np.ones(n_intervals + 1)
        simpson[1:-1:2] = 4.0
        simpson[2:-1:2] = 2.0
        self.energy = np.exp(u)
        # int dE F = int du E F
        self.weights = simpson * step / 3.0 * self.energy

    def __len__(self):
        return self.energy.size


def _kernel_matrix(model, product, projectile, targets, grid, energies):
    """sum_t n_t dsigma_t(E_k, E_j) w_k / m_p [cm2 g-1], shape (n_energies, n_grid); cached.

    A row depends on its own output energy only (the cross sections are evaluated energy by energy):
    rows already computed for any earlier request are reused (:class:`_RowStore`), and only the new
    energies are evaluated, so callers asking for overlapping energies (the energy-scale models' fixed
    log grid, plots, profiles) share the work. The rows are bit for bit those of a direct evaluation
    (tests/test_production.py)."""
    key = (model, product, projectile, targets, grid.energy[0], grid.energy[-1], len(grid))
    store = _ROW_STORES.pop(key, None) or _RowStore()
    _ROW_STORES[key] = store  # newest last
    matrix = store.rows(energies, lambda missing: _kernel_rows(model, product, projectile, targets, grid, missing))
    matrix.flags.writeable = False
    _bound(_ROW_STORES, lambda s: s.nbytes)
    return matrix


def _bound(cache, nbytes):
    """Drop the oldest entries while the cache holds more than KERNEL_CACHE_BYTES (the newest stays)."""
    while len(cache) > 1 and sum(nbytes(v) for v in cache.values()) > KERNEL_CACHE_BYTES:
        cache.popitem(last=False)


def _kernel_rows(model, product, projectile, targets, grid, energies):
    """The rows of :func:`_kernel_matrix` at ``energies``, computed (no cache)."""
    matrix = np.zeros((energies.size, len(grid)))
    for target, column_fraction in targets:
        sigma = differential_cross_section(model, product, projectile, target, grid.energy, energies)
        matrix += column_fraction * sigma.T
    matrix *= grid.weights * MB_CM2 / PROTON_MASS_G
    return matrix


class _RowStore:
    """Kernel rows by exact output energy (sorted), for one channel and primary grid."""

    def __init__(self):
        self.energy = np.empty(0)
        self.matrix = None

    @property
    def nbytes(self):
        return 0 if self.matrix is None else self.matrix.nbytes

    def rows(self, energies, compute):
        """The rows at ``energies`` (flattened), computing those not stored with ``compute(missing)``."""
        energies = np.ravel(energies)
        unique = np.unique(energies)
        if self.matrix is not None:
            index = np.minimum(np.searchsorted(self.energy, unique), self.energy.size - 1)
            missing = unique[self.energy[index] != unique]
        else:
            missing = unique
        if missing.size:
            new = compute(missing)
            if self.matrix is None:
                energy, matrix = missing, new
            else:
                energy, matrix = np.concatenate([self.energy, missing]), np.vstack([self.matrix, new])
                if matrix.nbytes > KERNEL_CACHE_BYTES:  # too many to keep: the rows of this request only
                    keep = np.isin(energy, unique)
                    energy, matrix = energy[keep], matrix[keep]
            order = np.argsort(energy)
            self.energy, self.matrix = energy[order], matrix[order]
        return self._take(energies)

    def _take(self, energies):
        return self.matrix[np.searchsorted(self.energy, energies)]


def target_columns(helium_fraction):
    """(target, column fraction) pairs per unit mass grammage (in units of 1/m_p): pure hydrogen, or
    hydrogen with helium by number (:attr:`.targetgas.TargetGas.columns`)."""
    return TargetGas(helium_fraction).columns


def channel_grids(model, projectile, targets, per_decade, e_max=np.inf):
    """One :class:`PrimaryGrid` per target, each over that channel's own primary range.

    A grid shared by all targets would have to start at the highest threshold (AAfrag's p-He
    table starts at 4 GeV, the p-p channel at the pion threshold) and would silently drop the
    low-energy primaries on hydrogen. Returns [(target, column_fraction, grid)].
    """
    channels = []
    for target, fraction in targets:
        lo, hi = primary_energy_range(model, projectile, target)
        channels.append((target, fraction, PrimaryGrid(lo, min(hi, e_max), per_decade)))
    return channels


class ProductionKernel:
    """Eq. 7 on precomputed cross-section matrices, for one secondary and fixed output energies.

    Parameters
    ----------
    injections : sequence of Injection
        One injection per primary species (H and He for the paper).
    secondary : str
        Key of :data:`~gammapy_cocoons.physics.crosssections.SECONDARIES`.
    energies : array
        Secondary energies [GeV] (any shape; results have the same shape).
    cross_sections : str
        Cross-section model name.
    helium_fraction : float
        Helium by number, n_He/n_H, in the target gas whose mass grammage the grammage law gives
        (0: pure hydrogen, the paper's Eq. 7; 0.1: the ISM).
    per_decade : int
        Primary-grid density.

    Each (species, target) channel has its own primary grid over the range where its cross
    sections are defined (:func:`channel_grids`). The channels of one species are evaluated as one
    product on their concatenated grids (one spectrum, one grammage call and one matrix product per
    species: a helium target costs little more than pure hydrogen); ``channels`` keeps them apart.
    """

    def __init__(self, injections, secondary, energies, cross_sections="aafrag", helium_fraction=0.0, per_decade=32):
        product, self.factor = SECONDARIES[secondary]
        self.energies = np.asarray(energies, dtype=float)
        flat = np.ascontiguousarray(self.energies.ravel())
        targets = target_columns(helium_fraction)
        self.injections = tuple(injections)
        #: per channel: (index of the injection, primary grid, rigidities, matrix)
        self.channels = []
        #: per species: (index of the injection, primary energies, rigidities, matrix) of its channels
        #: side by side; the channels' matrices are views into it
        self._species = []
        self._last_spectrum = {}
        for i, injection in enumerate(self.injections):
            species = injection.species
            # exp(-p/p_max) < 1e-17 beyond 40 p_max: no need to tabulate further
            e_max = 40.0 * injection.p_max + species.mass
            grids = [grid for _, _, grid in channel_grids(cross_sections, species.name, targets, per_decade, e_max)]
            matrix = np.hstack([self.factor * _kernel_matrix(cross_sections, product, species.name,
                                                             ((target, fraction),), grid, flat)
                                for (target, fraction), grid in zip(targets, grids)])
            energy = np.concatenate([grid.energy for grid in grids])
            rigidity = species.rigidity(energy)
            self._species.append((i, energy, rigidity, matrix))
            start = 0
            for grid in grids:
                stop = start + len(grid)
                self.channels.append((i, grid, rigidity[start:stop], matrix[:, start:stop]))
                start = stop

    def evaluate(self, grammage, efficiencies=None, indices=None):
        """Q_sec(E) [GeV-1 per source] for a grammage law (callable of rigidity in GV).

        ``efficiencies`` / ``indices`` optionally override the injections' (one per species);
        each may be a number or a 1-d array of parameter samples. If the grammage returns
        arrays with a trailing axis (parameter samples), the result gets that axis too.
        """
        parts = []
        for i, energy, rigidity, matrix in self._species:
            injection = self.injections[i]
            eff = None if efficiencies is None else efficiencies[i]
            idx = None if indices is None else indices[i]
            sampled = np.ndim(eff) > 0 or np.ndim(idx) > 0
            if sampled:
                spectrum = injection.dn_de(energy[:, None], eff, idx)
            else:
                # the injection parameters are frozen in fits: the last spectrum of each species is kept
                key = (i, eff, idx)
                last = self._last_spectrum.get(i)
                if last is None or last[0] != key:
                    last = self._last_spectrum[i] = (key, injection.dn_de(energy, eff, idx))
                spectrum = last[1]
            chi = grammage(rigidity)
            if np.ndim(chi) > spectrum.ndim:
                spectrum = spectrum.reshape(spectrum.shape + (1,) * (np.ndim(chi) - spectrum.ndim))
            elif spectrum.ndim > np.ndim(chi):
                chi = np.reshape(chi, np.shape(chi) + (1,) * (spectrum.ndim - np.ndim(chi)))
            parts.append(matrix @ (spectrum * chi))
        # species with and without sampled parameters: pad to a common trailing axis
        ndim = max(p.ndim for p in parts)
        total = sum(p.reshape(p.shape + (1,) * (ndim - p.ndim)) for p in parts)
        return np.reshape(total, self.energies.shape + np.shape(total)[1:])
