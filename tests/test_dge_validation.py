"""Checks of the embedded DGE against the Fermi-LAT pi0 template (a model) and the local emissivity
against Casandjian (2015) (dge/validation.py, dge/nuclear.py)."""
import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons.dge.conventional import ConventionalDGE, conventional_dge, default_model
from gammapy_cocoons.dge.validation import (
    CELL_EDGES, VALIDATION_REGIONS, cell_fraction_within, latitude_profiles, local_emissivity_comparison,
    validation_cells, validation_ratios)

pytestmark = pytest.mark.filterwarnings("ignore:The filename is not defined")


@pytest.fixture(scope="module")
def model():
    return conventional_dge("min")


def test_region_means_and_cells(model):
    """Issue 22 acceptance, default options: region means at 3 and 10 GeV within 20 % of the template
    (inner, outer, their halves, the mid-latitude bands) and >= 80 % of the 10-degree cells (both
    strips, l = 15-235) within 30 %. Measured: region means 0.85-0.95, 89 % of the cells; the worst
    cells (0.63-0.68) are in the thin plane at l = 65-75, 95-115 and 145-155 deg."""
    ratios = validation_ratios(model, [3.0, 10.0])
    for name, (_, allowed) in VALIDATION_REGIONS.items():
        assert np.all(np.abs(np.array(ratios[name]) - 1) <= allowed), (name, ratios[name])
    cells = validation_cells(model, [3.0, 10.0])
    assert len(cells) == 2 * 2 * (CELL_EDGES.size - 1)
    assert cell_fraction_within(cells, 0.3) >= 0.8
    assert cell_fraction_within(cells, 0.3, "even") >= 0.75 and cell_fraction_within(cells, 0.3, "odd") >= 0.75
    assert np.all((cells["ratio"] > 0.55) & (cells["ratio"] < 1.3))
    # the region means are area-weighted means of the cells' template-weighted ratios: a consistency check
    thin = cells[(cells["strip"] == "|b|<1") & (cells["energy"] < 5)]
    assert np.median(thin["ratio"]) == pytest.approx(ratios["outer"][0], abs=0.15)


def test_latitude_profiles(model):
    """Profiles at l = 30, 90, 150, 210 deg: towards the inner Galaxy (l = 30, 90) model and template
    peak in the plane (> 3x their value at abs(b) = 10-15 deg; towards the anticentre local gas, Orion
    and Taurus, flattens them); the shapes follow the template (log-correlation > 0.9) and the ratio
    stays within 0.5-1.6 in every bin."""
    table = latitude_profiles(model, 10.0)
    assert set(np.unique(table["l"])) == {30.0, 90.0, 150.0, 210.0}
    for l0 in (30.0, 90.0, 150.0, 210.0):
        rows = table[table["l"] == l0]
        if l0 < 100:
            centre = np.argmin(np.abs(0.5 * (rows["b_min"] + rows["b_max"])))
            for name in ("model", "template"):
                assert rows[name][centre] > 3 * max(rows[name][0], rows[name][-1]), (l0, name)
        assert np.corrcoef(np.log(rows["model"]), np.log(rows["template"]))[0, 1] > 0.9, l0
        assert np.all((rows["ratio"] > 0.5) & (rows["ratio"] < 1.6)), l0


