"""Diffuse Galactic emission (DGE): readers for published cubes, an embedded conventional model
(pi0, and inverse Compton and bremsstrahlung of an electron sea) and a data-driven one (the
Fermi-LAT pi0 template).

The public names and the submodules are imported on first use (like the package's own), so that a
process can use the embedded model's numerical core (local spectra, gas geometry) without importing
gammapy: the command line's DGE prefetch (:func:`.conventional.prefetch_state`) runs in such a
process.
"""
import importlib

#: public name -> submodule that defines it (imported on first access)
_EXPORTS = {
    "X_CO_BOLATTO2013": "co", "X_CO_PROFILES": "co", "dame2001_co": "co",
    "DGE_COMPONENTS": "conventional", "DGE_VARIANTS": "conventional", "ConventionalDGE": "conventional",
    "conventional_dge": "conventional",
    "ElectronSea": "electrons", "MagneticField": "electrons", "local_electrons": "electrons",
    "DGE_SOURCES": "crsea", "CosmicRaySea": "crsea",
    "GasModel": "gas", "hi4pi_columns": "gas",
    "fermi_pi0_dge": "pi0", "fermi_pi0_map": "pi0",
    "KNEE_VARIANTS": "localspectra", "local_spectra": "localspectra",
    "read_dge": "readers", "read_hermes_cube": "readers", "read_map_cube": "readers",
    "RadialDeltaSea": "radial_delta", "kra_gamma_sea": "radial_delta",
}

__all__ = [
    "read_dge", "read_hermes_cube", "read_map_cube",
    "conventional_dge", "ConventionalDGE", "DGE_VARIANTS", "DGE_COMPONENTS",
    "ElectronSea", "MagneticField", "local_electrons",
    "fermi_pi0_dge", "fermi_pi0_map",
    "CosmicRaySea", "DGE_SOURCES", "GasModel", "hi4pi_columns", "local_spectra", "KNEE_VARIANTS",
    "dame2001_co", "X_CO_BOLATTO2013", "X_CO_PROFILES",
    "RadialDeltaSea", "kra_gamma_sea",
]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:  # a submodule (gammapy_cocoons.dge.conventional, ...), as an eager package has them
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
