"""Bundled measurements as gammapy FluxPoints, and the same for a user's own points.

Diffuse measurements are intensities averaged over a region. gammapy's ``FluxPointsDataset``
compares models in cm-2 s-1 TeV-1, so the points are returned as *region-integrated* fluxes,
intensity x the region's solid angle, with ``meta["solid_angle"]`` (sr) and ``meta["region"]``
(a `regions` object) so that the mean intensity is one division away; the model for them is
:class:`~gammapy_cocoons.RegionFluxSpectralModel` on the same region.

Errors are statistical and systematic in quadrature (documented choice: the systematic errors
of these tables are not published as correlation matrices); ``meta["errors"]`` says so and
``meta["stat_errn"]`` / ``meta["stat_errp"]`` keep the statistical part alone.

The files are in ``gammapy_cocoons/data/`` verbatim, with their provenance in its README.
IceCube's Galactic-plane results are model bands, not points: :func:`load_band`.
"""
import csv
from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from regions import RectangleSkyRegion

from ._kiss import read_kiss_table  # public here; in its own module to be light to import
from .physics import lineofsight
from .skyregions import LHAASO_INNER, LHAASO_OUTER, to_lb_region

__all__ = [
    "available_datasets", "load_flux_points", "read_flux_points", "load_band", "band_at", "load_ratio", "DATASETS",
    "BANDS", "RATIOS", "read_kiss_table", "lhaaso_catalog", "catalog_components", "LHAASO_COMPONENTS",
    "local_hi_emissivity",
    "LHAASO_CATALOG_REFERENCE", "check_point_errors",
]

_FLUX = u.Unit("cm-2 s-1 TeV-1")
_INTENSITY = _FLUX / u.sr


def _box(l_min, l_max, b_max):
    return RectangleSkyRegion(
        SkyCoord(0.5 * (l_min + l_max), 0.0, unit="deg", frame="galactic"),
        width=(l_max - l_min) * u.deg, height=2 * b_max * u.deg,
    )


def _text(folder, name):
    return resources.files("gammapy_cocoons").joinpath("data", folder, name).read_text()


# -- readers of the bundled layouts: each returns e_ref, e_min, e_max, dnde, errn, errp, stat_n, stat_p
def _lhaaso(name):
    data = np.loadtxt(StringIO(_text("gamma_diffuse", name)))
    energy = data[:, 2] * u.TeV
    unit = u.Unit("TeV-1 cm-2 s-1 sr-1")
    sys = data[:, 6]
    errn, errp = np.hypot(data[:, 4], sys), np.hypot(data[:, 5], sys)
    return (energy, 10 ** data[:, 0] * u.TeV, 10 ** data[:, 1] * u.TeV, data[:, 3] * unit, errn * unit, errp * unit,
            data[:, 4] * unit, data[:, 5] * unit)


def _digitised_e27(name, prefix):
    """Digitised y = E^2.7 dN/dE [GeV^1.7 cm-2 s-1 sr-1] with x in TeV and error-bar ends."""
    rows = list(csv.DictReader(StringIO(_text("gamma_diffuse", name))))
    rows = [r for r in rows if r.get(f"{prefix}BestFit_x")]

    def column(key):
        return np.array([float(r[key]) for r in rows])

    energy = column(f"{prefix}BestFit_x") * u.TeV
    e_gev = energy.to_value(u.GeV)
    unit = u.Unit("GeV-1 cm-2 s-1 sr-1")
    dnde = column(f"{prefix}BestFit_y") / e_gev**2.7 * unit
    upper = column(f"{prefix}YUpper_y") / e_gev**2.7 * unit
    lower = column(f"{prefix}YLower_y") / e_gev**2.7 * unit
    if f"{prefix}XLower_x" in rows[0]:
        e_min, e_max = column(f"{prefix}XLower_x") * u.TeV, column(f"{prefix}XUpper_x") * u.TeV
    else:
        e_min = e_max = None
    # digitised total error bars (the figures do not split stat and sys)
    return energy, e_min, e_max, dnde, dnde - lower, upper - dnde, dnde - lower, upper - dnde


def _fermi_tospines(name):
    data = np.loadtxt(StringIO(_text("gamma_diffuse", name)))
    energy = data[:, 0] * u.TeV
    unit = u.Unit("TeV-1 cm-2 s-1 sr-1")
    dnde = data[:, 1] / data[:, 0] ** 2.7 * unit
    err = (data[:, 2] - data[:, 1]) / data[:, 0] ** 2.7 * unit
    return energy, None, None, dnde, err, err, err, err


