"""Fits at a parameter bound, and likelihood profiles that reach delta stat = 4 or a bound.

A minimiser that stops at a parameter's bound reports success, and a Hesse error there (``chi0 =
20 +- 0.007``) is not an uncertainty: :func:`parameters_at_bounds` finds such parameters so that
every summary, command-line line and figure can say so. :func:`extended_scan` grows a profile
grid until the statistic rises by ``threshold`` (4: two sigma for one parameter) on both sides of
the best fit, or the grid reaches the parameter's bound, so that no interval is cut by the grid.
"""
import numpy as np

from .._validation import boolean

__all__ = ["parameters_at_bounds", "bound_note", "extended_scan", "PROFILE_THRESHOLD"]

#: delta stat a profile must reach on both sides of the best fit (or stop at a bound)
PROFILE_THRESHOLD = 4.0


def _at_bound(value, low, high, error):
    error = error if np.isfinite(error) and error > 0 else 0.0
    for side, bound in (("min", low), ("max", high)):
        if np.isfinite(bound) and abs(value - bound) <= max(1e-4 * abs(bound), 1e-2 * error, 1e-10):
            return side
    return None


def parameters_at_bounds(parameters):
    """{name: "min" or "max"} of the free ``parameters`` (gammapy Parameters) that sit at a bound.

    A value counts as at its bound within 1e-4 of the bound (relative), or 1 % of its error.
    """
    out = {}
    for parameter in parameters:
        if parameter.frozen:
            continue
        side = _at_bound(float(parameter.value), float(parameter.min), float(parameter.max),
                         float(parameter.error))
        if side:
            out[parameter.name] = side
    return out


def bound_note(at_bounds, parameters=None):
    """One line for a summary, the command line or a figure: which parameters sit at which bound.

    ``parameters`` (optional, name -> Parameter) adds the bound's value and unit. Empty when none.
    """
    if not at_bounds:
        return ""
    parts = []
    for name, side in at_bounds.items():
        text = f"{name} at its {'lower' if side == 'min' else 'upper'} bound"
        if parameters is not None and name in parameters:
            parameter = parameters[name]
            unit = f" {parameter.unit}" if str(parameter.unit) else ""
            text += f" {getattr(parameter, side):g}{unit}"
        parts.append(text)
    return "; ".join(parts) + " (the fit stopped there: its error is not an uncertainty)"


def extended_scan(values, evaluate, best_stat, low, high, log=False, threshold=PROFILE_THRESHOLD, max_rounds=8):
    """Grow a profile scan until stat - best_stat >= ``threshold`` on both sides, or a bound.

    Parameters
    ----------
    values : array
        The initial grid (sorted, increasing, at least 3 values).
    evaluate : callable
        ``evaluate(array of values) -> array of stat`` (the profile: other parameters refitted).
    best_stat : float
        The statistic at the best fit.
    low, high : float
        The parameter's bounds (NaN or infinite: open).
    log : bool
        Extend in logarithmic steps (for a positive parameter such as R0).
    max_rounds : int
        At most this many extensions per side. Each adds two points: the point where a parabola
        through the lowest point and the grid's edge reaches 1.2 x ``threshold`` (at least twice
        the last step further when the profile is flat), and the midpoint. A parabolic profile
        needs one round per side.

    Returns
    -------
    values, stats : arrays
        The whole grid, sorted, and the statistic on it.
    """
    log = boolean(log, "log")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 3 or np.any(np.diff(values) <= 0):
        raise ValueError(f"values must be at least 3 increasing numbers, got {values!r}")
    stats = np.asarray(evaluate(values), dtype=float)
    low = low if np.isfinite(low) else -np.inf
    high = high if np.isfinite(high) else np.inf
    to_x = np.log if log else (lambda v: v)
    from_x = np.exp if log else (lambda x: x)
    for side in (-1, 1):
        step = abs(to_x(values[1]) - to_x(values[0])) if side < 0 else abs(to_x(values[-1]) - to_x(values[-2]))
        for _ in range(max_rounds):
            edge, edge_stat = (values[0], stats[0]) if side < 0 else (values[-1], stats[-1])
            bound = low if side < 0 else high
            if not (edge_stat - best_stat < threshold) or edge == bound:
                break
            lowest = to_x(values[int(np.argmin(stats))])
            distance = abs(to_x(edge) - lowest)
            rise = edge_stat - best_stat
            # the parabola through the lowest point and the edge, or twice the last step if flat
            reach = distance * np.sqrt(1.2 * threshold / rise) - distance if rise > 0.05 and distance > 0 else 0.0
            reach = max(reach, 2.0 * step)
            step = reach
            new = from_x(to_x(edge) + side * reach * np.array([0.5, 1.0]))
            new = np.clip(new, low, high)
            new = np.unique(new[new != edge])
            if new.size == 0:
                break
            new_stats = np.asarray(evaluate(new), dtype=float)
            values = np.concatenate([values, new])
            stats = np.concatenate([stats, new_stats])
            order = np.argsort(values)
            values, stats = values[order], stats[order]
    return values, stats
