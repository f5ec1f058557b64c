"""Masked cocoons: leave out of the cocoon flux the cocoons LHAASO would detect, and so mask.

The measured diffuse flux excludes the sky around the sources LHAASO detected; Eq. 8 counts every
cocoon. The discrete population (:class:`~gammapy_cocoons.population.CocoonPopulation`, the same
sources, rate and grammage as the smooth model) says which cocoons a survey like 1LHAASO would
have detected:

* in the catalogue's declination band (-20 to 80 deg);
* brighter than the faintest source the catalogue lists for one of its components at that
  component's energy (WCDA at 3 TeV, KM2A at 50 TeV): the 1LHAASO sensitivity proxy of
  :func:`~.population.lhaaso_comparison`;
* no larger than the largest source it lists (r39 = 0.53 x the cocoon's angular radius against
  the catalogue's largest r39): nearby cocoons are degrees across, far larger than any 1LHAASO
  source, and the catalogue could not have found them as sources.

The unmasked fraction of a region at energy E is 1 - (flux of the detected cocoons in the region)
/ (flux of all cocoons in the region), both summed over the realisations. It depends on the
population's own parameters (n_gas sets each cocoon's brightness, the radius its size) and on chi0
(how many are alive) and R0 (their spectra): the likelihood computes it once at the model's starting
values (the paper's chi0 = 0.4 g cm-2, R0 = 20 TV) and applies it as a fixed factor on the cocoon
flux, stated in the outputs. Where the cocoon flux itself vanishes (above ~300 TeV for R0 = 20 TV)
the fraction rests on a few cocoons and is noisy; it multiplies a negligible flux there.
"""
import numpy as np
import astropy.units as u

from ..datasets import LHAASO_COMPONENTS, catalog_components
from ..emission import CocoonEmission
from ..population import DEFAULT_RADIUS, CocoonPopulation, _lb
from .population import LHAASO_DECLINATION, R39_OVER_RADIUS

__all__ = ["detected_by_lhaaso", "unmasked_fractions", "unmasked_fraction_model", "MASKED_COCOON_ENERGIES",
           "MASKED_COCOON_REALISATIONS"]

_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
#: energies of the unmasked-fraction tables [TeV] (0.1 TeV - 5 PeV, 6 per decade)
MASKED_COCOON_ENERGIES = np.geomspace(0.1, 5000.0, 29)
#: realisations of the population behind the tables
MASKED_COCOON_REALISATIONS = 100


def detected_by_lhaaso(sample):
    """Boolean per cocoon of a :class:`~gammapy_cocoons.population.PopulationSample`: would the 1LHAASO
    survey have listed it (module documentation)? Returns (detected, by component: counts per realisation)."""
    from astropy.coordinates import SkyCoord

    l, b = _lb(sample.position)
    dec = SkyCoord(l=l * u.rad, b=b * u.rad, frame="galactic").icrs.dec.deg
    in_field = (dec > LHAASO_DECLINATION[0]) & (dec < LHAASO_DECLINATION[1])
    r39 = R39_OVER_RADIUS * sample.angular_radius
    detected = np.zeros(sample.realisation.size, dtype=bool)
    counts = {}
    for name, entry in catalog_components().items():
        flux = sample.cocoon_flux(entry["energy"].reshape(1))[:, 0].to_value(_FLUX_UNIT)
        found = in_field & (flux >= float(np.nanmin(entry["flux"]))) & (r39 <= float(np.max(entry["r39"])))
        counts[name] = np.bincount(sample.realisation[found], minlength=sample.n)
        detected |= found
    return detected, counts


_CACHE = {}