def _fermi_ackermann(name):
    data = np.loadtxt(StringIO(_text("gamma_diffuse", name)))
    energy = data[:, 0] * u.MeV
    unit = u.Unit("MeV-1 cm-2 s-1 sr-1")
    e2 = data[:, 0] ** 2
    dnde = data[:, 2] / e2 * unit
    errn, errp = (data[:, 2] - data[:, 1]) / e2 * unit, (data[:, 3] - data[:, 2]) / e2 * unit
    return energy, None, None, dnde, errn, errp, errn, errp


#: name -> (reader, file, region, reference, caveat)
DATASETS = {
    "lhaaso-km2a-2023-inner": (
        _lhaaso, "LHAASO_KM2A_2023_TableS2_inner.txt", LHAASO_INNER,
        "Cao et al. (LHAASO) 2023, PRL 131, 151001, Table S2; 15 < l < 125 deg, |b| < 5 deg, sources masked",
        "intensity over the unmasked part of the region; the paper scales inner-region models by 0.65 for the mask",
    ),
    "lhaaso-km2a-2023-outer": (
        _lhaaso, "LHAASO_KM2A_2023_TableS3_outer.txt", LHAASO_OUTER,
        "Cao et al. (LHAASO) 2023, PRL 131, 151001, Table S3; 125 < l < 235 deg, |b| < 5 deg, sources masked",
        "",
    ),
    "tibet-asgamma-2021-a": (
        lambda name: _digitised_e27(name, "Tibet"), "DNNCascade_plota_TibetData.csv", _box(25, 100, 5),
        "Amenomori et al. (Tibet ASgamma) 2021, PRL 126, 141101; 25 < l < 100 deg, |b| < 5 deg",
        "digitised from the paper figure (IceCube DNNCascade repository); total error bars",
    ),
    "tibet-asgamma-2021-b": (
        lambda name: _digitised_e27(name, "Tibet"), "DNNCascade_plotb_TibetData.csv", _box(50, 200, 5),
        "Amenomori et al. (Tibet ASgamma) 2021, PRL 126, 141101; 50 < l < 200 deg, |b| < 5 deg",
        "digitised from the paper figure (IceCube DNNCascade repository); total error bars",
    ),
    "argo-ybj-2015": (
        lambda name: _digitised_e27(name, "ARGO-YBJ"), "DNNCascade_plota_TibetData.csv", _box(25, 100, 5),
        "Bartoli et al. (ARGO-YBJ) 2015, ApJ 806, 20, three points as shown in the Tibet ASgamma figure",
        "digitised second hand; region of the Tibet figure (25 < l < 100 deg, |b| < 5 deg)",
    ),
    "fermi-lat-lhaaso-inner": (
        _fermi_tospines, "FermiLAT_LHAASO_region_tospines.txt", LHAASO_INNER,
        "Fermi-LAT in the LHAASO region, file of P. De la Torre Luque (DRAGON/HERMES school 2025)",
        "region (inner assumed), paper and units inferred from how the school notebook uses the file; "
        "its 1.2 GeV value is about 2x the Ackermann et al. inner-Galaxy one: check before relying on it",
    ),
    "fermi-lat-ackermann2012-inner": (
        _fermi_ackermann, "FermiLAT_Ackermann2012_innerGalaxy_Fig17.txt", _box(-80, 80, 8),
        "Ackermann et al. (Fermi-LAT) 2012, ApJ 750, 3, Fig. 17; |l| < 80 deg, |b| < 8 deg (not a LHAASO region)",
        "digitised from the figure",
    ),
}

#: IceCube 2023 Galactic-plane results: per-flavour, all-sky E^2 dN/dE bands (best, low, high)
BANDS = {
    "icecube-2023-pi0": ("IceCube2023_pi0_bestfit_band_DERIVED.txt",
                         "Abbasi et al. (IceCube) 2023, Science 380, 1338: pi0 template fit, 21.8 +5.3 -4.9"),
    "icecube-2023-kra5": ("IceCube2023_kra5_bestfit_band_DERIVED.txt",
                          "Abbasi et al. (IceCube) 2023: KRAgamma5 template, 0.55 +0.18 -0.15 x model flux"),
    "icecube-2023-kra50": ("IceCube2023_kra50_bestfit_band_DERIVED.txt",
                           "Abbasi et al. (IceCube) 2023: KRAgamma50 template, 0.37 +0.13 -0.11 x model flux"),
}


def available_datasets():
    """Table of the bundled measurements: name, kind, region, reference, caveat."""
    rows = [(name, "flux points", _region_text(entry[2]), entry[3], entry[4]) for name, entry in DATASETS.items()]
    rows += [(name, "band (per flavour, all sky)", "all sky", ref, "derived from the public release, see data/README.md")
             for name, (_, ref) in BANDS.items()]
    return Table(rows=rows, names=("name", "kind", "region", "reference", "caveat"))


def _region_text(region):
    lb = to_lb_region(region)
    return f"l-b box {lb.key}" if region is not None else "all sky"


