"""Checks of a DGE on GeV gamma rays against a *model*: the Fermi-LAT pi0 template.

The template (:func:`~.pi0.fermi_pi0_map`) is the GALPROP pi0-decay component of Ackermann et al.
(2012, ApJ 750, 3) that IceCube used, a power law pivoting at 1 GeV that matches IceCube's pi0
spectrum to 1-4 % at 3-10 GeV. It is a model fitted to the Fermi-LAT data (gas x CR density), not
the data: agreement with it checks the hadronic part of a DGE only. The embedded DGE is calibrated
on local cosmic rays and B/C; no gamma-ray data enter its defaults.

Three views, at the cube nodes nearest 3 and 10 GeV:

* region means (:data:`VALIDATION_REGIONS`): the LHAASO regions, their longitude halves and the
  mid-latitude bands above them (:func:`validation_ratios`);
* 10-degree longitude cells from l = 15 to 235 deg in abs(b) < 1 and 1 < abs(b) < 5 deg
  (:func:`validation_cells`): region means hide shape;
* latitude profiles at a few longitudes (:func:`latitude_profiles`).

Ratios are of means of HEALPix nside-128 pixels (the template's grid). :func:`local_emissivity_comparison`
compares the local emissivity per H atom with the Fermi-LAT measurement of Casandjian (2015).
"""
import numpy as np
import healpy as hp
import astropy.units as u
from astropy.table import Table

from .pi0 import fermi_pi0_map

__all__ = ["VALIDATION_REGIONS", "validation_ratios", "ratio_map", "validation_cells", "CELL_EDGES",
           "CELL_STRIPS", "cell_fraction_within", "latitude_profiles", "PROFILE_LONGITUDES",
           "local_emissivity_comparison", "CASANDJIAN2015_SPIN_TEMPERATURE"]

#: name -> ((l_min, l_max, abs(b) min, abs(b) max) [deg], allowed deviation from 1 in the tests)
VALIDATION_REGIONS = {
    "inner": ((15, 125, 0, 5), 0.20), "outer": ((125, 235, 0, 5), 0.20),
    "inner 15-70": ((15, 70, 0, 5), 0.20), "inner 70-125": ((70, 125, 0, 5), 0.20),
    "outer 125-180": ((125, 180, 0, 5), 0.20), "outer 180-235": ((180, 235, 0, 5), 0.20),
    "mid-latitude 15-125": ((15, 125, 5, 15), 0.20), "mid-latitude 125-235": ((125, 235, 5, 15), 0.20),
}
#: longitude edges of the 10-degree cells [deg]
CELL_EDGES = np.arange(15.0, 236.0, 10.0)
#: latitude strips of the cells: name -> (abs(b) min, abs(b) max) [deg]
CELL_STRIPS = {"|b|<1": (0.0, 1.0), "1<|b|<5": (1.0, 5.0)}
#: longitudes [deg] of the latitude profiles (10-degree wide) and their latitude bins [deg]
PROFILE_LONGITUDES = (30.0, 90.0, 150.0, 210.0)
_PROFILE_EDGES = np.array([-15.0, -10.0, -6.0, -4.0, -2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5, 4.0, 6.0, 10.0, 15.0])
#: the HI spin temperature [K] assumed here for Casandjian's (2015) HI columns (see docs/dge.md)
CASANDJIAN2015_SPIN_TEMPERATURE = 140.0


def _node(cube, energy):
    nodes = cube.geom.axes[0].center.to_value("GeV")
    i = int(np.argmin(np.abs(np.log(nodes / energy))))
    if abs(np.log(nodes[i] / energy)) > 0.15:
        raise ValueError(f"energy must be within the cube's {nodes[0]:.3g}-{nodes[-1]:.3g} GeV "
                         f"(nearest node within 15 %), got {energy} GeV")
    return i, nodes[i]


