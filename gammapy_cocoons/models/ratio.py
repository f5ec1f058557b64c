"""gammapy model of the B/C ratio with galactic and cocoon grammage (see :mod:`..physics.transport`).

`BoronCarbonModel` holds the transport and cocoon parameters as gammapy ``Parameter`` objects,
so a joint fit can give it the very ``chi0`` (and ``r0``) Parameter of a
`~gammapy_cocoons.CocoonSpectralModel`::

    bc = BoronCarbonModel()
    bc.chi0 = cocoons.spectral_model.chi0   # one Parameter, fitted by both data sets

chi0 is the mass grammage of the cocoon gas (g cm-2 of H + He, :mod:`..physics.targetgas`), as in
every model of the package; both models must then have the same ``target`` (cocoon gas) for the
shared Parameter to mean the same gas (:func:`~gammapy_cocoons.analysis.bcfit.share_cocoon_parameters`).
"""
import copy
import warnings
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import astropy.units as u
from gammapy.modeling import Parameter
from gammapy.modeling.models import ModelBase

from .._validation import boolean, check_parameter_bounds, choice, positive_float, to_value
from ._keywords import check_parameter_keywords
from ..physics.grammage import DIFFUSION_INDICES, grammage_shape
from ..physics.targetgas import TargetGas, resolve_target
from ..physics.spallation import PRODUCTION_SETS
from ..physics.transport import SOURCE_ABUNDANCES, GalacticTransport, NuclearNetwork
from .spectral import GRAMMAGE_LAWS

__all__ = ["BoronCarbonModel"]

#: names of the abscissae the model accepts
X_QUANTITIES = ("rigidity", "kinetic_energy_per_nucleon")
#: networks (with their solutions) a model keeps for its last parameter sets (:meth:`BoronCarbonModel.network`)
NETWORK_CACHE_SIZE = 64
#: units of the parameter values the network is built with (the others dimensionless)
_NETWORK_UNITS = {"chi0": "g cm-2", "r0": "GV", "d0": "cm2 s-1", "d_break": "GV", "halo_height": "kpc",
                  "surface_density": "g cm-2", "advection": "km s-1", "phi": "GV"}


@lru_cache(maxsize=64)
def _scale(unit, target):
    """Factor from ``unit`` to ``target`` (parsed once per pair, not in every evaluation)."""
    return float(u.Unit(unit).to(target))