def _solid_angle(region):
    return lineofsight.solid_angle(to_lb_region(region)) * u.sr


def _points(energy, e_min, e_max, flux, errn, errp, meta, is_ul=None, dnde_ul=None):
    """gammapy FluxPoints from region-integrated fluxes and their errors (and upper limits)."""
    from gammapy.estimators import FluxPoints  # imported where used: gammapy.estimators takes seconds
    from gammapy.modeling.models import PowerLawSpectralModel

    # only the published reference energies go to gammapy: given e_min / e_max it would move
    # e_ref to the bin's geometric centre (4 % for the digitised Tibet bins); edges stay in meta
    order = np.argsort(energy)
    energy, flux, errn, errp = energy[order], flux[order], errn[order], errp[order]
    table = Table()
    table["e_ref"] = energy.to(u.TeV)
    table["dnde"] = flux.to(_FLUX)
    table["dnde_errn"] = errn.to(_FLUX)
    table["dnde_errp"] = errp.to(_FLUX)
    if is_ul is not None and np.any(is_ul):
        table["is_ul"] = np.asarray(is_ul, bool)[order]
        table["dnde_ul"] = dnde_ul[order].to(_FLUX)
    table.meta["SED_TYPE"] = "dnde"
    # a power law with the points' mean slope as gammapy's reference (it is evaluated whenever the
    # points are read, so a cheap model; dnde and e2dnde do not depend on it)
    positive = np.isfinite(flux.value) & (flux.value > 0)
    if np.sum(positive) >= 2 and np.ptp(np.log(energy.value[positive])) > 0:
        slope = -np.polyfit(np.log(energy.value[positive]), np.log(flux.value[positive]), 1)[0]
    else:
        slope = 2.0
    pivot = np.exp(np.mean(np.log(energy.to_value(u.TeV)))) * u.TeV
    amplitude = np.exp(np.interp(np.log(pivot.value), np.log(energy.to_value(u.TeV)[positive]),
                                 np.log(flux.to_value(_FLUX)[positive]))) * _FLUX if np.any(positive) else 1e-12 * _FLUX
    reference = PowerLawSpectralModel(index=slope, amplitude=amplitude, reference=pivot)
    points = FluxPoints.from_table(table, sed_type="dnde", format="gadf-sed", reference_model=reference)
    points.meta.update(meta)
    if e_min is not None and e_max is not None:
        points.meta.update(e_min=e_min[order].to(u.TeV), e_max=e_max[order].to(u.TeV))
    return points


def _flux_points(energy, e_min, e_max, dnde, errn, errp, stat_n, stat_p, region, meta):
    """FluxPoints of the region-integrated flux from per-sr intensities. ``meta["region"]`` is the
    points' own copy of the region: changing it (or a module constant) changes nothing else."""
    import copy

    region = copy.deepcopy(region)
    omega = _solid_angle(region)
    meta = dict(meta, solid_angle=float(omega.to_value(u.sr)), region=region,
                stat_errn=(stat_n * omega).to(_FLUX), stat_errp=(stat_p * omega).to(_FLUX),
                errors="statistical and systematic in quadrature")
    return _points(energy, e_min, e_max, dnde * omega, errn * omega, errp * omega, meta)


def load_flux_points(name):
    """A bundled measurement as gammapy FluxPoints of the region-integrated flux [cm-2 s-1 TeV-1].

    ``meta`` holds ``solid_angle`` (sr), ``region``, ``reference``, ``caveat`` and the
    statistical errors alone. Names: see :func:`available_datasets`.
    """
    import copy

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (bands: {', '.join(BANDS)})")
    points = _LOADED.get(name)
    if points is None:
        reader, filename, region, reference, caveat = DATASETS[name]
        columns = reader(filename)
        points = _LOADED[name] = _flux_points(*columns, region, {"name": name, "reference": reference,
                                                                 "caveat": caveat, "file": filename})
    return copy.deepcopy(points)  # every caller its own, meta and region included


#: the bundled points as read, by name (package data: the same all the process long); callers get
#: copies (0.4 ms against 8 ms to read and build them: ~35 reads in a run of reproduce)
_LOADED = {}


def load_band(name):
    """An IceCube band as an astropy QTable: e_ref, e2dnde, e2dnde_low, e2dnde_high (per flavour, all sky)."""
    if name not in BANDS:
        raise ValueError(f"unknown band {name!r}; known: {', '.join(BANDS)}")
    filename, reference = BANDS[name]
    data = np.loadtxt(StringIO(_text("neutrino", filename)))
    unit = u.Unit("GeV cm-2 s-1")
    table = QTable(
        [data[:, 0] * u.GeV, data[:, 1] * unit, data[:, 2] * unit, data[:, 3] * unit],
        names=("e_ref", "e2dnde", "e2dnde_low", "e2dnde_high"),
        meta={"name": name, "reference": reference, "file": filename,
              "flux": "nu + anti-nu of one flavour, integrated over the whole sky"},
    )
    return table


