"""Readers of the bundled nuclear cross-section tables (see ``data/cross_sections/README`` in
``data/README.md`` for their provenance; all from C. Evoli's XS4GCR and XS4GCRv2, MIT licence).

- USINE v3.5 tables (production ``"12C -> 11B"`` blocks, or total inelastic ``"12C"`` blocks): a
  header with the unit (mb or cm2) and targets, the log grid ``EknMIN EknMAX nEkn`` of kinetic
  energy per nucleon [GeV/n], then one block per channel of nEkn rows, one column per target.
- The ghost list (IAEA LiveChart 2026): parent, child, branching ratio [%], half-life.
- The Evoli et al. (2019, PRD 99, 103023) fit parameters and their fit function.
- The measurement compilation behind those fits.

Every reader raises a ValueError naming the file and the line that does not parse.
"""
from dataclasses import dataclass, field
from functools import lru_cache
import gzip
from importlib import resources
import zlib

import numpy as np

from .nuclides import data_records, isotope, parse_nucleus

__all__ = [
    "CrossSectionTable", "read_usine", "bundled_table", "read_ghost_list", "ghost_list",
    "EvoliFit", "evoli2019_fits", "read_measurements", "measurements", "TABLE_FILES",
]

#: bundled tables: name -> (file in data/cross_sections, reference)
TABLE_FILES = {
    "galprop17-opt12": ("sigProdGALPROP17_OPT12.dat.gz",
                        "GALPROP (2017 release) option 12 production (Y. Genolini, USINE v3.5), cumulative: ghosts included"),
    "wks98": ("GHOST_SEPARATELY__sigProdWKS98.dat.gz",
              "Webber, Kish & Schrier 1998 (PRC 41, 566; WKS code, Y. Genolini, USINE v3.5), ghosts separate"),
    "tripathi99": ("sigInelTripathi99+Coste12.dat",
                   "Tripathi et al. 1999 total inelastic (+ Coste et al. 2012, A&A 539, A88 for Z <= 2), USINE v3.5"),
}
_UNITS_MB = {"mb": 1.0, "cm2": 1e27}


@dataclass(frozen=True)
class CrossSectionTable:
    """A tabulated cross-section set on a log grid of kinetic energy per nucleon.

    ``values`` maps a channel (``(parent, fragment)`` names for production, a name for inelastic)
    to an array of shape (len(energy), len(targets)) in mb.
    """

    name: str
    reference: str
    energy: np.ndarray
    targets: tuple
    values: dict = field(repr=False)

    def __hash__(self):
        return hash((self.name, self.reference))

    def __eq__(self, other):
        return self is other


def _data_path(filename):
    return resources.files("gammapy_cocoons").joinpath("data", "cross_sections", filename)


def _read_text(path):
    """The text of a plain or gzipped table; a damaged file (a truncated or corrupt gzip stream,
    bytes that are not text) is a ValueError naming the file and the line where reading stopped."""
    label = getattr(path, "name", str(path))
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    lines = []
    try:
        with opener(path, "rt") as handle:
            for line in handle:
                lines.append(line)
    except FileNotFoundError:
        raise
    except (EOFError, OSError, UnicodeDecodeError, zlib.error) as error:
        raise ValueError(f"{label}: line {len(lines) + 1}: the file is damaged or truncated "
                         f"({type(error).__name__}: {error})") from None
    return "".join(lines)


def _is_title(text):
    return not text[:1].isdigit() or "->" in text or text.split()[0][-1].isalpha()


