"""An approximate HI opacity correction for the optically thin HI4PI columns.

The survey column is optically thin, N_thin = C int T_B dv with C = 1.823e18 cm-2 (K km/s)-1.
For gas of one spin temperature T_s in front of a background T_bg the isothermal estimate is
(e.g. Dickey & Lockman 1990, ARA&A 28, 215; Chengalur et al. 2013, A&A 552, A16)::

    N(T_s) = C T_s int -ln(1 - T_B(v) / (T_s - T_bg)) dv .

It needs the brightness-temperature profile T_B(v), and the spectral cubes are not available here.
So T_B(v) is modelled: the 3-D HI model distributes each pixel's observed column along the line
of sight, a flat rotation curve (Theta = 220 km/s at R_sun = 8.5 kpc, the IAU 1985 standard of
Kerr & Lynden-Bell 1986) maps distance to radial velocity, v = Theta (R_sun / R - 1) sin l cos b,
and a velocity dispersion of 9 km/s (Gaussian) broadens it; the profile is then scaled to the
observed N_thin. Velocity crowding (the terminal velocity, the anticentre, where v ~ 0 along the
whole line of sight) is what makes T_B high. The correction is a stated approximation: a
uniform T_s (Fermi-LAT analyses bracket it with 100 K, 150 K and optically thin, e.g. Ackermann et
al. 2012, ApJ 750, 3) and a smooth axisymmetric velocity field without streaming or clouds.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..constants import KPC_CM
from ..physics import skymaps

__all__ = ["hi_opacity_factors", "isothermal_column", "HI_COLUMN_PER_K_KMS", "ROTATION_SPEED_KMS",
           "VELOCITY_DISPERSION_KMS"]

#: N_HI = 1.823e18 int T_B dv [cm-2 (K km/s)-1]
HI_COLUMN_PER_K_KMS = 1.823e18
#: flat rotation speed [km/s] (IAU 1985)
ROTATION_SPEED_KMS = 220.0
#: HI velocity dispersion [km/s] assumed for the modelled profiles
VELOCITY_DISPERSION_KMS = 9.0
_V_MAX, _DV = 420.0, 2.0
_BACKGROUND_K = 2.73


def isothermal_column(brightness, spin_temperature, dv):
    """C T_s sum -ln(1 - T_B / (T_s - T_bg)) dv [cm-2] for profiles T_B (..., n_velocities) [K]."""
    contrast = np.clip(brightness / (spin_temperature - _BACKGROUND_K), 0.0, 0.99)
    return HI_COLUMN_PER_K_KMS * spin_temperature * np.sum(-np.log1p(-contrast), axis=-1) * dv


def hi_opacity_factors(columns, nside, gas, r_sun, spin_temperature, r_max=30.0, z_max=4.0, chunk=2048):
    """N_HI(T_s) / N_thin per pixel of an all-sky RING map of optically thin ``columns`` [cm-2].

    ``gas`` provides the 3-D HI model (``gas.hi``); ``spin_temperature`` [K] must exceed 10 K.
    """
    import healpy as hp

    spin_temperature = float(spin_temperature)
    if not (np.isfinite(spin_temperature) and spin_temperature > 10.0):
        raise ValueError(f"hi_spin_temperature must be a finite temperature > 10 K, got {spin_temperature!r}")
    columns = np.asarray(columns, float)
    if columns.shape != (hp.nside2npix(nside),) or not np.all(np.isfinite(columns)) or np.any(columns < 0):
        raise ValueError(f"columns must be {hp.nside2npix(nside)} finite values >= 0 (an all-sky RING map of "
                         f"nside {nside}), got shape {columns.shape}")
    lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    lon, lat = np.radians(lon), np.radians(lat)
    velocities = np.arange(-_V_MAX, _V_MAX + _DV, _DV)
    factors = np.ones(lon.size)
    for start in range(0, lon.size, chunk):
        part = slice(start, start + chunk)
        r, z, _, ws = skymaps.line_of_sight_samples(lon[part], lat[part], r_sun, r_max, z_max,
                                                    z_breaks=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2), n_nodes=4)
        column = ws * gas.hi(r, z) * KPC_CM  # cm-2 per sample
        speed = ROTATION_SPEED_KMS * (r_sun / np.maximum(r, 0.5) - 1.0) * \
            (np.sin(lon[part]) * np.cos(lat[part]))[:, None]
        index = np.clip(np.rint((speed + _V_MAX) / _DV).astype(int), 0, velocities.size - 1)
        profile = np.zeros((column.shape[0], velocities.size))
        rows = np.broadcast_to(np.arange(column.shape[0])[:, None], index.shape)
        np.add.at(profile, (rows, index), column / _DV)  # cm-2 per km/s
        profile = gaussian_filter1d(profile, VELOCITY_DISPERSION_KMS / _DV, axis=1, mode="constant")
        model_total = profile.sum(axis=1) * _DV
        observed = columns[part]
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(model_total > 0, observed / model_total, 0.0)
        brightness = profile * scale[:, None] / HI_COLUMN_PER_K_KMS  # K
        thick = isothermal_column(brightness, spin_temperature, _DV)
        factors[part] = np.where(observed > 0, thick / np.maximum(observed, 1e-30), 1.0)
    return factors