def band_at(band, energy, column="e2dnde"):
    """A band column from :func:`load_band` interpolated log-log at ``energy`` [GeV cm-2 s-1].

    NaN outside the band's energy range (IceCube quotes no flux there).
    """
    if column not in ("e2dnde", "e2dnde_low", "e2dnde_high"):
        raise ValueError(f"column must be 'e2dnde', 'e2dnde_low' or 'e2dnde_high', got {column!r}")
    e_band = band["e_ref"].to_value("GeV")
    x = np.atleast_1d(u.Quantity(energy, "GeV").value)
    unit = u.Unit("GeV cm-2 s-1")
    values = np.full(x.shape, np.nan)
    inside = (x >= e_band[0]) & (x <= e_band[-1])
    values[inside] = np.exp(np.interp(np.log(x[inside]), np.log(e_band), np.log(band[column].to_value(unit))))
    return values * unit


def check_point_errors(errn, errp, where):
    """Refuse flux-point errors that are not all finite and > 0: the chi2 divides by them, so a
    zero error gives an infinite statistic (one point decides the fit) and a negative one is
    meaningless. ``where`` names the file or dataset."""
    for name, values in (("lower error (dnde_errn / dnde_err)", errn), ("upper error (dnde_errp / dnde_err)", errp)):
        values = np.asarray(values, dtype=float)
        bad = ~(np.isfinite(values) & (values > 0))
        if np.any(bad):
            raise ValueError(f"{where}: every {name} must be finite and > 0; {int(bad.sum())} of {values.size} "
                             f"are not (first: {values[np.argmax(bad)]!r})")


#: gammapy's SED types (``FluxPoints.read(..., sed_type=...)``) read_flux_points accepts
SED_TYPES = ("dnde", "e2dnde", "flux", "eflux", "likelihood")
#: the unit of each SED type's flux quantity (an intensity is the same per sr)
_SED_UNITS = {"dnde": _FLUX, "e2dnde": u.Unit("TeV cm-2 s-1"), "flux": u.Unit("cm-2 s-1"),
              "eflux": u.Unit("TeV cm-2 s-1")}


