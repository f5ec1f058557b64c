"""gammapy-cocoons: gamma rays and neutrinos from cosmic-ray cocoons around Galactic sources.

Implements Ambrosone, Evoli, Schroer & Blasi (2025) for the gammapy/astropy ecosystem.
"""
from importlib.metadata import PackageNotFoundError, version

from .emission import ENERGY_RANGE, CocoonEmission
from .physics.cosmicrays import HELIUM, PROTON, Injection, Species, fiducial_injections
from .physics.galaxy import SOURCE_DISTRIBUTIONS, SourceDistribution
from .physics.grammage import (
    CallableGrammage,
    ConstantGrammage,
    EscapeGrammage,
    ExponentialGrammage,
    GrammageLaw,
)
from .physics.lineofsight import Quadrature
from .models import BoronCarbonModel, CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
from .physics.transport import NuclearNetwork, GalacticTransport
from .skyregions import LHAASO_INNER, LHAASO_OUTER, mask_out

try:
    __version__ = version("gammapy-cocoons")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "unknown"

__all__ = [
    "CocoonSpectralModel",
    "CocoonSpatialModel",
    "RegionFluxSpectralModel",
    "BoronCarbonModel",
    "NuclearNetwork",
    "GalacticTransport",
    "CocoonEmission",
    "ENERGY_RANGE",
    "LHAASO_INNER",
    "LHAASO_OUTER",
    "mask_out",
    "Injection",
    "Species",
    "PROTON",
    "HELIUM",
    "fiducial_injections",
    "SourceDistribution",
    "SOURCE_DISTRIBUTIONS",
    "GrammageLaw",
    "ExponentialGrammage",
    "EscapeGrammage",
    "ConstantGrammage",
    "CallableGrammage",
    "Quadrature",
]