def read_usine(path, name=None, reference=""):
    """Read a USINE v3.5 cross-section file (plain or gzipped) into a :class:`CrossSectionTable`."""
    label = getattr(path, "name", str(path))
    lines = [(number, line.strip()) for number, line in enumerate(_read_text(path).splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 3:
        raise ValueError(f"{label}: not a USINE cross-section table (no header)")

    def fail(number, why):
        raise ValueError(f"{label}: line {number}: {why}")

    number, header = lines[0]
    fields = header.split()
    if len(fields) != 3 or fields[0] != "sigma" or fields[1] not in _UNITS_MB:
        fail(number, f"expected 'sigma <mb|cm2> <targets>', got {header!r}")
    scale, targets = _UNITS_MB[fields[1]], tuple(fields[2].split(","))
    number, grid = lines[1]
    try:
        e_min, e_max, n_energy = float(grid.split()[0]), float(grid.split()[1]), int(grid.split()[2])
    except (ValueError, IndexError):
        fail(number, f"expected 'EknMIN EknMAX nEkn', got {grid!r}")
    if not (0 < e_min < e_max < np.inf and 2 <= n_energy <= len(lines)):
        fail(number, f"energy grid must have 0 < EknMIN < EknMAX and 2 <= nEkn <= the rows of the file "
                     f"({len(lines)}), got {grid!r}")
    energy = np.geomspace(e_min, e_max, n_energy)
    titles = list(range(2, len(lines), n_energy + 1))
    for start, stop in zip(titles, titles[1:] + [len(lines)]):
        if stop - start != n_energy + 1 or not _is_title(lines[start][1]):
            fail(lines[start][0], f"block {lines[start][1]!r} must be a channel name and {n_energy} rows")
    rows = [(number, line) for position, (number, line) in enumerate(lines[2:]) if position % (n_energy + 1)]
    try:
        numbers = np.array(" ".join(line for _, line in rows).split(), dtype=float)
    except ValueError:
        numbers = None
    if numbers is None or numbers.size != len(titles) * n_energy * len(targets):
        for number, line in rows:  # find the row (only on failure: the tables are large)
            try:
                values = [float(v) for v in line.split()]
            except ValueError:
                fail(number, f"the blocks must hold numbers only, got {line!r}")
            if len(values) != len(targets):
                fail(number, f"every row must hold {len(targets)} values (one per target), got {line!r}")
    bad = ~(np.isfinite(numbers) & (numbers >= 0))
    if np.any(bad):
        fail(rows[int(np.argmax(bad)) // len(targets)][0], "cross sections must be finite and >= 0")
    numbers = numbers.reshape(len(titles), n_energy, len(targets))
    values = {}
    for block, start in zip(numbers, titles):
        number, title = lines[start]
        if "->" in title:
            parent, _, fragment = (part.strip() for part in title.partition("->"))
            key = (parse_nucleus(parent, f"{label} line {number}").name,
                   parse_nucleus(fragment, f"{label} line {number}").name)
        else:
            key = parse_nucleus(title, f"{label} line {number}").name
        if key in values:
            fail(number, f"channel {title!r} appears twice")
        values[key] = block * scale
    if not values:
        raise ValueError(f"{label}: no cross-section blocks")
    return CrossSectionTable(name or label, reference, energy, targets, values)


@lru_cache(maxsize=None)
def bundled_table(name):
    """A bundled table by name (:data:`TABLE_FILES`)."""
    if name not in TABLE_FILES:
        raise ValueError(f"cross-section table must be one of {sorted(TABLE_FILES)}, got {name!r}")
    filename, reference = TABLE_FILES[name]
    return read_usine(_data_path(filename), name=name, reference=reference)


_TIME_UNITS_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "y": 3.15576e7,
                 "ky": 3.15576e10, "My": 3.15576e13, "Gy": 3.15576e16, "us": 1e-6, "ns": 1e-9}


def read_ghost_list(path):
    """Ghost decays: a list of (parent, child, branching fraction, half-life [s]) tuples."""
    label = getattr(path, "name", str(path))
    out = []
    for number, line, fields in data_records(_read_text(path), label):
        try:
            parent = parse_nucleus(fields[1] + fields[0], f"{label} line {number}").name
            child = parse_nucleus(fields[3] + fields[2], f"{label} line {number}").name
            branching, half_life, unit = float(fields[4]) / 100.0, float(fields[5]), fields[6]
        except (IndexError, ValueError) as error:
            raise ValueError(f"{label}: line {number} does not parse ({error}): {line!r}") from None
        if unit not in _TIME_UNITS_S or not 0 <= branching <= 2.0:
            raise ValueError(f"{label}: line {number}: unknown time unit {unit!r} or branching outside 0-200 %")
        out.append((parent, child, branching, half_life * _TIME_UNITS_S[unit]))
    return out


@lru_cache(maxsize=1)
def ghost_list():
    """The bundled IAEA 2026 ghost list (beta decays of short-lived nuclei)."""
    return tuple(read_ghost_list(_data_path("ghost_list_IAEA2026.txt")))


@dataclass(frozen=True)
class EvoliFit:
    """One channel of the Evoli et al. 2019 fits (energies in GeV/n, cross sections in mb)::

        sigma(T) = sigma_0 Gamma^2 (T - E_th)^2 / [(T^2 - M^2)^2 + Gamma^2 M^2]
                 + sigma_1 (1 - E_th / T)^xi [1 + Delta / (1 + (T_h / T)^2)],  T_h = 2 GeV/n,

    zero below E_th; the first (resonance) term only where sigma_0 > 0. ``accuracy`` is the quoted
    relative uncertainty of the fit.
    """

    e_threshold: float
    sigma0: float
    resonance_mass: float
    width: float
    sigma1: float
    xi: float
    delta: float
    accuracy: float

    def __call__(self, t_n):
        t = np.asarray(t_n, dtype=float)
        above = t > self.e_threshold
        safe = np.where(above, t, 2.0 * self.e_threshold)
        high = self.sigma1 * (1.0 - self.e_threshold / safe) ** self.xi * (1.0 + self.delta / (1.0 + (2.0 / safe) ** 2))
        if self.sigma0 > 0:
            high = high + (self.sigma0 * self.width**2 * (safe - self.e_threshold) ** 2
                           / ((safe**2 - self.resonance_mass**2) ** 2 + (self.width * self.resonance_mass) ** 2))
        return np.where(above, high, 0.0)


@lru_cache(maxsize=1)
def evoli2019_fits():
    """{(parent, fragment): EvoliFit} of the bundled Evoli et al. 2019 parameters (MeV in the file)."""
    path = _data_path("Evoli2019_fragmentation_fitparams.txt")
    fits = {}
    for number, line, f in data_records(path.read_text(), "Evoli2019_fragmentation_fitparams.txt"):
        try:
            parent, fragment = isotope(f[0], f[1]).name, isotope(f[2], f[3]).name
            e_th, s0, mass, width, s1, xi, delta, accuracy = (float(v) for v in f[4:12])
        except (IndexError, ValueError):
            raise ValueError(f"Evoli2019_fragmentation_fitparams.txt: line {number} does not parse: {line!r}") from None
        fits[parent, fragment] = EvoliFit(e_th / 1e3, s0, mass / 1e3, width / 1e3, s1, xi, delta, accuracy / 100.0)
    return fits


def read_measurements(path):
    """The measurement compilation: a structured array (parent, fragment, t_n [GeV/n], sigma, error [mb], reference)."""
    label = getattr(path, "name", str(path))
    rows = []
    for number, line, f in data_records(_read_text(path), label):
        try:
            parent, fragment = isotope(f[0], f[1]).name, isotope(f[2], f[3]).name
            rows.append((parent, fragment, float(f[4]), float(f[5]), float(f[6]), f[7] if len(f) > 7 else ""))
        except (IndexError, ValueError):
            raise ValueError(f"{label}: line {number} does not parse: {line!r}") from None
    dtype = [("parent", "U6"), ("fragment", "U6"), ("t_n", float), ("sigma", float), ("error", float),
             ("reference", "U24")]
    return np.array(rows, dtype=dtype)


@lru_cache(maxsize=1)
def measurements():
    """The bundled compilation of measured partial cross sections (XS4GCR ``xsecs_data_full.txt``)."""
    return read_measurements(_data_path("xsecs_data_full.txt.gz"))