def read_flux_points(path, region=None, solid_angle=None, name=None, sed_type=None):
    """A user's flux points from ECSV (or CSV with a units row) as region-integrated FluxPoints.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        ECSV in any of gammapy's SED types (:data:`SED_TYPES`, what ``FluxPoints.write`` writes and
        ``FluxPoints.read(..., sed_type=...)`` reads): ``dnde`` (columns ``e_ref``, ``dnde`` and
        ``dnde_err`` or ``dnde_errn`` / ``dnde_errp``; optional ``e_min``, ``e_max``), ``e2dnde``,
        ``flux`` and ``eflux`` (``e_min``, ``e_max``, the quantity and its errors), ``likelihood``
        (``norm`` and the ``ref_*`` columns); upper limits (``is_ul`` and ``<type>_ul``) are kept,
        not fitted. Fluxes (cm-2 s-1 ...) or intensities (the same per sr). CSV files need their
        units in ``path``'s ECSV header; a plain CSV is refused.
    region : `regions.SkyRegion`, optional
        Region of the measurement (needed for intensities: the flux is intensity x its solid
        angle); any shape :func:`~gammapy_cocoons.skyregions.to_lb_region` reads.
    solid_angle : `~astropy.units.Quantity`, optional
        Instead of ``region`` for intensities.
    name : str, optional
    sed_type : str, optional
        The SED type (default: the table's ``SED_TYPE`` keyword, else guessed from its columns, as
        gammapy does).

    Returns
    -------
    `~gammapy.estimators.FluxPoints`
        dnde at ``e_ref`` [cm-2 s-1 TeV-1] with errors (and upper limits). e2dnde and likelihood
        points convert exactly (dnde = e2dnde / e_ref^2, norm x ref_dnde); integral fluxes in bins
        (flux, eflux) need a spectral shape: a power law with the slope of the points themselves
        (``meta["conversion"]`` says which).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: {str(path)!r} does not exist")
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as error:
        raise ValueError(f"{path.name}: not an ECSV table with units ({type(error).__name__}: {error})") from None
    if len(table) == 0:
        raise ValueError(f"{path.name}: the table has no rows (no flux points to fit)")
    omega = _points_solid_angle(region, solid_angle)
    if sed_type is None:
        from gammapy.estimators import FluxPoints

        sed_type = table.meta.get("SED_TYPE") or FluxPoints._guess_sed_type(table.colnames) or "dnde"
    if sed_type not in SED_TYPES:
        raise ValueError(f"sed_type must be one of {SED_TYPES}, got {sed_type!r}")
    meta = {
        "name": name or path.stem, "reference": table.meta.get("reference", ""), "file": str(path), "caveat": "",
        "solid_angle": None if omega is None else float(omega.to_value(u.sr)), "region": region,
        "errors": "as given in the file",
    }
    if sed_type == "dnde" and not {"norm", "is_ul", "dnde_ul"} & set(table.colnames):
        return _read_dnde(table, path, omega, meta)
    return _read_sed(table, path, sed_type, omega, meta)


def _points_solid_angle(region, solid_angle):
    omega = None
    if region is not None:
        omega = _solid_angle(region)
    elif solid_angle is not None:
        if not isinstance(solid_angle, u.Quantity):
            raise TypeError(f"solid_angle must be a Quantity in sr, got {solid_angle!r}")
        omega = solid_angle.to(u.sr)
    if omega is not None and not (np.isfinite(omega.value) and omega.value > 0):
        raise ValueError(f"solid_angle must be finite and > 0 sr, got {omega}")
    return omega


def _read_sed(table, path, sed_type, omega, meta):
    """Flux points of any other SED type, read by gammapy's FluxPoints and turned into dnde."""
    from gammapy.estimators import FluxPoints
    from gammapy.modeling.models import PowerLawSpectralModel

    table = table.copy()
    for column in ("e_ref", "e_min", "e_max"):
        if column in table.colnames and (table[column].unit is None or
                                         not u.Unit(table[column].unit).is_equivalent(u.TeV)):
            raise u.UnitConversionError(f"{path.name}: {column} must be an energy, got unit '{table[column].unit}'")
    needed = {"flux": ("e_min", "e_max", "flux"), "eflux": ("e_min", "e_max", "eflux"), "e2dnde": ("e2dnde",),
              "dnde": ("dnde",) if "norm" not in table.colnames else ("norm", "ref_dnde"),
              "likelihood": ("norm", "ref_dnde")}[sed_type]
    if "e_ref" not in table.colnames and not {"e_min", "e_max"} <= set(table.colnames):
        needed = ("e_ref",) + needed
    for column in needed:
        if column not in table.colnames:
            raise ValueError(f"{path.name}: missing column {column!r} for sed_type {sed_type!r}")
    # intensities (per sr) become region fluxes first: gammapy's SED quantities are fluxes
    kinds = {name: kind for kind in _SED_UNITS
             for name in (kind, f"{kind}_err", f"{kind}_errn", f"{kind}_errp", f"{kind}_ul", f"ref_{kind}")}
    for column in table.colnames:
        if column not in kinds:
            continue
        kind = kinds[column]
        unit = table[column].unit
        if unit is None:
            raise ValueError(f"{path.name}: column {column!r} has no unit")
        unit = u.Unit(unit)
        if unit.is_equivalent(_SED_UNITS[kind] / u.sr):
            if omega is None:
                raise ValueError(f"{path.name}: intensities (per sr) need region= or solid_angle=")
            table[column] = u.Quantity(table[column]) * omega
        elif not unit.is_equivalent(_SED_UNITS[kind]):
            raise u.UnitConversionError(f"{path.name}: {column} must be in {_SED_UNITS[kind]} (or per sr), got '{unit}'")
    for column in table.colnames:
        if np.iscomplexobj(np.asarray(table[column])):
            raise ValueError(f"{path.name}: column {column!r} must hold real numbers")
    reference, conversion = None, {"e2dnde": "dnde = e2dnde / e_ref^2 (exact)",
                                   "dnde": "dnde as given (exact)",
                                   "likelihood": "dnde = norm x ref_dnde (exact)"}.get(sed_type)
    if sed_type in ("flux", "eflux"):
        e_min, e_max = u.Quantity(table["e_min"]).to_value(u.TeV), u.Quantity(table["e_max"]).to_value(u.TeV)
        if not (np.all(np.isfinite(e_min)) and np.all(e_min > 0) and np.all(e_max > e_min)):
            raise ValueError(f"{path.name}: every bin needs 0 < e_min < e_max")
        e_ref = np.sqrt(e_min * e_max)
        value = u.Quantity(table[sed_type]).to_value(_SED_UNITS[sed_type])
        rough = value / (e_max - e_min) / (e_ref if sed_type == "eflux" else 1.0)
        good = np.isfinite(rough) & (rough > 0)
        index = 2.0
        if good.sum() >= 2 and np.ptp(np.log(e_ref[good])) > 0:
            index = float(-np.polyfit(np.log(e_ref[good]), np.log(rough[good]), 1)[0])
        if not np.isfinite(index):
            index = 2.0
        pivot = float(np.exp(np.mean(np.log(e_ref))))
        reference = PowerLawSpectralModel(index=index, amplitude=1e-12 * _FLUX, reference=pivot * u.TeV)
        conversion = (f"{sed_type} in bins converted to dnde at e_ref with a power law of index {index:.3g} "
                      "fitted to the points (gammapy's FluxPoints conversion)")
    try:
        points = FluxPoints.from_table(table, sed_type=sed_type, format="gadf-sed", reference_model=reference)
        energy = points.energy_ref.to(u.TeV)
        dnde = points.dnde.quantity.ravel().to(_FLUX)
        try:
            errn, errp = points.dnde_errn.quantity.ravel(), points.dnde_errp.quantity.ravel()
        except AttributeError:
            errn = errp = points.dnde_err.quantity.ravel()
        is_ul = np.asarray(points.is_ul.data, bool).ravel() if points.is_ul is not None else np.zeros(dnde.size, bool)
        dnde_ul = points.dnde_ul.quantity.ravel().to(_FLUX) if np.any(is_ul) else None
    except (KeyError, ValueError, AttributeError, u.UnitsError) as error:
        raise ValueError(f"{path.name}: cannot read it as sed_type {sed_type!r} ({type(error).__name__}: {error})") \
            from None
    if not (np.all(np.isfinite(energy.value)) and np.all(energy.value > 0)):
        raise ValueError(f"{path.name}: energies must be finite and > 0")
    if np.unique(energy.value).size != energy.size:
        raise ValueError(f"{path.name}: duplicate energies")
    measured = ~is_ul
    if not (np.all(np.isfinite(dnde.value[measured])) and np.all(dnde.value[measured] >= 0)):
        raise ValueError(f"{path.name}: {sed_type} values must be finite and >= 0")
    check_point_errors(errn.to_value(_FLUX)[measured], errp.to_value(_FLUX)[measured], path.name)
    if dnde_ul is not None and not np.all(np.isfinite(dnde_ul.value[is_ul]) & (dnde_ul.value[is_ul] > 0)):
        raise ValueError(f"{path.name}: every upper limit ({sed_type}_ul) must be finite and > 0")
    e_min = points.energy_min.to(u.TeV) if "e_min" in table.colnames else None
    e_max = points.energy_max.to(u.TeV) if "e_max" in table.colnames else None
    meta.update(sed_type_read=sed_type, conversion=conversion)
    return _points(energy, e_min, e_max, dnde, errn.to(_FLUX), errp.to(_FLUX), meta, is_ul=is_ul, dnde_ul=dnde_ul)


