"""Diffuse Galactic emission (DGE): readers for published cubes, an embedded conventional model
(pi0, and inverse Compton and bremsstrahlung of an electron sea) and a data-driven one (the
Fermi-LAT pi0 template)."""
from .co import X_CO_BOLATTO2013, X_CO_PROFILES, dame2001_co
from .conventional import DGE_COMPONENTS, DGE_VARIANTS, ConventionalDGE, conventional_dge
from .electrons import ElectronSea, MagneticField, local_electrons
from .crsea import DGE_SOURCES, CosmicRaySea
from .gas import GasModel, hi4pi_columns
from .pi0 import fermi_pi0_dge, fermi_pi0_map
from .localspectra import KNEE_VARIANTS, local_spectra
from .readers import read_dge, read_hermes_cube, read_map_cube
from .radial_delta import RadialDeltaSea, kra_gamma_sea

__all__ = [
    "read_dge", "read_hermes_cube", "read_map_cube",
    "conventional_dge", "ConventionalDGE", "DGE_VARIANTS", "DGE_COMPONENTS",
    "ElectronSea", "MagneticField", "local_electrons",
    "fermi_pi0_dge", "fermi_pi0_map",
    "CosmicRaySea", "DGE_SOURCES", "GasModel", "hi4pi_columns", "local_spectra", "KNEE_VARIANTS",
    "dame2001_co", "X_CO_BOLATTO2013", "X_CO_PROFILES",
]
__all__ += ["RadialDeltaSea", "kra_gamma_sea"]