def _model_and_template(model, energy):
    """(model intensity, template intensity) on the nside-128 RING grid at the node nearest
    ``energy`` [GeV], and the node."""
    template, index = fermi_pi0_map()
    cube = model.spatial_model.map
    geom = cube.geom
    if not geom.is_hpx or int(np.squeeze(geom.nside)) != 128 or geom.frame != "galactic":
        raise ValueError("model must hold an all-sky Galactic HEALPix nside-128 cube")
    i, node = _node(cube, energy)
    data = cube.data[i].astype(float)
    if geom.nest:
        data = hp.reorder(data, n2r=True)
    return data, template.data * node**-index, node


def _lonlat():
    return hp.pix2ang(128, np.arange(hp.nside2npix(128)), lonlat=True)


def _box(lon, lat, l1, l2, b1, b2):
    return (lon >= l1) & (lon < l2) & (np.abs(lat) >= b1) & (np.abs(lat) < b2)


def ratio_map(model, energy):
    """Model / Fermi pi0 template at the cube node nearest ``energy`` [GeV], on the template's
    HEALPix nside-128 RING grid (the model must be an all-sky Galactic HEALPix template of the same
    nside, as the embedded and data-driven DGEs are)."""
    data, reference, node = _model_and_template(model, energy)
    return data / reference, node


def validation_ratios(model, energies=(3.0, 10.0)):
    """Region mean intensity of ``model`` over that of the Fermi pi0 template, per region of
    :data:`VALIDATION_REGIONS` and energy (means of HEALPix nside-128 pixels). Returns
    {region: [ratio per energy]}."""
    lon, lat = _lonlat()
    out = {name: [] for name in VALIDATION_REGIONS}
    for energy in energies:
        data, reference, _ = _model_and_template(model, energy)
        for name, ((l1, l2, b1, b2), _) in VALIDATION_REGIONS.items():
            inside = _box(lon, lat, l1, l2, b1, b2)
            out[name].append(float(data[inside].mean() / reference[inside].mean()))
    return out


def validation_cells(model, energies=(3.0, 10.0)):
    """Model / template in the 10-degree longitude cells (:data:`CELL_EDGES`) of each latitude
    strip (:data:`CELL_STRIPS`): an astropy Table with columns energy [GeV] (the cube node), strip,
    l_min, l_max, b_min, b_max [deg] and ratio (of the cell means), one row per cell and energy.
    "half" is "even" for the cells l = 15-25, 35-45, ... and "odd" for 25-35, 45-55, ...: the two
    halves used to set a gas parameter on one and test it on the other."""
    lon, lat = _lonlat()
    rows = []
    for energy in energies:
        data, reference, node = _model_and_template(model, energy)
        for strip, (b1, b2) in CELL_STRIPS.items():
            for k, (l1, l2) in enumerate(zip(CELL_EDGES[:-1], CELL_EDGES[1:])):
                inside = _box(lon, lat, l1, l2, b1, b2)
                rows.append((node, strip, l1, l2, b1, b2, "even" if k % 2 == 0 else "odd",
                             data[inside].mean() / reference[inside].mean()))
    table = Table(rows=rows, names=("energy", "strip", "l_min", "l_max", "b_min", "b_max", "half", "ratio"))
    for name in ("energy",):
        table[name].unit = u.GeV
    for name in ("l_min", "l_max", "b_min", "b_max"):
        table[name].unit = u.deg
    table.meta["reference"] = "Fermi-LAT pi0 template (GALPROP pi0 of Ackermann et al. 2012): a model, not data"
    return table


def cell_fraction_within(cells, tolerance=0.3, half=None):
    """Fraction of the cells of :func:`validation_cells` (optionally of one half) whose ratio is
    within ``tolerance`` of 1."""
    ratio = np.asarray(cells["ratio"] if half is None else cells["ratio"][cells["half"] == half], float)
    return float(np.mean(np.abs(ratio - 1.0) <= tolerance))


