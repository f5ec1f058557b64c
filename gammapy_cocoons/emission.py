"""CocoonEmission: the paper's cocoon gamma-ray and neutrino emission (Eqs. 1-8) behind one object.

    Phi(E) = Q_sec(E) / (4 pi) int_region dOmega int ds rho(s, Omega)       (Eq. 8)

Q_sec is the production per source (Eq. 7, :mod:`.physics.production`); the double integral
is pure geometry (:mod:`.physics.lineofsight`). Both are computed once and cached: the
cross-section matrices per set of energies, the geometry per region.

chi0 is the mass grammage of the cocoon gas (g cm-2 of H + He, :mod:`.physics.targetgas`), the
same quantity as the B/C model's chi0; ``target`` says what the gas is: ISM by default,
``target="hydrogen"`` for the paper's Eq. 7 as written (pure hydrogen on chi0 / m_p).
"""
from collections import OrderedDict
import warnings

import numpy as np
import astropy.units as u

from ._ranges import ENERGY_RANGE_GEV
from ._validation import choice, positive_float, positive_value, to_value
from .constants import KPC_CM, YR_S
from .physics import lineofsight
from .physics.cocoons import confinement_time, maximum_cocoon_radius
from .physics.cosmicrays import Injection, fiducial_injections
from .physics.crosssections import CROSS_SECTION_MODELS, SECONDARIES
from .physics.galaxy import get_source_distribution
from .physics.grammage import GrammageLaw, get_grammage_law
from .physics.production import ProductionKernel
from .physics.targetgas import TargetGas, resolve_target
from .skyregions import to_lb_region

__all__ = ["CocoonEmission", "ENERGY_RANGE"]

#: secondary energies the engine accepts: from below the Fermi-LAT band to beyond LHAASO
ENERGY_RANGE = tuple(e * u.GeV for e in ENERGY_RANGE_GEV)

#: output energies per production kernel (bounds the memory of one call to ~100 MB)
_ENERGY_CHUNK = 20000
#: distinct energies one call evaluates (each costs about 1 ms of kernel building on two cores)
MAX_DISTINCT_ENERGIES = 20_000
_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
_GEOMETRY_CACHE = OrderedDict()


def _cached_sky_integral(dist, lb_region, quadrature):
    key = (dist, quadrature, lb_region.key)
    if key not in _GEOMETRY_CACHE:
        _GEOMETRY_CACHE[key] = (
            lineofsight.sky_integral(dist, lb_region, quadrature),
            lineofsight.solid_angle(lb_region, quadrature),
        )
        if len(_GEOMETRY_CACHE) > 256:
            _GEOMETRY_CACHE.popitem(last=False)
    return _GEOMETRY_CACHE[key]


def cached_transmission(dist, lb_region, quadrature, energy_gev):
    """:func:`~gammapy_cocoons.physics.lineofsight.sky_transmission` at unique energies [GeV]
    (1-d), cached per source distribution, region, quadrature and energies."""
    key = (dist, quadrature, lb_region.key, "transmission", np.asarray(energy_gev, float).tobytes())
    if key not in _GEOMETRY_CACHE:
        _GEOMETRY_CACHE[key] = lineofsight.sky_transmission(dist, lb_region, energy_gev, quadrature)
        if len(_GEOMETRY_CACHE) > 256:
            _GEOMETRY_CACHE.popitem(last=False)
    return _GEOMETRY_CACHE[key]


