"""A data-driven DGE: the Fermi-LAT pi0 template map with the embedded hadronic spectrum.

The map is the one IceCube used for its Galactic-plane search (Abbasi et al. 2023, Science 380,
1338), as distributed with icecube/toise: the all-flavour neutrino intensity at 1 GeV equal to
0.95 times the Fermi-LAT pi0 gamma-ray map, with an E^-2.71 extrapolation. That power law is a
pivot, not a spectrum: against IceCube's own pi0 spectrum it is 0.79 at 1 GeV, 0.99 at 3 GeV and
0.96 at 10 GeV. So the map is used only as the *spatial* template, normalised where the power law
holds::

    I(E, l, b) = M(l, b) q(E) / c,    ln c = < ln(q(E) / (E / GeV)^-2.71) >  over 3-10 GeV (log-uniform)

with M the gamma-ray map at 1 GeV (= map / 0.95) and q the local hadronic emissivity of the
embedded model (:class:`~.conventional.ConventionalDGE`) for one knee variant; "min" / "max" take
the lowest / highest q(E) / c of all knee variants at each energy (the emissivity envelope). CR
hardening and the knee enter through q, the morphology through the map. Neutrinos use the same
M and c with the neutrino emissivity. Gamma rays are absorbed on the ISRF and the CMB with the
embedded model's transmission (its emission-weighted <exp(-tau(s))> along each line of sight).

The morphology is the Fermi-LAT one at all energies (no spectral variation across the sky, no
source mask): a template anchored on GeV data, not a prediction at TeV.
"""
from functools import lru_cache
from importlib import resources

import numpy as np
import astropy.units as u
from astropy.io import fits
from gammapy.maps import HpxGeom, Map, MapAxis

from .._validation import boolean, choice
from ..physics.absorption import Attenuation
from ..physics.crosssections import SECONDARIES
from .conventional import ENVELOPES, _DEFAULT_ENERGIES, _MAX_PATH_KPC, _builtin_model, _variant, default_model
from .diskcache import cached_cube, cube_key
from .localspectra import KNEE_VARIANTS

__all__ = ["fermi_pi0_dge", "fermi_pi0_map", "normalised_emissivity", "PI0_NORMALISATION_RANGE_GEV"]

#: energies [GeV] over which the map's power law anchors the emissivity (log-uniform mean)
PI0_NORMALISATION_RANGE_GEV = (3.0, 10.0)
# HEALPix resolution of the bundled map (RING, Galactic)
_MAP_NSIDE = 128


def fermi_pi0_map():
    """The Fermi-LAT pi0 gamma-ray intensity at 1 GeV [GeV-1 cm-2 s-1 sr-1] as a HEALPix Map
    (nside 128, RING, Galactic), and the spectral index of its power-law extrapolation."""
    path = resources.files("gammapy_cocoons").joinpath("data", "models", "fermi_pi0_toise_nside128.fits")
    with resources.as_file(path) as filename, fits.open(filename) as hdul:
        header = hdul[1].header
        values = hdul[1].data.field(0).astype(float) / header["GAMMANU"]
        index = float(header["INDEX"])
        nside = int(header["NSIDE"])
    geom = HpxGeom.create(nside=nside, nest=False, frame="galactic")
    return Map.from_geom(geom, data=values, unit="GeV-1 cm-2 s-1 sr-1"), index


def pi0_normalisation(dge, index, energy_range=PI0_NORMALISATION_RANGE_GEV, n=16):
    """c with q(E) / c ~ (E / GeV)^-index over ``energy_range`` (mean of the log ratio)."""
    energy = np.geomspace(*energy_range, n)
    return float(np.exp(np.mean(np.log(dge.emissivity(energy, "gamma") * energy**index))))


