"""The priors of the joint likelihood's nuisance parameters, and where each width comes from.

DGE normalisation N (log-normal, median 1: the DGE as calibrated on local cosmic rays, nothing
fitted to gamma rays). Its width is the spread of the GeV validation of the embedded DGE against
the Fermi-LAT pi0 template (:mod:`gammapy_cocoons.dge.validation`), over the 10-degree longitude
cells of both latitude strips (abs(b) < 1 and 1-5 deg, l = 15-235 deg) at both energies (3 and
10 GeV), 88 cells:

    sigma_N = sqrt( mean_k ln^2(DGE_k / template_k) )          (:func:`dge_norm_prior_width`)

= 0.206 for the "min" envelope of the embedded DGE (mean ln -0.13, scatter 0.16): the root mean
square about 1, so that it covers the validation's offset as well as its scatter (the prior is
centred at 1, not at the validation's mean, which would tune the DGE to the GeV template). The
region means (:data:`~gammapy_cocoons.dge.validation.VALIDATION_REGIONS`) give 0.10 by the same
formula: cells are used because a region's mean hides compensating errors and the fits see the
sky through masks. The template is a model (GALPROP pi0 of Ackermann et al. 2012), not data: the
width measures how far two gas x CR-sea models differ at GeV, not the TeV-PeV extrapolation (the
knee variants' band, "min" / "max", carries that). :data:`DGE_NORM_PRIOR_WIDTH` holds the value
(tests/test_priors.py recomputes it); the same width is used for every DGE choice.

Energy scale s of each instrument (log-normal, median 1, width = the quoted 1-sigma uncertainty):

* LHAASO-KM2A: 8 %: the Moon-shadow calibration of KM2A, epsilon = 0.015 +- 0.08 (95 % interval
  -14 % to +17 %), LHAASO Collaboration 2025, "Energy calibration of LHAASO-KM2A using the
  cosmic-ray Moon shadow".
* Tibet AS-gamma: 12 %: the Moon-shadow estimate of the Tibet-III array, "less than +-12 %"
  (Amenomori et al. 2009, ApJ 692, 61), taken as 1 sigma for the Tibet AS + MD data of 2021.
* ARGO-YBJ: 13 %: the Moon-shadow energy scale of ARGO-YBJ (Bartoli et al. 2011, PRD 84, 022003);
  the value is recalled, not read: the abstract reachable here says only that the shadow's
  displacement calibrates the energy scale.

These are energy-scale (not flux) uncertainties; for a spectrum E^-2.7 a scale s moves the flux at
fixed reported energy by s^-1.7. The bundled points already carry each experiment's systematic
errors in quadrature with the statistical ones (point by point, uncorrelated), so the scale
nuisance adds a correlated shift on top: a conservative choice, stated.
"""
import numpy as np

__all__ = ["DGE_NORM_PRIOR_WIDTH", "ENERGY_SCALE_UNCERTAINTY", "INSTRUMENTS", "dge_norm_prior_width",
           "DGE_NORM_PRIOR_FORMULA"]

#: width of ln N of the DGE normalisation prior (:func:`dge_norm_prior_width` of the embedded "min" DGE)
DGE_NORM_PRIOR_WIDTH = 0.206
DGE_NORM_PRIOR_FORMULA = ("sigma_N = sqrt(mean ln^2(DGE / Fermi pi0 template)) over the 88 ten-degree cells of "
                          "the GeV validation (abs(b) < 1 and 1-5 deg, l = 15-235 deg, 3 and 10 GeV)")

#: instrument -> (width of ln s, reference) of the energy-scale priors
ENERGY_SCALE_UNCERTAINTY = {
    "lhaaso-km2a": (0.08, "LHAASO Collaboration 2025, KM2A energy calibration with the Moon shadow: "
                          "epsilon = 0.015 +- 0.08"),
    "tibet-asgamma": (0.12, "Amenomori et al. 2009, ApJ 692, 61: Moon shadow, energy scale within +-12 %"),
    "argo-ybj": (0.13, "Bartoli et al. 2011, PRD 84, 022003: Moon shadow energy scale (13 %, value recalled)"),
}
#: bundled gamma-ray dataset -> instrument (one energy scale per instrument)
INSTRUMENTS = {"lhaaso-km2a-2023-inner": "lhaaso-km2a", "lhaaso-km2a-2023-outer": "lhaaso-km2a",
               "tibet-asgamma-2021-a": "tibet-asgamma", "tibet-asgamma-2021-b": "tibet-asgamma",
               "argo-ybj-2015": "argo-ybj"}


def dge_norm_prior_width(model=None, energies=(3.0, 10.0)):
    """sigma_N = sqrt(mean ln^2 r) over the validation cells r of ``model`` (default: the embedded
    DGE's "min" envelope) against the Fermi pi0 template (see the module documentation)."""
    from ..dge.conventional import conventional_dge
    from ..dge.validation import validation_cells

    model = conventional_dge("min") if model is None else model
    ratio = np.asarray(validation_cells(model, energies)["ratio"], dtype=float)
    return float(np.sqrt(np.mean(np.log(ratio) ** 2)))
