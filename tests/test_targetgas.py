"""One cocoon gas, one chi0 (issue 23 item 1): the target gas and what a grammage counts."""
import numpy as np
import pytest
import astropy.constants as const
import astropy.units as u

from gammapy_cocoons.physics.targetgas import (
    TARGETS, TargetGas, describe_target, resolve_target, target_helium_fraction,
)

M_P = const.m_p.to_value(u.g)


def test_named_targets_and_the_general_form():
    assert TARGETS == {"ism": 0.1, "hydrogen": 0.0}
    assert resolve_target("ism") == "ism" and resolve_target("hydrogen") == "hydrogen"
    # a number equal to a named gas is that gas; others stay numbers
    assert resolve_target(0.1) == "ism" and resolve_target(0) == "hydrogen"
    assert resolve_target(0.08) == pytest.approx(0.08)
    assert target_helium_fraction("ism") == 0.1 and target_helium_fraction(0.08) == 0.08
    assert "1.40 m_p" in describe_target("ism") and "Eq. 7" in describe_target("hydrogen")


@pytest.mark.parametrize("target, error", [("helium", ValueError), ("ISM", ValueError), (1.5, ValueError),
                                           (-0.1, ValueError), (np.nan, ValueError), (True, TypeError),
                                           (None, TypeError), ([0.1], TypeError)])
def test_bad_targets_are_refused_naming_the_argument(target, error):
    with pytest.raises(error, match="target"):
        resolve_target(target)
    with pytest.raises(error, match="my_gas"):
        resolve_target(target, "my_gas")


def test_mass_grammage_by_hand():
    """chi counts H + He: m_p (1 + 4 y) per H atom, so 1 g cm-2 of ISM gas holds 1 / (1.4 m_p) H atoms
    and 0.1 times that of He; its mass adds up to 1 g."""
    ism, hydrogen = TargetGas.from_target("ism"), TargetGas.from_target("hydrogen")
    n_h = ism.hydrogen_column(1.0)
    assert n_h == pytest.approx(1.0 / (1.4 * M_P), rel=1e-14)
    assert n_h * M_P + 0.1 * n_h * 4 * M_P == pytest.approx(1.0, rel=1e-14)
    assert hydrogen.hydrogen_column(1.0) == pytest.approx(1.0 / M_P, rel=1e-14)
    assert dict(ism.columns) == pytest.approx({"p": 1 / 1.4, "He": 0.1 / 1.4}, rel=1e-14)
    assert hydrogen.columns == (("p", 1.0),)
    # interactions per gram and the time to cross a grammage, by hand
    assert ism.per_gram(300.0, 800.0) == pytest.approx((300 + 0.1 * 800) * 1e-27 / (1.4 * M_P), rel=1e-14)
    c = const.c.to_value(u.cm / u.s)
    assert ism.accumulation_time(0.4, 2.0) == pytest.approx(0.4 / (1.4 * M_P * 2.0 * c), rel=1e-14)
    assert ism.target == "ism" and TargetGas(0.05).target == 0.05
    with pytest.raises(ValueError, match="helium_fraction"):
        TargetGas(1.2)
