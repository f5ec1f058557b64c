"""Nuclear cross sections of the cosmic-ray network, Fe down to B, on H and He targets.

Straight-ahead approximation: a fragment keeps its parent's kinetic energy per nucleon T.

Production (partial) cross sections, one named set (:data:`PRODUCTION_SETS`):

- ``"galprop17-opt12"`` (default): the GALPROP option-12 table of USINE v3.5, cumulative (each
  long-lived fragment includes the short-lived "ghost" nuclei that decay into it).
- ``"wks98"``: Webber, Kish & Schrier 1998, direct channels with the ghosts listed separately,
  folded here with the IAEA 2026 ghost list (:func:`ghost_branchings`).
- ``"evoli2019"``: as ``"wks98"``, with the channels fitted by Evoli et al. 2019 (C, N, O into
  Li, Be, B and the C11 ghost) replacing WKS98 before the folding. The fits are for a hydrogen
  target; on helium they take the WKS98 He/H ratio of the same channel.

Total inelastic: Tripathi et al. 1999 (+ Coste et al. 2012), on H and He.

Energies: the tables span 0.01-10 GeV/n (production) and 0.05-6.3 GeV/n (inelastic). Above their
last point they are held constant, as GALPROP and USINE do: over their last half decade the
tables' logarithmic slopes d ln(sigma) / d ln(T) have medians of 0.012 (production, channels above
1 mb) and 0.013 (inelastic), so the error of the constant is a few per cent at most (tested). Energies below 0.05 GeV/n
are refused. The Evoli fits are evaluated at every energy (they flatten to
sigma_1 (1 + Delta) well above T_h = 2 GeV/n).
"""
from functools import lru_cache

import numpy as np
from scipy import sparse

from .nuclides import Nucleus, get_nucleus, nuclide_chart, parse_nucleus
from .targetgas import TargetGas  # noqa: F401  (re-exported: it lived here before issue 23)
from .xstables import bundled_table, evoli2019_fits, ghost_list

__all__ = [
    "Nucleus", "PRODUCTION_SETS", "NETWORK_SPECIES", "CrossSections", "ghost_branchings",
    "network_species", "MIN_ENERGY_PER_NUCLEON", "ConstantCrossSections",
]

PRODUCTION_SETS = ("galprop17-opt12", "wks98", "evoli2019")
#: lowest kinetic energy per nucleon the tables cover [GeV/n] (the inelastic table's first point)
MIN_ENERGY_PER_NUCLEON = 0.05
#: extension of every production table above its last point [GeV/n]
_EXTENSION = np.geomspace(10.0, 1e5, 17)[1:]


def network_species():
    """The network's isotopes in solution order (every producer before what it produces).

    All long-lived isotopes of the chart from boron up (Z >= 5), plus those that decay into one
    (Be10 -> B10). Sorted by mass number, heaviest first; at equal A (charge exchange, decays) by
    the production and decay links of the default table, which form no loop (tested).
    """
    isotopes, decays = nuclide_chart()
    names = [n for n, nucleus in isotopes.items() if nucleus.charge >= 5]
    names += [p for p, decay in decays.items() if isotopes[p].charge < 5 and isotopes[decay.daughter].charge >= 5]
    table = bundled_table("galprop17-opt12").values
    links = {(p, f) for (p, f), v in table.items() if np.any(v > 0)}
    links |= {(p, d.daughter) for p, d in decays.items()}
    by_mass = {}
    for name in names:
        by_mass.setdefault(isotopes[name].mass_number, []).append(name)
    order = []
    for mass in sorted(by_mass, reverse=True):
        group = sorted(by_mass[mass], key=lambda n: isotopes[n].charge)
        while group:
            # an isotope goes next when no other one left at this A feeds it
            ready = [n for n in group if not any((m, n) in links for m in group if m != n)]
            if not ready:
                raise ValueError(f"cross sections: isotopes {group} feed each other at A = {mass}")
            order.append(ready[0])
            group.remove(ready[0])
    return tuple(order)