def _read_dnde(table, path, omega, meta):
    """The package's own dnde layout (e_ref, dnde, dnde_err or dnde_errn / dnde_errp)."""
    for column in ("e_ref", "dnde"):
        if column not in table.colnames:
            raise ValueError(f"{path.name}: missing column {column!r} (need e_ref, dnde and dnde_err or dnde_errn/errp)")
    if "dnde_err" in table.colnames:
        errn = errp = table["dnde_err"]
    elif "dnde_errn" in table.colnames and "dnde_errp" in table.colnames:
        errn, errp = table["dnde_errn"], table["dnde_errp"]
    else:
        raise ValueError(f"{path.name}: missing errors: give dnde_err, or dnde_errn and dnde_errp")
    quantities = {}
    for key, column in (("e_ref", table["e_ref"]), ("dnde", table["dnde"]), ("errn", errn), ("errp", errp)):
        if column.unit is None:
            raise ValueError(f"{path.name}: column {column.name!r} has no unit")
        quantities[key] = u.Quantity(column)
    energy = quantities["e_ref"]
    if not energy.unit.is_equivalent(u.TeV):
        raise u.UnitConversionError(f"{path.name}: e_ref must be an energy, got unit '{energy.unit}'")
    dnde = quantities["dnde"]
    for key, value in quantities.items():
        if not np.all(np.isfinite(value.value)):
            raise ValueError(f"{path.name}: column for {key} has non-finite values")
    if np.iscomplexobj(energy.value) or np.iscomplexobj(dnde.value):
        raise ValueError(f"{path.name}: e_ref and dnde must be real numbers")
    if np.any(energy.value <= 0) or np.any(dnde.value < 0):
        raise ValueError(f"{path.name}: energies must be > 0 and fluxes >= 0")
    check_point_errors(quantities["errn"].value, quantities["errp"].value, path.name)
    for key in ("errn", "errp"):
        if not quantities[key].unit.is_equivalent(dnde.unit):
            raise u.UnitConversionError(f"{path.name}: errors in '{quantities[key].unit}' do not match dnde '{dnde.unit}'")
    e_min = u.Quantity(table["e_min"]) if "e_min" in table.colnames else None
    e_max = u.Quantity(table["e_max"]) if "e_max" in table.colnames else None
    if (e_min is None) != (e_max is None):
        raise ValueError(f"{path.name}: give both e_min and e_max, or neither")
    if e_min is not None:
        if not (e_min.unit.is_equivalent(u.TeV) and e_max.unit.is_equivalent(u.TeV)):
            raise u.UnitConversionError(f"{path.name}: e_min and e_max must be energies")
        if np.any(~np.isfinite(e_min.value)) or np.any(~(e_min < energy)) or np.any(~(energy < e_max)):
            raise ValueError(f"{path.name}: every point needs 0 < e_min < e_ref < e_max")
    if np.unique(energy.to_value(u.TeV)).size != energy.size:
        raise ValueError(f"{path.name}: duplicate energies in e_ref")
    errn, errp = quantities["errn"], quantities["errp"]
    if dnde.unit.is_equivalent(_INTENSITY):
        if omega is None:
            raise ValueError(f"{path.name}: intensities (per sr) need region= or solid_angle=")
        dnde, errn, errp = dnde * omega, errn * omega, errp * omega
    elif not dnde.unit.is_equivalent(_FLUX):
        raise u.UnitConversionError(
            f"{path.name}: dnde must be a flux (cm-2 s-1 TeV-1) or an intensity (per sr), got '{dnde.unit}'"
        )
    return _points(energy, e_min, e_max, dnde, errn, errp, meta)


