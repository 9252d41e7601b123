"""Sizes respect every limit for every input, grow with confidence, shrink with volatility,
and stop for the day after the daily loss limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ares_kedro.tactician.sizing import (
    SizingParams,
    apply_daily_loss_limit,
    bet_size,
    position_sizes,
)

PARAMS = SizingParams(method="probability", kelly_fraction=0.25, target_volatility=0.5,
                      max_position=0.8, max_leverage=2.0, max_daily_loss=0.03)

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(side=st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=30),
       data=st.data(),
       method=st.sampled_from(["probability", "kelly"]),
       max_position=st.floats(0.01, 1.0), max_leverage=st.floats(0.01, 10.0),
       payoff=st.floats(0.05, 20.0))
def test_sizes_respect_every_limit_for_every_input(side, data, method, max_position,
                                                   max_leverage, payoff):
    n = len(side)
    probability = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    volatility = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    params = SizingParams(method, 0.5, 0.4, max_position, max_leverage, 0.05)
    sizes = position_sizes(np.array(side), probability, volatility, payoff, params)
    assert np.isfinite(sizes).all()
    assert (np.abs(sizes) <= min(max_position, max_leverage) + 1e-12).all()
    assert (sizes[np.array(side) == 0] == 0).all()
    assert (np.sign(sizes) * np.array(side) >= 0).all()  # never against the signal


def test_a_bet_at_break_even_gets_nothing_and_confidence_gets_more():
    # a bet paying 2 per 1 lost breaks even at p = 1/3; a symmetric one at 1/2
    p = np.array([0.2, 1 / 3, 0.4, 0.6, 0.9])
    sizes = bet_size(p, 2.0, PARAMS)
    assert sizes[0] == 0 and sizes[1] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(sizes[1:]) > 0)
    assert bet_size(np.array([0.5]), 1.0, PARAMS)[0] == 0


def test_the_probability_bet_size_is_the_bets_expected_return_over_its_risk():
    # payoff b = 3, p = 0.4: mean 0.4 x 3 - 0.6 = 0.6, sd 4 x sqrt(0.24); size 2 Phi(z) - 1
    from scipy.stats import norm

    z = (0.4 * 3 - 0.6) / (4 * np.sqrt(0.4 * 0.6))
    assert bet_size(np.array([0.4]), 3.0, PARAMS)[0] == pytest.approx(2 * norm.cdf(z) - 1)


def test_quarter_kelly_matches_the_formula():
    kelly = SizingParams("kelly", 0.25, 0.5, 1.0, 5.0, 0.05)
    assert bet_size(np.array([0.6]), 2.0, kelly)[0] == pytest.approx(0.25 * (0.6 - 0.4 / 2))


def test_higher_volatility_means_a_smaller_position():
    sizes = position_sizes(np.ones(3), np.full(3, 0.7), np.array([0.25, 0.5, 1.0]), 2.0,
                           SizingParams("probability", 1.0, 0.25, 1.0, 10.0, 0.05))
    assert sizes[0] > sizes[1] > sizes[2] > 0


def test_after_the_daily_loss_limit_the_rest_of_the_day_is_flat():
    index = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    sizes = pd.Series(0.5, index=index)
    returns = pd.Series(0.0, index=index)
    returns.iloc[5] = -0.08  # held 0.5: a 4 % loss on the day's sixth bar
    limited = apply_daily_loss_limit(sizes, returns, max_daily_loss=0.03)
    assert (limited.iloc[:5] == 0.5).all()
    assert (limited.iloc[5:24] == 0).all()
    assert (limited.iloc[24:] == 0.5).all()  # a new day starts afresh


def test_bad_sizing_settings_are_refused():
    with pytest.raises(ValueError, match="max_position"):
        SizingParams.from_params({"method": "kelly", "kelly_fraction": 0.25,
                                  "target_volatility": 0.5, "max_position": 1.5,
                                  "max_leverage": 2.0, "max_daily_loss": 0.03})
