"""Discrete cocoons: the population behind the smooth emission, its fluctuations, and what a
survey would resolve.

The smooth model (Eq. 8) treats the cocoons as a continuous density. Here they are objects: born
at the rate R_SN from the same source density rho(r, z), each at a random age, each holding the
cosmic rays of Eq. 5 while they are confined. CRs of rigidity R stay for the confinement time
tau_c(R) = chi_c(R) / (m n_gas c) (Eq. 5; Eq. 9 at R -> 0) and then leave: a box in time, the
paper's steady state (``escape="box"``), or an exponential escape (``escape="exponential"``).
``n_gas`` counts hydrogen atoms per cm3 and m = m_p (1 + 4 y) is the mass of the cocoon gas per
hydrogen atom (y its He/H, :mod:`.physics.targetgas`): chi_c is the gas's mass grammage, as in the
smooth model (m = 1.4 m_p for the default ISM gas, m_p for ``target="hydrogen"``, the paper's
m_p n_gas). A cocoon of age a therefore emits

    q(a, E) = n_gas c sum_species sum_targets int dE_p Q(E_p) theta(tau_c(R_p) - a) y_t dsigma_t/dE

(y_H = 1, y_He = y) which, averaged over ages at the rate R_SN, is R_SN Q_sec(E) of Eq. 7: the
population mean is the smooth model exactly (for the same primary quadrature). The cocoon lifetime
is the longest tau_c, so n_gas and chi0 set the number alive, R_SN tau_c(0) (6000 for the
fiducial chi0 = 0.4 g cm-2 of ISM gas at n_gas = 1 cm-3; 8400 for pure hydrogen).

Each cocoon is a uniform sphere of ``radius`` (default 30 pc: star-cluster wind bubbles are tens
of pc across, Blasi & Morlino 2023, MNRAS 523, 4015; Eq. 10 is the upper bound, 120 pc for the
fiducial set-up). Its flux at Earth is q / 4 pi times the volume average of 1/y^2 over the
sphere, y the distance from the observer (closed form; 1/d^2 (1 + R^2 / 5 d^2) far away, 3 / R^2
for an observer at its centre). A volume element dV = y^2 dy dOmega sends a flux ~ dV / y^2, so a
direction carries the sphere's chord along it, and the share of a cocoon inside a sky region is

    int_{region, cap} chord(Omega) dOmega / int_{cap} chord(Omega) dOmega

over the cap the sphere covers (chord = 2 sqrt(R^2 - d^2 sin^2 psi) at angle psi from its centre;
the depth s_max along every direction for a sphere that contains the observer). One rule for every
region (:mod:`.skyregions`) and frame: a cocoon farther than its angular radius from the region's
boundary (``boundary_distance``) is wholly inside or outside; the others are integrated by
Gauss-Legendre in longitude over the cap, split at the region's longitude breaks, and in latitude
over the cap's interval intersected exactly with the region's intervals. Shares of a region's
pieces add up to the whole.

Internal units: kpc, s, GeV.
"""
from dataclasses import dataclass

import numpy as np
import astropy.units as u

from ._validation import integer, positive_value
from .constants import C_CM_S, KPC_CM, YR_S
from .emission import CocoonEmission
from .physics.absorption import PlaneDepths
from .physics.lineofsight import _gauss_legendre  # numpy's leggauss, once per n
from .skyregions import LBBox, _wrap, frame_to_galactic, to_lb_region

__all__ = ["CocoonPopulation", "PopulationSample", "DEFAULT_RADIUS", "ESCAPES", "ball_average_inverse_square"]

#: default cocoon radius: star-cluster wind bubbles of tens of pc (Blasi & Morlino 2023)
DEFAULT_RADIUS = 30 * u.pc
ESCAPES = ("box", "exponential")
#: exponential escape: ages are drawn up to this many times the longest confinement time
#: (the cocoons older than that hold less than e^-12 of their CRs)
EXPONENTIAL_AGE_LIMIT = 12.0
_FLUX_UNIT = u.Unit("cm-2 s-1 TeV-1")
#: realisations sampled at once (bounds the memory of realise)
_CHUNK_COCOONS = 2_000_000
#: cocoons whose transmissions are evaluated at once (bounds the memory of absorbed fluxes)
_CHUNK_ABSORBED = 200_000


def ball_average_inverse_square(d, radius):
    """Volume average of 1/y^2 over a uniform sphere of ``radius`` centred at distance ``d``
    from the observer [1/length^2, same length unit as the inputs].

    (3 / 2 R^3 d) [(R^2 - d^2) atanh(min(d, R) / max(d, R)) + d R]; 1/d^2 (1 + R^2 / 5 d^2) for
    d >> R and 3 / R^2 at d = 0.
    """
    d = np.asarray(d, dtype=float)
    r = float(radius)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"radius must be finite and > 0, got {radius!r}")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("d (distances to the cocoon centres) must be finite and >= 0")
    out = np.empty_like(d)
    far = d > 30.0 * r
    d_far = d[far]
    x = r / d_far  # the same x as r / where(far, d, 1) on the far ones
    out[far] = (1.0 + x**2 / 5.0 + 3.0 * x**4 / 35.0) / d_far**2
    near = ~far
    dn = np.maximum(d[near], 1e-12 * r)
    ratio = np.minimum(dn, r) / np.maximum(dn, r)
    ratio = np.minimum(ratio, 1.0 - 1e-15)
    out[near] = 1.5 / (r**3 * dn) * ((r * r - dn * dn) * np.arctanh(ratio) + dn * r)
    return out


#: cocoons whose containment is computed at once (bounds the temporaries: ~10 arrays of this size)
_CONTAINMENT_CHUNK = 500_000

#: Gauss-Legendre nodes of the cap quadrature, per longitude piece and per latitude piece
_CAP_NODES = (12, 10)
#: cocoons whose shares are integrated at once (bounds the memory)
_CAP_CHUNK = 2048


def _sine_nodes(lo, hi, n):
    """Gauss-Legendre nodes and weights on [lo, hi] (arrays, broadcast on a trailing node axis) after
    the substitution x = sin(pi t / 2): exact for a square-root behaviour at either end."""
    x, w = _gauss_legendre(n)
    theta = 0.5 * np.pi * x
    half = 0.5 * (np.asarray(hi) - np.asarray(lo))[..., None]
    # in place, the same operations in the same order as mid + half sin(theta), half cos(theta) pi/2 w
    nodes = half * np.sin(theta)
    nodes += 0.5 * (np.asarray(hi) + np.asarray(lo))[..., None]
    weights = half * np.cos(theta)
    weights *= 0.5 * np.pi
    weights *= w
    return nodes, weights


def _cap_intervals(dl, b0, half):
    """Latitude intervals (..., 2, 2) [rad] of caps (centre latitude b0, angular radius given by the
    half-width ``half`` of their arc along each meridian, from :func:`_cap_arc`) at longitude offsets
    dl: the arc around phi on the great circle through the meridians l and l + 180 deg, and its copy
    shifted by 2 pi, clipped to the meridian (abs(b) <= pi / 2) and merged where they overlap."""
    phi = np.arctan2(np.sin(b0), np.cos(b0) * np.cos(dl))
    valid = half >= 0
    out = np.zeros(np.shape(dl) + (2, 2))
    for k, centre in enumerate((phi, phi - 2 * np.pi * np.sign(phi))):
        lo = np.clip(centre - half, -0.5 * np.pi, 0.5 * np.pi)
        hi = np.clip(centre + half, -0.5 * np.pi, 0.5 * np.pi)
        keep = valid & (hi > lo)
        out[..., k, 0], out[..., k, 1] = np.where(keep, lo, 0.0), np.where(keep, hi, 0.0)
    overlap = (out[..., 1, 1] > out[..., 1, 0]) & (out[..., 1, 0] <= out[..., 0, 1]) & (out[..., 0, 0] <= out[..., 1, 1])
    merged_lo = np.minimum(out[..., 0, 0], out[..., 1, 0])
    merged_hi = np.maximum(out[..., 0, 1], out[..., 1, 1])
    out[..., 0, 0] = np.where(overlap, merged_lo, out[..., 0, 0])
    out[..., 0, 1] = np.where(overlap, merged_hi, out[..., 0, 1])
    out[..., 1, :] = np.where(overlap[..., None], 0.0, out[..., 1, :])
    return out


def _cap_arc(dl, b0, cos_radius):
    """Half-width of a cap's arc on the great circle through the meridian at offset dl (-1: none)."""
    amplitude = np.hypot(np.sin(b0), np.cos(b0) * np.cos(dl))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cos_radius / amplitude
    return np.where(ratio <= 1.0, np.arccos(np.clip(ratio, -1.0, 1.0)), -1.0)