@lru_cache(maxsize=1)
def _network_species():
    return network_species()


def __getattr__(name):
    # NETWORK_SPECIES reads the production table: computed on first use, not at import (0.3-0.7 s)
    if name == "NETWORK_SPECIES":
        globals()[name] = value = _network_species()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=1)
def ghost_branchings():
    """{ghost: {long-lived isotope: fraction}}: where each short-lived nucleus ends, following chains.

    A ghost is a nucleus of the IAEA ghost list that is not in the cosmic-ray chart. A chain stops
    at the first isotope of the chart; branches into nuclei that are neither (e.g. Be8 -> 2 He4
    is written as He4 directly in the list) end there.
    """
    isotopes, _ = nuclide_chart()
    children = {}
    for parent, child, fraction, _half_life in ghost_list():
        if parent not in isotopes:
            children.setdefault(parent, []).append((child, fraction))

    def ends(name, depth=0):
        if depth > 20:
            raise ValueError(f"ghost list: the decay chain of {name} does not end")
        if name in isotopes:
            return {name: 1.0}
        out = {}
        for child, fraction in children.get(name, ()):
            for final, share in ends(child, depth + 1).items():
                out[final] = out.get(final, 0.0) + fraction * share
        return out

    return {ghost: ends(ghost) for ghost in children}


def _extended(energy, block):
    """A table block on its grid plus the constant extension above its last point."""
    return np.concatenate([block, np.repeat(block[-1:], _EXTENSION.size, axis=0)], axis=0)


def _folded(direct, species):
    """Cumulative channels from direct ones: parent -> fragment plus parent -> ghost -> ... -> fragment."""
    ghosts = ghost_branchings()
    out = {}
    for (parent, fragment), sigma in direct.items():
        if parent not in species:
            continue
        targets = {fragment: 1.0} if fragment not in ghosts else ghosts[fragment]
        for final, share in targets.items():
            if final in species and final != parent:
                out[parent, final] = out.get((parent, final), 0.0) + share * sigma
    return out


@lru_cache(maxsize=4)
def _production(name, species):
    """{(parent, fragment): sigma [mb], shape (n_energy, 2)} on the extended grid, and that grid."""
    if name not in PRODUCTION_SETS:
        raise ValueError(f"production must be one of {list(PRODUCTION_SETS)}, got {name!r}")
    if name == "galprop17-opt12":
        table = bundled_table(name)
        grid = np.concatenate([table.energy, _EXTENSION])
        channels = {key: _extended(table.energy, v) for key, v in table.values.items()
                    if key[0] in species and key[1] in species and key[0] != key[1] and np.any(v > 0)}
        return grid, channels
    table = bundled_table("wks98")
    grid = np.concatenate([table.energy, _EXTENSION])
    direct = {key: _extended(table.energy, v) for key, v in table.values.items()}
    if name == "evoli2019":
        for key, fit in evoli2019_fits().items():
            if key not in direct:
                continue  # channels outside the network (e.g. He4 -> He3)
            wks = direct[key]
            on_h = fit(grid)
            he_over_h = np.divide(wks[:, 1], wks[:, 0], out=np.zeros(grid.size), where=wks[:, 0] > 0)
            direct[key] = np.stack([on_h, on_h * he_over_h], axis=1)
    return grid, {k: v for k, v in _folded(direct, set(species)).items() if np.any(v > 0)}


@lru_cache(maxsize=1)
def _inelastic(species):
    table = bundled_table("tripathi99")
    missing = [s for s in species if s not in table.values]
    if missing:
        raise ValueError(f"the inelastic table has no {missing}")
    return table.energy, np.stack([table.values[s] for s in species])  # (n_species, n_energy, 2)


def _interpolation(grid, t_n):
    """Indices and weights for linear interpolation in log T; constant beyond the last point."""
    x = np.log(np.clip(t_n, grid[0], grid[-1]))
    index = np.clip(np.searchsorted(np.log(grid), x) - 1, 0, grid.size - 2)
    weight = (x - np.log(grid[index])) / (np.log(grid[index + 1]) - np.log(grid[index]))
    return index, weight