def _fractions(region_keys, regions_tuple, chi0, r0, target, grammage, n_gas, radius_pc, realisations, seed):
    """The tables of :func:`unmasked_fractions`, cached per process on the exact inputs."""
    from ..skyregions import to_lb_region

    key = (tuple(to_lb_region(r).key for r in regions_tuple), chi0, r0, target, grammage, n_gas, radius_pc,
           realisations, seed)
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = _compute(region_keys, regions_tuple, chi0, r0, target, grammage, n_gas, radius_pc,
                               realisations, seed)
    fractions, detected = _CACHE[key]
    return dict(zip(region_keys, fractions.values())), detected


def _compute(region_keys, regions_tuple, chi0, r0, target, grammage, n_gas, radius_pc, realisations, seed):
    emission = CocoonEmission(chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV, grammage=grammage, target=target)
    population = CocoonPopulation(emission, n_gas=n_gas * u.cm**-3, radius=radius_pc * u.pc, seed=seed)
    sample = population.realise(realisations)
    detected, counts = detected_by_lhaaso(sample)
    energy = MASKED_COCOON_ENERGIES * u.TeV
    spectra = population.spectra(sample.age, energy)  # (n_cocoons, n_energy)
    out = {}
    for key, region in zip(region_keys, regions_tuple):
        weight = sample._weight(region)
        total = weight @ spectra
        bright = weight[detected] @ spectra[detected]
        out[key] = np.where(total > 0, 1.0 - bright / np.where(total > 0, total, 1.0), 1.0)
    detected_per_realisation = {name: float(np.mean(c)) for name, c in counts.items()}
    return out, detected_per_realisation


def unmasked_fractions(regions, chi0=0.4 * u.Unit("g cm-2"), r0=20 * u.TV, target="ism", grammage="exponential",
                       n_gas=1 * u.cm**-3, radius=DEFAULT_RADIUS, realisations=MASKED_COCOON_REALISATIONS, seed=1):
    """Unmasked fraction of the cocoon flux per region at :data:`MASKED_COCOON_ENERGIES`.

    Parameters
    ----------
    regions : dict
        name -> `regions` sky region.
    chi0, r0, target, grammage
        The cocoons (chi0: mass grammage of the cocoon gas).
    n_gas, radius, realisations, seed
        The population (:class:`~gammapy_cocoons.population.CocoonPopulation`).

    Returns
    -------
    dict
        ``energy`` [TeV], ``fractions`` (name -> array), ``detected_per_realisation`` (component -> mean
        count of cocoons over the sensitivity proxy), and the population's parameters.
    """
    from ..skyregions import to_lb_region

    names = tuple(regions)
    for name in names:
        to_lb_region(regions[name], "regions")
    values = {"chi0": float(u.Quantity(chi0, "g cm-2").value), "r0": float(u.Quantity(r0, "TV").value),
              "n_gas": float(u.Quantity(n_gas, "cm-3").value), "radius_pc": float(u.Quantity(radius, "pc").value)}
    fractions, detected = _fractions(names, tuple(regions[n] for n in names), values["chi0"], values["r0"], target,
                                     grammage, values["n_gas"], values["radius_pc"], int(realisations), int(seed))
    return {"energy": MASKED_COCOON_ENERGIES.copy(), "fractions": {k: v.copy() for k, v in fractions.items()},
            "detected_per_realisation": dict(detected), "realisations": int(realisations), "seed": int(seed),
            "components": {k: f"{v.to_value('TeV'):g} TeV" for k, v in LHAASO_COMPONENTS.items()}, **values,
            "target": target, "grammage": grammage}


def unmasked_fraction_model(region, **kwargs):
    """The unmasked fraction in ``region`` as a gammapy TemplateSpectralModel (dimensionless, linear in
    value between the table's energies, log in energy), to multiply the cocoon region flux with."""
    from gammapy.modeling.models import TemplateSpectralModel

    table = unmasked_fractions({"region": region}, **kwargs)
    return TemplateSpectralModel(energy=table["energy"] * u.TeV, values=table["fractions"]["region"] * u.one,
                                 interp_kwargs={"values_scale": "lin", "points_scale": ("log",), "method": "linear"})
