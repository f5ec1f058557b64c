"""Validation of a DGE on GeV gamma rays: region means against the Fermi-LAT pi0 template.

The embedded DGE is calibrated on local cosmic rays only; the Fermi-LAT pi0 template
(:func:`~.pi0.fermi_pi0_map`, a power law pivoting at 1 GeV that matches IceCube's pi0 spectrum to
1-4 % at 3-10 GeV) tests it where the sky is measured. The regions are the LHAASO ones, their
halves in longitude and the mid-latitude bands above them.
"""
import numpy as np
import healpy as hp

from .pi0 import fermi_pi0_map

__all__ = ["VALIDATION_REGIONS", "validation_ratios", "ratio_map"]

#: name -> ((l_min, l_max, abs(b) min, abs(b) max) [deg], allowed deviation from 1 in the tests)
VALIDATION_REGIONS = {
    "inner": ((15, 125, 0, 5), 0.25), "outer": ((125, 235, 0, 5), 0.25),
    "inner 15-70": ((15, 70, 0, 5), 0.30), "inner 70-125": ((70, 125, 0, 5), 0.30),
    "outer 125-180": ((125, 180, 0, 5), 0.30), "outer 180-235": ((180, 235, 0, 5), 0.30),
    "mid-latitude 15-125": ((15, 125, 5, 15), 0.30), "mid-latitude 125-235": ((125, 235, 5, 15), 0.30),
}


def _node(cube, energy):
    nodes = cube.geom.axes[0].center.to_value("GeV")
    i = int(np.argmin(np.abs(np.log(nodes / energy))))
    if abs(np.log(nodes[i] / energy)) > 0.15:
        raise ValueError(f"energy must be within the cube's {nodes[0]:.3g}-{nodes[-1]:.3g} GeV "
                         f"(nearest node within 15 %), got {energy} GeV")
    return i, nodes[i]


def ratio_map(model, energy):
    """Model / Fermi pi0 template at the cube node nearest ``energy`` [GeV], on the template's
    HEALPix nside-128 RING grid (the model must be an all-sky Galactic HEALPix template of the same
    nside, as the embedded and data-driven DGEs are)."""
    template, index = fermi_pi0_map()
    cube = model.spatial_model.map
    geom = cube.geom
    if not geom.is_hpx or int(np.squeeze(geom.nside)) != 128 or geom.frame != "galactic":
        raise ValueError("model must hold an all-sky Galactic HEALPix nside-128 cube")
    i, node = _node(cube, energy)
    data = cube.data[i].astype(float)
    if geom.nest:
        data = hp.reorder(data, n2r=True)
    return data / (template.data * node**-index), node


def validation_ratios(model, energies=(3.0, 10.0)):
    """Region mean intensity of ``model`` over that of the Fermi pi0 template, per region of
    :data:`VALIDATION_REGIONS` and energy (means of HEALPix nside-128 pixels). Returns
    {region: [ratio per energy]}."""
    template, index = fermi_pi0_map()
    lon, lat = hp.pix2ang(128, np.arange(hp.nside2npix(128)), lonlat=True)
    cube = model.spatial_model.map
    out = {name: [] for name in VALIDATION_REGIONS}
    for energy in energies:
        i, node = _node(cube, energy)
        data = cube.data[i].astype(float)
        if cube.geom.nest:
            data = hp.reorder(data, n2r=True)
        reference = template.data * node**-index
        for name, ((l1, l2, b1, b2), _) in VALIDATION_REGIONS.items():
            inside = (lon >= l1) & (lon < l2) & (np.abs(lat) >= b1) & (np.abs(lat) < b2)
            out[name].append(float(data[inside].mean() / reference[inside].mean()))
    return out