#: bundled cosmic-ray ratio measurements: name -> (file, ratio, abscissa)
RATIOS = {
    "ams02-bc-2018": ("AMS-02_B_C_PRL2018_SSDC_kineticEnergyPerNucleon.txt", "B/C", "kinetic_energy_per_nucleon"),
    "ams02-bc-2021": ("AMS-02_B_C_rigidity.txt", "B/C", "rigidity"),
    "ams02-co-2021": ("AMS-02_C_O_rigidity.txt", "C/O", "rigidity"),
    "dampe-bc-2022": ("DAMPE_B_C_kineticEnergyPerNucleon.txt", "B/C", "kinetic_energy_per_nucleon"),
    "calet-bc-2022": ("CALET_B_C_kineticEnergyPerNucleon.txt", "B/C", "kinetic_energy_per_nucleon"),
}
#: the SSDC export of AMS-02 PRL 120, 021101 (2018) gives stat and sys in quadrature only; its
#: statistical part is taken from AMS-02 PRL 117, 231102 (2016), the same exposure (2011-05 to
#: 2016-05) and the same bins, as a relative error
_SSDC_STAT_FROM = "AMS-02_B_C_PRL2016_kineticEnergyPerNucleon.txt"


def _read_ssdc(filename):
    rows, meta = [], {"Experiment": "AMS-02", "Ref": "10.1103/PhysRevLett.120.021101 (2018PhRvL.120b1101A), SSDC export"}
    for line in _text("cosmic_rays", filename).splitlines():
        if line.startswith("#") or not line.strip():
            continue
        rows.append([float(v) for v in line.split()])
    data = np.array(rows)
    if data.ndim != 2 or data.shape[1] != 6:
        raise ValueError(f"{filename}: expected 6 columns (x, x_lo, x_hi, y, y_lo, y_hi)")
    reference = np.loadtxt(StringIO(_text("cosmic_rays", _SSDC_STAT_FROM)))
    if reference.shape[0] != data.shape[0] or np.max(np.abs(reference[:, 0] / data[:, 0] - 1)) > 0.15:
        raise ValueError(f"{filename}: its bins do not match {_SSDC_STAT_FROM}")
    relative_stat = 0.5 * (reference[:, 2] + reference[:, 3]) / reference[:, 1]
    return {"x": data[:, 0], "y": data[:, 3], "error_lo": data[:, 4], "error_up": data[:, 5],
            "stat": np.minimum(relative_stat * data[:, 3], 0.999 * data[:, 4]), "meta": meta}


def load_ratio(name):
    """A bundled secondary-to-primary (B/C) or primary (C/O) ratio as a QTable.

    Columns: ``x`` (rigidity in GV or kinetic energy per nucleon in GeV, per ``meta["quantity"]``),
    ``value``, ``error_lo``, ``error_hi`` (statistical and systematic in quadrature; CALET's
    systematic errors are asymmetric) and ``stat_error``. ``meta``: ratio, quantity, experiment,
    reference. Names: see :data:`RATIOS`. For "ams02-bc-2018" (the paper's data; totals only in
    the export) ``stat_error`` is the relative statistical error of the 2016 release, same bins.
    """
    if name not in RATIOS:
        raise ValueError(f"name must be one of {sorted(RATIOS)}, got {name!r}")
    filename, ratio, quantity = RATIOS[name]
    if filename.endswith("_SSDC_kineticEnergyPerNucleon.txt"):
        table = _read_ssdc(filename)
        stat = table["stat"]
    else:
        table = read_kiss_table(filename)
        raw = np.loadtxt(StringIO(_text("cosmic_rays", filename)))
        stat = 0.5 * (raw[:, 2] + raw[:, 3])
    unit = u.GV if quantity == "rigidity" else u.GeV
    result = QTable()
    result["x"] = table["x"] * unit
    result["value"] = table["y"]
    result["error_lo"] = table["error_lo"]
    result["error_hi"] = table["error_up"]
    result["stat_error"] = stat
    result.meta.update({"name": name, "ratio": ratio, "quantity": quantity,
                        "experiment": table["meta"].get("Experiment", ""), "reference": table["meta"].get("Ref", ""),
                        "errors": "statistical and systematic in quadrature"})
    return result


