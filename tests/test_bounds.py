"""Issue 24 item 7: fits at a bound are reported, profiles reach delta stat = 4 or a bound."""
import numpy as np
import pytest
from gammapy.modeling import Parameter
from hypothesis import given, settings, strategies as st

from gammapy_cocoons.analysis.bounds import PROFILE_THRESHOLD, bound_note, extended_scan, parameters_at_bounds


@settings(max_examples=60, deadline=None)
@given(st.floats(-3.0, 3.0), st.floats(0.01, 2.0), st.sampled_from([(-np.inf, np.inf), (0.0, np.inf), (-1.0, 1.5)]))
def test_extended_scan_reaches_four_or_a_bound(best, sigma, bounds):
    """A parabola of any width and centre, scanned from the fixed grid 0-1.2: the scan ends where
    delta stat >= 4 on each side, or at the bound; the grid stays sorted and within the bounds."""
    low, high = bounds
    centre = float(np.clip(best, low, high))
    calls = []

    def evaluate(grid):
        calls.append(len(grid))
        return ((np.asarray(grid) - centre) / sigma) ** 2 + 10.0

    values, stats = extended_scan(np.linspace(0.0, 1.2, 7), evaluate, 10.0, low, high, max_rounds=200)
    assert np.all(np.diff(values) > 0) and np.all((values >= low) & (values <= high))
    assert len(calls) <= 3 + 2 * 5  # a parabola is reached in a round per side (a flat start takes more)
    assert np.allclose(stats, evaluate(values))
    for edge, stat, bound in ((values[0], stats[0], low), (values[-1], stats[-1], high)):
        assert stat - 10.0 >= PROFILE_THRESHOLD or edge == bound


def test_extended_scan_in_log_steps_and_bad_grids():
    values, stats = extended_scan(np.geomspace(3, 300, 5), lambda g: np.log(np.asarray(g) / 1e4) ** 2, 0.0,
                                  1e-3, 1e5, log=True)
    assert values[-1] == 1e5 or stats[-1] >= 4  # R0 best at 1e4 TV: extended up to the bound
    assert np.all(np.diff(np.log(values)) > 0)
    with pytest.raises(ValueError, match="at least 3 increasing"):
        extended_scan([1.0, 2.0], None, 0.0, 0.0, 1.0)


def test_parameters_at_bounds():
    chi0 = Parameter("chi0", 20.0, unit="g cm-2", min=0.0, max=20.0)
    chi0.error = 0.007
    r0 = Parameter("r0", 46.0, unit="TV", min=1e-3, max=1e5)
    norm = Parameter("norm", 1e-12, min=0.0, max=10.0)
    norm.error = 0.1
    frozen = Parameter("phi", 0.0, min=0.0, max=2.0, frozen=True)
    found = parameters_at_bounds([chi0, r0, norm, frozen])
    assert found == {"chi0": "max", "norm": "min"}  # a frozen parameter is not a fit result
    note = bound_note(found, {"chi0": chi0, "norm": norm})
    assert "chi0 at its upper bound 20 g / cm2" in note and "norm at its lower bound 0" in note
    assert bound_note({}) == ""