class CrossSections:
    """Production and inelastic cross sections of :data:`NETWORK_SPECIES` as arrays.

    Parameters
    ----------
    production : str
        One of :data:`PRODUCTION_SETS`.
    species : tuple of str, optional
        The isotopes (default: the whole network, in its solution order).
    """

    def __init__(self, production="galprop17-opt12", species=None):
        self.species = tuple(_network_species() if species is None else (get_nucleus(s, "species").name for s in species))
        self.production = production
        self._grid, channels = _production(production, self.species)
        index = {name: i for i, name in enumerate(self.species)}
        self.channels = tuple(sorted(channels, key=lambda k: (index[k[0]], index[k[1]])))
        # (n_channels, n_energy, 2) and the (parent, fragment) index of each channel
        self._values = np.stack([channels[k] for k in self.channels]) if self.channels else np.zeros((0, 1, 2))
        self.parent_index = np.array([index[p] for p, _ in self.channels], dtype=int)
        self.fragment_index = np.array([index[f] for _, f in self.channels], dtype=int)
        self._inelastic_grid, self._inelastic_values = _inelastic(self.species)
        mass = np.array([get_nucleus(s).mass_number for s in self.species])
        self._single = mass[self.fragment_index] > mass[self.parent_index] / 2
        # sums the single-fragment channels of each parent (rows: species; columns in channel
        # order, so the sum runs in the order np.add.at took: the same bits, without its slow loop)
        single = np.flatnonzero(self._single)
        self._single_sum = sparse.csr_matrix((np.ones(single.size), (self.parent_index[single], single)),
                                             shape=(len(self.species), len(self.channels)))
        grid = self._grid[self._grid >= MIN_ENERGY_PER_NUCLEON]
        factor = self._bookkeeping_factor(grid, self._interpolated(grid))
        self.rescaled = {self.species[i]: float(1.0 / factor[i].min()) for i in np.unique(np.nonzero(factor < 1)[0])}

    def _bookkeeping_factor(self, t_n, partial):
        """Fragments with more than half the parent's nucleons come one per interaction, so their
        cross sections cannot add up to more than the inelastic one. The GALPROP table and the
        Tripathi inelastic table are independent and break this for 34 parents from S to Co (by
        up to x1.37, Cl36; none of C to Si): those channels are scaled down to the inelastic value
        (:meth:`partial_mb`), which leaves boron untouched (a light fragment). ``rescaled`` holds
        {parent: largest factor removed}. Returns the factor per (species, energy, target)."""
        inelastic = self.inelastic_mb(t_n)
        summed = (self._single_sum @ partial.reshape(len(self.channels), -1)).reshape(inelastic.shape)
        return np.where(summed > inelastic, inelastic / np.where(summed > 0, summed, 1.0), 1.0)

    def _interpolated(self, t_n):
        index, weight = _interpolation(self._grid, t_n)
        w = weight[None, :, None]
        # lo (1 - w) + hi w, in place (the tables are 2477 channels x energies x 2 targets)
        out = self._values[:, index]
        out *= 1.0 - w
        upper = self._values[:, index + 1]
        upper *= w
        out += upper
        return out

    def __repr__(self):
        return f"CrossSections(production={self.production!r}, {len(self.species)} species, {len(self.channels)} channels)"

    def _check(self, t_n):
        t_n = np.atleast_1d(np.asarray(t_n, dtype=float))
        if not np.all(np.isfinite(t_n)) or np.any(t_n < MIN_ENERGY_PER_NUCLEON):
            raise ValueError(f"t_n (kinetic energy per nucleon) must be >= {MIN_ENERGY_PER_NUCLEON} GeV/n, where the "
                             f"cross-section tables start; got {t_n.min()!r}")
        return t_n

    def partial_mb(self, t_n):
        """Production cross sections [mb] of every channel, shape (n_channels, len(t_n), 2) (H, He)."""
        t_n = self._check(t_n)
        partial = self._interpolated(t_n)
        if self.rescaled:
            factor = self._bookkeeping_factor(t_n, partial)
            # only the channels of parents scaled at these energies (x 1.0 elsewhere changes nothing)
            scaled = np.any(factor < 1.0, axis=(1, 2))
            rows = np.flatnonzero(self._single & scaled[self.parent_index])
            partial[rows] *= factor[self.parent_index[rows]]
        return partial

    def inelastic_mb(self, t_n):
        """Total inelastic cross sections [mb] of every species, shape (n_species, len(t_n), 2)."""
        t_n = self._check(t_n)
        index, weight = _interpolation(self._inelastic_grid, t_n)
        w = weight[None, :, None]
        return self._inelastic_values[:, index] * (1.0 - w) + self._inelastic_values[:, index + 1] * w

    def channel(self, parent, fragment, t_n, target="H"):
        """One cumulative production cross section [mb] at ``t_n`` [GeV/n]; 0 if the table has no such channel."""
        parent, fragment = get_nucleus(parent, "parent").name, get_nucleus(fragment, "fragment").name
        column = _target_column(target)
        t_n = self._check(t_n)
        if (parent, fragment) not in self.channels:
            return np.zeros_like(t_n)
        k = self.channels.index((parent, fragment))
        return self.partial_mb(t_n)[k, :, column]

    def inelastic(self, nucleus, t_n, target="H"):
        """Total inelastic cross section [mb] of ``nucleus`` at ``t_n`` [GeV/n]."""
        name = get_nucleus(nucleus).name
        if name not in self.species:
            raise ValueError(f"nucleus {name} is not in this network ({len(self.species)} species)")
        return self.inelastic_mb(t_n)[self.species.index(name), :, _target_column(target)]