def _rim_crossings(lb, l0, b0, size):
    """Longitudes (relative to l0) where the rims of caps (l0, b0, size) [rad] meet the circles the
    region's boundary lies on (``boundary_circles``), NaN elsewhere (m, 2 x circles): there the
    share's longitude integrand has a kink."""
    from .skyregions import _unit_vectors

    circles = lb.boundary_circles()
    if not circles:
        return np.full((l0.size, 1), np.nan)
    centre = _unit_vectors(l0, b0)
    c1 = np.cos(size)
    out = []
    for normal, c2 in circles:
        d = centre @ normal
        cross = np.cross(centre, normal)
        norm2 = np.sum(cross**2, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (c1 - c2 * d) / norm2, (c2 - c1 * d) / norm2
            base = a[:, None] * centre + b[:, None] * normal
            t = np.sqrt((1.0 - np.sum(base**2, axis=-1)) / norm2)
        for sign in (-1.0, 1.0):
            point = base + sign * t[:, None] * cross
            out.append(_wrap(np.arctan2(point[:, 1], point[:, 0]) - l0))
    return np.stack(out, axis=1)


def _cap_cuts(lb, l0, b0, size):
    """Half-width [rad] of each cap's longitude range (pi for a cap over a pole or the whole sky)
    and the longitudes (relative to l0) where its integrand has a kink, sorted, ``half`` where a
    cap has fewer (m, k): the region's longitude breaks and the rim's crossings with the boundary."""
    from .pixelweights import _breaks_within

    whole = size >= np.pi
    pole = whole | (np.abs(b0) + size >= 0.5 * np.pi)
    half = np.where(pole, np.pi, np.arcsin(np.clip(np.sin(size) / np.cos(b0), 0.0, 1.0)))
    rims = _rim_crossings(lb, l0, b0, size)
    rims[whole] = np.nan  # the whole sky has no rim
    cuts = np.concatenate([_breaks_within(lb, l0, -half, half), rims], axis=1)
    with np.errstate(invalid="ignore"):
        cuts = np.where(np.isfinite(cuts) & (np.abs(cuts) < half[:, None]), cuts, half[:, None])
    return half, np.sort(cuts, axis=1)


def _line_integrals(low, high, sin_b0, cos_b0, dl, rows, profile, n_b):
    """int_low^high profile cos b db [rad] on lines of longitude offset dl from caps centred at
    latitudes with sines and cosines sin_b0, cos_b0 (1-d arrays, one entry a line; ``rows`` the
    cap of each line for ``profile``), by Gauss-Legendre after the sine substitution."""
    b, wb = _sine_nodes(low, high, n_b)  # (lines, n_b)
    cos_b = np.cos(b)
    # 1 - cos psi = ((sin b - sin b0)^2 + (cos b - cos b0)^2) / 2 + 2 cos b cos b0 sin^2(dl / 2), without
    # cancellation; in place, the operations of that expression in its order
    one_minus_cos = np.sin(b, out=b)
    one_minus_cos -= sin_b0[:, None]
    np.square(one_minus_cos, out=one_minus_cos)
    work = cos_b - cos_b0[:, None]
    np.square(work, out=work)
    one_minus_cos += work
    one_minus_cos *= 0.5
    np.multiply(2.0, cos_b, out=work)
    work *= cos_b0[:, None]
    work *= np.sin(0.5 * dl[:, None]) ** 2
    one_minus_cos += work
    wb *= cos_b
    wb *= profile(one_minus_cos, rows, 2)
    return np.sum(wb, axis=-1)


def _nonempty(intervals):
    """Which of the intervals (m, nodes, k, 2) are non-empty somewhere (the first one always)."""
    keep = np.any(intervals[..., 1] > intervals[..., 0], axis=(0, 1))
    keep[:1] = True
    return keep


def _cap_shares(lb, l0, b0, size, profile, nodes=_CAP_NODES, totals=False):
    """int over (cap and lb) of profile dOmega / the same over the cap, for caps of angular radius
    ``size`` [rad] around (l0, b0) [rad] (1-d arrays; size >= pi is the whole sky).

    ``profile(one_minus_cos, rows, ndim)`` gives the weight at angle psi from the centre (1 - cos psi,
    computed without cancellation) for the caps ``rows`` (an index array), ``one_minus_cos`` having
    ``ndim`` dimensions, the first over those caps. Gauss-Legendre (sine substitution) in longitude
    over the cap's range split at the region's longitude breaks, and in latitude over the cap's arcs
    intersected exactly with the region's intervals, with the same nodes for the region and for the
    whole cap, so that the shares of a region's pieces add up.

    Caps are taken in order of their number of longitude pieces, and pieces (in longitude and
    latitude) that are empty for every cap of a chunk are left out: they have zero width, so their
    nodes carry zero weight (the integrals are those of every piece, to rounding).
    """
    l0, b0, size = (np.asarray(a, float) for a in (l0, b0, size))
    out = np.empty((2, l0.size))
    n_l, n_b = nodes
    # the number of kinks of each cap first (a chunk at a time: a raster's breaks are many)
    count = np.empty(l0.size, int)
    for start in range(0, l0.size, _CAP_CHUNK):
        rows = slice(start, start + _CAP_CHUNK)
        half, cuts = _cap_cuts(lb, l0[rows], b0[rows], size[rows])
        count[rows] = np.sum(cuts < half[:, None], axis=1)
    order = np.argsort(count, kind="stable")
    for start in range(0, l0.size, _CAP_CHUNK):
        rows = order[start:start + _CAP_CHUNK]
        lc, bc, radius = l0[rows], b0[rows], size[rows]
        whole = radius >= np.pi
        half, cuts = _cap_cuts(lb, lc, bc, radius)
        # the cuts beyond the most any cap here has equal half: the pieces they bound are empty
        edges = np.concatenate([-half[:, None], cuts, half[:, None]], axis=1)[:, :int(np.max(count[rows])) + 2]
        dl, wl = _sine_nodes(edges[:, :-1], edges[:, 1:], n_l)
        dl, wl = dl.reshape(lc.size, -1), wl.reshape(lc.size, -1)
        arc = _cap_arc(dl, bc[:, None], np.cos(radius)[:, None])
        cap = _cap_intervals(dl, bc[:, None], arc)  # (m, nodes, 2, 2)
        cap[whole] = np.array([[-0.5 * np.pi, 0.5 * np.pi], [0.0, 0.0]])
        cap = cap[..., _nonempty(cap), :]  # the arcs some cap here has
        region = lb.latitude_interval_array((lc[:, None] + dl).ravel()).reshape(dl.shape + (-1, 2))
        region = region[..., _nonempty(region), :]
        low = np.maximum(cap[..., :, None, 0], region[..., None, :, 0])  # cap and region (m, nodes, arcs, k)
        high = np.minimum(cap[..., :, None, 1], region[..., None, :, 1])
        # latitude integrals on the non-empty lines only (an empty one is 0); where the region holds
        # a cap's whole arc, the cap's own integral (the same nodes)
        sin_b0, cos_b0 = np.sin(bc), np.cos(bc)

        def lines(mask, low, high):
            cap_index, node = np.nonzero(mask)[:2]
            return _line_integrals(low[mask], high[mask], sin_b0[cap_index], cos_b0[cap_index], dl[cap_index, node],
                                   rows[cap_index], profile, n_b)

        arcs = np.zeros(cap.shape[:-1])
        filled = cap[..., 1] > cap[..., 0]
        arcs[filled] = lines(filled, cap[..., 0], cap[..., 1])
        same = (low == cap[..., :, None, 0]) & (high == cap[..., :, None, 1])
        pieces = np.where(same, arcs[..., None], 0.0)
        cut = (high > low) & ~same
        pieces[cut] = lines(cut, low, high)
        integrals = [np.sum(wl * values.reshape(dl.shape + (-1,)).sum(axis=-1), axis=1) for values in (pieces, arcs)]
        out[:, rows] = integrals
    if totals:
        return out
    return np.clip(np.where(out[1] > 0, out[0] / np.where(out[1] > 0, out[1], 1.0), 0.0), 0.0, 1.0)


#: caps smaller than this [rad] that one boundary circle crosses take the flat-sky share
#: (:func:`_small_cap_shares`; its error ~ the radius squared: < 1e-4)
_SMALL_CAP = np.radians(0.5)


def _small_cap_shares(lb, l0, b0, size):
    """Shares of small caps that cross a single circle of the region's boundary, in the flat-sky
    limit: the cocoon's ball cut by the plane through the observer and that circle's tangent, of
    which the part at x radii beyond the centre holds (1 - x)^2 (2 + x) / 4 of its volume.

    Returns (mask of the caps done here, their shares). Caps of radius >= :data:`_SMALL_CAP`, caps
    near two circles (a corner, a narrow region) or none (rasterised regions), and caps on a circle
    that bends across them (a source mask) are left to the quadrature (:func:`_cap_shares`)."""
    circles = lb.boundary_circles()
    small = size < _SMALL_CAP
    if not circles or not np.any(small):
        return np.zeros(size.size, bool), np.zeros(0)
    from .skyregions import _unit_vectors

    centre = _unit_vectors(l0, b0)
    distance = np.zeros(size.size)  # to the one circle within the radius
    bend = np.zeros(size.size)  # that circle's geodesic curvature |cot rho| [rad-1]
    mirror = centre.copy()  # the centre reflected across that circle
    count = np.zeros(size.size, int)
    for normal, offset in circles:
        polar = np.arccos(np.clip(centre @ normal, -1.0, 1.0))
        rho = np.arccos(np.clip(offset, -1.0, 1.0))
        near = np.abs(polar - rho) < size
        count += near
        distance = np.where(near, np.abs(polar - rho), distance)
        bend = np.where(near, abs(np.cos(rho)) / max(np.sin(rho), 1e-300), bend)
        across = centre - np.cos(polar)[:, None] * normal  # towards the centre, perpendicular to the pole
        with np.errstate(invalid="ignore", divide="ignore"):
            across /= np.linalg.norm(across, axis=1, keepdims=True)
        reflected = np.cos(2 * rho - polar)[:, None] * normal + np.sin(2 * rho - polar)[:, None] * across
        mirror = np.where(near[:, None], reflected, mirror)
    # a straight edge across the cap: the circle's sagitta over the cap, ~ size^2 |cot rho| / 2, a
    # small part of the radius (a parallel at b = 5 deg bends by 0.09 rad-1; a 1 deg source mask by 57)
    flat = small & (count == 1) & (size * bend < 1e-3) & np.all(np.isfinite(mirror), axis=1)
    x = distance[flat] / size[flat]
    beyond = (1.0 - x) ** 2 * (2.0 + x) / 4.0  # the part on the far side of the circle
    inside = lb.contains(l0[flat], b0[flat])
    # the circle bounds the region here only if the centre and its mirror lie on different sides
    # (a box's meridian circles run on beyond its corners)
    lm = np.arctan2(mirror[flat, 1], mirror[flat, 0])
    bm = np.arcsin(np.clip(mirror[flat, 2], -1.0, 1.0))
    boundary = inside != lb.contains(lm, bm)
    return flat, np.where(boundary, np.where(inside, 1.0 - beyond, beyond), inside.astype(float))


def _maybe_near_boundary(lb, l, b, angular):
    """False only where ``lb.boundary_distance(l, b) > angular`` for sure (every point but an l-b
    box's): a necessary test without trigonometry. Near a parallel edge: |b - level| <= angular, as
    the box computes it. Near a meridian edge (great-circle distance arcsin(|sin(dl)| cos b) with dl
    the longitude from it, at most angular): |sin(dl)| >= 2/pi |dl mod pi| and cos b >= 1 - b^2 / 2,
    with slack for rounding."""
    if not isinstance(lb, LBBox):
        return np.ones(np.shape(l), bool)
    near = (np.abs(b - lb.b_min) <= angular) | (np.abs(b - lb.b_max) <= angular)
    if lb.half_width < np.pi:
        offset = l - lb.l_center
        dl = np.minimum(*(np.abs(y - np.pi * np.rint(y / np.pi))
                          for y in (offset - lb.half_width, offset + lb.half_width)))
        near |= dl * (2.0 / np.pi) * np.maximum(1.0 - 0.5 * b * b, 0.0) <= angular * (1.0 + 1e-9) + 1e-12
    return near


#: the single-precision bulk test of :func:`_box_bulk` sends to the exact rule every cocoon within
#: this factor of its angular radius, plus this angle [rad], of a box's edge: far beyond the float32
#: rounding (~1e-6 rad), so that both tests agree on the rest
_BULK_SLACK = (1e-4, 1e-5)


def _checked_cocoons(position, lonlat, distance):
    """:meth:`CocoonPopulation.containment`'s cocoons as real arrays (their precision kept: the
    population's positions are single precision), or a ValueError naming the argument: positions
    (n, 3) [kpc], (l, b) [rad] and distances [kpc] of n finite values each."""
    def real(value):
        array = np.asarray(value) if not isinstance(value, str) else np.asarray(None)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            return None
        return array

    position = real(position)
    if position is None or position.ndim != 2 or position.shape[1] != 3 or not np.all(np.isfinite(position)):
        raise ValueError("position must be an (n_cocoons, 3) array of finite Galactocentric positions [kpc], got "
                         f"shape {None if position is None else position.shape}")
    n = position.shape[0]
    if lonlat is not None:
        lonlat = tuple(real(v) for v in lonlat) if np.iterable(lonlat) and not isinstance(lonlat, str) else (None,)
        if len(lonlat) != 2 or any(v is None or v.shape != (n,) or not np.all(np.isfinite(v)) for v in lonlat):
            raise ValueError(f"lonlat must be (l, b) [rad]: two arrays of {n} finite values (one per cocoon)")
    if distance is not None:
        distance = real(distance)
        if distance is None or distance.shape != (n,) or not np.all(np.isfinite(distance) & (distance > 0)):
            raise ValueError(f"distance must be {n} finite positive distances [kpc] (one per cocoon)")
    return position, lonlat, distance


def _box_bulk(lb, l, b, position, radius):
    """Cocoons at (l, b) [rad] (any float dtype), heliocentric ``position`` [kpc], of ``radius`` [kpc]
    for the l-b box ``lb``: (those that may lie within their angular radius of an edge, contain the
    observer, or lie within :data:`_BULK_SLACK` of an edge, as a mask; membership of the centres as
    floats, exact for the others).

    In single precision, a superset of what :meth:`CocoonPopulation._exact_containment` treats as cut
    (:func:`_maybe_near_boundary` with the angular radius arcsin(x) <= x / sqrt(1 - x^2), x = R / d,
    widened by :data:`_BULK_SLACK`): the others are farther than their radius from every edge, so
    their share is the membership of their centre, which rounding cannot change there."""
    l = np.asarray(l, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    f32 = np.float32
    d2 = np.zeros(len(position), dtype=np.float32)
    for k in range(3):
        d2 += np.square(position[:, k], dtype=np.float32)
    # x^2 / (1 - x^2) >= arcsin(x)^2 for x = R / d < 1; the observer's own cocoons (x >= 1) are near
    x2 = f32(radius * radius) / np.maximum(d2, f32(1e-30))
    near = x2 >= f32(1.0 - 1e-4)
    tol = np.sqrt(x2 / np.maximum(f32(1.0) - x2, f32(1e-4)))
    tol *= f32(1.0 + _BULK_SLACK[0])
    tol += f32(_BULK_SLACK[1])
    near |= np.abs(b - f32(lb.b_min)) <= tol
    near |= np.abs(b - f32(lb.b_max)) <= tol
    member = (b >= f32(lb.b_min)) & (b <= f32(lb.b_max))
    if lb.half_width < np.pi:
        offset = l - f32(lb.l_center)
        dl = np.minimum(*(np.abs(y - f32(np.pi) * np.rint(y / f32(np.pi)))
                          for y in (offset - f32(lb.half_width), offset + f32(lb.half_width))))
        near |= dl * f32(2.0 / np.pi) * np.maximum(f32(1.0) - f32(0.5) * b * b, f32(0.0)) <= tol
        offset -= f32(2.0 * np.pi) * np.rint(offset / f32(2.0 * np.pi))  # in [-pi, pi]
        member &= np.abs(offset) <= f32(lb.half_width)
    return near, member.astype(float)


#: uniform buckets of the look-up table of :func:`_count_greater`
_COUNT_BUCKETS = 1 << 16


def _count_greater(descending, values):
    """How many of the ``descending`` nodes exceed each of ``values`` (int32): the integers of
    ``np.searchsorted(-descending, -values, side="left")``, found in a look-up table over uniform
    buckets of the values' range, and by bisection only for the values in the buckets with a node
    nearby. A value's bucket, computed in floating point, is its own or a neighbour; where the count
    is the same two buckets before and three after (it does not increase with the value), every
    value there has that count."""
    values = np.asarray(values, dtype=float)

    def bisection(v):
        return np.searchsorted(-descending, -v, side="left").astype(np.int32)

    if values.size < 8 * _COUNT_BUCKETS:
        return bisection(values)
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        return bisection(values)
    k = _COUNT_BUCKETS
    width = (high - low) / k
    edges = low + width * np.arange(-2.0, k + 3.0)  # edge j + 2 is the start of bucket j
    counts = bisection(edges)
    certain = counts[:k] == counts[5:]
    bucket = ((values - low) / width).astype(np.int32)
    np.minimum(bucket, k - 1, out=bucket)
    out = counts[2:k + 2][bucket]
    doubt = np.nonzero(~certain[bucket])[0]
    out[doubt] = bisection(values[doubt])
    return out


def _norm(position):
    """|position| in double precision, column by column (no (n, 3) double copy)."""
    total = np.zeros(len(position))
    for k in range(3):
        total += np.square(position[:, k], dtype=float)
    return np.sqrt(total)


def _lb(vectors):
    """Galactic (l, b) [rad] of heliocentric vectors (x towards the Galactic centre)."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))


@dataclass
class PopulationSample:
    """Cocoons of ``n`` realisations, concatenated.

    Attributes (one entry per cocoon): ``realisation`` (index), ``position`` (heliocentric x, y, z
    [kpc], x towards the Galactic centre), ``age`` [s]. ``n_alive`` is the number per realisation.
    Fluxes come from :meth:`flux`.
    """

    population: "CocoonPopulation"
    n: int
    realisation: np.ndarray
    position: np.ndarray
    age: np.ndarray

    def __post_init__(self):
        self._cache = {}

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def n_alive(self):
        """Cocoons per realisation holding CRs (all sampled ones), int array (n,)."""
        # realise() caches its Poisson counts (the same integers)
        return self._cached("n_alive", lambda: np.bincount(self.realisation, minlength=self.n)).copy()

    @property
    def distance(self):
        """Distance of each cocoon's centre [kpc] (cached)."""
        return self._cached("distance", lambda: _norm(self.position))

    def _distance(self, cocoons=slice(None)):
        """Distances [kpc] of ``cocoons`` (an index or slice), from the cache if there is one: the
        computations inside take them chunk by chunk and keep no array of all."""
        if "distance" in self._cache:
            return self._cache["distance"][cocoons]
        return _norm(self.position[cocoons])

    def _chunks(self):
        return [slice(start, start + _CONTAINMENT_CHUNK) for start in range(0, len(self.position), _CONTAINMENT_CHUNK)]

    @property
    def angular_radius(self):
        """Angular radius of each cocoon [deg]; 180 for one that contains the observer."""
        return self._angular_radius()

    def _angular_radius(self, cocoons=slice(None)):
        r = self.population.radius_kpc
        d = self._distance(cocoons)
        return np.degrees(np.where(d > r, np.arcsin(np.minimum(r / np.maximum(d, r), 1.0)), np.pi))

    def _geometry(self):
        """<1/y^2> / 4 pi of each cocoon [cm-2] (cached; computed chunk by chunk)."""
        def compute():
            out = np.empty(len(self.position))
            for part in self._chunks():
                out[part] = ball_average_inverse_square(self._distance(part), self.population.radius_kpc) \
                    / (4.0 * np.pi * KPC_CM**2)
            return out

        return self._cached("geometry", compute)

    def _region_weights(self, region):
        """(cocoons with flux in ``region``, their flux weights [cm-2]: geometry times containment):
        a slice of all for the whole sky, else an index array (cached: only the shares > 0 are kept)."""
        geometry = self._geometry()
        if region is None:
            return slice(None), geometry
        lb = to_lb_region(region)
        self._region_shares([lb])
        members, share = self._cache[("region", lb.key)]
        return members, geometry[members] * share

    def _region_shares(self, regions):
        """Cache the containment shares > 0 of the cocoons in each of the l-b ``regions`` not cached
        yet (:meth:`_containment_entries`)."""
        self._cache.update(self._containment_entries(regions))

    def _containment_entries(self, regions, chunks=slice(None)):
        """The cache entries {("region", key): (cocoons, shares > 0)} of the containment
        (:meth:`CocoonPopulation.containment`) in each of the l-b ``regions`` not cached yet: one
        pass over the cocoons, chunk by chunk, with their (l, b) in single precision (those the
        containment was always given) computed once for all the regions; no array of all the
        cocoons' directions or distances is kept. ``chunks`` (a slice of :meth:`_chunks`) takes
        some of them; the entries of consecutive slices concatenate into those of their union."""
        todo = list({lb.key: lb for lb in regions if ("region", lb.key) not in self._cache}.values())
        members, values = {lb.key: [np.zeros(0, np.intp)] for lb in todo}, {lb.key: [np.zeros(0)] for lb in todo}
        for part in self._chunks()[chunks] if todo else ():
            position = self.position[part]
            lonlat = tuple(a.astype(np.float32) for a in _lb(position))
            distance = self._cache["distance"][part] if "distance" in self._cache else None
            for lb in todo:
                share = self.population.containment(position, lb, lonlat, distance)
                keep = np.nonzero(share > 0)[0]
                members[lb.key].append(keep + part.start)
                values[lb.key].append(share[keep])
        return {("region", lb.key): (np.concatenate(members[lb.key]), np.concatenate(values[lb.key])) for lb in todo}

    def _weight(self, region):
        """Flux weight of each cocoon in ``region`` [cm-2]: geometry times containment, (n_cocoons,)."""
        members, weight = self._region_weights(region)
        if region is None:
            return weight
        out = np.zeros(len(self.position))
        out[members] = weight
        return out

    def _rows(self, energy_gev, secondary, cocoons=slice(None)):
        pop = self.population
        if pop.escape != "box":
            return pop._age_rows(self.age[cocoons], energy_gev, secondary)
        # the row of a cocoon depends on its age only (the same confinement times at every energy)
        rows, table = pop._age_rows(self.age if "rows" not in self._cache else None, energy_gev, secondary)
        rows = self._cached("rows", lambda: rows)
        return [(index[cocoons], share) for index, share in rows], table

    def number_holding(self, rigidity):
        """Cocoons per realisation still holding CRs of ``rigidity`` (box escape), int array (n,)."""
        if np.ndim(rigidity) != 0:
            raise ValueError(f"rigidity must be one value (a scalar Quantity), got shape {np.shape(rigidity)}")
        tau = self.population.confinement_time(rigidity).to_value("s")
        return np.bincount(self.realisation[self.age < tau], minlength=self.n)

    def _absorbed(self, secondary):
        return self.population.emission.absorption and self.population.emission._secondary(secondary) == "gamma"

    def transmission(self, energy, cocoons=slice(None)):
        """Transmission exp(-tau) of each cocoon's gamma rays to the Sun (pair production on the
        ISRF and the CMB, :mod:`gammapy_cocoons.physics.absorption`, from the cocoon's centre), shape
        (n_cocoons, n_energy); ``cocoons`` selects some (an index or slice)."""
        return self._transmission(np.atleast_1d(self.population.emission._energy_gev(energy)).ravel(), cocoons)

    def _transmission(self, energy_gev, cocoons):
        position = self.position[cocoons].astype(float)
        depths = self._cached("depths", lambda: PlaneDepths(
            float(np.max(np.hypot(self.position[:, 0], self.position[:, 1]), initial=0.0)),
            r_sun=self.population.distribution.r_sun))
        d = np.hypot(position[:, 0], position[:, 1])
        lon = np.arctan2(position[:, 1], position[:, 0])
        return np.exp(-depths.depth(energy_gev, lon, d, position[:, 2]))

    def cocoon_flux(self, energy, secondary="gamma", cocoons=slice(None)):
        """Flux of every cocoon at Earth, whole sky [cm-2 s-1 TeV-1], shape (n_cocoons, n_energy);
        absorbed (:meth:`transmission`) when the emission has ``absorption=True``. ``cocoons``
        selects some (an index array or slice): only those are computed."""
        energy_gev = np.atleast_1d(self.population.emission._energy_gev(energy)).ravel()
        rows, table = self._rows(energy_gev, secondary, cocoons)
        flux = sum(table[index] * np.reshape(share, (-1, 1)) for index, share in rows)
        flux = flux * self._geometry()[cocoons, None]
        if self._absorbed(secondary):
            flux *= self._transmission(energy_gev, cocoons)
        return flux * _FLUX_UNIT

    def flux(self, energy, region=None, secondary="gamma", min_distance=0 * u.kpc):
        """Total cocoon flux in ``region`` of each realisation [cm-2 s-1 TeV-1], shape (n, n_energy).

        ``min_distance`` leaves out the cocoons closer than that (the near ones dominate the
        fluctuations).
        """
        pop = self.population
        energy_gev = np.atleast_1d(pop.emission._energy_gev(energy))
        d_min = float(positive_value(min_distance, "kpc", "min_distance", allow_zero=True))
        members, weight = self._region_weights(region)
        rows, table = self._rows(energy_gev.ravel(), secondary)
        n_rows = table.shape[0]
        out = np.zeros((self.n, table.shape[1]))
        if self._absorbed(secondary):
            # each cocoon's own transmission: a sum over the cocoons seen, per realisation (in chunks)
            from scipy.sparse import csr_matrix

            if d_min > 0:
                weight = np.where(self._distance(members) >= d_min, weight, 0.0)
            active = np.arange(len(self.position))[members][weight > 0]  # the cocoons seen in the region
            weight = weight[weight > 0]
            for start in range(0, active.size, _CHUNK_ABSORBED):
                part = active[start:start + _CHUNK_ABSORBED]
                weighted = self._transmission(energy_gev.ravel(), part) * weight[start:start + _CHUNK_ABSORBED, None]
                values = sum(table[index[part]] * (share[part, None] if np.ndim(share) else share)
                             for index, share in rows) * weighted
                seen = self.realisation[part]
                indicator = csr_matrix((np.ones(seen.size), (seen, np.arange(seen.size))), shape=(self.n, seen.size))
                out += indicator @ values
            return out.reshape((self.n,) + np.shape(energy_gev)) * _FLUX_UNIT
        # per realisation, a histogram of weights over the rows of the age table, then one product;
        # the cocoons in chunks (the temporaries stay small)
        hist = np.zeros(self.n * n_rows)
        for start in range(0, weight.size, _CONTAINMENT_CHUNK):
            part = slice(start, start + _CONTAINMENT_CHUNK)
            cocoons = part if isinstance(members, slice) else members[part]
            w = weight[part]
            if d_min > 0:
                w = np.where(self._distance(cocoons) >= d_min, w, 0.0)
            for index, share in rows:
                flat = self.realisation[cocoons].astype(np.int64)
                flat *= n_rows
                flat += index[cocoons]
                hist += np.bincount(flat, weights=w if np.ndim(share) == 0 and share == 1.0 else w * share[cocoons],
                                    minlength=self.n * n_rows)
        out += hist.reshape(self.n, n_rows) @ table
        return out.reshape((self.n,) + np.shape(energy_gev)) * _FLUX_UNIT

    def _summed_flux(self, energy, region=None, secondary="gamma", min_distances=(0.0,)):
        """The realisations' total cocoon flux in ``region`` [cm-2 s-1 TeV-1], shape (len(min_distances),
        n_energy), from the cocoons at or beyond each of ``min_distances`` [kpc]: :meth:`flux` summed
        over the realisations (to rounding), in one pass over the cocoons for all the distances (box
        escape without absorption; else by :meth:`flux`)."""
        pop = self.population
        energy_gev = np.atleast_1d(pop.emission._energy_gev(energy)).ravel()
        d_mins = [float(d) for d in min_distances]
        if pop.escape != "box" or self._absorbed(secondary):
            return np.array([self.flux(energy_gev * u.GeV, region, secondary, d * u.kpc).to_value(_FLUX_UNIT)
                             .sum(axis=0) for d in d_mins])
        members, weight = self._region_weights(region)
        [(index, _)], table = self._rows(energy_gev, secondary)  # box escape: one row per cocoon, share 1
        out = np.zeros((len(d_mins), table.shape[1]))
        for start in range(0, weight.size, _CONTAINMENT_CHUNK):
            part = slice(start, start + _CONTAINMENT_CHUNK)
            cocoons = part if isinstance(members, slice) else members[part]
            value = table[index[cocoons]] * weight[part, None]
            distance = self._distance(cocoons) if any(d > 0 for d in d_mins) else None
            for k, d_min in enumerate(d_mins):
                out[k] += (value[distance >= d_min] if d_min > 0 else value).sum(axis=0)
        return out

    def quantiles(self, energy, region=None, secondary="gamma", levels=(0.025, 0.16, 0.5, 0.84, 0.975)):
        """Quantiles of the realisation fluxes [cm-2 s-1 TeV-1], shape (len(levels), n_energy)."""
        levels = np.asarray(levels, dtype=float)
        if levels.ndim != 1 or levels.size == 0 or not np.all((levels >= 0) & (levels <= 1)):
            raise ValueError(f"levels must be a sequence of quantiles in [0, 1], got {levels!r}")
        return np.quantile(self.flux(energy, region, secondary), levels, axis=0)

    def cube(self, geom, index=0, secondary="gamma"):  # noqa: C901 (one loop over the cocoons)
        """Sky cube of realisation ``index`` on ``geom`` (WcsGeom or HpxGeom with an energy axis),
        mean intensity per pixel [cm-2 s-1 TeV-1 sr-1], like :func:`~gammapy_cocoons.templates.make_cube`
        (write it with :func:`~gammapy_cocoons.templates.write_cube`).

        Each cocoon's flux is spread over the pixels whose centres fall inside its angular radius,
        weighted by the projected profile of a uniform sphere, sqrt(1 - (theta / theta_c)^2); a
        cocoon smaller than that goes to the pixel holding its centre; one that contains the
        observer is spread over the sky by its line-of-sight depth s_max.
        """
        from gammapy.maps import HpxGeom, Map, WcsGeom

        from .templates import INTENSITY_UNIT, _energy_axis

        if not isinstance(geom, (WcsGeom, HpxGeom)):
            raise TypeError(f"geom must be a WcsGeom or HpxGeom, got {type(geom).__name__}")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self.n:
            raise ValueError(f"index must be an integer in [0, {self.n - 1}], got {index!r}")
        axis = _energy_axis(geom)
        if axis.name != "energy_true":
            axis = axis.copy(name="energy_true")
            geom = geom.to_image().to_cube([axis])
        members = np.nonzero(self.realisation == index)[0]
        flux = self.cocoon_flux(axis.center, secondary, members).to_value(_FLUX_UNIT)  # (n_cocoons, n_energy)
        image = geom.to_image()
        coords = image.get_coord()
        lon, lat = np.radians(np.ravel(coords.lon)), np.radians(np.ravel(coords.lat))
        valid = np.isfinite(lon) & np.isfinite(lat)
        # pixel directions in Galactic vectors (the cocoons' frame), whatever the map's frame
        rotation = frame_to_galactic(image.frame)
        pixels = np.zeros((lon.size, 3))
        pixels[valid] = np.stack([np.cos(lat[valid]) * np.cos(lon[valid]), np.cos(lat[valid]) * np.sin(lon[valid]),
                                  np.sin(lat[valid])], axis=1) @ rotation.T
        omega = np.broadcast_to(image.solid_angle().to_value("sr"), image.data_shape).ravel()
        finder = _PixelFinder(image, pixels, valid, rotation)
        deposit = np.zeros((lon.size, flux.shape[1]))
        radius = self.population.radius_kpc
        for k, cocoon, d in zip(members, flux, self._distance(members)):
            centre = self.position[k].astype(float)
            if d < radius:  # the observer is inside: every direction, weighted by its depth
                projection = pixels @ centre
                depth = np.where(valid, projection + np.sqrt(np.maximum(projection**2 - d * d + radius**2, 0.0)), 0.0)
                deposit += np.outer(depth * omega / np.sum(depth * omega), cocoon)
                continue
            size = np.arcsin(radius / d)
            near, complete = finder.within(centre / d, size)
            local = np.zeros(0)
            if near.size:
                sin_sep = np.sqrt(np.maximum(1.0 - (pixels[near] @ (centre / d)) ** 2, 0.0))
                local = np.sqrt(np.maximum(1.0 - (sin_sep * d / radius) ** 2, 0.0))
            if local.sum() > 0:
                # a projected uniform sphere; normalised on the pixels if the map holds all of it,
                # else by its integral (2 pi / 3) size^2, so that the part off the map is lost
                norm = np.sum(local * omega[near]) if complete else 2.0 * np.pi / 3.0 * size**2
                deposit[near] += np.outer(local * omega[near] / norm, cocoon)
            else:
                pix = finder.pixel_of(centre / d)
                if pix is not None:
                    deposit[pix] += cocoon
        data = (deposit / omega[:, None]).T.reshape(geom.data_shape)
        return Map.from_geom(geom, data=data, unit=INTENSITY_UNIT)

    def detectable(self, sensitivity, energy, secondary="gamma"):
        """Cocoons above a survey sensitivity, per realisation.

        ``sensitivity`` is a table (QTable or dict) with ``angular_size`` (angle, increasing) and
        ``flux`` (the differential flux threshold at ``energy``, cm-2 s-1 TeV-1 or compatible),
        given by the user. A cocoon's size is its angular radius, and the threshold is interpolated
        log-log between the table's sizes. Cocoons smaller than its smallest size take that size's
        threshold (a survey's point-source limit); cocoons larger than its largest size are not
        extrapolated to but counted as not detectable (reported as ``too_large``).

        Returns a dict of int/float arrays (n,): ``number``, ``flux_fraction`` (the share of the
        realisation's whole-sky cocoon flux they carry), ``too_large``.
        """
        size, threshold = _sensitivity_table(sensitivity)
        e = u.Quantity(energy)
        if e.size != 1:
            raise ValueError("energy must be a single energy (the sensitivity's reference energy)")
        flux = self.cocoon_flux(e.reshape(1), secondary)[:, 0].to_value(_FLUX_UNIT)
        radius = self.angular_radius
        too_large = radius > size[-1]
        limit = np.exp(np.interp(np.log(np.maximum(radius, size[0])), np.log(size), np.log(threshold)))
        above = (flux >= limit) & ~too_large
        number = np.bincount(self.realisation[above], minlength=self.n)
        total = np.bincount(self.realisation, weights=flux, minlength=self.n)
        bright = np.bincount(self.realisation[above], weights=flux[above], minlength=self.n)
        fraction = np.divide(bright, total, out=np.zeros(self.n), where=total > 0)
        return {"number": number, "flux_fraction": fraction,
                "too_large": np.bincount(self.realisation[too_large], minlength=self.n)}


class _PixelFinder:
    """Pixels of an image geometry near a direction: healpy.query_disc for full-sky HEALPix, a
    window around the pixel of the direction for WCS, a brute-force search otherwise. Directions
    are Galactic unit vectors; ``rotation`` takes the map frame's vectors to Galactic ones."""

    def __init__(self, image, pixels, valid, rotation):
        from gammapy.maps import HpxGeom, WcsGeom

        self.image, self.pixels, self.valid, self.rotation = image, pixels, valid, rotation
        self.healpix = isinstance(image, HpxGeom) and image.is_allsky
        self.wcs = isinstance(image, WcsGeom)
        if self.wcs:
            self.shape = image.data_shape  # (ny, nx)
            self.step = np.radians(np.min(np.abs(image.pixel_scales.to_value("deg"))))

    def _lonlat(self, direction):
        """(lon, lat) [deg] of a Galactic direction in the map's frame."""
        lon, lat = _lb(self.rotation.T @ direction)
        return np.degrees(lon), np.degrees(lat)

    def within(self, direction, size):
        """(flat indices of pixel centres within ``size`` [rad] of ``direction``, whether the map
        covers the whole cap)."""
        if self.healpix:
            import healpy as hp

            index = hp.query_disc(self.image.nside[0], self.rotation.T @ direction, size, nest=self.image.nest)
            return index, True
        if self.wcs:
            lon, lat = self._lonlat(direction)
            x, y = self.image.coord_to_pix((lon, lat))
            x, y = float(np.ravel(x)[0]), float(np.ravel(y)[0])
            half_y = size / self.step + 2.0
            half_x = half_y / max(np.cos(np.radians(lat)), 1e-3)
            ny, nx = self.shape
            x0, x1 = int(np.floor(x - half_x)), int(np.ceil(x + half_x)) + 1
            y0, y1 = int(np.floor(y - half_y)), int(np.ceil(y + half_y)) + 1
            complete = x0 >= 0 and y0 >= 0 and x1 <= nx and y1 <= ny
            xs, ys = np.arange(max(x0, 0), min(x1, nx)), np.arange(max(y0, 0), min(y1, ny))
            if xs.size == 0 or ys.size == 0:
                return np.zeros(0, int), False
            flat = (ys[:, None] * nx + xs[None, :]).ravel()
            keep = self.valid[flat] & (self.pixels[flat] @ direction > np.cos(size))
            return flat[keep], complete
        keep = self.valid & (self.pixels @ direction > np.cos(size))
        return np.nonzero(keep)[0], False

    def pixel_of(self, direction):
        """Flat index of the pixel holding ``direction``, or None off the map."""
        index = self.image.coord_to_idx(self._lonlat(direction))
        index = [int(np.ravel(i)[0]) for i in index]
        if any(i < 0 for i in index):
            return None
        if self.wcs:
            return index[1] * self.shape[1] + index[0]
        local = self.image.global_to_local(tuple(np.atleast_1d(i) for i in index)) if not self.image.is_allsky \
            else index
        flat = int(np.ravel(local[0])[0])
        return flat if flat >= 0 else None


def _sensitivity_table(sensitivity):
    try:
        size = u.Quantity(sensitivity["angular_size"])
        flux = u.Quantity(sensitivity["flux"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("sensitivity needs columns 'angular_size' (angle) and 'flux' (cm-2 s-1 TeV-1)") from None
    if size.unit.physical_type != "angle" or flux.unit.physical_type == "dimensionless":
        raise u.UnitsError("sensitivity: 'angular_size' must be an angle and 'flux' a differential flux, with units")
    try:
        flux = flux.to_value(_FLUX_UNIT)
    except u.UnitConversionError:
        raise u.UnitConversionError(f"sensitivity: 'flux' must be in cm-2 s-1 TeV-1, got '{flux.unit}'") from None
    size = size.to_value(u.deg)
    if size.ndim != 1 or size.size < 1 or size.size != flux.size:
        raise ValueError("sensitivity: 'angular_size' and 'flux' must be 1-d columns of equal length")
    if np.any(~np.isfinite(size)) or np.any(size <= 0) or np.any(np.diff(size) <= 0):
        raise ValueError("sensitivity: 'angular_size' must be finite, > 0 and increasing")
    if np.any(~np.isfinite(flux)) or np.any(flux <= 0):
        raise ValueError("sensitivity: 'flux' must be finite and > 0")
    if size.size == 1:
        size, flux = np.array([size[0] * (1 - 1e-9), size[0]]), np.array([flux[0], flux[0]])
    return size, flux


class CocoonPopulation:
    """The cocoons at one moment (module docstring).

    Parameters
    ----------
    emission : CocoonEmission, optional
        The smooth model whose sources, injection, grammage law and cross sections the cocoons
        share (default: the paper's fiducial set-up).
    n_gas : `~astropy.units.Quantity`
        Hydrogen atoms per cm3 in the cocoons (cm-3), > 0; the gas is the emission's ``target``
        (He/H = 0.1 more helium atoms for the default ISM gas). With chi_c it sets the confinement
        times, chi_c / (m n_gas c) with m = m_p (1 + 4 He/H).
    radius : `~astropy.units.Quantity`
        Radius of every cocoon, > 0 (default :data:`DEFAULT_RADIUS`).
    escape : {"box", "exponential"}
        CRs leave after tau_c(R) (the paper's steady state) or at the rate 1 / tau_c(R).
    seed : int or None
        Seed of the random generator (same seed, same realisations).
    """

    def __init__(self, emission=None, n_gas=1 * u.cm**-3, radius=DEFAULT_RADIUS, escape="box", seed=None):
        self.emission = CocoonEmission() if emission is None else emission
        if not isinstance(self.emission, CocoonEmission):
            raise TypeError(f"emission must be a CocoonEmission, got {type(self.emission).__name__}")
        self.n_gas = float(positive_value(n_gas, "cm-3", "n_gas"))
        self.radius_kpc = float(positive_value(radius, "kpc", "radius"))
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {list(ESCAPES)}, got {escape!r}")
        self.escape = escape
        self.seed = None if seed is None else integer(seed, "seed", minimum=0)
        self._rng = np.random.default_rng(self.seed)
        self._tables = {}
        self._near_cache = {}

    def __repr__(self):
        return (f"CocoonPopulation(n_gas={self.n_gas} H cm-3, target={self.emission.target!r}, "
                f"radius={self.radius_kpc * 1e3:g} pc, "
                f"escape={self.escape!r}, grammage={self.emission.grammage!r})")

    @property
    def distribution(self):
        return self.emission.source_distribution

    @property
    def radius(self):
        return self.radius_kpc * u.kpc.to(u.pc) * u.pc

    # -- confinement ---------------------------------------------------------------------------
    @property
    def _grammage_rate(self):
        """Grammage crossed per second [g cm-2 s-1], m n_gas c: the gas mass per hydrogen atom of the
        emission's target times the hydrogen density and c (the same m as Eq. 9)."""
        return self.emission.gas.mass_per_hydrogen_g * self.n_gas * C_CM_S

    def confinement_time(self, rigidity):
        """tau_c(R) = chi_c(R) / (m n_gas c) (Eq. 5), Quantity in yr, same shape as ``rigidity``."""
        r = positive_value(rigidity, "GV", "rigidity")
        return self.emission.grammage(r) / self._grammage_rate / YR_S * u.yr

    @property
    def lifetime(self):
        """Age up to which cocoons are drawn [yr]: the longest confinement time of the tabulated
        primaries (box), or :data:`EXPONENTIAL_AGE_LIMIT` times it (exponential)."""
        tau_max = self._confinement_nodes().max()
        factor = 1.0 if self.escape == "box" else EXPONENTIAL_AGE_LIMIT
        return factor * tau_max / YR_S * u.yr

    def mean_number(self, rigidity=None):
        """Mean number of cocoons alive (``rigidity`` None) or still holding CRs of ``rigidity``:
        R_SN tau_c(R) (box escape)."""
        rate = self.distribution.rate_per_yr
        if rigidity is None:
            return rate * self.lifetime.to_value("yr")
        return rate * self.confinement_time(rigidity).to_value("yr")

    # -- spectra of single cocoons -------------------------------------------------------------
    def _confinement_nodes(self):
        channels = self.emission.production_kernel(np.array([1e3]), "gamma").channels
        chi = np.concatenate([self.emission.grammage(rigidity) for _, _, rigidity, _ in channels])
        return chi / self._grammage_rate

    def _age_table(self, energy_gev, secondary):
        """(tau [s] of every primary node, descending; table (n_rows, n_energy) [TeV-1 s-1]).

        Box escape: row m is the emission of a cocoon holding the m nodes with the longest tau
        (cumulative sum), exact. Exponential: rows on an age grid (2049 uniform ages to the age limit
        and 6144 logarithmic ones from a hundredth of the shortest tau), interpolated linearly
        (tested: the mean over ages of the rows is Q_sec to 3e-3 up to 300 TeV).
        """
        key = (energy_gev.tobytes(), secondary)
        if key not in self._tables:
            kernel = self.emission.production_kernel(energy_gev, secondary)
            taus, rates = [], []
            rate_factor = self._grammage_rate
            for i, grid, rigidity, matrix in kernel.channels:
                spectrum = kernel.injections[i].dn_de(grid.energy)
                taus.append(self.emission.grammage(rigidity) / rate_factor)
                rates.append((matrix * (spectrum * rate_factor)).T)  # (n_nodes, n_energy) GeV-1 s-1
            tau, rate = np.concatenate(taus), np.concatenate(rates) * 1e3  # TeV-1 s-1
            order = np.argsort(-tau, kind="stable")
            tau, rate = tau[order], rate[order]
            if self.escape == "box":
                table = np.vstack([np.zeros(rate.shape[1]), np.cumsum(rate, axis=0)])
                self._tables[key] = ("box", tau, table)
            else:
                # log-spaced ages resolve the short confinement times of the high rigidities
                shortest = tau[tau > 0].min() if np.any(tau > 0) else tau.max()
                longest = EXPONENTIAL_AGE_LIMIT * tau.max()
                ages = np.unique(np.concatenate([np.linspace(0.0, longest, 2049),
                                                 np.geomspace(shortest / 100.0, longest, 6144)]))
                # nodes with tau = 0 (no grammage) hold nothing at any age
                with np.errstate(divide="ignore", over="ignore"):
                    ratio = np.where(tau[None, :] > 0, ages[:, None] / np.where(tau > 0, tau, 1.0)[None, :], np.inf)
                table = np.exp(-ratio) @ rate
                self._tables[key] = ("exponential", ages, table)
        return self._tables[key]

    def _age_rows(self, age, energy_gev, secondary):
        """[(row index, share)] per cocoon into the age table, and the table (rows None if ``age`` is)."""
        kind, nodes, table = self._age_table(energy_gev, secondary)
        if age is None:
            return None, table
        if kind == "box":
            # rows count the nodes with tau > age: tau is descending
            return [(_count_greater(nodes, age), 1.0)], table
        low = np.clip(np.searchsorted(nodes, age, side="right") - 1, 0, nodes.size - 2)
        frac = np.clip((age - nodes[low]) / (nodes[low + 1] - nodes[low]), 0.0, 1.0)
        return [(low, 1.0 - frac), (low + 1, frac)], table

    def spectra(self, age, energy, secondary="gamma"):
        """Emission rate q(a, E) of cocoons of ``age`` [s] [TeV-1 s-1], shape (n_age, n_energy)."""
        energy_gev = np.atleast_1d(self.emission._energy_gev(energy)).ravel()
        age = np.atleast_1d(np.asarray(age, dtype=float))
        rows, table = self._age_rows(age, energy_gev, secondary)
        out = np.zeros((age.size, table.shape[1]))
        for index, share in rows:
            out += table[index] * np.reshape(share, (-1, 1))
        return out

    # -- geometry ------------------------------------------------------------------------------
    def geometry_weight(self, position):
        """<1/y^2> / 4 pi over each cocoon's sphere [cm-2], whole sky."""
        d = _norm(np.reshape(position, (-1, 3)))
        return ball_average_inverse_square(d, self.radius_kpc) / (4.0 * np.pi * KPC_CM**2)

    def containment(self, position, region=None, lonlat=None, distance=None):
        """Share of each cocoon's flux inside ``region`` (module docstring), array (n_cocoons,).

        ``lonlat`` and ``distance`` may pass the cocoons' (l, b) [rad] and distances [kpc] if known.
        ``position``: Galactocentric positions [kpc], shape (n_cocoons, 3), finite.
        """
        position, lonlat, distance = _checked_cocoons(position, lonlat, distance)
        return self._containment(position, region, lonlat, distance)

    def _containment(self, position, region, lonlat, distance):
        if region is None:
            return np.ones(len(position))
        lb = to_lb_region(region)
        if len(position) > _CONTAINMENT_CHUNK:
            # in chunks of cocoons: each share is the cocoon's own, and the temporaries stay small
            share = np.empty(len(position))
            for start in range(0, len(position), _CONTAINMENT_CHUNK):
                part = slice(start, start + _CONTAINMENT_CHUNK)
                share[part] = self._containment(
                    position[part], lb, None if lonlat is None else (lonlat[0][part], lonlat[1][part]),
                    None if distance is None else distance[part])
            return share
        l, b = _lb(position) if lonlat is None else lonlat
        l, b = np.asarray(l), np.asarray(b)
        if not isinstance(lb, LBBox):
            return self._exact_containment(lb, position, l, b, distance)
        # an l-b box: the bulk of the cocoons, far from its edges, are wholly inside or outside by a
        # test in single precision; the others take the rule below (the same numbers: it is elementwise)
        near, share = _box_bulk(lb, l, b, position, self.radius_kpc)
        near = np.nonzero(near)[0]
        if near.size:
            share[near] = self._exact_containment(lb, position[near], l[near], b[near],
                                                  None if distance is None else np.asarray(distance)[near])
        return share

    def _exact_containment(self, lb, position, l, b, distance=None):
        """:meth:`containment` of cocoons at (l, b) [rad] in the l-b region ``lb``, one by one."""
        d = _norm(position) if distance is None else np.asarray(distance, float)
        l, b = np.asarray(l, float), np.asarray(b, float)
        radius = self.radius_kpc
        angular = np.arcsin(np.minimum(radius / np.maximum(d, radius), 1.0))
        inside = d < radius
        share = lb.contains(l, b).astype(float)
        # cocoons the boundary crosses (and the tiniest, < 1e-6 rad, stay points: their edge is rounding);
        # the boundary distance only of those a cheap necessary test leaves (the same cocoons, faster)
        cut = np.nonzero(~inside & (angular > 1e-6) & _maybe_near_boundary(lb, l, b, angular))[0]
        cut = cut[lb.boundary_distance(l[cut], b[cut]) <= angular[cut]]
        if cut.size:
            sin2 = np.sin(angular[cut]) ** 2

            def chord(one_minus_cos, rows, ndim):
                limit = sin2[rows].reshape((-1,) + (1,) * (ndim - 1))
                # sqrt(max(limit - omc (2 - omc), 0)), in place
                out = np.subtract(2.0, one_minus_cos)
                out *= one_minus_cos
                np.subtract(limit, out, out=out)
                np.maximum(out, 0.0, out=out)
                return np.sqrt(out, out=out)

            flat, flat_share = _small_cap_shares(lb, l[cut], b[cut], angular[cut])
            share[cut[flat]] = flat_share
            cut, sin2 = cut[~flat], sin2[~flat]
            if cut.size:
                share[cut] = _cap_shares(lb, l[cut], b[cut], angular[cut], chord)
        observer = np.nonzero(inside)[0]
        if observer.size:
            share[observer] = _inside_shares(lb, l[observer], b[observer], d[observer], radius)
        return share

    # -- realisations ----------------------------------------------------------------------------
    def _sample_radius(self, n):
        dist, rng = self.distribution, self._rng
        if dist.r_offset == 0 and dist.beta > 0:
            # r f(r) = r^(alpha + 1) exp(-beta r / r_sun): a gamma distribution cut at r_max
            out = np.empty(0)
            while out.size < n:
                draw = rng.gamma(dist.alpha + 2.0, dist.r_sun / dist.beta, size=int(1.3 * (n - out.size)) + 16)
                out = np.concatenate([out, draw[draw <= dist.r_max]])
            return out[:n]
        r_grid = np.linspace(0.0, dist.r_max, 4097)
        pdf = r_grid * dist.radial(r_grid)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(r_grid))])
        return np.interp(rng.uniform(size=n), cdf / cdf[-1], r_grid)

    def _sample_positions(self, n):
        """Heliocentric positions [kpc] drawn from rho(r, z), shape (n, 3); the Galactic centre at
        (r_sun, 0, 0)."""
        dist, rng = self.distribution, self._rng
        r = self._sample_radius(n)
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        position = np.empty((n, 3), dtype=np.float32)  # 1e-7 relative: sub-mpc, and half the memory
        # in place, the same numbers as r_sun + r cos(phi), r sin(phi) (no full-size temporaries)
        work = np.cos(phi)
        work *= r
        work += dist.r_sun
        position[:, 0] = work
        np.sin(phi, out=work)
        work *= r
        position[:, 1] = work
        del r, phi
        # z = -z0 log1p(-u (1 - exp(-h / z0))), the sign at random
        rng.random(out=work)  # the draws of rng.uniform(size=n)
        work *= np.expm1(-dist.h / dist.z0)
        np.log1p(work, out=work)
        work *= -dist.z0
        np.negative(work, out=work, where=rng.random(n) < 0.5)
        position[:, 2] = work
        return position

    def realise(self, n):
        """``n`` independent realisations of the population (vectorised), a :class:`PopulationSample`."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n (number of realisations) must be an integer >= 1, got {n!r}")
        counts = self._rng.poisson(self.mean_number(), size=int(n))
        total = int(counts.sum())
        if total > 50 * _CHUNK_COCOONS:
            raise ValueError(f"n: {n} realisations hold about {total} cocoons; at most {50 * _CHUNK_COCOONS} "
                             "per call (about 2.5 GB): realise in smaller batches")
        lifetime = self.lifetime.to_value("yr") * YR_S
        realisation = np.repeat(np.arange(int(n), dtype=np.int32), counts)
        position = self._sample_positions(total)
        age = self._rng.uniform(0.0, lifetime, total)
        sample = PopulationSample(self, int(n), realisation, position, age)
        sample._cache["n_alive"] = counts  # the bincount of realisation, by construction
        return sample

    # -- the smooth limit --------------------------------------------------------------------------
    def mean_flux(self, energy, region=None, secondary="gamma", min_distance=0 * u.kpc):
        """Expected cocoon flux in ``region`` [cm-2 s-1 TeV-1]: the smooth model (Eq. 8) for point-like
        cocoons, corrected near the observer for their size and ``min_distance``.

        The bulk is :meth:`CocoonEmission.flux` (exact line-of-sight integrals), scaled by the mean
        geometry over the plain one: beyond ``near`` (20 radii, or ``min_distance`` if larger) the
        line-of-sight integral of the sources farther than that (exact, never negative); within it
        int dOmega int ds rho s^2 <1/y^2> (0 within ``min_distance``), by Gauss-Legendre quadrature
        over the region's own longitude and latitude intervals and in distance. Nothing is
        subtracted, so the mean stays >= 0 where ``min_distance`` leaves little or nothing (high
        latitudes). Absorbed if the emission has ``absorption=True``: both parts carry the
        transmission (the line of sight's optical depths beyond ``near``, those of
        :class:`~gammapy_cocoons.physics.absorption.PlaneDepths` within it). The containment of
        cocoons straddling the region's edge averages to the centre's membership to first order.
        """
        flux = self.emission.flux(energy, secondary, region)
        d_min = float(positive_value(min_distance, "kpc", "min_distance", allow_zero=True))
        near = max(20.0 * self.radius_kpc, d_min)
        geometry = self.emission.sky_integral(region).to_value("s-1 cm-2 sr")
        if not geometry > 0:
            return flux
        if self.emission.absorption and self.emission._secondary(secondary) == "gamma":
            # production x absorbed mean geometry / 4 pi: the unabsorbed flux x its ratio to the geometry
            energy_gev = np.atleast_1d(self.emission._energy_gev(energy))
            unique, inverse = np.unique(energy_gev.ravel(), return_inverse=True)
            mean = self._far_field(region, near, unique) + self._near_field(region, near, d_min, unique)
            unabsorbed = flux / self.emission.transmission(energy, region)
            return unabsorbed * np.reshape(mean[np.ravel(inverse)], np.shape(flux)) / geometry
        mean = self._far_field(region, near) + self._near_field(region, near, d_min)
        return flux * (mean / geometry)

    def _far_field(self, region, near, energy_gev=None):
        """int_region dOmega int_near ds rho [s-1 cm-2 sr] (sources farther than ``near``); with
        ``energy_gev`` (1-d) one per energy, absorbed on the ISRF and the CMB."""
        from .physics import lineofsight
        from .physics.absorption import Attenuation

        lb = to_lb_region(region)
        key = ("far", lb.key, near, None if energy_gev is None else energy_gev.tobytes())
        if key not in self._near_cache:
            attenuation = None if energy_gev is None else Attenuation(energy_gev)
            value = lineofsight.sky_integral(self.distribution, lb, self.emission.quadrature, attenuation=attenuation,
                                             s_min=near)
            self._near_cache[key] = np.asarray(value) / KPC_CM**2
        return self._near_cache[key]

    def _near_field(self, region, near, d_min, energy_gev=None):
        """int_region dOmega int_0^near ds rho w(s) [s-1 cm-2 sr], w = s^2 <1/y^2> beyond d_min and 0
        within it: Gauss-Legendre in longitude between the region's breaks, in latitude over its
        intervals at each longitude, and in distance between the kinks (d_min, the radius, the
        disc's top). With ``energy_gev`` (1-d), one per energy with the transmission exp(-tau(s)) of
        each point."""
        lb = to_lb_region(region)
        key = (lb.key, near, d_min, self.radius_kpc, None if energy_gev is None else energy_gev.tobytes())
        if key in self._near_cache:
            return self._near_cache[key]
        depths = None if energy_gev is None else PlaneDepths(near, r_sun=self.distribution.r_sun)
        dist = self.distribution
        x, w = _gauss_legendre(32)
        breaks = np.sort(np.concatenate([[-np.pi, np.pi], np.asarray(lb.longitude_breaks(), float)]))
        total = 0.0
        for l0, l1 in zip(breaks[:-1], breaks[1:]):
            if l1 - l0 <= 0:
                continue
            l_nodes = 0.5 * (l1 - l0) * x + 0.5 * (l1 + l0)
            l_weights = 0.5 * (l1 - l0) * w
            for l, wl, intervals in zip(l_nodes, l_weights, lb.latitude_intervals(l_nodes)):
                for b_lo, b_hi in intervals:
                    # the disc's top crosses a distance kink at these latitudes
                    kinks = [np.arcsin(min(dist.h / e, 1.0)) for e in (d_min, self.radius_kpc, near) if e > 0]
                    cuts = sorted({b_lo, b_hi, 0.0, *kinks, *(-k for k in kinks)})
                    for b0, b1 in zip(cuts[:-1], cuts[1:]):
                        if b0 < b_lo or b1 > b_hi or b1 <= b0:
                            continue
                        b = 0.5 * (b1 - b0) * x + 0.5 * (b1 + b0)
                        wb = 0.5 * (b1 - b0) * w * np.cos(b)
                        values = self._distance_integral(l, b, near, d_min, depths, energy_gev)
                        total += wl * np.tensordot(wb, values, axes=1)
        self._near_cache[key] = total / KPC_CM**2
        return self._near_cache[key]

    def _distance_integral(self, l, b, near, d_min, depths=None, energy_gev=None):
        """int_0^near ds rho w(s) along the directions (l, b[:]) [s-1 kpc-2], times exp(-tau(s)) with
        ``depths`` (a PlaneDepths) at ``energy_gev``: shape (b.size,) or (b.size, n_energies).

        Gauss-Legendre (24 nodes) between the kinks of every direction at once: 0, d_min, the radius,
        the disc's top and ``near``, those outside (0, near) moved to ``near`` (empty segments)."""
        dist = self.distribution
        x, w = _gauss_legendre(24)
        b = np.asarray(b, float)
        top = dist.h / np.maximum(np.abs(np.sin(b)), 1e-12)
        kinks = np.stack(np.broadcast_arrays(d_min, self.radius_kpc, top), axis=1)
        kinks = np.where((kinks > 0.0) & (kinks < near), kinks, near)
        edges = np.concatenate([np.zeros((b.size, 1)), np.sort(kinks, axis=1), np.full((b.size, 1), near)], axis=1)
        a, c = edges[:, :-1, None], edges[:, 1:, None]  # (b, segments, 1)
        s = 0.5 * (c - a) * x + 0.5 * (c + a)  # (b, segments, nodes)
        cos_b, sin_b = np.cos(b)[:, None, None], np.sin(b)[:, None, None]
        px, py, pz = s * cos_b * np.cos(l), s * cos_b * np.sin(l), s * sin_b
        rho = dist.density(np.hypot(px - dist.r_sun, py), pz)
        factor = np.where(s >= d_min, s**2 * ball_average_inverse_square(s, self.radius_kpc), 0.0)
        values = (0.5 * (c - a) * w * rho * factor).reshape(b.size, -1)
        if depths is None:
            return np.sum(values, axis=1)
        tau = depths.depth(energy_gev, np.full(s.size, l), (s * cos_b).ravel(), pz.ravel())
        return np.einsum("bn,bne->be", values, np.exp(-tau).reshape(b.size, -1, energy_gev.size))


def _inside_shares(lb, l, b, d, radius):
    """Shares inside ``lb`` of spheres that contain the observer: int dOmega s_max(Omega) over the
    region / over the sky, s_max = d cos psi + sqrt(R^2 - d^2 sin^2 psi) the depth along each
    direction. The region's integral by the cap rule of :func:`_cap_shares` over the whole sky
    (finer nodes: s_max varies over the whole sky), the sky's in the angle psi alone (2 pi int
    s_max sin psi dpsi, 64 Gauss-Legendre nodes), the same for every region, so that pieces add up."""
    d = np.asarray(d, float)

    def depth(one_minus_cos, rows, ndim):
        dd = d[rows].reshape((-1,) + (1,) * (ndim - 1))
        cos_psi = 1.0 - one_minus_cos
        return dd * cos_psi + np.sqrt(np.maximum(radius**2 - dd**2 * (1.0 - cos_psi**2), 0.0))

    region, _ = _cap_shares(lb, np.asarray(l, float), np.asarray(b, float), np.full(np.size(l), np.pi), depth,
                            nodes=(48, 48), totals=True)
    x, w = _gauss_legendre(64)
    psi = 0.5 * np.pi * (x + 1.0)
    cos_psi = np.cos(psi)
    s_max = d[:, None] * cos_psi + np.sqrt(np.maximum(radius**2 - d[:, None] ** 2 * (1.0 - cos_psi**2), 0.0))
    sky = 2.0 * np.pi * np.sum(0.5 * np.pi * w * s_max * np.sin(psi), axis=1)
    return np.clip(region / sky, 0.0, 1.0)


#: names that moved to :mod:`gammapy_cocoons.analysis.population` (the workflow) and
#: :mod:`gammapy_cocoons.datasets` (the 1LHAASO catalogue); kept here for one release
_MOVED = {"lhaaso_comparison": "analysis.population", "population_output_files": "analysis.population",
          "population_results": "analysis.population", "run_population": "analysis.population",
          "LHAASO_COMPONENTS": "analysis.population", "LHAASO_DECLINATION": "analysis.population",
          "R39_OVER_RADIUS": "analysis.population", "lhaaso_catalog": "datasets", "catalog_components": "datasets"}


def __getattr__(name):
    if name in _MOVED:
        import importlib
        import warnings

        where = _MOVED[name]
        warnings.warn(f"gammapy_cocoons.population.{name} moved to gammapy_cocoons.{where}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(f"gammapy_cocoons.{where}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
