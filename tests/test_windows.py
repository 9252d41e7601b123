"""The compiled window statistics give pandas' values, NaN where pandas gives NaN, and
never look ahead."""

import numpy as np
import pandas as pd
import pytest

from ares_kedro import windows


@pytest.fixture(scope="module")
def prices_with_gaps() -> np.ndarray:
    """A random walk with scattered NaN and a NaN start (flat stretches are tested apart:
    there pandas' running sums leave rounding residue where ours give exact zeros)."""
    rng = np.random.default_rng(7)
    values = 100 + rng.normal(size=2000).cumsum()
    values[rng.random(values.size) < 0.01] = np.nan
    values[:4] = np.nan
    return values


def assert_same(ours: np.ndarray, theirs: pd.Series, exact: bool = False) -> None:
    theirs = theirs.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isfinite(ours).sum() > 0  # the comparison compared something
    if exact:
        assert np.array_equal(ours, theirs, equal_nan=True)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("alpha", [1 / 14, 1 / 10, 2 / 13, 2 / 21])
@pytest.mark.parametrize("min_periods", [0, 14])
def test_the_exponential_mean_equals_pandas_bit_for_bit_across_gaps(prices_with_gaps, alpha,
                                                                    min_periods):
    series = pd.Series(prices_with_gaps)
    assert_same(windows.ewm_mean(prices_with_gaps, alpha=alpha, min_periods=min_periods),
                series.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean(),
                exact=True)


def test_the_exponential_mean_by_span_equals_pandas_bit_for_bit():
    values = 100 + np.random.default_rng(3).normal(size=500).cumsum()
    assert_same(windows.ewm_mean(values, span=26, min_periods=26),
                pd.Series(values).ewm(span=26, adjust=False, min_periods=26).mean(), exact=True)


@pytest.mark.parametrize(("window", "min_periods"), [(1, None), (9, None), (24, 5),
                                                     (52, 1)])
def test_rolling_statistics_equal_pandas(prices_with_gaps, window, min_periods):
    rolling = pd.Series(prices_with_gaps).rolling(window, min_periods=min_periods)
    x = prices_with_gaps
    assert_same(windows.rolling_sum(x, window, min_periods), rolling.sum())
    assert_same(windows.rolling_mean(x, window, min_periods), rolling.mean())
    if window > 1:
        assert_same(windows.rolling_std(x, window, 1, min_periods), rolling.std())
    assert_same(windows.rolling_std(x, window, 0, min_periods), rolling.std(ddof=0))
    assert_same(windows.rolling_max(x, window, min_periods), rolling.max(), exact=True)
    assert_same(windows.rolling_min(x, window, min_periods), rolling.min(), exact=True)
    assert_same(windows.rolling_median(x, window, min_periods), rolling.median(), exact=True)
    assert_same(windows.rolling_rank(x, window, min_periods), rolling.rank(pct=True),
                exact=True)


def test_a_flat_window_has_exactly_zero_spread_and_a_window_of_zeros_sums_to_zero():
    values = np.r_[np.linspace(1.0, 2.0, 50), np.full(30, 3.0), np.zeros(30)]
    assert np.all(windows.rolling_std(values, 10)[59:80] == 0.0)
    assert np.all(windows.rolling_sum(values, 10)[89:] == 0.0)


def test_shift_diff_and_pct_change_equal_pandas(prices_with_gaps):
    series = pd.Series(prices_with_gaps)
    assert_same(windows.shift(prices_with_gaps, 3), series.shift(3), exact=True)
    assert_same(windows.shift(prices_with_gaps, -2), series.shift(-2), exact=True)
    assert_same(windows.diff(prices_with_gaps, 24), series.diff(24), exact=True)
    assert_same(windows.pct_change(prices_with_gaps, 6),
                series.pct_change(6, fill_method=None), exact=True)


@pytest.mark.parametrize("statistic", ["rolling_sum", "rolling_mean", "rolling_std",
                                       "rolling_max", "rolling_min", "rolling_median",
                                       "rolling_rank"])
def test_truncating_the_future_leaves_every_past_value_unchanged(prices_with_gaps, statistic):
    function = getattr(windows, statistic)
    full = function(prices_with_gaps, 20)
    for cut in (30, 777, 1500):
        assert np.array_equal(function(prices_with_gaps[:cut], 20), full[:cut], equal_nan=True)
    full_mean = windows.ewm_mean(prices_with_gaps, alpha=1 / 14, min_periods=14)
    assert np.array_equal(windows.ewm_mean(prices_with_gaps[:500], alpha=1 / 14,
                                           min_periods=14), full_mean[:500], equal_nan=True)


def test_a_window_below_one_bar_is_refused():
    with pytest.raises(ValueError, match="window must be >= 1"):
        windows.rolling_mean(np.ones(5), 0)


@pytest.mark.parametrize("length", [0, 5, 23, 24, 31, 1000])
@pytest.mark.parametrize("window", [1, 7, 24])
def test_the_full_window_fast_paths_give_the_general_kernels_values_bit_for_bit(
        prices_with_gaps, length, window):
    values = prices_with_gaps[:length]
    general = {name: windows._rolling(values, window, window, code, 1 if name == "std" else 0)
               for code, name in enumerate(["sum", "mean", "std", "max", "min"])}
    assert np.array_equal(windows.rolling_sum(values, window), general["sum"], equal_nan=True)
    assert np.array_equal(windows.rolling_mean(values, window), general["mean"], equal_nan=True)
    if window > 1:
        assert np.array_equal(windows.rolling_std(values, window), general["std"],
                              equal_nan=True)
    assert np.array_equal(windows.rolling_max(values, window), general["max"], equal_nan=True)
    assert np.array_equal(windows.rolling_min(values, window), general["min"], equal_nan=True)
