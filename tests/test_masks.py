"""1LHAASO source masks (issue 23, item 4) and the sampled edge pixels of regions with many circles."""
import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, RectangleSkyRegion

from gammapy_cocoons.analysis.masks import lhaaso_masks, mask_scale, masked_region
from gammapy_cocoons.models import RegionFluxSpectralModel
from gammapy_cocoons.skyregions import LHAASO_INNER, mask_out


@pytest.fixture(scope="module")
def dge():
    from gammapy_cocoons.dge.pi0 import fermi_pi0_dge

    return fermi_pi0_dge("min")


def test_many_circles_merged_at_once_like_pairwise(dge, monkeypatch):
    """A union of more than two parts merges every part's latitude intervals in one sort (source
    masks: 4.2 s instead of 69 s for the inner region's 1LHAASO masks); the pairwise set operations
    give the same region integral (a small box and nine circles, some overlapping)."""
    from gammapy_cocoons import skyregions

    box = RectangleSkyRegion(SkyCoord(40.0, 0.0, unit="deg", frame="galactic"), width=12 * u.deg, height=4 * u.deg)
    rng = np.random.default_rng(4)
    circles = [CircleSkyRegion(SkyCoord(l, b, unit="deg", frame="galactic"), r * u.deg)
               for l, b, r in zip(rng.uniform(35, 45, 9), rng.uniform(-1.5, 1.5, 9), rng.uniform(0.3, 0.9, 9))]
    region = mask_out(box, *circles)
    energy = [1.0, 100.0] * u.TeV
    merged = RegionFluxSpectralModel(dge, region)(energy)
    lb = skyregions.to_lb_region(region)
    l = np.radians(np.linspace(-180, 180, 20001))
    fast = lb.latitude_interval_array(l)
    monkeypatch.setattr(skyregions.LBCompound, "_union_leaves", lambda self: [self])
    pairwise = RegionFluxSpectralModel(dge, region)(energy)
    assert np.allclose(merged, pairwise, rtol=1e-9)
    slow = lb.latitude_interval_array(l)
    assert skyregions._interval_lists(fast) == skyregions._interval_lists(slow)


def test_lhaaso_masks_against_the_paper_factor(dge):
    """The masked inner region keeps 64 % of its area and the template's unmasked mean is 0.70 of its
    whole mean, near the paper's 0.65 (a check, not a fit); the outer region: the next test."""
    energy = [10.0] * u.TeV
    inner = masked_region(LHAASO_INNER)
    assert len(lhaaso_masks(LHAASO_INNER)) > 50
    # the kept share of the area, against points drawn uniformly in the box and tested against each
    # circle by a dot product (independent of the region algebra; binomial error 1.1e-3)
    rng = np.random.default_rng(5)
    n = 200_000
    l = np.radians(rng.uniform(15.0, 125.0, n))
    b = np.arcsin(rng.uniform(-np.sin(np.radians(5.0)), np.sin(np.radians(5.0)), n))
    points = np.stack([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)], axis=1)
    covered = np.zeros(n, bool)
    for circle in lhaaso_masks(LHAASO_INNER):
        lc, bc = np.radians(circle.center.l.deg), np.radians(circle.center.b.deg)
        centre = np.array([np.cos(bc) * np.cos(lc), np.cos(bc) * np.sin(lc), np.sin(bc)])
        covered |= points @ centre >= np.cos(circle.radius.to_value(u.rad))
    kept = 1.0 - covered.mean()
    assert 1 / mask_scale(LHAASO_INNER, inner) == pytest.approx(kept, abs=4 * np.sqrt(kept * (1 - kept) / n))
    assert kept == pytest.approx(0.64, abs=0.02)  # the share quoted in the docs
    ratio = mask_scale(LHAASO_INNER, inner) * RegionFluxSpectralModel(dge, inner)(energy) / \
        RegionFluxSpectralModel(dge, LHAASO_INNER)(energy)
    assert ratio.to_value("").item() == pytest.approx(0.65, abs=0.08)
    with pytest.raises(ValueError, match="size_factor"):
        lhaaso_masks(LHAASO_INNER, size_factor=0)


def test_likelihood_with_lhaaso_masks():
    from gammapy_cocoons.analysis.likelihood import build_likelihood

    like = build_likelihood(hypothesis="dge", dge="fermi-pi0", masks="1lhaaso",
                            datasets=("lhaaso-km2a-2023-outer", "argo-ybj-2015"))
    scales = like.setup["mask_scales"]
    assert scales["outer"] == pytest.approx(1 / 0.894, rel=0.01) and scales["argo"] == 1.0
    with pytest.raises(ValueError, match="masks"):
        build_likelihood(dge="fermi-pi0", masks="circles")
