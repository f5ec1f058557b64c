"""Isotopes of the cosmic-ray nuclear network: names, charges, masses and the decays that matter.

The network's isotopes are those of the cosmic-ray nuclide chart bundled from C. Evoli's XS4GCR
(``data/cross_sections/crchart_Z28_2020.txt``, MIT licence): every isotope up to Z = 28 that lives
long enough to travel (stable, or beta-unstable with a half-life of kyr or more; electron-capture
nuclei are stable when fully ionised), with its decay mode and half-life. Names are written
element-first ("C12", "Be10"); table files write them mass-first ("12C"), and both are accepted.
"""
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
import re

__all__ = ["Nucleus", "ELEMENTS", "parse_nucleus", "nuclide_chart", "get_nucleus", "BetaDecay", "isotope",
           "data_records"]

#: element symbols by charge (Z = 1 ... 30)
ELEMENTS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn").split()
_CHARGE = {symbol: z for z, symbol in enumerate(ELEMENTS, start=1)}
_ELEMENT_FIRST = re.compile(r"^([A-Z][a-z]?)(\d+)$")
_MASS_FIRST = re.compile(r"^(\d+)([A-Z][a-z]?)$")
_YEAR_S = 3.15576e7


@dataclass(frozen=True)
class Nucleus:
    """An isotope: ``name`` like "C12", charge ``Z``, mass number ``A``."""

    name: str
    charge: int
    mass_number: int

    @property
    def mass_to_charge(self):
        """A / Z: rigidity R = (A / Z) p_n with p_n the momentum per nucleon [GV]."""
        return self.mass_number / self.charge

    @property
    def element(self):
        return ELEMENTS[self.charge - 1]


def parse_nucleus(text, argument="nucleus"):
    """The :class:`Nucleus` written ``text`` ("C12" or "12C"); a ValueError naming ``argument`` otherwise."""
    if isinstance(text, Nucleus):
        return text
    token = str(text).strip()
    match = _ELEMENT_FIRST.match(token)
    if match:
        symbol, mass = match.groups()
    else:
        match = _MASS_FIRST.match(token)
        if not match:
            raise ValueError(f"{argument} must be an isotope like 'C12' or '12C', got {text!r}")
        mass, symbol = match.groups()
    if symbol not in _CHARGE:
        raise ValueError(f"{argument}: unknown element {symbol!r} in {text!r} (known: H ... Zn)")
    charge, mass_number = _CHARGE[symbol], int(mass)
    if mass_number < charge:
        raise ValueError(f"{argument}: mass number {mass_number} below the charge {charge} in {text!r}")
    return Nucleus(f"{symbol}{mass_number}", charge, mass_number)


def isotope(charge, mass_number, argument="nucleus"):
    """The :class:`Nucleus` of charge Z and mass number A (tables write isotopes as two numbers)."""
    try:
        charge, mass_number = int(charge), int(mass_number)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: Z and A must be integers, got {charge!r} {mass_number!r}") from None
    if not 1 <= charge <= len(ELEMENTS):
        raise ValueError(f"{argument}: Z must be in 1-{len(ELEMENTS)}, got {charge}")
    return parse_nucleus(f"{ELEMENTS[charge - 1]}{mass_number}", argument)


_NOT_FINITE = {"nan", "inf", "infinity"}


def data_records(text, label="data table"):
    """(line number, line, fields) of every line of a data table that is neither empty nor a comment.

    A NaN or infinite number in a field (a damaged file) is a ValueError naming ``label`` and the
    line: every number of the bundled tables is finite.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            fields = line.split()
            if any(field.lower().lstrip("+-") in _NOT_FINITE for field in fields):
                raise ValueError(f"{label}: line {number}: a value is not finite: {line.strip()!r}")
            yield number, line, fields


@dataclass(frozen=True)
class BetaDecay:
    """A beta decay of a fully ionised cosmic-ray nucleus: ``parent`` -> ``daughter`` with ``half_life`` [s] at rest."""

    parent: str
    daughter: str
    half_life: float


@lru_cache(maxsize=1)
def nuclide_chart():
    """(isotopes, decays): the bundled chart as {name: Nucleus} and {parent name: BetaDecay}.

    The daughter of a beta- (beta+) decay has Z + 1 (Z - 1) at the same A. Half-lives in the file
    are in kyr.
    """
    path = resources.files("gammapy_cocoons").joinpath("data", "cross_sections", "crchart_Z28_2020.txt")
    isotopes, decays = {}, {}
    for number, line, fields in data_records(path.read_text(), "crchart_Z28_2020.txt"):
        try:
            charge, mass, name, mode, half_life = int(fields[0]), int(fields[1]), fields[2], fields[3], float(fields[4])
        except (IndexError, ValueError):
            raise ValueError(f"crchart_Z28_2020.txt: line {number} does not parse: {line!r}") from None
        nucleus = parse_nucleus(name, f"crchart_Z28_2020.txt line {number}")
        if (nucleus.charge, nucleus.mass_number) != (charge, mass):
            raise ValueError(f"crchart_Z28_2020.txt: line {number}: {name} is not Z={charge}, A={mass}")
        isotopes[nucleus.name] = nucleus
        if mode in ("BETA-", "BETA+"):
            decays[nucleus.name] = (charge + (1 if mode == "BETA-" else -1), mass, half_life * 1e3 * _YEAR_S)
    # the daughter is the next isotope of the chart along the decay: short-lived steps in between
    # (Fe60 -> Co60 (5 yr) -> Ni60, Ni56 -> Co56 (77 d) -> Fe56) are immediate on Galactic time scales
    by_charge_mass = {(n.charge, n.mass_number): n.name for n in isotopes.values()}
    chain = {}
    for parent, (charge, mass, half_life) in decays.items():
        step = 1 if charge > isotopes[parent].charge else -1
        while (charge, mass) not in by_charge_mass:
            charge += step
            if not 1 <= charge <= len(ELEMENTS):
                raise ValueError(f"crchart_Z28_2020.txt: no long-lived daughter for the decay of {parent}")
        chain[parent] = BetaDecay(parent, by_charge_mass[charge, mass], half_life)
    return isotopes, chain


def get_nucleus(name, argument="nucleus"):
    """The :class:`Nucleus` called ``name`` if the network knows it; a ValueError naming ``argument`` otherwise."""
    nucleus = parse_nucleus(name, argument)
    isotopes, _ = nuclide_chart()
    if nucleus.name not in isotopes:
        raise ValueError(f"{argument}: {nucleus.name} is not a long-lived isotope of the cosmic-ray chart "
                         f"(Z <= 28; e.g. {', '.join(list(isotopes)[8:14])})")
    return isotopes[nucleus.name]
