"""RegionFluxSpectralModel: a SkyModel integrated over a sky region, as a SpectralModel.

gammapy's ``FluxPointsDataset`` compares a spectral model in cm-2 s-1 TeV-1 with flux points.
Measurements of diffuse emission are intensities averaged over a region; multiplied by the
region's solid angle they are region fluxes, and this model predicts exactly that quantity
(Eq. 8 over the region) from any SkyModel while sharing its Parameter objects, so several
regions (inner and outer Galaxy) fit jointly with one set of cocoon parameters.
"""
from collections import OrderedDict

import numpy as np
import astropy.units as u
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling.models import SkyModel, SpectralModel

from .._validation import positive_float
from ..physics import lineofsight
from ..pixelweights import pixel_weights, region_integral
from ..skyregions import mask_out, region_from_dict, region_to_dict, to_lb_region
from .spatial import CocoonSpatialModel, _all_sky

__all__ = ["RegionFluxSpectralModel"]

_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
_FRACTIONS = OrderedDict()


def _cocoon_fraction(dist, lb_region):
    """Fraction of the all-sky line-of-sight integral inside a region, cached."""
    key = (dist, lb_region.key)
    if key not in _FRACTIONS:
        _FRACTIONS[key] = lineofsight.sky_integral(dist, lb_region) / _all_sky(dist)
        if len(_FRACTIONS) > 256:
            _FRACTIONS.popitem(last=False)
    return _FRACTIONS[key]


def _cocoon_transmission(dist, lb_region, energy):
    """Emission-weighted transmission (ISRF + CMB) of the cocoons in a region at ``energy`` (any
    shape): the engine's, :meth:`~gammapy_cocoons.CocoonEmission.transmission`."""
    from ..emission import cached_transmission

    e = energy.to_value("GeV")
    unique, inverse = np.unique(np.ravel(e), return_inverse=True)
    values = cached_transmission(dist, lb_region, lineofsight.DEFAULT_QUADRATURE, unique)
    return values[np.ravel(inverse)].reshape(np.shape(e))


def _collapse(value):
    """A constant array of parameter samples as one value (others are left to fail clearly)."""
    value = u.Quantity(value)
    if value.size > 1 and np.all(value == value.flat[0]):
        return value.flat[0]
    return value


def _template_energy_axis(spatial):
    """The energy axis of a template spatial model's map, or None."""
    template = getattr(spatial, "map", None)
    if template is None:
        return None
    for name in ("energy_true", "energy"):
        if name in template.geom.axes.names:
            return template.geom.axes[name]
    return None


#: pixel size [deg] of the grid on which spatial models without a map of their own are sampled
_GRID_DEG = 0.05
#: largest number of pixels of that grid (coarser for very large regions)
_GRID_PIXELS = 4_000_000


def _region_grid(lb):
    """A Galactic CAR grid aligned with l and b (its reference on the equator) covering an l-b region's
    bounds, with pixels of _GRID_DEG (coarser if it would exceed _GRID_PIXELS)."""
    l_center, half_width, b_min, b_max = (np.degrees(v) for v in lb.bounds())
    binsz = max(_GRID_DEG, np.sqrt(2 * half_width * (b_max - b_min) / _GRID_PIXELS))
    n_lon = max(1, int(np.ceil(2 * half_width / binsz)))
    n_lat = max(1, int(np.ceil((b_max - b_min) / binsz)))
    wcs = WcsGeom.create(skydir=(l_center, 0.0), npix=(1, 1), binsz=binsz, frame="galactic", proj="CAR").wcs
    wcs.wcs.cdelt = [-2 * half_width / n_lon, (b_max - b_min) / n_lat]
    wcs.wcs.crpix = [0.5 * n_lon + 0.5, 0.5 - b_min / wcs.wcs.cdelt[1]]
    return WcsGeom(wcs, npix=(n_lon, n_lat))