def normalised_emissivity(variant, energy_gev, secondary="gamma"):
    """q(E) / c of a knee variant (see the module documentation), or for "min" / "max" the lowest /
    highest of them over all knee variants at each energy [GeV]."""
    variant = _variant(variant)
    _, index = fermi_pi0_map()
    members = KNEE_VARIANTS if variant in ENVELOPES else (variant,)
    values = []
    for member in members:
        dge = default_model(member)
        values.append(dge.emissivity(energy_gev, secondary) / pi0_normalisation(dge, index))
    return (np.min if variant == "min" else np.max)(values, axis=0)


@lru_cache(maxsize=4)
def _cached_cube(variant, secondary, absorption):
    """The cube of :func:`fermi_pi0_dge`: in memory once per process, on disk once per machine."""
    template_geom = HpxGeom.create(nside=_MAP_NSIDE, nest=False, frame="galactic")
    axis = MapAxis.from_nodes(_DEFAULT_ENERGIES * u.GeV, name="energy_true", interp="log")
    key = cube_key("fermi_pi0_dge", _DEFAULT_ENERGIES, variant=variant, secondary=secondary, absorption=absorption)
    data = cached_cube("dge-fermi-pi0", key, lambda: _build_cube(variant, secondary, absorption).data)
    return Map.from_geom(template_geom.to_cube([axis]), data=data, unit="GeV-1 cm-2 s-1 sr-1")


def _build_cube(variant, secondary, absorption):
    # the geometry of the transmission is the same for every knee variant
    dge = default_model() if variant in ENVELOPES else default_model(variant)
    template, index = fermi_pi0_map()
    if template.geom.nside[0] != _MAP_NSIDE:
        raise ValueError(f"the bundled pi0 map must have nside {_MAP_NSIDE}, got {template.geom.nside[0]}")
    q = normalised_emissivity(variant, _DEFAULT_ENERGIES, secondary)
    data = q[:, None] * template.data[None, :]
    if absorption and secondary == "gamma":
        absorbed = Attenuation(_DEFAULT_ENERGIES).kappa_max * _MAX_PATH_KPC > 1e-6
        geom = template.geom
        hi, h2 = (part[-1] for part in dge.gas_columns(geom))  # highest rigidity node
        coords = geom.get_coord().skycoord.galactic
        t_hi, t_h2 = dge.transmission(_DEFAULT_ENERGIES[absorbed], coords.l.deg, coords.b.deg)
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(hi + h2 > 0, hi / (hi + h2), 1.0)
        data[absorbed] *= weight * t_hi + (1 - weight) * t_h2
    axis = MapAxis.from_nodes(_DEFAULT_ENERGIES * u.GeV, name="energy_true", interp="log")
    return Map.from_geom(template.geom.to_cube([axis]), data=data.astype(np.float32), unit=template.unit)


def fermi_pi0_dge(variant="min", secondary="gamma", absorption=True, name=None):
    """The data-driven DGE as a gammapy SkyModel (template x PowerLawNormSpectralModel).

    Parameters
    ----------
    variant : str
        "min" / "max" (the emissivity envelope of the knee variants) or one knee variant, a key of
        :data:`~gammapy_cocoons.dge.localspectra.KNEE_VARIANTS`.
    secondary : str
        "gamma", "nu_per_flavour", "nu_all", or one neutrino species.
    absorption : bool
        Absorb gamma rays on the ISRF and the CMB (the embedded model's transmission).
    name : str, optional
        Model name (default "dge-fermi-pi0-<variant>").

    Returns
    -------
    `~gammapy.modeling.models.SkyModel`
        HEALPix nside 128 cube over 0.5 GeV - 5 PeV, 8 energies per decade (see the module
        documentation for what it assumes). Built once per (variant, secondary, absorption).
    """
    variant = _variant(variant)
    choice(secondary, SECONDARIES, "secondary")
    cube = _cached_cube(variant, secondary, boolean(absorption, "absorption"))
    return _builtin_model(cube, name or f"dge-fermi-pi0-{variant}")