class BoronCarbonModel(ModelBase):
    """B/C (and C/O) of the thin-disc transport model plus cocoons.

    Parameters
    ----------
    grammage : str
        Cocoon grammage law, a name as in `~gammapy_cocoons.CocoonSpectralModel`
        (default "exponential").
    target : str or float
        The cocoon gas, as in :class:`~gammapy_cocoons.CocoonEmission`: "ism" (default, He/H = 0.1 by
        number), "hydrogen" (pure hydrogen), or a He/H number in [0, 1]. ``chi0`` is its mass grammage
        (g cm-2 of H + He; :mod:`~gammapy_cocoons.physics.targetgas`), counted like the Galactic
        grammage. Before issue 23 ``chi0`` counted m_p times the cocoon's hydrogen column
        (1 / 1.4 of today's value for the ISM gas); a model dict without ``target`` is read with
        that meaning and converted (a warning says so).
    helium_fraction : float
        He/H by number of the ISM the Galactic transport crosses (default 0.1).
    production : str
        Production cross sections, one of "galprop17-opt12" (default), "wks98", "evoli2019".
    advective_floor : bool
        Add 2 u H to the diffusion coefficient, as the code of Evoli et al. 2019 does (default False).
    name : str
        Model name (default "boron-carbon").
    **kwargs
        Initial values of the gammapy Parameters, a Quantity for those with a unit (gammapy refuses a
        bare number for them), a number for the dimensionless ones; free by default: chi0,
        d0, d_index.

        - ``chi0``: cocoon grammage normalisation [g cm-2] (Eq. 6), the mass grammage of the
          cocoon gas, default 0.4;
        - ``r0``: cocoon cut-off rigidity [TV], default 20 (frozen; B/C data reach 2 TV only);
        - ``delta``: slope of the escape law (Eq. B.1); only used by escape laws (frozen);
        - ``d0``: diffusion coefficient at 1 GV [cm2 s-1], default 3e28;
        - ``d_index``: its slope delta below the break, default 0.5;
        - ``d_break``, ``d_hardening``, ``d_smoothness``: R_b [GV], Delta_delta and s of the
          break (frozen, 312 GV, 0.2, 0.1 as fitted to primary nuclei by Evoli et al. 2019);
        - ``halo_height``: H [kpc], default 4 (frozen; only D0/H is constrained by stable
          secondaries);
        - ``advection``: u [km s-1], default 7 (frozen);
        - ``surface_density``: mu of the gas disc [g cm-2], default 2.3e-3 (frozen);
        - ``phi``: force-field potential [GV], default 0.7 (frozen; < 1 % on B/C above 20 GV);
        - ``o_to_c``: source O16/C12 at equal rigidity (frozen; fitted when C/O data are in the fit);
          every isotope heavier than O follows O at the ratios of
          :data:`~gammapy_cocoons.physics.transport.SOURCE_ABUNDANCES` (GALPROP galdef);
        - ``n_to_o``: source N14/O16, default 0.0478 from the same galdef (frozen);
        - ``injection_index``: alpha of the source spectrum R^-alpha (frozen, 2.3).
    """

    tag = ["BoronCarbonModel", "boron-carbon"]

    chi0 = Parameter("chi0", 0.4, unit="g cm-2", min=0.0, max=20.0)
    r0 = Parameter("r0", 20.0, unit="TV", min=1e-3, max=1e5, frozen=True)
    delta = Parameter("delta", 0.5, min=0.05, max=3.0, frozen=True)
    d0 = Parameter("d0", 3e28, unit="cm2 s-1", min=1e26, max=1e31)
    d_index = Parameter("d_index", 0.5, min=0.1, max=1.0)
    d_break = Parameter("d_break", 312.0, unit="GV", min=10.0, max=1e5, frozen=True)
    d_hardening = Parameter("d_hardening", 0.2, min=0.0, max=0.9, frozen=True)
    d_smoothness = Parameter("d_smoothness", 0.1, min=0.01, max=1.0, frozen=True)
    halo_height = Parameter("halo_height", 4.0, unit="kpc", min=0.5, max=20.0, frozen=True)
    surface_density = Parameter("surface_density", 2.3e-3, unit="g cm-2", min=1e-4, max=1e-2, frozen=True)
    advection = Parameter("advection", 7.0, unit="km s-1", min=0.0, max=100.0, frozen=True)
    phi = Parameter("phi", 0.7, unit="GV", min=0.0, max=2.0, frozen=True)
    o_to_c = Parameter("o_to_c", 1.0 / 0.91, min=0.1, max=10.0, frozen=True)
    n_to_o = Parameter("n_to_o", SOURCE_ABUNDANCES["N14"] / SOURCE_ABUNDANCES["O16"], min=0.0, max=1.0, frozen=True)
    injection_index = Parameter("injection_index", 2.3, min=1.5, max=3.5, frozen=True)

    def __init__(self, grammage="exponential", helium_fraction=0.1, name="boron-carbon",
                 production="galprop17-opt12", advective_floor=False, target="ism", **kwargs):
        self.advective_floor = boolean(advective_floor, "advective_floor")
        self.grammage = choice(grammage, GRAMMAGE_LAWS, "grammage")
        self.production = choice(production, PRODUCTION_SETS, "production")
        self.helium_fraction = positive_float(helium_fraction, "helium_fraction", allow_zero=True, upper=1.0)
        self.target = resolve_target(target)
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self._name = name
        if grammage in DIFFUSION_INDICES and "delta" not in kwargs:
            kwargs["delta"] = DIFFUSION_INDICES[grammage]  # a preset fixes the escape-law slope
        check_parameter_keywords(self, kwargs)
        super().__init__(**kwargs)

    @property
    def name(self):
        return self._name

    # -- serialisation: the options and the name go with the parameters (to_dict below) -------
    @classmethod
    def from_dict(cls, data, **kwargs):
        data = dict(data)
        options = {key: data.pop(key) for key in ("name", "grammage", "helium_fraction", "production", "advective_floor",
                                                  "target") if key in data}
        if "target" not in options and "target" not in kwargs:
            # written before issue 23: chi0 was m_p x the hydrogen column of ISM gas
            fraction = float(options.get("helium_fraction", 0.1))
            scale = 1.0 + 4.0 * fraction
            options["target"] = fraction
            data["parameters"] = [dict(p, **{k: p[k] * scale for k in ("value", "error") if k in p})
                                  if p.get("name") == "chi0" else p for p in data.get("parameters", [])]
            warnings.warn(f"{cls.__name__} dict without 'target' (written before issue 23): its chi0 counted m_p x "
                          f"the hydrogen column of the cocoon gas (He/H = {fraction:g}); read as the mass grammage "
                          f"{scale:.2f} x that value, target={resolve_target(fraction)!r}", UserWarning, stacklevel=2)
        return super().from_dict(data, **options, **kwargs)

    @property
    def cocoon_gas(self):
        """The cocoon gas (:class:`~gammapy_cocoons.physics.targetgas.TargetGas`) whose mass grammage chi0 is."""
        return TargetGas.from_target(self.target)

    @property
    def datasets_names(self):
        return None

    def __deepcopy__(self, memo):
        """A copy without the networks kept for this model's last parameter sets (up to 64 solved
        networks, ~25 MB; a fit deep-copies its models and datasets for every result): the copy
        computes its own."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in object.__getattribute__(self, "__dict__").items():
            if key != "_network_cache":
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def copy(self, name=None, copy_data=False, **kwargs):
        new = copy.deepcopy(self)  # without the kept networks (__deepcopy__)
        if name is not None:
            new._name = name
        return new

    def _values(self, parameters=None):
        """name -> value in the units the network works in (_NETWORK_UNITS), plain floats."""
        parameters = self.parameters if parameters is None else parameters
        return {p.name: p.value * _scale(p.unit, _NETWORK_UNITS.get(p.name, "")) for p in parameters}

    def transport(self, values=None):
        """The :class:`~gammapy_cocoons.physics.transport.GalacticTransport` at the current parameter
        values: the same object type the DGE's CR sea takes (:class:`~gammapy_cocoons.dge.CosmicRaySea`)."""
        value = self._values() if values is None else values
        return GalacticTransport(
            d0=value["d0"] / 1e28,
            delta=value["d_index"],
            rigidity_break=value["d_break"],
            ddelta=value["d_hardening"],
            smoothness=value["d_smoothness"],
            halo_height=value["halo_height"],
            advection=value["advection"],
            surface_density=value["surface_density"],
            advective_floor=self.advective_floor,
        )

    def abundances(self):
        """Source abundances at equal rigidity by isotope, C12 = 1, at the current o_to_c and n_to_o."""
        o_to_c, n_to_o = self.o_to_c.value, self.n_to_o.value
        out = {}
        for name, value in SOURCE_ABUNDANCES.items():
            if name.startswith("C1"):
                out[name] = value / SOURCE_ABUNDANCES["C12"]
            elif name.startswith("N1"):
                out[name] = n_to_o * o_to_c * value / SOURCE_ABUNDANCES["N14"]
            else:
                out[name] = o_to_c * value / SOURCE_ABUNDANCES["O16"]
        return out

    def network(self, cocoons=True):
        """The :class:`~gammapy_cocoons.physics.transport.NuclearNetwork` at the current parameter values.

        The last :data:`NETWORK_CACHE_SIZE` are kept, each with its solutions: a fit evaluates B/C
        and C/O at the same parameters, and Migrad, Hesse and a refit come back to points they
        evaluated a few dozen evaluations before (119 of the 1355 evaluations of ``bc``). A shared
        chi0 Parameter changes the key too, as every value and unit is in it."""
        cocoons = boolean(cocoons, "cocoons")
        # the Parameter objects straight from the instance (gammapy keeps them in its __dict__; a
        # Parameter shared by assignment is there too): this runs twice in every fit evaluation,
        # and gammapy's attribute hook and Parameters collection cost more than the key itself
        state = object.__getattribute__(self, "__dict__")
        parameters = [state[name] for name in type(self).default_parameters.names]
        # values and unit objects (a unit changed by the user is a new object): no formatting per call
        key = (cocoons, state["grammage"], state["helium_fraction"], state["target"], state["production"],
               state["advective_floor"], tuple(p.value for p in parameters), tuple(p.unit for p in parameters))
        cache = state.get("_network_cache")
        if cache is None:
            cache = self._network_cache = OrderedDict()
        network = cache.get(key)
        if network is not None:
            cache.move_to_end(key)
            return network
        network = self._network(cocoons, parameters)
        cache[key] = network
        if len(cache) > NETWORK_CACHE_SIZE:
            cache.popitem(last=False)
        return network

    def _network(self, cocoons, parameters=None):
        # every parameter within its bounds, named as this model names it (the transport's own
        # checks would name "delta" for d_index); gammapy enforces bounds only while fitting
        parameters = self.parameters if parameters is None else parameters
        check_parameter_bounds(parameters)
        value = self._values(parameters)
        transport = self.transport(value)
        chi0 = value["chi0"]
        cocoon = None
        if cocoons and chi0 > 0:
            shape = grammage_shape(self.grammage, value["r0"], value["delta"])
            cocoon = lambda rigidity: chi0 * shape(rigidity)  # noqa: E731
        return NuclearNetwork(transport=transport, cocoon_grammage=cocoon, abundances=self.abundances(),
                              injection_index=value["injection_index"],
                              gas=TargetGas(self.helium_fraction), cocoon_gas=self.cocoon_gas,
                              production=self.production)

    def _x(self, x, quantity):
        choice(quantity, X_QUANTITIES, "quantity")
        unit = "GV" if quantity == "rigidity" else "GeV"
        value = to_value(x, unit, f"x ({quantity})")
        if np.any(~(value > 0)):
            raise ValueError(f"x ({quantity}) must be > 0, got {x!r}")
        return value

    def evaluate(self, x, quantity="rigidity", ratio="B/C"):
        """The ratio at ``x`` (rigidity [GV] or kinetic energy per nucleon [GeV/n]); ``ratio`` "B/C" or "C/O"."""
        # the network solved for the total only (galactic + cocoon): what a fit evaluates
        return self._ratio(x, quantity, ratio, split=False)

    def components(self, x, quantity="rigidity", ratio="B/C"):
        """(galactic, cocoon) parts of the ratio's numerator over its whole denominator; they sum to the ratio.

        ``x`` may have any shape (a scalar too), like the energies of a gammapy spectral model; the
        parts have its shape."""
        return self._ratio(x, quantity, ratio, split=True)

    def _ratio(self, x, quantity, ratio, split):
        values = self._x(x, quantity)
        numerator, denominator = choice(ratio, ("B/C", "C/O"), "ratio").split("/")
        network = self.network()
        phi = self.phi.value * _scale(self.phi.unit, "GV")
        registered = getattr(self, "_abscissae", None)
        if (registered and (values.ravel().tobytes(), quantity, ratio) in registered
                and not getattr(network, "_solutions", {}).get(split)):
            # one solution of the network for every data set of a fit at these parameters (other
            # abscissae, e.g. a figure's grid, are solved on their own energies only)
            network.prepare(np.concatenate([network.solution_grid(v, phi, *r.split("/"), quantity=q)
                                            for v, q, r in registered.values()]), split=split)
        method = network.ratio_vs_rigidity if quantity == "rigidity" else network.ratio_vs_energy
        out = method(values.ravel(), phi=phi, numerator=numerator, denominator=denominator, split=split)
        if not split:
            return out.reshape(values.shape)
        return out[0].reshape(values.shape), out[1].reshape(values.shape)

    def register(self, x, quantity="rigidity", ratio="B/C"):
        """Announce that this model will be evaluated at ``x`` (a data set of a fit does so): the
        network is then solved once per parameter set for all announced abscissae together, rather
        than once per data set (:meth:`~gammapy_cocoons.physics.transport.NuclearNetwork.prepare`)."""
        values = np.ravel(self._x(x, quantity))
        choice(ratio, ("B/C", "C/O"), "ratio")
        if not hasattr(self, "_abscissae"):
            self._abscissae = {}
        self._abscissae[(values.tobytes(), quantity, ratio)] = (values, quantity, ratio)

    def to_dict(self, full_output=False):
        """Parameters (gammapy's layout) plus the name and the options, for summaries and YAML."""
        data = super().to_dict(full_output)
        data.update({"name": self.name, "grammage": self.grammage, "helium_fraction": self.helium_fraction,
                     "target": self.target, "production": self.production, "advective_floor": self.advective_floor})
        return data
