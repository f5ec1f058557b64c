"""Diffuse Galactic emission (DGE): readers for published cubes and an embedded conventional model."""
from .conventional import DGE_VARIANTS, ConventionalDGE, conventional_dge
from .crsea import CosmicRaySea
from .gas import GasModel
from .localspectra import KNEE_VARIANTS, local_spectra
from .readers import read_dge, read_hermes_cube, read_map_cube

__all__ = [
    "read_dge", "read_hermes_cube", "read_map_cube",
    "conventional_dge", "ConventionalDGE", "DGE_VARIANTS",
    "CosmicRaySea", "GasModel", "local_spectra", "KNEE_VARIANTS",
]
