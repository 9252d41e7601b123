"""The statistical family's O(bars) window kernels give pandas' values (the Kahan sum bit
for bit), exact zeros on flat windows, and never look ahead."""

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.features.statistics import (
    MOMENT_COLUMNS,
    kahan_rolling_sum,
    window_correlation,
    window_moments,
)


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    """Fat-tailed returns with a jump, a calm stretch after it and scattered NaN."""
    rng = np.random.default_rng(11)
    values = rng.standard_t(3, size=3000) * 0.01
    values[1200] = 5.0  # a jump, then a calm window: where running sums lose digits
    values[1201:1300] = 1e-6 * rng.normal(size=99)
    values[rng.random(values.size) < 0.005] = np.nan
    return values


def test_the_kahan_rolling_sum_equals_pandas_bit_for_bit(returns):
    for window in (6, 24, 96):
        expected = pd.Series(returns).rolling(window).sum().to_numpy()
        assert np.array_equal(kahan_rolling_sum(returns, window), expected, equal_nan=True)


def test_window_moments_equal_pandas_mean_variance_and_correlation(returns):
    other = np.roll(returns, 1)
    window = 48
    moments = window_moments(returns, window, other)  # a pair with a NaN makes its window NaN
    alone = window_moments(returns, window)
    column = {name: alone[:, k] for k, name in enumerate(MOMENT_COLUMNS)}
    x, y = pd.Series(returns).rolling(window), pd.Series(returns)
    np.testing.assert_allclose(column["mean_x"], x.mean().to_numpy(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(column["m2_x"] / (window - 1), x.var().to_numpy(), rtol=1e-8,
                               atol=1e-15)
    # correlation against each window computed afresh (pandas' running sums drift in the
    # calm windows after the jump, by up to 5e-6 here)
    xs = np.lib.stride_tricks.sliding_window_view(returns, window)
    ys = np.lib.stride_tricks.sliding_window_view(other, window)
    dx, dy = xs - xs.mean(axis=1, keepdims=True), ys - ys.mean(axis=1, keepdims=True)
    exact = np.r_[np.full(window - 1, np.nan), (dx * dy).sum(axis=1) / np.sqrt(
        (dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))]
    ours = window_correlation(moments)
    assert np.array_equal(np.isnan(ours), np.isnan(exact))
    assert np.isfinite(ours).sum() > 1000
    np.testing.assert_allclose(ours, exact, rtol=1e-9, atol=1e-12)
    assert np.array_equal(np.isnan(ours), np.isnan(y.rolling(window).corr(
        pd.Series(other)).to_numpy()))


def test_a_window_of_equal_values_has_exactly_zero_spread():
    values = np.r_[np.random.default_rng(2).normal(size=100), np.full(60, 0.25)]
    moments = window_moments(values, 20)
    assert np.all(moments[119:, 1:4] == 0.0)
    assert np.all(moments[119:, 0] == 0.25)


def test_truncating_the_future_leaves_past_moments_unchanged(returns):
    full = window_moments(returns, 48)
    for cut in (100, 1250, 2500):
        np.testing.assert_array_equal(window_moments(returns[:cut], 48), full[:cut])
    assert np.array_equal(kahan_rolling_sum(returns[:700], 24),
                          kahan_rolling_sum(returns, 24)[:700], equal_nan=True)