#: the first LHAASO catalogue, as figures cite it
LHAASO_CATALOG_REFERENCE = "Cao et al. (LHAASO) 2024, ApJS 271, 25 (1LHAASO catalogue)"
#: 1LHAASO components and their reference energies (Cao et al. 2024, ApJS 271, 25)
LHAASO_COMPONENTS = {"WCDA": 3.0 * u.TeV, "KM2A": 50.0 * u.TeV}
_CATALOG_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")


def lhaaso_catalog():
    """The bundled 1LHAASO catalogue as gammapy's ``SourceCatalog1LHAASO`` (CC BY-NC-SA 4.0)."""
    from importlib import resources

    from gammapy.catalog import SourceCatalog1LHAASO

    path = resources.files("gammapy_cocoons").joinpath("data", "catalogs", "1LHAASO_catalog.fits")
    with resources.as_file(path) as filename:
        return SourceCatalog1LHAASO(filename)


def catalog_components(catalog=None):
    """{component: {"energy", "flux" (N0 at E0, cm-2 s-1 TeV-1), "r39" (deg; 0 for point-like)}}."""
    if catalog is None:
        # the table SourceCatalog1LHAASO reads (Table.read of the file), without importing gammapy.catalog
        path = resources.files("gammapy_cocoons").joinpath("data", "catalogs", "1LHAASO_catalog.fits")
        with resources.as_file(path) as filename:
            table = Table.read(filename)
    else:
        table = catalog.table
    out = {}
    for name, energy in LHAASO_COMPONENTS.items():
        fluxes, sizes = [], []
        for suffix in ("", "_b"):
            model = np.char.strip(np.asarray(table[f"Model_{'a' if suffix == '' else 'b'}"]).astype(str))
            column = table[f"N0{suffix}"]
            n0 = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan) * u.Unit(column.unit)
            r39 = np.ma.filled(np.ma.asarray(table[f"r39{suffix}"], dtype=float), 0.0)
            keep = (model == name) & np.isfinite(n0.value) & (n0.value > 0)
            fluxes.append(n0[keep].to_value(_CATALOG_FLUX_UNIT))
            sizes.append(np.nan_to_num(r39[keep], nan=0.0))
        out[name] = {"energy": energy, "flux": np.concatenate(fluxes), "r39": np.concatenate(sizes)}
    return out


def local_hi_emissivity():
    """The local HI gamma-ray emissivity per H atom measured with the Fermi-LAT at 10 < abs(b) < 70 deg
    (Casandjian 2015, ApJ 806, 240), bundled from github.com/jessicametzger/grcrfit (MIT).

    Returns an astropy Table: e_min, e_max, e_ref (geometric bin centre) [GeV], e2q (E^2 dq/dE per
    H atom), stat, sys [GeV s-1 sr-1]. It holds every nucleus and the electron bremsstrahlung, per H
    atom of the HI columns of that analysis (see ``docs/dge.md``).
    """
    text = _text("gamma_diffuse", "Casandjian2015_local_HI_emissivity_gamma_fluxes.dat")
    rows = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()
                     if line.strip() and not line.startswith("#")])
    e_min, e_max = rows[:, 0] * 1e-3, rows[:, 1] * 1e-3  # MeV -> GeV
    scale = 1e-24 * 1e-3  # 1e-24 MeV2 s-1 sr-1 MeV-1 -> GeV s-1 sr-1
    table = Table()
    table["e_min"] = e_min * u.GeV
    table["e_max"] = e_max * u.GeV
    table["e_ref"] = np.sqrt(e_min * e_max) * u.GeV
    for k, name in enumerate(("e2q", "stat", "sys")):
        table[name] = rows[:, 2 + k] * scale * u.Unit("GeV s-1 sr-1")
    table.meta.update({"reference": "Casandjian 2015, ApJ 806, 240", "region": "10 < |b| < 70 deg",
                       "quantity": "E^2 dq/dE per H atom (all nuclei and electron bremsstrahlung)"})
    return table