class CocoonEmission:
    """Gamma rays and neutrinos from CR cocoons around Galactic sources (Ambrosone et al. 2025).

    The defaults are the paper's fiducial set-up: Green (2015) sources with R_SN = 1/30 yr-1 in
    a disc of radius 10 kpc and half-height 100 pc; H and He injected with eps 5 % / 1.2 %,
    gamma 4.26 / 4.16 and p_max = Z PeV; exponential grammage chi0 = 0.4 g cm-2 with
    R0 = 20 TV; AAfrag cross sections. The cocoon gas is the ISM's (H with He/H = 0.1 by number)
    unless ``target="hydrogen"``, the paper's Eq. 7 exactly (pure hydrogen on chi0 / m_p, the
    target of the paper's Figs. 2, B.1-B.3).

    Parameters
    ----------
    chi0 : `~astropy.units.Quantity`
        Cocoon grammage normalisation chi_c,0 (g cm-2), > 0: the mass grammage of the cocoon gas
        (H + He), as in the B/C model. Default 0.4 g cm-2.
    r0 : `~astropy.units.Quantity`
        Cut-off rigidity R0 (V, e.g. TV), > 0. Default 20 TV.
    grammage : str, GrammageLaw or callable
        "exponential" (Eq. 6, default), "escape" (Eq. B.1, needs ``delta``), the escape-law
        presets "kolmogorov", "kraichnan", "bohm", "constant", a
        :class:`~gammapy_cocoons.physics.grammage.GrammageLaw` (which carries its own
        parameters) or a function of rigidity (Quantity in GV) returning g cm-2.
    delta : float or str, optional
        Slope of the escape law (overrides a preset's).
    source_distribution : str or SourceDistribution
        "green2015" (default), "case1998", "lorimer2006", "yusifov2004" or an instance.
    cross_sections : str
        "aafrag" (default), "kafexhiu2014" (gamma rays only) or "kamae2006".
    injections : sequence of Injection, optional
        Primary species and their injection; default the paper's H and He.
    target : str or float
        The cocoon gas (:mod:`~gammapy_cocoons.physics.targetgas`): "ism" (default; He/H = 0.1 by
        number: a chi0 holds a hydrogen column chi0 / (1.4 m_p) and y times that of helium, and the
        p-H, p-He, He-H and He-He channels all produce), "hydrogen" (the paper's Eq. 7: pure hydrogen
        on chi0 / m_p), or a He/H number in [0, 1] (the general form). Helium in the gas needs
        ``cross_sections="aafrag"``, the only model with a helium target.
    helium_fraction : float, optional
        Deprecated alias of ``target`` given as a number (it always meant a mass grammage of gas
        with that He/H; 0 was the old default, now ``target="hydrogen"``).
    quadrature : Quadrature, optional
        Line-of-sight node counts (defaults converge to ~1e-7).
    per_decade : int
        Primary-energy grid density of Eq. 7.
    absorption : bool
        Absorb the gamma rays by pair production on the interstellar radiation field and the CMB
        along each line of sight (:meth:`transmission`; default False, the paper's Eq. 8). Neutrinos are never absorbed. The gammapy models
        (CocoonSpectralModel x CocoonSpatialModel) factorise spectrum and morphology; their region
        fluxes take the same option as ``RegionFluxSpectralModel(..., absorption=True)``.
    """

    def __init__(
        self,
        chi0=0.4 * u.g / u.cm**2,
        r0=20 * u.TV,
        grammage="exponential",
        delta=None,
        source_distribution="green2015",
        cross_sections="aafrag",
        injections=None,
        target="ism",
        quadrature=None,
        per_decade=64,
        absorption=False,
        helium_fraction=None,
    ):
        if isinstance(grammage, GrammageLaw):
            self.grammage = grammage
        else:
            chi0_value = float(positive_value(chi0, "g cm-2", "chi0"))
            r0_value = float(positive_value(r0, "GV", "r0"))
            self.grammage = get_grammage_law(grammage, chi0_value, r0_value, delta)
        self.source_distribution = get_source_distribution(source_distribution)
        self.cross_sections = choice(cross_sections, CROSS_SECTION_MODELS, "cross_sections")
        self.injections = tuple(fiducial_injections() if injections is None else injections)
        if not self.injections or not all(isinstance(i, Injection) for i in self.injections):
            raise TypeError("injections must be a non-empty sequence of Injection objects")
        self.target = _target_argument(target, helium_fraction, self.cross_sections)
        if quadrature is not None and not isinstance(quadrature, lineofsight.Quadrature):
            raise TypeError(f"quadrature must be a lineofsight.Quadrature or None, got {quadrature!r}")
        self.quadrature = lineofsight.DEFAULT_QUADRATURE if quadrature is None else quadrature
        if not isinstance(per_decade, (int, np.integer)) or per_decade < 8:
            raise ValueError(f"per_decade must be an integer >= 8, got {per_decade!r}")
        self.per_decade = int(per_decade)
        if not isinstance(absorption, (bool, np.bool_)):
            raise TypeError(f"absorption must be True or False, got {absorption!r}")
        self.absorption = bool(absorption)

    def __repr__(self):
        return (
            f"{type(self).__name__}(grammage={self.grammage!r}, "
            f"source_distribution={self.source_distribution.name!r}, "
            f"cross_sections={self.cross_sections!r}, target={self.target!r})"
        )

    @property
    def gas(self):
        """The cocoon gas (:class:`~gammapy_cocoons.physics.targetgas.TargetGas`) whose mass grammage chi0 is."""
        return TargetGas.from_target(self.target)

    @property
    def helium_fraction(self):
        """He/H by number of the cocoon gas (0 for ``target="hydrogen"``)."""
        return self.gas.helium_fraction

    # -- inputs -------------------------------------------------------------------------------
    @staticmethod
    def _energy_gev(energy):
        value = positive_value(energy, "GeV", "energy")
        lo, hi = (e.to_value("GeV") for e in ENERGY_RANGE)
        if np.any(value < lo) or np.any(value > hi):
            raise ValueError(
                f"energy must be within {ENERGY_RANGE[0]} - {ENERGY_RANGE[1]}, got "
                f"{value.min():.3g} - {value.max():.3g} GeV"
            )
        return value

    @staticmethod
    def _secondary(secondary):
        return choice(secondary, SECONDARIES, "secondary")

    # -- building blocks ----------------------------------------------------------------------
    def production_kernel(self, energy_gev, secondary="gamma"):
        """The Eq. 7 kernel for energies [GeV, float array]; cached across instances."""
        return ProductionKernel(
            self.injections,
            self._secondary(secondary),
            energy_gev,
            cross_sections=self.cross_sections,
            helium_fraction=self.helium_fraction,
            per_decade=self.per_decade,
        )

    def production(self, energy, secondary="gamma"):
        """Secondaries produced per source, Q_sec(E) of Eq. 7 [TeV-1 per source event].

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            Secondary energy, any shape.
        secondary : str
            "gamma", "nu_all" (all flavours, nu + antinu), "nu_per_flavour" (one flavour at
            Earth, 1:1:1 mixing), or one species at the source: "nu_e", "anu_e", "nu_mu", "anu_mu".
        """
        e = self._energy_gev(energy)
        # unique energies, in memory-bounded chunks (a kernel is ~1 kB per energy and channel)
        unique, inverse = np.unique(e.ravel(), return_inverse=True)
        if unique.size > MAX_DISTINCT_ENERGIES:
            raise ValueError(f"energy has {unique.size} distinct values, at most {MAX_DISTINCT_ENERGIES} per call "
                             "(each needs its own cross-section kernel): evaluate on a grid and interpolate")
        q = np.concatenate([self.production_kernel(unique[i:i + _ENERGY_CHUNK], secondary).evaluate(self.grammage)
                            for i in range(0, unique.size, _ENERGY_CHUNK)])
        return (q[inverse].reshape(e.shape) * u.Unit("GeV-1")).to(u.Unit("TeV-1"))

    def sky_integral(self, region=None):
        """int_region dOmega int ds rho [s-1 cm-2 sr]: the geometric factor of Eq. 8."""
        lb = to_lb_region(region)
        value, _ = _cached_sky_integral(self.source_distribution, lb, self.quadrature)
        return value / KPC_CM**2 * u.Unit("s-1 cm-2 sr")

    def solid_angle(self, region=None):
        """Solid angle of ``region`` [sr] (4 pi for the whole sky)."""
        lb = to_lb_region(region)
        _, omega = _cached_sky_integral(self.source_distribution, lb, self.quadrature)
        return omega * u.sr

    # -- Eq. 8 --------------------------------------------------------------------------------
    def flux(self, energy, secondary="gamma", region=None):
        """Flux integrated over ``region`` (Eq. 8) [cm-2 s-1 TeV-1]; the whole sky if None.

        ``region`` is a `regions` sky region: a RectangleSkyRegion in the galactic frame (an
        l-b box), a CircleSkyRegion, or compound regions of those (see
        :func:`~gammapy_cocoons.skyregions.mask_out`).
        """
        geometry = self.sky_integral(region).to_value("s-1 cm-2 sr")
        production = self.production(energy, secondary).to_value("TeV-1")
        if self.absorption and self._secondary(secondary) == "gamma":
            production = production * self.transmission(energy, region).to_value("")
        return production * geometry / (4.0 * np.pi) * _FLUX_UNIT

    def transmission(self, energy, region=None):
        """Fraction of the gamma rays from the cocoons in ``region`` that survive pair production
        on the interstellar radiation field and the CMB: int dOmega int ds rho exp(-tau) / int dOmega
        int ds rho, tau the optical depth from each source to the Sun
        (:mod:`gammapy_cocoons.physics.absorption`,
        :func:`~gammapy_cocoons.physics.lineofsight.sky_transmission`), same shape as ``energy``.
        1 below ~20 GeV (the pair threshold on starlight)."""
        e = self._energy_gev(energy)
        unique, inverse = np.unique(e.ravel(), return_inverse=True)
        result = cached_transmission(self.source_distribution, to_lb_region(region), self.quadrature, unique)
        return result[np.ravel(inverse)].reshape(e.shape) * u.one

    def intensity(self, energy, region=None, secondary="gamma"):
        """Mean intensity over ``region`` [cm-2 s-1 TeV-1 sr-1]: flux / solid angle."""
        omega = self.solid_angle(region).to_value(u.sr)
        if omega <= 0:
            raise ValueError("region has zero solid angle")
        return self.flux(energy, secondary, region) / (omega * u.sr)

    def column(self, lon, lat):
        """int ds rho along lines of sight [s-1 cm-2] at Galactic (lon, lat) (Angles).

        Its integral over solid angle is :meth:`sky_integral` [s-1 cm-2 sr]; the intensity is
        Q_sec x column / (4 pi sr).
        """
        l = to_value(lon, u.rad, "lon")
        b = to_value(lat, u.rad, "lat")
        if np.any(np.abs(b) > 0.5 * np.pi + 1e-12):
            raise ValueError("lat must be within [-90, 90] deg")
        value = lineofsight.column_density(self.source_distribution, l, b, self.quadrature)
        return value / KPC_CM**2 * u.Unit("s-1 cm-2")

    def sky_intensity(self, energy, lon, lat, secondary="gamma"):
        """Intensity along single lines of sight [cm-2 s-1 TeV-1 sr-1].

        ``energy`` has shape (n,) and ``lon``/``lat`` broadcast to one shape S: the result has
        shape (n,) + S. These are point values; pixel averages near the plane need the
        region integrals.
        """
        q = np.atleast_1d(self.production(energy, secondary).to_value("TeV-1"))
        column = self.column(lon, lat).to_value("s-1 cm-2")
        return np.multiply.outer(q, column) / (4.0 * np.pi) * u.Unit("cm-2 s-1 TeV-1 sr-1")

    # -- Eqs. 9 and 10 ------------------------------------------------------------------------
    def confinement_time(self, n_gas=1 * u.cm**-3):
        """Eq. 9: time to accumulate chi0 in the cocoon gas [yr], chi0 / (m n_gas c).

        ``n_gas`` counts hydrogen atoms per cm3 (the gas holds He/H = :attr:`helium_fraction` more
        atoms); m = m_p (1 + 4 He/H) is the gas mass per hydrogen atom: m_p for
        ``target="hydrogen"`` (the paper's Eq. 9, 2.5e5 yr at 0.4 g cm-2 and 1 cm-3), 1.4 m_p for
        the ISM gas.
        """
        n = positive_value(n_gas, "cm-3", "n_gas")
        return confinement_time(self.grammage.chi0, n, self.helium_fraction) / YR_S * u.yr

    def maximum_cocoon_radius(self, n_gas=1 * u.cm**-3):
        """Eq. 10: largest cocoon radius that does not overfill the source disc [pc]; ``n_gas`` as in
        :meth:`confinement_time`."""
        n = positive_value(n_gas, "cm-3", "n_gas")
        return maximum_cocoon_radius(self.grammage.chi0, n, self.source_distribution, self.helium_fraction) * u.pc


def _target_argument(target, helium_fraction, cross_sections):
    """The canonical target from ``target`` and the deprecated ``helium_fraction`` (shared with the
    gammapy models); helium needs a cross-section model with a helium target."""
    if helium_fraction is not None:
        fraction = positive_float(helium_fraction, "helium_fraction", allow_zero=True, upper=1.0)
        if target != "ism":
            raise ValueError(f"give target or the deprecated helium_fraction, not both (got target={target!r}, "
                             f"helium_fraction={helium_fraction!r})")
        target = resolve_target(fraction, "helium_fraction")
        warnings.warn(f"helium_fraction is deprecated: use target={target!r} (the same gas; chi0 is its mass "
                      "grammage)", DeprecationWarning, stacklevel=3)
    target = resolve_target(target)
    if TargetGas.from_target(target).helium_fraction > 0 and cross_sections != "aafrag":
        raise ValueError(f"target={target!r} has helium, which needs cross_sections='aafrag' (the only model with a "
                         f"helium target); use target='hydrogen' with cross_sections={cross_sections!r}")
    return target