def _target_column(target):
    if target not in ("H", "He"):
        raise ValueError(f"target must be 'H' or 'He', got {target!r}")
    return 0 if target == "H" else 1


class ConstantCrossSections:
    """Energy-independent cross sections given by hand, with the interface of :class:`CrossSections`.

    For analytic checks and for users with their own values: ``inelastic`` {isotope: (sigma_H,
    sigma_He)} and ``partial`` {(parent, fragment): (sigma_H, sigma_He)}, in mb. The species are
    those of ``inelastic``, ordered heaviest first (at equal A as given).
    """

    def __init__(self, inelastic, partial):
        names = [parse_nucleus(s, "inelastic").name for s in inelastic]
        # heaviest first; at equal A the order given (a decaying nucleus before its daughter)
        self.species = tuple(sorted(names, key=lambda n: -parse_nucleus(n).mass_number))
        index = {name: i for i, name in enumerate(self.species)}
        values = {parse_nucleus(k).name: np.asarray(v, dtype=float) for k, v in inelastic.items()}
        self._inelastic = np.stack([values[s] for s in self.species])[:, None, :]
        channels = {}
        for (parent, fragment), value in partial.items():
            key = (parse_nucleus(parent, "parent").name, parse_nucleus(fragment, "fragment").name)
            if key[0] not in index or key[1] not in index or index[key[1]] <= index[key[0]]:
                raise ValueError(f"partial: {key} needs both isotopes in inelastic, the fragment lighter")
            channels[key] = np.asarray(value, dtype=float)
        for name, value in list(values.items()) + list(channels.items()):
            if value.shape != (2,) or not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ValueError(f"cross sections: {name!r} needs (sigma_H, sigma_He) in mb, finite and >= 0")
        self.channels = tuple(channels)
        self._partial = np.stack([channels[k] for k in self.channels])[:, None, :] if channels else np.zeros((0, 1, 2))
        self.parent_index = np.array([index[p] for p, _ in self.channels], dtype=int)
        self.fragment_index = np.array([index[f] for _, f in self.channels], dtype=int)

    def partial_mb(self, t_n):
        return np.repeat(self._partial, np.size(t_n), axis=1)

    def inelastic_mb(self, t_n):
        return np.repeat(self._inelastic, np.size(t_n), axis=1)
