"""gammapy-cocoons: gamma rays and neutrinos from cosmic-ray cocoons around Galactic sources.

Implements Ambrosone, Evoli, Schroer & Blasi (2025) for the gammapy/astropy ecosystem.

The public names below are imported on first use, so that ``import gammapy_cocoons`` and the
command line's ``--help`` stay fast. The gammapy models of the package are registered in gammapy's
model registries as soon as those exist: at once if ``gammapy.modeling.models`` is already
imported, otherwise right after it is (so ``Models.read`` of a saved fit finds them either way).
"""
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gammapy-cocoons")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "unknown"

#: public name -> module that defines it (imported on first access)
_EXPORTS = {
    "CocoonEmission": "emission", "ENERGY_RANGE": "emission",
    "HELIUM": "physics.cosmicrays", "PROTON": "physics.cosmicrays", "Injection": "physics.cosmicrays",
    "Species": "physics.cosmicrays", "fiducial_injections": "physics.cosmicrays",
    "SOURCE_DISTRIBUTIONS": "physics.galaxy", "SourceDistribution": "physics.galaxy",
    "CallableGrammage": "physics.grammage", "ConstantGrammage": "physics.grammage",
    "EscapeGrammage": "physics.grammage", "ExponentialGrammage": "physics.grammage",
    "GrammageLaw": "physics.grammage",
    "Quadrature": "physics.lineofsight",
    "BoronCarbonModel": "models", "CocoonSpatialModel": "models", "CocoonSpectralModel": "models",
    "RegionFluxSpectralModel": "models",
    "NuclearNetwork": "physics.transport", "GalacticTransport": "physics.transport",
    "LHAASO_INNER": "skyregions", "LHAASO_OUTER": "skyregions", "mask_out": "skyregions",
}

#: names that are new objects at every access (mutable region constants: a change to one must not
#: reach another user or the bundled points)
_FRESH = ("LHAASO_INNER", "LHAASO_OUTER")

__all__ = [
    "CocoonSpectralModel", "CocoonSpatialModel", "RegionFluxSpectralModel", "BoronCarbonModel", "NuclearNetwork",
    "GalacticTransport", "CocoonEmission", "ENERGY_RANGE", "LHAASO_INNER", "LHAASO_OUTER", "mask_out", "Injection",
    "Species", "PROTON", "HELIUM", "fiducial_injections", "SourceDistribution", "SOURCE_DISTRIBUTIONS",
    "GrammageLaw", "ExponentialGrammage", "EscapeGrammage", "ConstantGrammage", "CallableGrammage", "Quadrature",
]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    if name not in _FRESH:
        globals()[name] = value  # later accesses skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


# -- registration in gammapy's model registries ----------------------------------------------------
_GAMMAPY_MODELS = "gammapy.modeling.models"


class _RegisterAfterGammapyModels:
    """A meta-path finder that registers this package's models right after gammapy's model module
    (which holds the registries) has been executed, then removes itself."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _GAMMAPY_MODELS:
            return None
        from importlib.machinery import PathFinder

        _remove_hook()
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            importlib.import_module(f"{__name__}.models")  # registers (models/__init__.py)

        spec.loader.exec_module = exec_module
        return spec


def _remove_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterGammapyModels)]


if _GAMMAPY_MODELS in sys.modules:
    importlib.import_module(f"{__name__}.models")
else:
    _remove_hook()
    sys.meta_path.insert(0, _RegisterAfterGammapyModels())
