"""Galactic transport of CR nuclei and the B/C ratio with galactic plus cocoon grammage.

Thin-disc / thick-halo model (Evoli, Aloisio & Blasi 2019, PRD 99, 103023; Schroer, Evoli &
Blasi 2021): a disc of surface density mu inside a halo of half-height H, advection speed u away
from the disc, diffusion coefficient

    D(R) = D0 beta (R / GV)^delta / [1 + (R / R_b)^(Delta_delta / s)]^s .

The grammage traversed before escape is

    X(R) = (mu v / 2u) [1 - exp(-u H / D)]      (-> mu v H / 2D for u H << D),

and the steady state of species i at fixed kinetic energy per nucleon T (weighted slab, straight
ahead, no energy losses) is

    n_i [1/X_i + sigma_i/m] = S_i + sum_j (sigma_{j->i}/m) n_j ,

solved from the heaviest species down. S_i is the source term per unit grammage; for the
primaries C, N and O it is q_i R^-alpha dR/dT / v (the same rigidity spectrum for all nuclei
heavier than He). Energy losses and reacceleration are neglected: this holds above ~10 GeV/n,
and only data above ``MIN_RIGIDITY_FIT`` are fitted.

Cocoons (Ambrosone et al. 2025, Eq. 5-6): every source is wrapped in gas of grammage chi_c(R) of
the parent's rigidity, which its primaries cross before entering the Galaxy. A parent P survives
it with probability exp(-chi_c sigma_P/m) and makes fragment i with
(sigma_{P->i} / sigma_P)(1 - exp(-chi_c sigma_P/m)) ~= (chi_c/m) sigma_{P->i}, the source rate of
the issue and of Schroer et al.; the fragments' own spallation inside the cocoon (second order
in chi_c sigma/m ~ 0.05) is neglected. Everything downstream is linear, so the boron is split
exactly into a galactic and a cocoon part.

Solar modulation: force field (Gleeson & Axford 1968) with potential phi [GV]. Internal units:
GeV/n, GV, cm, s, g.
"""
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from ..constants import C_CM_S, KPC_CM
from .spallation import NUCLEI, TargetGas

