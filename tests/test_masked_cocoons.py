"""Masked cocoons (issue 23, item 6): the share of the cocoon flux LHAASO would not have masked."""
import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons.analysis.masked_cocoons import unmasked_fraction_model, unmasked_fractions
from gammapy_cocoons.skyregions import LHAASO_INNER, LHAASO_OUTER


def test_unmasked_fractions():
    regions = {"inner": LHAASO_INNER, "outer": LHAASO_OUTER}
    table = unmasked_fractions(regions, realisations=20)
    for name in regions:
        fraction = table["fractions"][name]
        assert np.all((fraction >= 0) & (fraction <= 1))  # noisy where the cocoon flux vanishes (> 300 TeV)
        tev = (table["energy"] > 1) & (table["energy"] < 30)
        assert np.all(fraction[tev] < 0.95)  # bright nearby cocoons are detected and masked at TeV
    assert table["detected_per_realisation"]["WCDA"] > 0
    # cocoons 300 pc across are all larger than any 1LHAASO source: none is detected, nothing masked
    large = unmasked_fractions(regions, radius=300 * u.pc, realisations=20)
    assert all(np.all(f == 1.0) for f in large["fractions"].values())
    model = unmasked_fraction_model(LHAASO_INNER, realisations=20)
    assert model(3 * u.TeV).to_value("") == pytest.approx(
        np.interp(np.log(3.0), np.log(table["energy"]), table["fractions"]["inner"]), rel=1e-9)
