"""gammapy's SkyModel with gammapy's unit check at a fraction of its cost.

gammapy checks a new SkyModel's unit by evaluating its spatial model on a 2 x 2 WCS geometry around
its position (~7 ms: the geometry, a frame transformation, a HEALPix interpolation for a template),
and a command makes dozens of SkyModels (``reproduce``: ~80). The spatial models this package uses
state the unit of their values without an evaluation: a ``TemplateSpatialModel`` returns its map's
unit, :class:`~.spatial.CocoonSpatialModel` sr-1. :class:`DeclaredUnitSkyModel` makes the same unit
check with that unit (gammapy's own check for any other spatial model, or with a temporal model).
It does not evaluate the template: a cube that gammapy's check cannot evaluate for reasons other
than its unit (an energy axis not named "energy_true", a small partial HEALPix map) is accepted
here and refused where it is evaluated.
"""
import astropy.units as u
from gammapy.modeling.models import SkyModel, TemplateSpatialModel

__all__ = ["DeclaredUnitSkyModel"]

#: the energy gammapy's check evaluates the spectral model at (the centre of one bin, 0.1-10 TeV)
_CHECK_ENERGY = None


def _check_energy():
    global _CHECK_ENERGY
    if _CHECK_ENERGY is None:
        from gammapy.maps import MapAxis

        _CHECK_ENERGY = MapAxis.from_energy_bounds("0.1 TeV", "10 TeV", nbin=1, name="energy_true").center
    return _CHECK_ENERGY


def declared_unit(spatial_model):
    """The unit of ``spatial_model``'s values where the model states it without an evaluation, else None."""
    from .spatial import CocoonSpatialModel

    if type(spatial_model) is TemplateSpatialModel:  # (a subclass may evaluate to another unit)
        return spatial_model.map.unit  # TemplateSpatialModel.evaluate returns values in it
    if type(spatial_model) is CocoonSpatialModel:
        return CocoonSpatialModel.value_unit
    return None


class DeclaredUnitSkyModel(SkyModel):
    """A gammapy ``SkyModel`` (same tag, same YAML) whose unit check uses the spatial model's stated
    unit (:func:`declared_unit`; the module documentation): the same unit check, the same error."""

    def _check_unit(self):
        unit = declared_unit(self.spatial_model)
        if unit is None or self.temporal_model is not None:
            return super()._check_unit()
        reference = u.Unit("cm-2 s-1 MeV-1") if self.apply_irf["exposure"] else u.Unit("MeV-1")
        obtained = self.spectral_model(_check_energy()).unit * unit
        reference = reference / u.sr
        if not obtained.is_equivalent(reference):
            raise ValueError(f"SkyModel unit {obtained} is not equivalent to {reference}")
