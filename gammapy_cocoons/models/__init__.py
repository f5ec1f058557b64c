"""gammapy models of the cocoon emission, registered with gammapy on import."""
from gammapy.modeling.models import MODEL_REGISTRY, PRIOR_REGISTRY, SPATIAL_MODEL_REGISTRY, SPECTRAL_MODEL_REGISTRY

from .nuisance import EnergyScaleFactor, EnergyScaleSpectralModel, LogNormalPrior
from .ratio import BoronCarbonModel
from .region import RegionFluxSpectralModel
from .spatial import CocoonSpatialModel
from .spectral import GRAMMAGE_LAWS, CocoonSpectralModel

__all__ = [
    "CocoonSpectralModel", "CocoonSpatialModel", "RegionFluxSpectralModel", "BoronCarbonModel", "GRAMMAGE_LAWS",
    "EnergyScaleSpectralModel", "LogNormalPrior",
    "register",
]


def _all_tags(registry):
    tags = set()
    for cls in registry:
        tags.update(cls.tag if isinstance(cls.tag, list) else [cls.tag])
    return tags


def register(cls, registry):
    """Add ``cls`` to a gammapy registry; refuse tags that another class already uses."""
    if cls in registry:
        return
    taken = set(cls.tag) & _all_tags(registry)
    if taken:
        raise RuntimeError(
            f"cannot register {cls.__name__}: tag(s) {sorted(taken)} already used by another gammapy model"
        )
    registry.append(cls)


register(CocoonSpectralModel, SPECTRAL_MODEL_REGISTRY)
register(RegionFluxSpectralModel, SPECTRAL_MODEL_REGISTRY)
register(CocoonSpatialModel, SPATIAL_MODEL_REGISTRY)
register(BoronCarbonModel, MODEL_REGISTRY)  # a top-level model of Models, like SkyModel
register(EnergyScaleSpectralModel, SPECTRAL_MODEL_REGISTRY)
register(EnergyScaleFactor, SPECTRAL_MODEL_REGISTRY)
register(LogNormalPrior, PRIOR_REGISTRY)