def _sampled_region_integral(spatial, lb, energy=None):
    """int_region spatial dOmega for a spatial model without a map of its own: its values at the
    pixel centres of an aligned 0.05 deg grid times each pixel's solid angle inside the region
    (:func:`~gammapy_cocoons.pixelweights.pixel_weights`), per energy if given."""
    geom = _region_grid(lb)
    weights = pixel_weights(geom, lb)
    if energy is not None:
        flat = energy.ravel()
        unique, inverse = np.unique(flat.to_value("TeV"), return_inverse=True)
        axis = MapAxis.from_nodes(unique * u.TeV, name="energy_true", interp="log")
        cube = geom.to_cube([axis])
        # broadcast: models constant on the sky (gammapy's ConstantSpatialModel) return one value
        values = np.broadcast_to(u.Quantity(spatial.evaluate_geom(cube)), cube.data_shape, subok=True)
        values = values.reshape(unique.size, -1)[:, weights.index]
        _check_values(values)
        return (values @ weights.weight)[np.ravel(inverse)].reshape(energy.shape) * u.sr
    values = np.broadcast_to(u.Quantity(spatial.evaluate_geom(geom)), geom.data_shape, subok=True)
    values = values.reshape(-1)[weights.index]
    _check_values(values)
    return np.sum(values * weights.weight) * u.sr


def _check_values(values):
    if not np.all(np.isfinite(values)):
        raise ValueError("region extends beyond the spatial model's coverage (NaN values inside it)")


