"""
Sky maps
========

Sky maps of the cocoons and the diffuse emission, FITS export, and a look at the maps. The
command line does the same with
``gammapy-cocoons template --format healpix --nside 128 --output cocoons.fits``. Files go into
``cocoons-tutorial-06/`` in the current directory.
"""

from pathlib import Path

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np
import astropy.units as u
from gammapy.maps import HpxGeom, Map, MapAxis, WcsGeom
from gammapy.modeling.models import SkyModel, TemplateSpatialModel

from gammapy_cocoons import CocoonSpatialModel, CocoonSpectralModel
from gammapy_cocoons.dge import conventional_dge
from gammapy_cocoons.templates import make_cube, write_cube

outdir = Path("cocoons-tutorial-06")
outdir.mkdir(exist_ok=True)
cocoons = SkyModel(spectral_model=CocoonSpectralModel(), spatial_model=CocoonSpatialModel(), name="cocoons")

# %%
# All-sky HEALPix cubes
# ---------------------
# Of the cocoons and of the embedded DGE at 1, 10 and 100 TeV. Pixels hold mean intensities
# (pixel integral / pixel solid angle), so sums x solid angle are fluxes.

axis = MapAxis.from_nodes([1, 10, 100] * u.TeV, name="energy_true", interp="log")
geom = HpxGeom.create(nside=64, frame="galactic", axes=[axis])
cocoon_cube = make_cube(cocoons, geom)
dge_cube = make_cube(conventional_dge("min"), geom)
flux = (cocoon_cube.quantity * geom.to_image().solid_angle()).sum(axis=-1)
print("cube flux / model all-sky flux:", np.array2string((flux / cocoons.spectral_model(axis.center)).to_value(""),
                                                         precision=4))

# %%
# The cocoon share
# ----------------
# Of the total, pixel by pixel: largest where sources crowd, inside the solar circle, and falling
# above the cocoon cut-off.

share = cocoon_cube.data / (cocoon_cube.data + dge_cube.data)
for i, energy in enumerate(axis.center):
    plane = np.abs(geom.to_image().get_coord().lat.to_value("deg")) < 2
    print(f"{energy:.0f}: cocoon share in |b| < 2 deg, median {np.median(share[i][plane]):.2f}, "
          f"max {share[i][plane].max():.2f}")

# %%
# HEALPix FITS for healpy
# -----------------------
# One column per energy, RING, Galactic.

path = write_cube(cocoon_cube, outdir / "cocoons_healpix.fits", format="healpix", overwrite=True)
maps = hp.read_map(path, field=None)
print("healpy:", np.shape(maps), "nside", hp.get_nside(maps[0]), "agrees with the cube:",
      np.allclose(maps, cocoon_cube.data, rtol=1e-6))
hp.mollview(np.log10(maps[0]), title="cocoons at 1 TeV, log10 I [cm-2 s-1 TeV-1 sr-1]", unit="", cmap="magma")
hp.graticule(dpar=30, dmer=60, alpha=0.3)
plt.show()

# %%
# A WCS cube of the plane
# -----------------------
# Written in gammapy's and in the Fermi-LAT convention, then used as a gammapy
# ``TemplateSpatialModel`` as you would in a MapDataset.

wcs = make_cube(cocoons, WcsGeom.create(skydir=(0, 0), width=(120, 10), binsz=0.25, frame="galactic",
                                        axes=[axis]))
write_cube(wcs, outdir / "cocoons_gadf.fits", format="gadf", overwrite=True)
write_cube(wcs, outdir / "cocoons_fermi.fits", format="fermi", overwrite=True)
template = TemplateSpatialModel.read(outdir / "cocoons_fermi.fits", normalize=False)
print("Fermi-convention file as a template:", template.map.geom.data_shape, template.map.unit)

# %%
# The cocoon share in the plane: the cocoons follow the source density, which vanishes towards
# the Galactic centre (Eq. 1), the DGE follows the gas times the CR sea.

dge_wcs = make_cube(conventional_dge("min"), wcs.geom)
fig, axes = plt.subplots(2, 1, figsize=(10, 3.8), subplot_kw={"projection": wcs.geom.wcs})
for ax, (label, data, cmap) in zip(axes, (("cocoons at 1 TeV: log10 I [cm-2 s-1 TeV-1 sr-1]", np.log10(wcs.data[0]), "magma"),
                                          ("cocoons / (cocoons + DGE) at 1 TeV", wcs.data[0] / (wcs.data[0] + dge_wcs.data[0]), "viridis"))):
    image = ax.imshow(data, origin="lower", cmap=cmap, aspect="auto")
    ax.set_title(label, fontsize=9)
    ax.coords[0].set_axislabel("l")
    ax.coords[1].set_axislabel("b")
    fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
fig.tight_layout()
plt.show()
print("read back with gammapy:", Map.read(outdir / "cocoons_gadf.fits").geom.data_shape)