def test_heavier_nuclei():
    """CRs and ISM nuclei heavier than He add 11 % at 10 GeV (Kachelriess et al. 2014 Z-factors with
    the Honda et al. 2004 composition). The full enhancement over p-p at 10 GeV, with our AAfrag H + He,
    is 1.90: KMO's own Table 3 gives 1.86 (QGSJET-II-04) and 1.90 (EPOS-LHC) for the same composition
    (an independent H + He part), and gamma-ray analyses adopt 1.8 (Mori 2009; e.g. Peron et al. 2021)."""
    from gammapy_cocoons.dge.nuclear import heavier_nuclei_ratio

    h = heavier_nuclei_ratio(np.array([1.0, 10.0, 100.0, 1e3, 1e5]))
    assert h[0] == h[1] and h[-1] == h[-2] and np.all(np.diff(h) >= 0)
    assert h[1] == pytest.approx(0.11, abs=0.01) and h[3] == pytest.approx(0.14, abs=0.01)
    energy = np.array([10.0])
    full = ConventionalDGE("kascade-grande").emissivity(energy)[0]
    pp = ConventionalDGE("kascade-grande", helium_fraction=0.0, heavier_nuclei=False)
    from test_dge_conventional import _proton_on_hydrogen

    enhancement = full / _proton_on_hydrogen(pp, energy)[0]
    assert enhancement == pytest.approx(1.88, rel=0.04)
    assert enhancement == pytest.approx(1.8, rel=0.1)


def test_local_emissivity_quantity_and_components():
    dge = default_model("icetop")
    energy = [[1.0, 3.0], [10.0, 30.0]] * u.GeV
    q = dge.local_emissivity(energy)
    assert q.shape == (2, 2) and q.unit == u.Unit("s-1 sr-1 GeV-1")
    assert np.allclose(q.to_value("s-1 sr-1 GeV-1").ravel(), dge.emissivity(energy.to_value("GeV").ravel()),
                       rtol=1e-12, atol=0)
    assert dge.local_emissivity(3.0 * u.GeV).shape == ()
    with pytest.raises(ValueError, match="components"):
        dge.local_emissivity(energy, components=("ic",))  # not an emissivity per H atom
    both = dge.local_emissivity(energy, components=("pion", "bremsstrahlung"))
    assert np.all(both > q) and np.all(dge.local_emissivity(energy, components="bremsstrahlung") > 0)
    with pytest.raises(TypeError, match="energy"):
        dge.local_emissivity(3.0)
    with pytest.raises(ValueError, match="energy"):
        dge.local_emissivity(0.01 * u.GeV)


def test_local_emissivity_against_casandjian2015():
    """The bundled table integrates to 1.66e-26 photons s-1 sr-1 per H atom above 100 MeV (the canonical
    1.6-1.7e-26, Abdo et al. 2009). The pi0 emissivity (heavier nuclei included) in his HI convention
    (T_s = 140 K) is 0.67-0.74 of his value at 1-10 GeV (0.65-0.72 for H + He alone, optically thin);
    with the bremsstrahlung of the local electrons (issue 26), like with like as his value holds
    both, 0.78-0.94: within the 30 % of issue 22's acceptance."""
    from gammapy_cocoons.datasets import local_hi_emissivity

    data = local_hi_emissivity()
    e = data["e_ref"].quantity.to_value("GeV")
    above = e > 0.1
    dnde = (data["e2q"].quantity.to_value("GeV s-1 sr-1") / e**2)[above]
    integral = np.trapezoid(dnde * e[above], np.log(e[above]))
    assert integral == pytest.approx(1.66e-26, rel=0.06)
    table = local_emissivity_comparison(default_model("icetop"))
    assert table.meta["hi_convention_factor"] == pytest.approx(0.93, abs=0.02)
    e_ref = table["e_ref"].quantity.to_value("GeV")
    mid = (e_ref > 1.0) & (e_ref < 10.0)
    assert np.all((table["ratio"][mid] > 0.64) & (table["ratio"][mid] < 0.77))
    thin = local_emissivity_comparison(default_model("icetop"), spin_temperature=None)
    assert np.allclose(thin["ratio"] * 0.93, table["ratio"], rtol=0.02, atol=0)
    full = local_emissivity_comparison(default_model("icetop"), components=("pion", "bremsstrahlung"))
    assert np.all((full["ratio"][mid] > 0.7) & (full["ratio"][mid] < 1.3))
    assert np.all(full["ratio"] > table["ratio"])