__all__ = [
    "GalacticTransport", "BoronNetwork", "NUCLEON_MASS_GEV", "MIN_RIGIDITY_FIT",
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


@dataclass(frozen=True)
class GalacticTransport:
    """Diffusion-advection parameters of the Galaxy.

    d0 [1e28 cm2 s-1] at 1 GV, delta, rigidity_break R_b [GV], ddelta (Delta_delta, the hardening
    above R_b), smoothness s, halo_height H [kpc], advection u [km s-1], surface_density mu of the
    disc [g cm-2]. Defaults: the break of Evoli et al. 2019 (R_b = 312 GV, Delta_delta = 0.2,
    s = 0.1, H = 4 kpc, u = 7 km/s, mu = 2.3 mg cm-2); d0 and delta are starting values for fits.
    """

    d0: float = 3.0
    delta: float = 0.5
    rigidity_break: float = 312.0
    ddelta: float = 0.2
    smoothness: float = 0.1
    halo_height: float = 4.0
    advection: float = 7.0
    surface_density: float = 2.3e-3

    def __post_init__(self):
        for name in ("d0", "rigidity_break", "smoothness", "halo_height", "surface_density"):
            value = np.asarray(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(value)) or np.any(value <= 0):
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)!r}")
        for name in ("delta", "ddelta", "advection"):
            value = np.asarray(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ValueError(f"{name} must be finite and >= 0, got {getattr(self, name)!r}")

    def diffusion(self, rigidity, beta):
        """D(R) [cm2 s-1]."""
        smooth = (1.0 + (rigidity / self.rigidity_break) ** (self.ddelta / self.smoothness)) ** self.smoothness
        return self.d0 * 1e28 * beta * rigidity**self.delta / smooth

    def grammage(self, rigidity, beta):
        """Galactic grammage X(R) [g cm-2], thin disc with advection."""
        velocity = beta * C_CM_S
        diffusion = self.diffusion(rigidity, beta)
        height = self.halo_height * KPC_CM
        y = self.advection * 1e5 * height / diffusion
        # (1 - e^-y) / y, exact also for u -> 0
        factor = np.where(y > 1e-8, -np.expm1(-y) / np.where(y > 1e-8, y, 1.0), 1.0 - 0.5 * y)
        return self.surface_density * velocity * height / (2.0 * diffusion) * factor


@lru_cache(maxsize=8)
def _rates(gas, species):
    """Destruction and production rates per unit grammage [cm2 g-1] of the bundled cross sections."""
    inelastic = {s: gas.inelastic(s) for s in species}
    partial = {(p, f): gas.partial(p, f) for p in species for f in species
               if NUCLEI[p].mass_number > NUCLEI[f].mass_number}
    return inelastic, partial


@dataclass(frozen=True)
class BoronNetwork:
    """O16, N14, C12 -> B11, B10 network with galactic and cocoon grammage.

    Parameters
    ----------
    transport : GalacticTransport
    cocoon_grammage : callable
        chi_c(R) [g cm-2] of rigidity [GV] (a grammage law of :mod:`.grammage`, or a function);
        ``None`` for no cocoons.
    abundances : dict
        Source abundances of the primaries at equal rigidity, relative to C12.
    injection_index : float
        alpha of the source spectrum per unit rigidity, R^-alpha.
    gas : TargetGas
        ISM composition (H plus 0.1 He by number by default; Evoli et al. 2019).
    cross_sections : dict, optional
        Override: {"inelastic": {name: cm2/g}, "partial": {(parent, fragment): cm2/g}} replaces the
        bundled values (for tests and for users with other parametrisations).
    """

    transport: GalacticTransport = field(default_factory=GalacticTransport)
    cocoon_grammage: object = None
    abundances: dict = field(default_factory=lambda: {"C12": 1.0, "N14": 0.09 / 0.91, "O16": 1.0 / 0.91})
    injection_index: float = 2.3
    gas: TargetGas = field(default_factory=TargetGas)
    cross_sections: dict = None

    #: species, heaviest first (the solution order)
    species = ("O16", "N14", "C12", "B11", "B10")
    primaries = ("O16", "N14", "C12")

    def __post_init__(self):
        for name, value in self.abundances.items():
            if name not in self.primaries:
                raise ValueError(f"abundances: unknown primary {name!r}; the network's primaries are {list(self.primaries)}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"abundances[{name!r}] must be finite and >= 0, got {value!r}")
        if not np.isfinite(self.injection_index) or not 1.0 < self.injection_index < 4.0:
            raise ValueError(f"injection_index must be in (1, 4), got {self.injection_index!r}")
        rates = self.cross_sections or {}
        inelastic, partial = _rates(self.gas, self.species)
        inelastic = {**inelastic, **rates.get("inelastic", {})}
        partial = {**partial, **rates.get("partial", {})}
        for name, value in list(inelastic.items()) + list(partial.items()):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"cross_sections: the rate of {name!r} must be finite and >= 0, got {value!r}")
        object.__setattr__(self, "_inelastic", inelastic)
        object.__setattr__(self, "_partial", partial)

    def with_transport(self, **changes):
        """A copy with some transport parameters changed."""
        return replace(self, transport=replace(self.transport, **changes))

    def densities(self, t_n):
        """Interstellar densities per unit T (arbitrary common unit) at ``t_n`` [GeV/n].

        Returns a dict: species -> (galactic, cocoon) arrays; boron's cocoon part comes from
        fragments made in the cocoons, the primaries' from their depletion there (negative).
        """
        t_n = np.asarray(t_n, dtype=float)
        beta = _beta(t_n)
        out = {}
        for name in self.species:
            nucleus = NUCLEI[name]
            rigidity = rigidity_of(t_n, nucleus.mass_to_charge)
            grammage = self.transport.grammage(rigidity, beta)
            sigma = self._inelastic[name]
            effective = grammage / (1.0 + grammage * sigma)  # 1 / (1/X + sigma/m)
            source_gal = np.zeros_like(t_n * grammage)
            source_coc = np.zeros_like(source_gal)
            if name in self.primaries:
                # R^-alpha per unit R, times dR/dT = (A/Z) / beta, over v
                injection = self.abundances.get(name, 0.0) * rigidity ** -self.injection_index * nucleus.mass_to_charge / beta**2
                if self.cocoon_grammage is not None:
                    surviving = np.exp(-self._cocoon(rigidity) * sigma)
                    source_gal = source_gal + injection
                    source_coc = source_coc + injection * (surviving - 1.0)
                else:
                    source_gal = source_gal + injection
            for parent in self.primaries:
                rate = self._partial.get((parent, name))
                if rate is None or parent not in out:
                    continue
                gal, coc = out[parent]
                source_gal = source_gal + rate * gal
                source_coc = source_coc + rate * coc
                if self.cocoon_grammage is not None and self.abundances.get(parent, 0.0) > 0:
                    parent_nucleus = NUCLEI[parent]
                    r_parent = rigidity_of(t_n, parent_nucleus.mass_to_charge)
                    sigma_parent = self._inelastic[parent]
                    depletion = -np.expm1(-self._cocoon(r_parent) * sigma_parent)
                    parent_injection = (self.abundances[parent] * r_parent ** -self.injection_index
                                        * parent_nucleus.mass_to_charge / beta**2)
                    source_coc = source_coc + rate / sigma_parent * depletion * parent_injection
            out[name] = (effective * source_gal, effective * source_coc)
        return out

    def _cocoon(self, rigidity):
        chi = np.asarray(self.cocoon_grammage(rigidity), dtype=float)
        if np.any(chi < 0) or not np.all(np.isfinite(chi)):
            raise ValueError("cocoon grammage must be finite and >= 0")
        return chi

    def ratio_vs_energy(self, t_n, phi=0.0, numerator=("B10", "B11"), denominator=("C12",), split=False):
        """Flux ratio at equal kinetic energy per nucleon ``t_n`` [GeV/n] at the top of the atmosphere.

        ``phi`` is the force-field potential [GV]. With ``split``, returns the (galactic, cocoon)
        parts of the numerator over the whole denominator; they sum to the ratio.
        """
        return self._ratio(np.asarray(t_n, dtype=float), phi, numerator, denominator, split, by_rigidity=False)

    def ratio_vs_rigidity(self, rigidity, phi=0.0, numerator=("B10", "B11"), denominator=("C12",), split=False):
        """Flux ratio at equal rigidity [GV] (as AMS-02 quotes it); see :meth:`ratio_vs_energy`."""
        return self._ratio(np.asarray(rigidity, dtype=float), phi, numerator, denominator, split, by_rigidity=True)

    def _ratio(self, x, phi, numerator, denominator, split, by_rigidity):
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            which = "rigidity" if by_rigidity else "t_n"
            raise ValueError(f"{which} must be finite and > 0, got {x!r}")
        if not np.isfinite(phi) or phi < 0:
            raise ValueError(f"phi (force-field potential, GV) must be finite and >= 0, got {phi!r}")
        fluxes, cache = {}, {}
        for name in set(numerator) | set(denominator):
            if name not in self.species:
                raise ValueError(f"unknown species {name!r}; the network has {list(self.species)}")
            a_over_z = NUCLEI[name].mass_to_charge
            t_n = kinetic_energy_per_nucleon(x, a_over_z) if by_rigidity else x
            jacobian = _beta(t_n) / a_over_z if by_rigidity else 1.0  # dT/dR
            # force field: the nucleus had T + (Z/A) phi per nucleon outside the heliosphere
            t_lis = t_n + phi / a_over_z
            if (a_over_z, by_rigidity) not in cache:
                cache[a_over_z, by_rigidity] = self.densities(t_lis)
            m2 = 2.0 * NUCLEON_MASS_GEV
            factor = _beta(t_lis) * t_n * (t_n + m2) / (t_lis * (t_lis + m2)) * jacobian
            gal, coc = cache[a_over_z, by_rigidity][name]
            fluxes[name] = (factor * gal, factor * coc)
        den = sum(fluxes[n][0] + fluxes[n][1] for n in denominator)
        gal = sum(fluxes[n][0] for n in numerator) / den
        coc = sum(fluxes[n][1] for n in numerator) / den
        return (gal, coc) if split else gal + coc