class RegionFluxSpectralModel(SpectralModel):
    """Flux of ``sky_model`` integrated over ``region`` [cm-2 s-1 TeV-1], times ``scale``.

    Parameters
    ----------
    sky_model : `~gammapy.modeling.models.SkyModel`
        Any sky model with a spatial part; its Parameter objects are shared (not copied).
    region : `regions.SkyRegion` or None
        Region of the measurement (None: the whole sky), read as an l-b region
        (:func:`~gammapy_cocoons.skyregions.to_lb_region`: Galactic l-b boxes, circles and their
        compounds exactly; other shapes in the tangent plane at their centre, rasterised). The
        cocoons are integrated along the line of sight (Eq. 8, 1e-6); templates (e.g. DGE cubes) on
        their own pixels in any frame and projection
        (:func:`~gammapy_cocoons.pixelweights.region_integral`), refused where the region leaves a
        partial map; other spatial models on a 0.05 deg Galactic grid of pixel centres.
    masks : sequence of `regions.SkyRegion`, optional
        Parts of the region left out (e.g. source masks); see
        :func:`~gammapy_cocoons.skyregions.mask_out`.
    scale : float
        Extra factor on the prediction, e.g. 0.65 for the LHAASO inner-Galaxy mask as in the
        paper (when the masks themselves are not modelled).
    absorption : bool
        Absorb the cocoons' gamma rays by pair production on the interstellar radiation field and
        the CMB along each line of sight of the region (the emission-weighted transmission of
        :meth:`~gammapy_cocoons.CocoonEmission.transmission`); default False, the paper's Eq. 8;
        every region shape, the same rule. Only for a `~gammapy_cocoons.CocoonSpatialModel` with
        gamma rays: the embedded DGE carries its own absorption, and neutrinos are never absorbed.
    """

    tag = ["RegionFluxSpectralModel", "region-flux"]

    def __init__(self, sky_model, region=None, masks=None, scale=1.0, absorption=False):
        if not isinstance(sky_model, SkyModel) or sky_model.spatial_model is None:
            raise TypeError("sky_model must be a gammapy SkyModel with a spatial model")
        if not isinstance(absorption, (bool, np.bool_)):
            raise TypeError(f"absorption must be True or False, got {absorption!r}")
        if absorption:
            if not isinstance(sky_model.spatial_model, CocoonSpatialModel):
                raise ValueError("absorption applies to the cocoon model (CocoonSpatialModel); DGE templates carry "
                                 "their own absorption")
            if getattr(sky_model.spectral_model, "secondary", "gamma") != "gamma":
                raise ValueError("absorption applies to gamma rays; neutrinos are never absorbed")
        self.absorption = bool(absorption)
        if masks:
            region = mask_out(region, *masks) if region is not None else None
            if region is None:
                raise ValueError("masks need a region to be cut out of")
        self.sky_model = sky_model
        self.region = region
        self.scale = positive_float(scale, "scale", allow_zero=True)
        super().__init__()

    @property
    def region(self):
        """The region integrated over; setting it recomputes every cached region integral."""
        return self._region

    @region.setter
    def region(self, region):
        self._lb_region = to_lb_region(region, "region")
        self._region = region
        self._template_integrals = OrderedDict()

    def __deepcopy__(self, memo):
        """A copy with its own Parameters that shares the wrapped model's template map: gammapy's
        ``Fit`` deep-copies the models for every optimisation and profile point, and a DGE cube is
        tens of MB (read-only here). The cached region integrals are shared too."""
        import copy

        template = getattr(self.sky_model.spatial_model, "map", None)
        if template is not None:
            memo.setdefault(id(template), template)
        memo.setdefault(id(self._template_integrals), self._template_integrals)
        memo.setdefault(id(self._lb_region), self._lb_region)  # read-only (a raster holds ~1 MB)
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    # -- parameters are the wrapped model's ---------------------------------------------------
    @property
    def parameters(self):
        return self.sky_model.parameters

    @property
    def _models(self):
        # lets gammapy's Models find (and re-link after reading YAML) the shared parameters
        return self.sky_model._models

    def __call__(self, energy):
        energy = u.Quantity(energy)
        if not energy.unit.is_equivalent(u.TeV):
            raise u.UnitConversionError(f"energy must be an energy, got unit '{energy.unit}'")
        if energy.size == 0 or not np.all(np.isfinite(energy.value)) or np.any(energy.value <= 0):
            raise ValueError(f"energy must be a non-empty array of finite energies > 0, got {energy!r}")
        # positional: a spectral and a spatial parameter may share a name (the ECPL's and Green's alpha)
        return self.evaluate(energy, *[p.quantity for p in self.parameters])

    # -- physics ------------------------------------------------------------------------------
    def solid_angle(self):
        """Solid angle of the region [sr] (:func:`~gammapy_cocoons.physics.lineofsight.solid_angle`)."""
        return lineofsight.solid_angle(self._lb_region) * u.sr

    def intensity(self, energy):
        """Mean intensity over the region [cm-2 s-1 TeV-1 sr-1] (without ``scale``)."""
        omega = self.solid_angle()
        if not omega.to_value(u.sr) > 0:
            raise ValueError("region has zero solid angle (empty or fully masked): no mean intensity")
        scale = self.scale
        try:
            self.scale = 1.0
            return self(energy) / omega
        finally:
            self.scale = scale

    def _spatial_integral(self, energy, spatial_values):
        """int_region spatial dOmega: a number (energy independent) or values per energy."""
        spatial = self.sky_model.spatial_model
        if isinstance(spatial, CocoonSpatialModel):
            dist = spatial.distribution(**spatial_values)
            fraction = _cocoon_fraction(dist, self._lb_region)
            if self.absorption:
                fraction = fraction * _cocoon_transmission(dist, self._lb_region, u.Quantity(energy))
            return fraction * u.one
        template_axis = _template_energy_axis(spatial)
        if template_axis is not None:
            return self._template_node_interpolation(spatial, template_axis, u.Quantity(energy))
        if getattr(spatial, "map", None) is not None:  # a map without energies: its own pixels
            key = ("map",)
            if key not in self._template_integrals:
                self._template_integrals[key] = region_integral(spatial.map, self._lb_region)
            return self._template_integrals[key]
        if spatial.is_energy_dependent:
            e = u.Quantity(energy)
            key = ("energy", e.to_value("TeV").tobytes())
        else:
            e = None
            key = ("static", tuple(float(np.squeeze(u.Quantity(v).value)) for v in spatial_values.values()))
        if key not in self._template_integrals:
            self._template_integrals[key] = _sampled_region_integral(spatial, self._lb_region, e)
            if len(self._template_integrals) > 32:
                self._template_integrals.popitem(last=False)
        return self._template_integrals[key]

    def _template_node_interpolation(self, spatial, axis, energy):
        """Region integrals at the template's own energies, interpolated log-log in energy.

        The map is integrated on its own pixels (:func:`~gammapy_cocoons.pixelweights.region_integral`:
        any frame and projection, partial maps refused where the region leaves them); gammapy would
        interpolate linearly in value between energies (a saw-tooth of ~15 % for an E^-2.7 cube at 8
        energies per decade): power laws between nodes are reproduced exactly.
        """
        key = ("nodes",)
        if key not in self._template_integrals:
            self._template_integrals[key] = (axis.center, region_integral(spatial.map, self._lb_region))
        entry = self._template_integrals[key]
        # a fit asks at the same energies at every step (EnergyScaleSpectralModel's fixed grid): the
        # last few results from these node integrals are kept, read-only
        source, recent = self._template_integrals.get(("interpolated",), (None, None))
        if source is not entry:
            recent = OrderedDict()
            self._template_integrals[("interpolated",)] = (entry, recent)
        energy_key = (energy.unit, energy.dtype.str, energy.shape, energy.value.tobytes())
        if energy_key in recent:
            return recent[energy_key]
        result = self._interpolate_nodes(*entry, energy)
        result.flags.writeable = False
        recent[energy_key] = result
        if len(recent) > 8:
            recent.popitem(last=False)
        return result

    @staticmethod
    def _interpolate_nodes(nodes, integrals, energy):
        x = np.log(energy.to_value(nodes.unit))
        lo, hi = np.log(nodes.value[0]), np.log(nodes.value[-1])
        if np.any(x < lo - 1e-9) or np.any(x > hi + 1e-9):
            raise ValueError(
                f"energy must be within the template's range {nodes[0]:.4g} - {nodes[-1]:.4g}"
            )
        values = integrals.value
        positive = values > 0
        if np.all(positive):
            result = np.exp(np.interp(x, np.log(nodes.value), np.log(values)))
        else:
            result = np.interp(x, np.log(nodes.value), values)
        return result * integrals.unit

    def evaluate(self, energy, *args, **kwargs):
        """Region flux [cm-2 s-1 TeV-1]; broadcasts over parameter samples like the wrapped model."""
        spectral = self.sky_model.spectral_model
        spectral_names = spectral.parameters.names
        spatial_names = self.sky_model.spatial_model.parameters.names
        if args:  # the SkyModel's parameters in order, spectral then spatial (names may repeat across them)
            spectral_values = dict(zip(spectral_names, args[:len(spectral_names)]))
            spatial_values = dict(zip(spatial_names, args[len(spectral_names):]))
            spectral_values.update({k: v for k, v in kwargs.items() if k in spectral_names})
            spatial_values.update({k: v for k, v in kwargs.items() if k in spatial_names and k not in spectral_names})
        else:
            spectral_values = {name: kwargs[name] for name in spectral_names}
            spatial_values = {name: kwargs[name] for name in spatial_names}
        # frozen spatial parameters arrive as constant sample arrays from gammapy's error bands
        spatial_values = {name: _collapse(value) for name, value in spatial_values.items()}
        dnde = spectral.evaluate(energy, **spectral_values)
        # energy has a trailing axis of length 1 when parameters are sampled: broadcasts
        integral = self._spatial_integral(u.Quantity(energy), spatial_values)
        return (self.scale * dnde * integral).to(_FLUX_UNIT)


    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self, full_output=False):
        return {
            "spectral": {
                "type": self.tag[0],
                "region": region_to_dict(self.region),
                "scale": self.scale,
                "absorption": self.absorption,
                "model": self.sky_model.to_dict(full_output),
            }
        }

    @classmethod
    def from_dict(cls, data, **kwargs):
        spectral = data.get("spectral", data)
        sky_model = SkyModel.from_dict(spectral["model"])
        return cls(sky_model, region=region_from_dict(spectral.get("region")), scale=spectral.get("scale", 1.0),
                   absorption=bool(spectral.get("absorption", False)))
