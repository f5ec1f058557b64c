"""The GeV comparison of the DGE with its leptonic components against Fermi-LAT data.

The embedded DGE (knee variant "min") with pi0 + inverse Compton + bremsstrahlung, plus the
fiducial cocoons (chi_c,0 = 0.4 g cm-2, R0 = 20 TV), against what Fermi-LAT measured: the
inner-Galaxy spectrum of Ackermann et al. (2012, ApJ 750, 3, Fig. 17; abs(l) < 80 deg,
abs(b) < 8 deg) and the Fermi-LAT points of the LHAASO inner region. Nothing is fitted or scaled
(the LHAASO inner region carries the paper's mask factor 0.65 like every model there). The IC
and bremsstrahlung shares of the model at 1 GeV - 100 TeV in the LHAASO regions are set beside
the non-pi0 share of the Ackermann et al. (2012) model, (total - pi0) / total of their digitised
curves; their total also holds the detected sources and the isotropic background, so it
*overstates* IC + bremsstrahlung: by the isotropic part, ~1 % at 1-10 GeV (the IGRB of
Ackermann et al. 2015, ApJ 799, 86, model A: E^2 I = 4.5e-7 GeV cm-2 s-1 sr-1 at 1 GeV against
~4e-5 here), and by the sources, which the digitised curves do not separate.
"""
from io import StringIO
from importlib import resources

import numpy as np
import astropy.units as u

from ..datasets import load_flux_points
from ..models import CocoonSpatialModel, RegionFluxSpectralModel
from ..models.sky import DeclaredUnitSkyModel

__all__ = ["SHARE_ENERGIES", "COMPARISON_DATASETS", "component_models", "component_seds", "gev_comparison",
           "ackermann_model_curves"]

#: energies of the component shares [GeV]
SHARE_ENERGIES = np.array([1.0, 10.0, 100.0, 1e3, 1e4, 1e5])
#: the Fermi-LAT data the DGE is compared with, and the mask factor of the model in their region
COMPARISON_DATASETS = {"fermi-lat-ackermann2012-inner": 1.0, "fermi-lat-lhaaso-inner": 0.65}
_COMPONENTS = ("pi0", "ic", "bremsstrahlung")
_E2I = u.Unit("GeV cm-2 s-1 sr-1")
_DGE_MIN = 0.5 * u.GeV


def _component_model(variant, component):
    from ..dge import conventional_dge

    return conventional_dge(variant, components=(component,))


def _cocoons():
    from ..analysis.reproduce import FIDUCIAL_CHI0, FIDUCIAL_R0, _cocoon_model

    return DeclaredUnitSkyModel(spectral_model=_cocoon_model(chi0=FIDUCIAL_CHI0, r0=FIDUCIAL_R0),
                                spatial_model=CocoonSpatialModel(), name="cocoons")


def component_models(variant="min"):
    """The sky models of :func:`component_seds`: dict "pi0", "ic", "bremsstrahlung" (the embedded
    DGE's components of ``variant``), "cocoons" (fiducial) -> SkyModel. Made once for several
    regions or energies (each costs ~30 ms: gammapy checks the template and the model's units), and
    read only there."""
    models = {name: _component_model(variant, name) for name in _COMPONENTS}
    models["cocoons"] = _cocoons()
    return models


def component_seds(region, energy, scale=1.0, variant="min", models=None):
    """E^2 I [GeV cm-2 s-1 sr-1] of each DGE component and of the fiducial cocoons averaged over
    ``region``, times ``scale``: dict "pi0", "ic", "bremsstrahlung", "cocoons" -> array.
    ``models``: those of :func:`component_models` for ``variant`` (made here if None)."""
    energy = u.Quantity(energy, "GeV")
    if models is None:
        models = component_models(variant)
    else:  # the names conventional_dge gives them: dge-<variant>[-<component>]
        names = {name: "-".join(["dge", variant] + ([] if name == "pi0" else [name])) for name in _COMPONENTS}
        if any(models[name].name != names[name] for name in _COMPONENTS):
            raise ValueError(f"models must be component_models({variant!r}), got models named "
                             f"{', '.join(models[name].name for name in _COMPONENTS)}")
    out = {}
    for name in _COMPONENTS + ("cocoons",):
        flux = RegionFluxSpectralModel(models[name], region=region, scale=scale)
        out[name] = (energy**2 * flux(energy) / flux.solid_angle()).to_value(_E2I)
    return out


def ackermann_model_curves():
    """The digitised total and pi0 model curves of Ackermann et al. (2012) Fig. 17: dict
    "pi0", "total" -> (E [GeV], E^2 I [GeV cm-2 s-1 sr-1])."""
    text = resources.files("gammapy_cocoons").joinpath(
        "data", "gamma_diffuse", "DNNCascade_plot_fermi_gamma_Ackermann2012Fig17_digitized.csv").read_text()
    table = np.genfromtxt(StringIO(text), delimiter=",", skip_header=1)
    out = {}
    for name, col in (("pi0", 0), ("total", 2)):
        x, y = table[:, col], table[:, col + 1]
        keep = np.isfinite(x) & np.isfinite(y)
        order = np.argsort(x[keep])
        out[name] = (x[keep][order], y[keep][order])
    return out


