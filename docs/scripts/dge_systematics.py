"""Print the validation ratios of the embedded DGE for other halo heights and source profiles.

The halo height H is varied with D0 / H held at the B/C value (B/C fixes D0 / H, not H), and the
source profile among the published ones. Run from the repository root (about 2 minutes):
``python docs/scripts/dge_systematics.py``.
"""
import numpy as np
import astropy.units as u

from gammapy_cocoons.dge.conventional import _DEFAULT_ENERGIES, ConventionalDGE
from gammapy_cocoons.dge.crsea import DEFAULT_TRANSPORT, CosmicRaySea
from gammapy_cocoons.dge.validation import validation_ratios
from gammapy_cocoons.physics.transport import GalacticTransport


class _Model:  # the two attributes validation_ratios reads
    def __init__(self, cube):
        self.spatial_model = type("S", (), {"map": cube})()


def row(label, sea):
    dge = ConventionalDGE("icetop", sea=sea)
    energies = _DEFAULT_ENERGIES[(_DEFAULT_ENERGIES > 2) & (_DEFAULT_ENERGIES < 12)]
    ratios = validation_ratios(_Model(dge.cube(energies * u.GeV, nside=128)), [3.0, 10.0])
    shape = sea(np.array([10.0, 12.0, 14.0]), np.zeros(3), 30.0)
    cells = [f"{ratios[k][0]:.2f}" for k in ("inner", "outer", "inner 70-125", "outer 125-180")]
    print(f"| {label} | " + " | ".join(cells) + " | " + " / ".join(f"{v:.2f}" for v in shape) + " |")


print("| CR sea | inner | outer | inner 70-125 | outer 125-180 | f(10 / 12 / 14 kpc) at 30 GV |")
print("|---|---|---|---|---|---|")
base = DEFAULT_TRANSPORT
for height in (3.0, 4.0, 6.0, 8.0):
    transport = GalacticTransport(d0=base.d0 * height / base.halo_height, delta=base.delta, halo_height=height)
    row(f"case1998, H = {height:g} kpc", CosmicRaySea(transport=transport))
for profile in ("lorimer2006", "yusifov2004", "green2015"):
    row(f"{profile}, H = 4 kpc", CosmicRaySea(source_distribution=profile))
