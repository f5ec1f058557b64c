import numpy as np
import pytest
import astropy.units as u

from gammapy_cocoons.physics.grammage import (
    CallableGrammage, ConstantGrammage, EscapeGrammage, ExponentialGrammage, get_grammage_law,
)


def test_exponential_is_eq6():
    law = ExponentialGrammage(chi0=0.4, r0=2e4)
    assert law(0.0) == pytest.approx(0.4)
    assert law(2e4) == pytest.approx(0.4 / np.e)


def test_escape_is_eq_b1_with_presets():
    assert get_grammage_law("kraichnan").delta == 0.5
    assert get_grammage_law("bohm").delta == 1.0
    assert get_grammage_law("kolmogorov").delta == pytest.approx(1 / 3)
    law = EscapeGrammage(0.4, 1e3, "bohm")
    assert law(1e3) == pytest.approx(0.2)
    assert law(1e5) == pytest.approx(0.4 / 101)


def test_long_cutoff_limit_is_constant():
    r = np.geomspace(1, 1e7, 20)
    assert np.allclose(ExponentialGrammage(0.4, 1e30)(r), ConstantGrammage(0.4)(r), rtol=1e-20)
    assert np.allclose(EscapeGrammage(0.4, 1e40, 1.0)(r), ConstantGrammage(0.4)(r), rtol=1e-20)


def test_callable_with_units():
    law = get_grammage_law(lambda r: 0.3 * u.g / u.cm**2 * np.exp(-r / (5 * u.TV)))
    assert isinstance(law, CallableGrammage)
    assert law(5e3) == pytest.approx(0.3 / np.e)


def test_callable_with_wrong_units():
    law = get_grammage_law(lambda r: r.to_value("GV") * u.s)
    with pytest.raises(u.UnitConversionError, match="g cm-2"):
        law(np.array([1.0]))


@pytest.mark.parametrize("bad", [0.0, -0.1, np.inf, "x"])
def test_bad_chi0(bad):
    with pytest.raises((ValueError, TypeError), match="chi0"):
        ExponentialGrammage(chi0=bad)


def test_bad_names():
    with pytest.raises(ValueError, match="exponential"):
        get_grammage_law("gaussian")
    with pytest.raises(ValueError, match="delta"):
        get_grammage_law("escape")
    with pytest.raises(ValueError, match="r0"):
        ExponentialGrammage(0.4, r0=0.0)