def gev_comparison(variant="min"):
    """The comparison (see the module documentation) as a dict:

    ``points``: per dataset, its points above 0.5 GeV (the DGE cube's range), rows (E [GeV], data, pi0, ic, bremsstrahlung, cocoons, data / DGE,
    data / (DGE + cocoons)) in E^2 I [GeV cm-2 s-1 sr-1];
    ``shares``: per LHAASO region, rows (E [GeV], ic / DGE, bremsstrahlung / DGE);
    ``ackermann_shares``: rows (E [GeV], (total - pi0) / total of Ackermann et al., (ic + brems) / DGE
    of this model in their region).
    """
    from .reproduce import _REGIONS

    result = {"variant": variant, "points": {}, "shares": {}, "ackermann_shares": []}
    models = component_models(variant)  # one set for every region and energy below
    for name, scale in COMPARISON_DATASETS.items():
        points = load_flux_points(name)
        energy = points.energy_ref.to("GeV")
        data = (energy**2 * points.dnde.quantity.ravel() / (points.meta["solid_angle"] * u.sr)).to_value(_E2I)
        keep = energy >= _DGE_MIN  # the DGE cube starts at 0.5 GeV
        energy, data = energy[keep], data[keep]
        parts = component_seds(points.meta["region"], energy, scale, variant, models)
        dge = parts["pi0"] + parts["ic"] + parts["bremsstrahlung"]
        result["points"][name] = [
            (float(e), float(d), float(parts["pi0"][i]), float(parts["ic"][i]), float(parts["bremsstrahlung"][i]),
             float(parts["cocoons"][i]), float(d / dge[i]), float(d / (dge[i] + parts["cocoons"][i])))
            for i, (e, d) in enumerate(zip(energy.value, data))]
    for region_name, (region, scale, _) in _REGIONS.items():
        parts = component_seds(region, SHARE_ENERGIES * u.GeV, scale, variant, models)
        dge = parts["pi0"] + parts["ic"] + parts["bremsstrahlung"]
        result["shares"][region_name] = [(float(e), float(parts["ic"][i] / dge[i]),
                                          float(parts["bremsstrahlung"][i] / dge[i]))
                                         for i, e in enumerate(SHARE_ENERGIES)]
    curves = ackermann_model_curves()
    region = load_flux_points("fermi-lat-ackermann2012-inner").meta["region"]
    lo = max(curves["pi0"][0][0], curves["total"][0][0])
    hi = min(curves["pi0"][0][-1], curves["total"][0][-1])
    energies = SHARE_ENERGIES[(SHARE_ENERGIES >= lo) & (SHARE_ENERGIES <= hi)]
    if energies.size:
        parts = component_seds(region, energies * u.GeV, 1.0, variant, models)
        dge = parts["pi0"] + parts["ic"] + parts["bremsstrahlung"]
        for i, e in enumerate(energies):
            total = np.exp(np.interp(np.log(e), *np.log(curves["total"])))
            pi0 = np.exp(np.interp(np.log(e), *np.log(curves["pi0"])))
            result["ackermann_shares"].append((float(e), float((total - pi0) / total),
                                               float((parts["ic"][i] + parts["bremsstrahlung"][i]) / dge[i])))
    result["ackermann_range_gev"] = (float(lo), float(hi))
    return result


def comparison_markdown(result):
    """SUMMARY.md section of :func:`gev_comparison`."""
    lines = ["## The DGE with its leptonic components against Fermi-LAT data (reported, not fitted)", "",
             f"DGE = pi0 + IC + bremsstrahlung of the embedded model (variant {result['variant']}), as computed; "
             "cocoons fiducial (chi_c,0 = 0.4 g cm-2, R0 = 20 TV); LHAASO inner region models x 0.65 (mask). "
             "E^2 I in GeV cm-2 s-1 sr-1 (docs/leptons.md).", "",
             "| dataset | E [GeV] | data | pi0 | IC | brems | cocoons | data / DGE | data / (DGE + cocoons) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in result["points"].items():
        for row in rows:
            lines.append(f"| {name} | {row[0]:.3g} | " + " | ".join(f"{v:.3g}" for v in row[1:6])
                         + f" | {row[6]:.2f} | {row[7]:.2f} |")
    lines += ["", "IC and bremsstrahlung shares of the DGE (pi0 + IC + bremsstrahlung):", "",
              "| region | " + " | ".join(f"{e:g} GeV" for e in SHARE_ENERGIES) + " |",
              "|---|" + "---|" * SHARE_ENERGIES.size]
    for region, rows in result["shares"].items():
        lines.append(f"| {region}: IC | " + " | ".join(f"{r[1]:.3f}" for r in rows) + " |")
        lines.append(f"| {region}: bremsstrahlung | " + " | ".join(f"{r[2]:.3f}" for r in rows) + " |")
    lo, hi = result["ackermann_range_gev"]
    lines += ["", f"Non-pi0 share in the Ackermann et al. (2012) region (their digitised curves span {lo:.2g}-{hi:.3g} GeV); "
              "their (total - pi0) / total includes sources and the isotropic background (~1 % at 1-10 GeV), "
              "so it overstates their IC + bremsstrahlung:", "",
              "| E [GeV] | Ackermann (total - pi0) / total | this model (IC + brems) / DGE | ratio |", "|---|---|---|---|"]
    for e, theirs, ours in result["ackermann_shares"]:
        lines.append(f"| {e:g} | {theirs:.3f} | {ours:.3f} | {ours / theirs:.2f} |")
    return "\n".join(lines)