def latitude_profiles(model, energy=10.0, longitudes=PROFILE_LONGITUDES, width=10.0):
    """Latitude profiles of the model and the template, in ``width``-degree longitude bands centred
    on ``longitudes`` [deg], latitude bins -15 .. 15 deg (finest near the plane): an astropy Table
    with columns l [deg] (band centre), b_min, b_max [deg], model, template [GeV-1 cm-2 s-1 sr-1]
    (bin means) and ratio."""
    lon, lat = _lonlat()
    data, reference, node = _model_and_template(model, energy)
    rows = []
    for l0 in longitudes:
        band = np.abs(np.mod(lon - l0 + 180.0, 360.0) - 180.0) < width / 2
        for b1, b2 in zip(_PROFILE_EDGES[:-1], _PROFILE_EDGES[1:]):
            inside = band & (lat >= b1) & (lat < b2)
            rows.append((l0, b1, b2, data[inside].mean(), reference[inside].mean(),
                         data[inside].mean() / reference[inside].mean()))
    table = Table(rows=rows, names=("l", "b_min", "b_max", "model", "template", "ratio"))
    for name in ("l", "b_min", "b_max"):
        table[name].unit = u.deg
    for name in ("model", "template"):
        table[name].unit = u.Unit("GeV-1 cm-2 s-1 sr-1")
    table.meta["energy"] = node * u.GeV
    return table


def local_emissivity_comparison(dge, components=("pion",), spin_temperature=CASANDJIAN2015_SPIN_TEMPERATURE):
    """The local emissivity per H atom of ``dge`` (:meth:`~.conventional.ConventionalDGE.local_emissivity`)
    against Casandjian (2015), like with like, in his energy bins (0.3-30 GeV).

    His value holds every nucleus (ours adds the nuclei heavier than He, :mod:`.nuclear`) and the
    bremsstrahlung of the electrons (add it through ``components`` once a leptonic component exists;
    ``docs/dge.md`` quotes its share). It is per H atom of his HI columns, which assume a uniform spin
    temperature; ours is per atom of the DGE's own HI columns (optically thin by default). So ours is
    converted to his convention with the DGE's HI opacity model (:mod:`.hi_opacity`) over his
    region (10 < abs(b) < 70 deg): x N_DGE / N(T_s) (column-weighted), ``spin_temperature`` None for
    optically thin. Returns an astropy Table: e_min, e_max, e_ref [GeV], e2q_data, stat, sys,
    e2q_model [GeV s-1 sr-1 per H atom], ratio (model / data), and meta with the convention factor.
    """
    from ..datasets import local_hi_emissivity

    data = local_hi_emissivity()
    keep = (data["e_min"] >= 0.28) & (data["e_max"] <= 31.0)
    data = data[keep]
    e_ref = data["e_ref"].quantity
    q = dge.local_emissivity(e_ref, components=components)
    factor = _convention_factor(dge, spin_temperature)
    model = (e_ref**2 * q).to("GeV s-1 sr-1") * factor
    table = Table()
    for name in ("e_min", "e_max", "e_ref", "e2q", "stat", "sys"):
        table[name if name != "e2q" else "e2q_data"] = data[name]
    table["e2q_model"] = model
    table["ratio"] = (model / data["e2q"].quantity).to_value("")
    table.meta.update(data.meta)
    table.meta["components"] = tuple(components)
    table.meta["hi_convention_factor"] = factor
    table.meta["spin_temperature"] = spin_temperature
    return table


def _convention_factor(dge, spin_temperature):
    """N_HI of the DGE / N_HI(T_s) over 10 < abs(b) < 70 deg (sums over nside-64 pixels)."""
    from .hi_opacity import hi_opacity_factors
    from .gas import hi4pi_columns

    thin = hi4pi_columns() if dge.hi_nside == 64 else None
    if thin is None:
        return 1.0
    _, lat = hp.pix2ang(64, np.arange(thin.size), lonlat=True)
    region = (np.abs(lat) > 10) & (np.abs(lat) < 70)
    ours = dge.hi_columns[region].sum()
    if spin_temperature is None:
        theirs = thin[region].sum()
    else:
        r_sun = dge.sea.source_distribution.r_sun
        theirs = (thin * hi_opacity_factors(thin, 64, dge.gas, r_sun, spin_temperature))[region].sum()
    return float(ours / theirs)
