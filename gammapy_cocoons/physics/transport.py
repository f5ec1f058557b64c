"""Galactic transport of CR nuclei and the B/C ratio with galactic plus cocoon grammage.

Thin-disc / thick-halo model (Evoli, Aloisio & Blasi 2019, PRD 99, 103023; Schroer, Evoli &
Blasi 2021): a disc of surface density mu inside a halo of half-height H, advection speed u away
from the disc, diffusion coefficient

    D(R) = D0 beta (R / GV)^delta / [1 + (R / R_b)^(Delta_delta / s)]^s .

The grammage traversed before escape is

    X(R) = (mu v / 2u) [1 - exp(-u H / D)]      (-> mu v H / 2D for u H << D),

and the steady state of isotope i at fixed kinetic energy per nucleon T (weighted slab, straight
ahead, no energy losses) is

    n_i [1/X_i + sigma_i/m] = S_i + sum_j (sigma_{j->i}/m) n_j ,

solved in the network's order (every producer before what it produces: heaviest first). The
network runs from Ni down to B (:data:`~.spallation.NETWORK_SPECIES`, 80+ isotopes) with the
tabulated cross sections of :mod:`.spallation`. S_i is the source term per unit grammage:
q_i R^-alpha dR/dT / v, the same rigidity spectrum for all nuclei heavier than He (Evoli et al.
2019), with the source abundances q_i of :data:`SOURCE_ABUNDANCES`. Energy losses and
reacceleration are neglected: this holds above ~10 GeV/n, and only data above
``MIN_RIGIDITY_FIT`` are fitted.

Radioactive isotopes (Be10, C14, Al26, Cl36, Mn54, Ni56, Fe60 as bare nuclei) decay in the halo:
their X uses the halo solution with decay (:meth:`GalacticTransport.grammage`). The share of their
source that decays, S_i (1 - X'_i / X'_i,stable) with X' = 1/(1/X + sigma/m), becomes a source of
the daughter, which then travels with its own transport from the disc. That is exact for the
number of decays; it places the daughters' birth in the disc rather than in the halo, a
second-order error on a correction that is itself 0.9 % of boron (Be10 -> B10) at 20 GeV/n and
falls with energy (time dilation).

Cocoons (Ambrosone et al. 2025, Eq. 5-6): every source is wrapped in gas of grammage chi_c(R) of
the parent's rigidity, which its primaries cross before entering the Galaxy. A parent P survives
it with probability exp(-chi_c k_P) and makes fragment i with (k_{P->i} / k_P)(1 - exp(-chi_c k_P)),
the source rate of Schroer et al. 2021; the fragments' own spallation inside the cocoon (second
order in chi_c k ~ 0.05) is neglected. Everything downstream is linear, so every isotope is
split exactly into a galactic and a cocoon part.

Grammage convention (one for the whole package, :mod:`.targetgas`): chi_c and X are both mass
grammages, g cm-2 of gas, hydrogen and helium. The ISM holds helium at f = He/H by number and
weighs m_p (1 + 4 f) per hydrogen atom, so a nucleus makes (sigma_H + f sigma_He) / [m_p (1 + 4 f)]
interactions per gram of ISM (:meth:`~.targetgas.TargetGas.per_gram`). The cocoon gas
(``cocoon_gas``, the ISM by default) counts the same way with its own He/H: one gram of cocoon
gas of ISM composition is one gram of ISM. (Before issue 23 chi_c counted m_p times the cocoon's
hydrogen column: those values are 1 / 1.4 of today's for the same cocoons.)

Solar modulation: force field (Gleeson & Axford 1968) with potential phi [GV]. Internal units:
GeV/n, GV, cm, s, g.
"""
from dataclasses import dataclass, field, replace
from functools import lru_cache
import math
import numbers

import numpy as np
from scipy import sparse

from .._validation import boolean, choice
from ..constants import C_CM_S, KPC_CM
from .nuclides import nuclide_chart, parse_nucleus
from .spallation import CrossSections
from .targetgas import TargetGas

__all__ = [
    "GalacticTransport", "NuclearNetwork", "SOURCE_ABUNDANCES", "element_isotopes", "production_by_parent", "NUCLEON_MASS_GEV", "MIN_RIGIDITY_FIT",
    "kinetic_energy_per_nucleon", "rigidity_of",
]

#: atomic mass unit [GeV]: the mass per nucleon of the nuclei in the network
NUCLEON_MASS_GEV = 0.931494
#: rigidity above which energy losses, reacceleration and cross-section energy dependence are negligible [GV]
MIN_RIGIDITY_FIT = 20.0


def _beta(t_n):
    gamma = 1.0 + t_n / NUCLEON_MASS_GEV
    return np.sqrt(1.0 - 1.0 / gamma**2)


def rigidity_of(t_n, mass_to_charge):
    """Rigidity [GV] at kinetic energy per nucleon ``t_n`` [GeV/n]: R = (A/Z) p_n."""
    return mass_to_charge * np.sqrt(t_n * (t_n + 2.0 * NUCLEON_MASS_GEV))


def kinetic_energy_per_nucleon(rigidity, mass_to_charge):
    """Inverse of :func:`rigidity_of` [GeV/n]."""
    p_n = rigidity / mass_to_charge
    return np.sqrt(p_n**2 + NUCLEON_MASS_GEV**2) - NUCLEON_MASS_GEV


def _finite_number_and(value, condition):
    """Whether ``value`` is a real number (not a bool, a string or an array: the network's caches
    hash the transport), finite and meeting ``condition``; plain floats first (a fit builds a
    transport per evaluation)."""
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        value = float(value)
    return math.isfinite(value) and condition(value)


@dataclass(frozen=True)
class GalacticTransport:
    """Diffusion-advection parameters of the Galaxy.

    d0 [1e28 cm2 s-1] at 1 GV, delta, rigidity_break R_b [GV], ddelta (Delta_delta, the hardening
    above R_b), smoothness s, halo_height H [kpc], advection u [km s-1], surface_density mu of the
    disc [g cm-2]. ``advective_floor`` adds 2 u H to D, as the code of Evoli et al. 2019 does
    (crams v1.1: D = 2 v_A H + D0 beta R^delta ..., with v_A the advection speed). Defaults: the
    break of Evoli et al. 2019 (R_b = 312 GV, Delta_delta = 0.2, s = 0.1, H = 4 kpc, u = 7 km/s,
    mu = 2.3 mg cm-2); d0 and delta are starting values for fits.
    """

    d0: float = 3.0
    delta: float = 0.5
    rigidity_break: float = 312.0
    ddelta: float = 0.2
    smoothness: float = 0.1
    halo_height: float = 4.0
    advection: float = 7.0
    surface_density: float = 2.3e-3
    advective_floor: bool = False

    def __post_init__(self):
        for name in ("d0", "rigidity_break", "smoothness", "halo_height", "surface_density"):
            if not _finite_number_and(getattr(self, name), lambda v: v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        boolean(self.advective_floor, "advective_floor")
        for name in ("delta", "ddelta", "advection"):
            if not _finite_number_and(getattr(self, name), lambda v: v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")

    def diffusion(self, rigidity, beta):
        """D(R) [cm2 s-1]."""
        return self._diffusion(np.log(rigidity), self._log_break(rigidity), beta)

    def _log_break(self, rigidity):
        """The break [1 + (R/R_b)^(Dd/s)]^s in logarithms: the power overflows for a sharp break
        (s = 0.01, Dd = 0.9: (R/R_b)^90) far above R_b, where the log form is exact."""
        return self.smoothness * np.logaddexp(0.0, (self.ddelta / self.smoothness) * np.log(rigidity / self.rigidity_break))

    def _diffusion(self, log_rigidity, log_break, beta):
        """:meth:`diffusion` from ln R and :meth:`_log_break` (the network keeps both for its energies:
        fits change d0 and delta, not the break)."""
        diffusion = self.d0 * 1e28 * beta * np.exp(self.delta * log_rigidity - log_break)
        if self.advective_floor:
            diffusion = diffusion + 2.0 * self.advection * 1e5 * self.halo_height * KPC_CM
        return diffusion

    def grammage(self, rigidity, beta, decay_rate=None):
        """Galactic grammage X(R) [g cm-2], thin disc with advection.

        ``decay_rate`` [s-1] (lambda = ln 2 / (gamma t_half) of a radioactive nucleus, 0 for a
        stable one): the halo solution with decay, f ~ exp(s z), D s^2 - u s - lambda = 0, f(H) = 0,
        gives X = mu v (E - 1) / [E (u + w) - (u - w)], w = sqrt(u^2 + 4 D lambda), E = exp(w H / D),
        which is mu v / 2u (1 - e^-uH/D) for lambda = 0 and mu v tanh(kH) / 2Dk (k^2 = lambda/D) for u = 0.
        """
        return self._grammage(self.diffusion(rigidity, beta), beta, decay_rate)

    def _grammage(self, diffusion, beta, decay_rate=None):
        """:meth:`grammage` of a given D [cm2 s-1] (computed once for the stable and the
        radioactive isotopes of one A/Z by the network)."""
        velocity = beta * C_CM_S
        height = self.halo_height * KPC_CM
        y = self.advection * 1e5 * height / diffusion
        # (1 - e^-y) / y, exact also for u -> 0
        factor = np.where(y > 1e-8, -np.expm1(-y) / np.where(y > 1e-8, y, 1.0), 1.0 - 0.5 * y)
        stable = self.surface_density * velocity * height / (2.0 * diffusion) * factor
        if decay_rate is None:
            return stable
        decay_rate = np.broadcast_to(np.asarray(decay_rate, dtype=float), np.shape(stable))
        decays = decay_rate > 0
        u_cm = self.advection * 1e5
        w = np.sqrt(u_cm**2 + 4.0 * diffusion * np.where(decays, decay_rate, 1.0))
        exponent = np.minimum(w * height / diffusion, 700.0)
        # (E - 1) / (E (u + w) - (u - w)) = (1 - 1/E) / ((u + w) - (u - w)/E), stable for large E
        inverse_e = np.exp(-exponent)
        radioactive = (self.surface_density * velocity * (-np.expm1(-exponent))
                       / ((u_cm + w) - (u_cm - w) * inverse_e))
        return np.where(decays, radioactive, stable)



#: CR source abundances by isotope (GALPROP v54 standard galdef, ``iso_abundance_ZZ_AAA``, the
#: source composition of the Fermi-LAT diffuse models, Ackermann et al. 2012, ApJ 750, 3; copied
#: from the galdef in github.com/erccarls/GammaLike_dev, RunGalprop.py). Normalisation H = 1.06e6;
#: used here as abundances at equal rigidity, relative to each other. Isotopes without a value
#: (B, Be10, ...) are pure secondaries. N/O and the elements above O are taken from it; C/O is
#: fitted to AMS-02 (``BoronCarbonModel.o_to_c``), N/O can be changed (``n_to_o``).
SOURCE_ABUNDANCES = {
    "C12": 2819.0, "C13": 5.268e-07, "N14": 182.8, "N15": 5.961e-05, "O16": 3822.0, "O17": 6.713e-07,
    "O18": 1.286, "F19": 2.664e-08, "Ne20": 312.5, "Ne21": 0.003556, "Ne22": 100.1, "Na23": 22.84,
    "Mg24": 658.1, "Mg25": 82.5, "Mg26": 104.7, "Al27": 76.42, "Si28": 725.7, "Si29": 35.02,
    "Si30": 24.68, "P31": 4.242, "S32": 89.12, "S33": 0.3056, "S34": 3.417, "S36": 0.0004281,
    "Cl35": 0.7044, "Cl37": 0.001167, "Ar36": 9.829, "Ar38": 0.6357, "Ar40": 0.001744, "K39": 1.389,
    "K40": 3.022, "K41": 0.0003339, "Ca40": 51.13, "Ca41": 1.974, "Ca42": 1.134e-06, "Ca43": 2.117e-06,
    "Ca44": 9.928e-05, "Ca48": 0.1099, "Sc45": 1.635, "Ti46": 5.558, "Ti47": 8.947e-06, "Ti48": 6.05e-07,
    "Ti49": 5.854e-09, "Ti50": 6.083e-07, "V50": 1.818e-05, "V51": 5.987e-09, "Cr50": 2.873,
    "Cr52": 8.065, "Cr53": 0.003014, "Cr54": 0.4173, "Mn53": 6.499, "Mn55": 1.273, "Fe54": 49.08,
    "Fe56": 697.7, "Fe57": 21.67, "Fe58": 3.335, "Co59": 2.214, "Ni58": 28.88, "Ni60": 11.9,
    "Ni61": 0.5992, "Ni62": 1.426, "Ni64": 0.3039,
}


def element_isotopes(name, species):
    """Isotopes of ``species`` that make up ``name``: an element ("B", "C") or one isotope ("B10")."""
    from .nuclides import ELEMENTS

    if name in ELEMENTS:
        out = tuple(s for s in species if parse_nucleus(s).element == name)
    else:
        isotope = parse_nucleus(name, "species").name
        out = (isotope,) if isotope in species else ()
    if not out:
        raise ValueError(f"unknown species {name!r}: give an element (B, C, O, ...) or an isotope of the network "
                         f"(e.g. B10, C12)")
    return out


@lru_cache(maxsize=8)
def _species_index(species):
    return {name: i for i, name in enumerate(species)}


@lru_cache(maxsize=8)
def _chart_decays(species):
    """The chart's beta decays within ``species`` (the chart's order puts daughters after parents)."""
    index = _species_index(species)
    return {p: (d.daughter, d.half_life) for p, d in nuclide_chart()[1].items()
            if p in index and d.daughter in index}


@lru_cache(maxsize=8)
def _daughters(decays, species):
    """{parent index: daughter index} of the decays (:attr:`NuclearNetwork._decay_items`)."""
    index = _species_index(species)
    return {index[p]: index[d] for p, (d, _) in decays}


@lru_cache(maxsize=8)
def _mass_to_charge(species):
    nuclei = [parse_nucleus(s) for s in species]
    return np.array([n.mass_to_charge for n in nuclei])


@lru_cache(maxsize=64)
def _element_isotopes(name, species):
    return element_isotopes(name, species)


def _lorentz_gamma(t_n):
    return 1.0 + t_n / NUCLEON_MASS_GEV


@dataclass(frozen=True)
class NuclearNetwork:
    """Steady-state CR nuclei from Ni down to B with galactic and cocoon grammage.

    Parameters
    ----------
    transport : GalacticTransport
    cocoon_grammage : callable
        chi_c(R) [g cm-2] of rigidity [GV], the mass grammage of the cocoon gas (module
        docstring); ``None`` for no cocoons.
    abundances : dict
        Source abundances at equal rigidity by isotope (any common normalisation; default
        :data:`SOURCE_ABUNDANCES`). Isotopes not listed have no source.
    injection_index : float
        alpha of the source spectrum per unit rigidity, R^-alpha.
    gas : TargetGas
        ISM composition (H plus 0.1 He by number by default; Evoli et al. 2019).
    cocoon_gas : TargetGas, optional
        Composition of the cocoon gas (default: ``gas``).
    production : str
        Production cross-section set (:data:`~.spallation.PRODUCTION_SETS`).
    cross_sections : CrossSections, optional
        Overrides ``production`` (any object with the same attributes, e.g. a smaller network).
    decays : dict, optional
        {parent: (daughter, half-life [s])}; default: the beta decays of the nuclide chart.
    """

    transport: GalacticTransport = field(default_factory=GalacticTransport)
    cocoon_grammage: object = None
    abundances: dict = field(default_factory=lambda: dict(SOURCE_ABUNDANCES))
    injection_index: float = 2.3
    gas: TargetGas = field(default_factory=TargetGas)
    cocoon_gas: TargetGas = None
    production: str = "galprop17-opt12"
    cross_sections: object = None
    decays: dict = None

    def __post_init__(self):
        for name in ("gas", "cocoon_gas"):
            value = getattr(self, name)
            if not (isinstance(value, TargetGas) or (name == "cocoon_gas" and value is None)):
                raise TypeError(f"{name} must be a TargetGas, got {value!r}")
        object.__setattr__(self, "_cocoon_gas", self.gas if self.cocoon_gas is None else self.cocoon_gas)
        xs = self.cross_sections if self.cross_sections is not None else _cross_sections(self.production)
        object.__setattr__(self, "_xs", xs)
        species = xs.species
        index = _species_index(species)
        unknown = [name for name in self.abundances if name not in index]
        if unknown:
            raise ValueError(f"abundances: unknown isotope {unknown[0]!r}; the network has {len(species)} isotopes "
                             f"from {species[-1]} to {species[0]}")
        values = np.fromiter(self.abundances.values(), dtype=float, count=len(self.abundances))
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            bad = next(k for k, v in self.abundances.items() if not (np.isfinite(v) and v >= 0))
            raise ValueError(f"abundances[{bad!r}] must be finite and >= 0, got {self.abundances[bad]!r}")
        if not np.any(values > 0):  # no source at all: every ratio would be 0 / 0
            raise ValueError(f"abundances must give at least one isotope a source > 0, got {self.abundances!r}")
        if not np.isfinite(self.injection_index) or not 1.0 < self.injection_index < 4.0:
            raise ValueError(f"injection_index must be in (1, 4), got {self.injection_index!r}")
        if self.decays is None:
            decays = _chart_decays(species)
        else:
            decays = {p: v for p, v in dict(self.decays).items() if p in index and v[0] in index}
            for parent, (daughter, half_life) in decays.items():
                if index[daughter] < index[parent] or not half_life > 0:
                    raise ValueError(f"decays: {parent} -> {daughter} must have a half-life > 0 and the daughter "
                                     f"after the parent in the network order")
        object.__setattr__(self, "_decays", decays)
        object.__setattr__(self, "_decay_items", tuple(sorted((p, (d, float(t))) for p, (d, t) in decays.items())))
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_mass_to_charge", _mass_to_charge(species))
        abundance = np.zeros(len(species))
        abundance[[index[name] for name in self.abundances]] = values
        object.__setattr__(self, "_abundance", abundance)

    @property
    def species(self):
        """The network's isotopes in solution order."""
        return self._xs.species

    def with_transport(self, **changes):
        """A copy with some transport parameters changed."""
        return replace(self, transport=replace(self.transport, **changes))

    def rates(self, t_n):
        """Everything the steady state needs at ``t_n`` [GeV/n], as arrays over (isotope, energy).

        Keys: ``grammage`` X (with decay for radioactive isotopes), ``stable_grammage`` (without),
        ``effective`` and ``effective_stable`` (1 / (1/X + sigma/m), with and without decay),
        ``inelastic`` and ``partial``
        (per gram of ISM gas, cm2 g-1; partial per channel of ``cross_sections.channels``),
        ``cocoon_inelastic`` and ``cocoon_partial`` (per gram of cocoon gas), ``injection`` (source per
        unit grammage), ``cocoon`` chi_c at each isotope's rigidity (0 without cocoons), ``t_n_bytes``
        the energies as bytes (the key of the cached parts).
        """
        rates = self._rates(t_n)
        return {**rates, **_interaction_rates(self._xs, self.gas, self._cocoon_gas, rates["t_n_bytes"])}

    def _rates(self, t_n):
        """:meth:`rates` without the rates of every channel at every energy (``partial``,
        ``cocoon_partial``, ``cocoon_branching``), which the grouped solver takes from
        :func:`_total_plan` (computed only where the cross sections vary)."""
        t_n = _one_dimensional(t_n, "t_n")
        key = t_n.tobytes()
        # what depends on the transport only (a fit that changes chi0 or R0 reuses it) or on the
        # injection index only (fixed in fits) is cached; per isotope only the abundance and chi_c
        transport = _transport_rates(self.transport, self._xs, self.gas, self._decay_items, key)
        shape, rigidity = _injection_shape(self._xs.species, float(self.injection_index), key)
        injection = self._abundance[:, None] * shape
        cocoon = np.zeros_like(rigidity)
        if self.cocoon_grammage is not None:
            sources = self._abundance > 0
            cocoon[sources] = self._cocoon(rigidity[sources])
        return {**transport, "injection": injection, "cocoon": cocoon, "t_n_bytes": key,
                **_species_rates(self._xs, self.gas, self._cocoon_gas, key)}

    def sources(self, rates):
        """(galactic, cocoon) source terms per unit grammage of every isotope, shape (2, n_species, n_energy)."""
        injection, chi = rates["injection"], rates["cocoon"]
        out = np.zeros((2,) + injection.shape)
        out[0] = injection
        if self.cocoon_grammage is not None:
            escaped = -np.expm1(-chi * rates["cocoon_inelastic"])  # fraction that interacted in the cocoon
            out[1] = -injection * escaped
            # the fragments of the injected parents only (62 of 80 isotopes, 1896 of 2477 channels)
            parents, fragments = _injected_channels(self._xs, (self._abundance > 0).tobytes())
            branching = _injected_branching(self._xs, self.gas, self._cocoon_gas, rates["t_n_bytes"],
                                            (self._abundance > 0).tobytes())
            out[1] += fragments @ (branching * (escaped * injection)[parents])
        return out

    def linear_system(self, t_n):
        """The steady state as one dense linear system per energy: (matrix, source) with
        ``matrix @ n = source`` at every energy; matrix (n_energy, n_species, n_species), source
        (2, n_species, n_energy) for the galactic and cocoon parts. :meth:`densities` solves the
        same equations in order; this form is for checks and for other solvers."""
        rates = self.rates(t_n)
        source = self.sources(rates)
        effective = 1.0 / (1.0 / rates["grammage"] + rates["inelastic"])
        effective_stable = 1.0 / (1.0 / rates["stable_grammage"] + rates["inelastic"])
        xs = self._xs
        n_energy = effective.shape[1]
        matrix = np.zeros((n_energy, len(self.species), len(self.species)))
        diagonal = np.arange(len(self.species))
        matrix[:, diagonal, diagonal] = (1.0 / effective).T
        np.subtract.at(matrix, (slice(None), xs.fragment_index, xs.parent_index), rates["partial"].T)
        for parent, (daughter, _) in self._decays.items():
            i, d = self._index[parent], self._index[daughter]
            # the daughter gets S_i - n_i / X'_i,stable, with S_i = n_i / X'_i
            matrix[:, d, i] -= 1.0 / effective[i] - 1.0 / effective_stable[i]
        return matrix, source

    def densities(self, t_n):
        """Interstellar densities per unit T (arbitrary common unit) at ``t_n`` [GeV/n].

        Returns a dict: isotope -> (galactic, cocoon) arrays; a secondary's cocoon part comes from
        fragments made in the cocoons, a primary's from its depletion there (negative).
        """
        density = self._density_array(_one_dimensional(t_n, "t_n"))
        return {name: (density[i, 0], density[i, 1]) for i, name in enumerate(self.species)}

    def prepare(self, t_n, split=True):
        """Solve the network once on all these energies [GeV/n]: a later :meth:`densities` (or
        ratio) on any of them takes its columns of this solution instead of solving again. Every
        energy is independent (straight ahead, no energy losses), so the columns are the solution
        there. A fit calls this with the energies of all its data sets (B/C and C/O: one solution).
        ``split=False`` solves for the total (galactic + cocoon) only, what a ratio without
        ``split`` needs (:meth:`_solve_total`)."""
        split = boolean(split, "split")
        grid = np.unique(_one_dimensional(t_n, "t_n"))
        self._store(split, grid, self._solve_split(grid) if split else self._solve_total(grid))

    def _store(self, split, grid, density):
        # the last few solutions of this parameter set, split and total apart (a fit's prepared
        # grid, and the full data grids a summary or figure evaluates after it)
        solutions = self.__dict__.setdefault("_solutions", {True: [], False: []})[split]
        solutions.insert(0, (grid, density))
        del solutions[4:]

    def _density_array(self, t_n, split=True):
        """(isotope, part, energy) at ``t_n``: parts (galactic, cocoon), or the total only
        (one part) without ``split``; columns of a stored solution where it has every energy."""
        for grid, density in self.__dict__.get("_solutions", {}).get(split, ()):
            index = np.minimum(np.searchsorted(grid, t_n), grid.size - 1)
            if np.array_equal(grid[index], t_n):
                return density[:, :, index]
        grid, inverse = np.unique(t_n, return_inverse=True)
        density = self._solve_split(grid) if split else self._solve_total(grid)
        self._store(split, grid, density)
        return density[:, :, inverse]

    def _solve(self, t_n):
        """Densities, shape (isotope, part (galactic, cocoon), energy): the network in its order, one
        isotope at a time from its channels (the reference the faster :meth:`_solve_split` and
        :meth:`_solve_total` are checked against)."""
        rates = self.rates(t_n)
        effective, effective_stable = rates["effective"], rates["effective_stable"]
        # layout (isotope, part, energy): gathering parents along the first axis copies whole rows
        source = np.ascontiguousarray(self.sources(rates).transpose(1, 0, 2))
        density = np.zeros_like(source)
        daughters = _daughters(self._decay_items, self._xs.species)
        for i, (rate, parents) in enumerate(_feeding(self._xs, self.gas, self._cocoon_gas, rates["t_n_bytes"])):
            if parents.size:
                source[i] += np.einsum("ce,cke->ke", rate, density[parents])
            density[i] = effective[i] * source[i]
            d = daughters.get(i)
            if d is not None:
                # the source share that decays on the way feeds the daughter (module docstring)
                source[d] += np.maximum(source[i] - density[i] / effective_stable[i], 0.0)
        return density

    def _solve_total(self, t_n):
        """Densities galactic + cocoon, shape (isotope, 1, energy): the same network as
        :meth:`_solve` for the sum of both parts (everything downstream of the sources is linear),
        at a fraction of its cost, for ratios without ``split`` (what a fit evaluates); solved by
        :meth:`_solve_grouped`. The decay share is clipped at 0 as in :meth:`_solve`; for the total
        source it is S_i (1 - X'_i / X'_i,stable) >= 0, and :meth:`_solve` clips each part, which
        agrees while the cocoon part of the radioactive isotopes (pure secondaries) stays >= 0 (it
        did at every chi0 tried, 0.48-19 g cm-2).
        """
        rates = self._rates(t_n)
        injection = rates["injection"]
        plan = _total_plan(self._xs, self.gas, self._cocoon_gas, self._decay_items, rates["t_n_bytes"])
        if self.cocoon_grammage is not None:
            escaped = self._escaped(rates)
            source = injection - escaped  # what leaves the cocoons unbroken
            self._add_cocoon_fragments(plan, escaped, source)
        else:
            source = injection.copy()
        return self._solve_grouped(rates, plan, source[:, None, :])

    def _solve_split(self, t_n):
        """Densities, shape (isotope, part (galactic, cocoon), energy): :meth:`_solve` by
        :meth:`_solve_grouped`, both parts in one pass, each decay share clipped at 0 as there."""
        rates = self._rates(t_n)
        injection = rates["injection"]
        plan = _total_plan(self._xs, self.gas, self._cocoon_gas, self._decay_items, rates["t_n_bytes"])
        source = np.zeros((injection.shape[0], 2, injection.shape[1]))
        source[:, 0] = injection
        if self.cocoon_grammage is not None:
            # a primary's depletion in its cocoon, and the fragments made there
            escaped = self._escaped(rates)
            cocoon = -escaped
            self._add_cocoon_fragments(plan, escaped, cocoon)
            source[:, 1] = cocoon
        return self._solve_grouped(rates, plan, source)

    def _escaped(self, rates):
        """The parents' interactions in their cocoons, (1 - exp(-chi_c k_j)) S_j, over (isotope, energy)."""
        escaped = -np.expm1(-rates["cocoon"] * rates["cocoon_inelastic"])
        escaped *= rates["injection"]
        return escaped

    @staticmethod
    def _add_cocoon_fragments(plan, escaped, out):
        """Add to ``out`` (isotope, energy) the fragments the parents' cocoon interactions
        ``escaped`` make, (k_{j->i}/k_j) escaped_j summed over the parents j."""
        out += plan.cocoon @ escaped
        if plan.cocoon_varying is not None:
            summing, parents, delta = plan.cocoon_varying
            out[:, plan.columns] += summing @ (delta * escaped[parents[:, None], plan.columns])

    def _solve_grouped(self, rates, plan, source):
        """The network's densities for ``source`` (isotope, part, energy; changed in place), every
        part at once, the equations of :meth:`_solve` in another form (:func:`_total_plan`).

        The cross sections are constant above the tables' last point (10 GeV/n), so the rates
        sigma_{j->i}/m make one matrix there, and the energy-dependent remainder of the few
        channels that still vary is added on the energies where it is not 0; isotopes none of
        which makes another (by spallation or decay) are solved together, one matrix product with
        the densities already solved; the cocoon fragments, which depend on the sources only,
        come in with ``source`` (:meth:`_add_cocoon_fragments`)."""
        effective, effective_stable = rates["effective"], rates["effective_stable"]
        n_species, n_parts, n_energy = source.shape
        density = np.empty_like(source)
        flat_source = source.reshape(n_species, n_parts * n_energy)  # views: one product for every part
        flat_density = density.reshape(n_species, n_parts * n_energy)
        columns = plan.columns
        for start, stop, low, matrix, varying, decays in plan.groups:
            if matrix is not None:
                flat_source[start:stop] += matrix @ flat_density[low:start]
            if varying is not None:
                summing, parents, delta = varying
                remainder = delta[:, None, :] * density[parents][:, :, columns]
                source[start:stop, :, columns] += (summing @ remainder.reshape(parents.size, -1)).reshape(
                    stop - start, n_parts, columns.size)
            np.multiply(effective[start:stop, None, :], source[start:stop], out=density[start:stop])
            for i, d in decays:
                # the source share that decays on the way feeds the daughter (module docstring)
                source[d] += np.maximum(source[i] - density[i] / effective_stable[i], 0.0)
        return density

    def solution_grid(self, x, phi=0.0, numerator="B", denominator="C", quantity="rigidity"):
        """The energies per nucleon [GeV/n] (interstellar, before the force field) at which a ratio
        of ``numerator`` to ``denominator`` at ``x`` needs the network: one grid per A/Z of their
        isotopes, concatenated (what :meth:`ratio_vs_rigidity` or :meth:`ratio_vs_energy` solve on).
        ``quantity``: "rigidity" (x in GV) or "kinetic_energy_per_nucleon" (x in GeV/n)."""
        by_rigidity = choice(quantity, ("rigidity", "kinetic_energy_per_nucleon"), "quantity") == "rigidity"
        # the very grid the ratio solves on (one construction: a prepared solution must match it exactly)
        x = np.ravel(np.asarray(x, float))
        self._check_abscissae(x, phi, by_rigidity)  # as the ratio itself: no grid for x <= 0 or phi < 0
        return _ratio_factors(self._xs.species, x.tobytes(), float(phi),
                              *(n if isinstance(n, str) else tuple(n) for n in (numerator, denominator)),
                              by_rigidity)[0].copy()

    def _cocoon(self, rigidity):
        chi = np.asarray(self.cocoon_grammage(rigidity), dtype=float)
        if np.any(chi < 0) or not np.all(np.isfinite(chi)):
            raise ValueError("cocoon grammage must be finite and >= 0")
        return np.broadcast_to(chi, np.shape(rigidity))

    def ratio_vs_energy(self, t_n, phi=0.0, numerator="B", denominator="C", split=False):
        """Flux ratio at equal kinetic energy per nucleon ``t_n`` [GeV/n] at the top of the atmosphere.

        ``numerator`` and ``denominator``: an element ("B", "C", "O": all its isotopes), an
        isotope ("B10"), or a tuple of them. ``phi`` is the force-field potential [GV]. With
        ``split``, returns the (galactic, cocoon) parts of the numerator over the whole
        denominator; they sum to the ratio.
        """
        return self._ratio(np.asarray(t_n, dtype=float), phi, numerator, denominator, boolean(split, "split"),
                           by_rigidity=False)

    def ratio_vs_rigidity(self, rigidity, phi=0.0, numerator="B", denominator="C", split=False):
        """Flux ratio at equal rigidity [GV] (as AMS-02 quotes it); see :meth:`ratio_vs_energy`."""
        return self._ratio(np.asarray(rigidity, dtype=float), phi, numerator, denominator, boolean(split, "split"),
                           by_rigidity=True)

    def _isotopes(self, names):
        names = (names,) if isinstance(names, str) else tuple(names)
        return tuple(dict.fromkeys(i for name in names for i in _element_isotopes(name, self.species)))

    def _ratio(self, x, phi, numerator, denominator, split, by_rigidity):
        # any shape, like every spectral model: solved on the flat values, returned in x's shape
        shape = np.shape(x)
        out = self._ratio_flat(np.ravel(x), phi, numerator, denominator, split, by_rigidity)
        return tuple(part.reshape(shape) for part in out) if split else out.reshape(shape)

    @staticmethod
    def _check_abscissae(x, phi, by_rigidity):
        """Refuse abscissae and a force-field potential no ratio is defined at, naming them."""
        if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
            which = "rigidity" if by_rigidity else "t_n"
            raise ValueError(f"{which} must be finite and > 0, got {x!r}")
        if not _finite_number_and(phi, lambda v: v >= 0):
            raise ValueError(f"phi (force-field potential, GV) must be a finite number >= 0, got {phi!r}")

    def _ratio_flat(self, x, phi, numerator, denominator, split, by_rigidity):
        self._check_abscissae(x, phi, by_rigidity)
        grid, factors = _ratio_factors(self._xs.species, x.tobytes(), float(phi),
                                       *(n if isinstance(n, str) else tuple(n) for n in (numerator, denominator)),
                                       by_rigidity)
        # one solution of the network on the energies every A/Z needs
        density = self._density_array(grid, split)
        top, bottom = self._isotopes(numerator), self._isotopes(denominator)
        fluxes = {name: factor * density[index, :, part] for name, (index, part, factor) in factors.items()}
        den = sum(fluxes[n].sum(axis=0) for n in bottom)
        if not np.all(den > 0):
            raise ValueError(f"denominator {denominator!r} has no flux: the abundances give it no source and no "
                             "heavier parent")
        if not split:
            return sum(fluxes[n][0] for n in top) / den
        gal = sum(fluxes[n][0] for n in top) / den
        coc = sum(fluxes[n][1] for n in top) / den
        return gal, coc


@lru_cache(maxsize=64)
def _ratio_factors(species, x_bytes, phi, numerator, denominator, by_rigidity):
    """What :meth:`NuclearNetwork._ratio_flat` needs besides the densities, for these abscissae
    (``x_bytes``: rigidity [GV] or T [GeV/n]) and this phi [GV] (a fit evaluates the same ones
    thousands of times): the energies the network is solved on (one grid per A/Z of the isotopes,
    concatenated) and, per isotope of the numerator and the denominator, (its index, its part of
    that grid, the factor from its interstellar density to its flux at the top of the atmosphere)."""
    x = np.frombuffer(x_bytes)
    index, mass_to_charge = _species_index(species), _mass_to_charge(species)
    names = tuple(dict.fromkeys(i for group in (numerator, denominator)
                                for name in ((group,) if isinstance(group, str) else group)
                                for i in _element_isotopes(name, species)))
    a_over_z = sorted({mass_to_charge[index[n]] for n in names})
    grids = []
    for ratio in a_over_z:
        t_n = kinetic_energy_per_nucleon(x, ratio) if by_rigidity else x
        grids.append((t_n, t_n + phi / ratio))
    m2 = 2.0 * NUCLEON_MASS_GEV
    factors = {}
    for name in names:
        ratio = mass_to_charge[index[name]]
        k = a_over_z.index(ratio)
        t_n, t_lis = grids[k]
        jacobian = _beta(t_n) / ratio if by_rigidity else 1.0  # dT/dR
        # force field: the nucleus had T + (Z/A) phi per nucleon outside the heliosphere
        factor = _beta(t_lis) * t_n * (t_n + m2) / (t_lis * (t_lis + m2)) * jacobian
        factor.flags.writeable = False
        factors[name] = (index[name], slice(k * x.size, (k + 1) * x.size), factor)
    grid = np.concatenate([t_lis for _, t_lis in grids])
    grid.flags.writeable = False
    return grid, factors


def _one_dimensional(values, name):
    """A scalar or 1-d array of finite positive floats (the network solves on one energy axis)."""
    values = np.asarray(values)
    if np.iscomplexobj(values) or values.ndim > 1:
        raise ValueError(f"{name} must be a real scalar or a 1-d array, got shape {values.shape} {values.dtype}")
    values = np.atleast_1d(values.astype(float))
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {values!r}")
    return values


def clear_rate_caches():
    """Drop this process's memoised interaction, feeding, transport and injection rates and the
    solvers' plans.

    They are keyed on the energy grid (and the transport); a caller done with its networks
    (``reproduce`` between steps) frees them here, and a later network recomputes them (same
    inputs, same numbers). (Before the grouped solver they held ~0.25 GB after a B/C fit with
    profiles: the rates of every channel at every energy of every grid.)
    """
    for cached in (_interaction_rates, _species_rates, _constant_above, _feeding, _total_plan, _ratio_factors,
                   _transport_rates, _transport_grid, _transport_break, _decay_rates, _injection_shape,
                   _injected_channels, _injected_branching):
        cached.cache_clear()


@lru_cache(maxsize=16)
def _interaction_rates(xs, gas, cocoon_gas, t_n_bytes):
    """The cross-section part of :meth:`NuclearNetwork.rates`, cached: fits change transport
    parameters, not the energies (phi is frozen) or the gases."""
    t_n = np.frombuffer(t_n_bytes)
    species = _species_rates(xs, gas, cocoon_gas, t_n_bytes)
    partial_mb = xs.partial_mb(t_n)
    cocoon_partial = cocoon_gas.per_gram(partial_mb[..., 0], partial_mb[..., 1])
    rates = {
        **species,
        "partial": gas.per_gram(partial_mb[..., 0], partial_mb[..., 1]),
        "cocoon_partial": cocoon_partial,
        # fraction of a parent's cocoon interactions that make each channel's fragment
        "cocoon_branching": cocoon_partial / species["cocoon_inelastic"][xs.parent_index],
    }
    for value in rates.values():
        value.flags.writeable = False
    return rates


@lru_cache(maxsize=16)
def _species_rates(xs, gas, cocoon_gas, t_n_bytes):
    """The total inelastic rates of :func:`_interaction_rates` (per isotope: cheap beside the
    2477 channels): ``inelastic`` (per gram of ISM gas) and ``cocoon_inelastic``."""
    inelastic_mb = xs.inelastic_mb(np.frombuffer(t_n_bytes))
    rates = {"inelastic": gas.per_gram(inelastic_mb[..., 0], inelastic_mb[..., 1]),
             "cocoon_inelastic": cocoon_gas.per_gram(inelastic_mb[..., 0], inelastic_mb[..., 1])}
    for value in rates.values():
        value.flags.writeable = False
    return rates


@lru_cache(maxsize=8)
def _constant_above(xs):
    """The energy [GeV/n] from which every production and inelastic cross section of ``xs`` is
    constant: the first point of its tables' constant extension (the same values at every grid
    point from there on), or their last point (held beyond it); None if ``xs`` has no such tables
    (e.g. cross sections given by hand)."""
    points = []
    for grid, values in ((getattr(xs, "_grid", None), getattr(xs, "_values", None)),
                         (getattr(xs, "_inelastic_grid", None), getattr(xs, "_inelastic_values", None))):
        if grid is None or values is None or values.ndim != 3 or values.shape[1] != grid.size or grid.size < 2:
            return None
        same = np.all(values == values[:, -1:], axis=(0, 2))  # grid points equal to the last one
        first = 0 if np.all(same) else grid.size - int(np.argmin(same[::-1]))
        points.append(grid[first])
    return float(max(points))


@lru_cache(maxsize=4)
def _feeding(xs, gas, cocoon_gas, t_n_bytes):
    """Per isotope: the rates of the channels that make it and their parents (:meth:`NuclearNetwork._solve`)."""
    partial = _interaction_rates(xs, gas, cocoon_gas, t_n_bytes)["partial"]
    feeding = []
    for i in range(len(xs.species)):
        channels = np.nonzero(xs.fragment_index == i)[0]
        feeding.append((partial[channels], xs.parent_index[channels]))
    return tuple(feeding)


#: relative difference below which a channel's rate counts as its value at the highest energy: the
#: interpolation leaves a few ulp (~1e-16) on the tables' constant extension above 10 GeV/n
_CONSTANT_RATE_RTOL = 1e-14


@dataclass(frozen=True)
class _TotalPlan:
    """The rates of :meth:`NuclearNetwork._solve_total` in the form it solves with (:func:`_total_plan`)."""

    columns: np.ndarray
    cocoon: np.ndarray
    cocoon_varying: tuple
    groups: tuple


def _constant_and_varying(rate, fragment, parent, n_species):
    """(matrix of the rates at the highest energy (fragment, parent), channels that differ from it
    elsewhere, their differences over all energies, mask of the energies where they differ)."""
    reference = rate[:, -1]
    delta = rate - reference[:, None]
    varying = np.abs(delta) > _CONSTANT_RATE_RTOL * np.abs(reference)[:, None]
    matrix = np.zeros((n_species, n_species))
    matrix[fragment, parent] = reference  # a (parent, fragment) pair is one channel: no sum needed
    return matrix, np.flatnonzero(varying.any(axis=1)), delta, varying.any(axis=0)


@lru_cache(maxsize=4)
def _total_plan(xs, gas, cocoon_gas, decays, t_n_bytes):
    """What :meth:`NuclearNetwork._solve_total` needs on these energies, computed once per grid.

    The galactic rates sigma_{j->i}/m and the cocoon branching ratios k_{j->i}/k_j of every
    channel split into a dense matrix (fragment, parent) of their values at the grid's last energy
    (its highest: the solvers' grids are sorted) and,
    for the channels that differ from that value by more than ``_CONSTANT_RATE_RTOL`` somewhere
    (below 10 GeV/n, where the tables still vary: 11 of 2477 channels on the fit's energies), the
    exact remainder on the energies ``columns`` where any channel differs. Isotopes are grouped in
    network order: a group is a run of isotopes none of which makes another (by a channel or a
    decay), so its sources take one product with the densities of the isotopes before it. Each
    group: (start, stop, low, matrix (stop - start, start - low) or None, varying or None, decays
    ((parent, daughter) of its radioactive isotopes)); varying and ``cocoon_varying``:
    (0/1 matrix summing channels into their fragments, parents, remainder (channel, columns)).
    """
    t_n = np.frombuffer(t_n_bytes)
    # the channels' rates where the tables vary and at the last energy (the reference): above the
    # tables' constant extension every channel is within 2 ulp of its reference, so the energies
    # there hold no remainder and their rates are not computed (each energy's rates are its own)
    computed = np.arange(t_n.size)
    constant_above = _constant_above(xs)
    if constant_above is not None and t_n.size > 1 and np.all(np.diff(t_n) > 0):
        computed = np.flatnonzero(t_n < constant_above)
        computed = np.append(computed[computed < t_n.size - 1], t_n.size - 1)
    rates = _interaction_rates(xs, gas, cocoon_gas, t_n_bytes if computed.size == t_n.size
                               else np.ascontiguousarray(t_n[computed]).tobytes())
    n_species = len(xs.species)
    fragment, parent = xs.fragment_index, xs.parent_index
    galactic, galactic_channels, galactic_delta, galactic_columns = _constant_and_varying(
        rates["partial"], fragment, parent, n_species)
    cocoon, cocoon_channels, cocoon_delta, cocoon_columns = _constant_and_varying(
        rates["cocoon_branching"], fragment, parent, n_species)
    columns = computed[galactic_columns | cocoon_columns]
    varying_columns = np.flatnonzero(galactic_columns | cocoon_columns)  # the same, among the computed

    def varying(channels, delta, rows):
        if channels.size == 0:
            return None
        fragments = (fragment[channels][None, :] == rows[:, None]).astype(float)
        remainder = np.ascontiguousarray(delta[channels][:, varying_columns])
        for value in (fragments, remainder):
            value.flags.writeable = False
        return fragments, parent[channels], remainder

    daughters = _daughters(decays, xs.species)
    makers = [set(parent[fragment == i].tolist()) for i in range(n_species)]
    for i, d in daughters.items():
        makers[d].add(i)
    groups, start = [], 0
    while start < n_species:
        stop = start + 1
        while stop < n_species and not any(start <= j < stop for j in makers[stop]):
            stop += 1
        parents = set().union(*makers[start:stop])
        low = min(parents) if parents else start
        matrix = None
        if parents:
            matrix = np.ascontiguousarray(galactic[start:stop, low:start])
            matrix.flags.writeable = False
        in_group = galactic_channels[(fragment[galactic_channels] >= start) & (fragment[galactic_channels] < stop)]
        groups.append((start, stop, low, matrix, varying(in_group, galactic_delta, np.arange(start, stop)),
                       tuple((i, daughters[i]) for i in range(start, stop) if i in daughters)))
        start = stop
    cocoon.flags.writeable = False
    columns.flags.writeable = False
    return _TotalPlan(columns=columns, cocoon=cocoon, groups=tuple(groups),
                      cocoon_varying=varying(cocoon_channels, cocoon_delta, np.arange(n_species)))


@lru_cache(maxsize=32)
def _transport_rates(transport, xs, gas, decays, t_n_bytes):
    """The transport part of :meth:`NuclearNetwork.rates`, cached on the transport parameters (a fit
    changing only chi0 or R0 reuses it): ``grammage`` (with decay), ``stable_grammage`` and the
    effective grammages 1 / (1/X + sigma/m) with and without decay, over (isotope, energy). D(R) and
    X(R) are computed once per A/Z (80 isotopes, 20 distinct A/Z), with decay only for the
    radioactive isotopes; what depends on the energies only, or on the break of D(R) (fixed in
    fits), is kept (:func:`_transport_grid`, :func:`_transport_break`)."""
    species = xs.species
    beta, inverse, rigidity, log_rigidity = _transport_grid(species, t_n_bytes)
    log_break = _transport_break(transport.rigidity_break, transport.ddelta, transport.smoothness, species, t_n_bytes)
    diffusion = transport._diffusion(log_rigidity, log_break, beta[None, :])  # D(R) once per A/Z
    stable = transport._grammage(diffusion, beta[None, :])[inverse]
    inelastic = _species_rates(xs, gas, gas, t_n_bytes)["inelastic"]
    effective_stable = 1.0 / (1.0 / stable + inelastic)
    grammage, effective = stable, effective_stable
    if decays:
        # every radioactive isotope in one call (rows: isotope, energy); the others are stable
        rows, rate = _decay_rates(species, decays, t_n_bytes)
        grammage, effective = stable.copy(), effective_stable.copy()
        grammage[rows] = transport._grammage(diffusion[inverse[rows]], beta[None, :], rate)
        effective[rows] = 1.0 / (1.0 / grammage[rows] + inelastic[rows])
    rates = {"grammage": grammage, "stable_grammage": stable, "effective": effective,
             "effective_stable": effective_stable}
    for value in rates.values():
        value.flags.writeable = False
    return rates


@lru_cache(maxsize=16)
def _transport_grid(species, t_n_bytes):
    """(beta, index of each isotope's A/Z among the distinct ones, rigidity and ln R per distinct
    A/Z and energy) of :func:`_transport_rates`."""
    t_n = np.frombuffer(t_n_bytes)
    unique, inverse = np.unique(_mass_to_charge(species), return_inverse=True)
    rigidity = unique[:, None] * np.sqrt(t_n * (t_n + 2.0 * NUCLEON_MASS_GEV))[None, :]
    out = (_beta(t_n), inverse, rigidity, np.log(rigidity))
    for value in out:
        value.flags.writeable = False
    return out


@lru_cache(maxsize=16)
def _transport_break(rigidity_break, ddelta, smoothness, species, t_n_bytes):
    """:meth:`GalacticTransport._log_break` on the rigidities of :func:`_transport_grid`."""
    rigidity = _transport_grid(species, t_n_bytes)[2]
    transport = GalacticTransport(rigidity_break=rigidity_break, ddelta=ddelta, smoothness=smoothness)
    value = transport._log_break(rigidity)
    value.flags.writeable = False
    return value


@lru_cache(maxsize=16)
def _decay_rates(species, decays, t_n_bytes):
    """(rows of the radioactive isotopes, their decay rates ln 2 / (gamma t_half) [s-1] per energy)."""
    t_n = np.frombuffer(t_n_bytes)
    index = _species_index(species)
    rows = np.array([index[parent] for parent, _ in decays])
    half_life = np.array([half_life for _, (_daughter, half_life) in decays])
    rate = math.log(2.0) / (_lorentz_gamma(t_n)[None, :] * half_life[:, None])
    rate.flags.writeable = False
    return rows, rate


@lru_cache(maxsize=16)
def _injection_shape(species, injection_index, t_n_bytes):
    """(R^-alpha (A/Z) / beta^2, R) over (isotope, energy): the source term per unit abundance."""
    t_n = np.frombuffer(t_n_bytes)
    ratio = _mass_to_charge(species)
    rigidity = ratio[:, None] * np.sqrt(t_n * (t_n + 2.0 * NUCLEON_MASS_GEV))[None, :]
    shape = rigidity ** -injection_index * ratio[:, None] / _beta(t_n) ** 2
    for value in (shape, rigidity):
        value.flags.writeable = False
    return shape, rigidity


def _injected(xs, injected_bytes):
    """The channels whose parent has a source (``injected_bytes``: the boolean mask over species)."""
    return np.flatnonzero(np.frombuffer(injected_bytes, dtype=bool)[xs.parent_index])


@lru_cache(maxsize=8)
def _injected_channels(xs, injected_bytes):
    """(parents, fragment-by-channel sum matrix) of the channels whose parent has a source."""
    channels = _injected(xs, injected_bytes)
    matrix = sparse.csr_matrix((np.ones(channels.size), (xs.fragment_index[channels], np.arange(channels.size))),
                               shape=(len(xs.species), channels.size))
    return xs.parent_index[channels], matrix


@lru_cache(maxsize=16)
def _injected_branching(xs, gas, cocoon_gas, t_n_bytes, injected_bytes):
    """The cocoon branching ratios (:func:`_interaction_rates`) of those channels."""
    branching = _interaction_rates(xs, gas, cocoon_gas, t_n_bytes)["cocoon_branching"][_injected(xs, injected_bytes)]
    branching.flags.writeable = False
    return branching


@lru_cache(maxsize=4)
def _cross_sections(production):
    return CrossSections(production)


def production_by_parent(network, t_n, fragments="B"):
    """Galactic production rate per unit grammage of ``fragments`` (an element or isotopes) by parent
    isotope at ``t_n`` [GeV/n]: {parent: array}, summed over the fragment's isotopes."""
    isotopes = network._isotopes(fragments)
    rates = network.rates(t_n)
    solved = network.densities(t_n)
    xs = network._xs
    out = {}
    for k, (parent, fragment) in enumerate(xs.channels):
        if fragment in isotopes:
            out[parent] = out.get(parent, 0.0) + rates["partial"][k] * solved[parent][0]
    return out
