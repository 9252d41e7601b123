"""Statistical features of returns: rolling quantiles and the Hurst exponent.

Every feature here reads log returns r_t = ln(close_t / close_{t-1}) over a trailing window
of W returns ending at bar t (bars t-W .. t), so its warm-up is W bars; a window holding a
missing close gives NaN. All are dimensionless (free of the price level and of the returns'
scale). The rolling order statistics are compiled with numba (no Python loop over bars); the
Hurst exponent is built from rolling sums, O(bars x scales).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register

QUANTILE_WINDOW = 96
HURST_WINDOW = 128
HURST_SCALES = (1, 2, 4, 8, 16)  # aggregation lengths m, in bars


def log_returns(bars: pd.DataFrame) -> np.ndarray:
    """ln(close_t / close_{t-1}) as a float array aligned with ``bars`` (NaN at row 0)."""
    log_close = np.log(bars["close"].to_numpy(dtype=float))
    returns = np.empty_like(log_close)
    returns[:1] = np.nan
    returns[1:] = np.diff(log_close)
    return returns


@numba.njit(cache=True)
def _rolling_quantiles(values, window, probabilities):  # pragma: no cover (compiled)
    """Per trailing window of ``window`` values, column 0: quantile rank of the last value
    (share of the other window - 1 values below it, ties counting half); column 1 + i:
    (q_p - mean) / std for p = probabilities[i], q_p by linear interpolation between order
    statistics (numpy's default), std with ddof=1. A sorted copy of the window is kept up
    to date (one removal, one insertion per bar): O(bars x window) and exact, no running
    sums. NaN when the window holds a NaN (and the quantiles when it is constant)."""
    n = values.size
    out = np.full((n, 1 + probabilities.size), np.nan)
    ordered = np.empty(window)
    count = 0  # the non-NaN values of the current window, sorted in ordered[:count]
    for t in range(n):
        leaving = values[t - window] if t >= window else np.nan
        if not np.isnan(leaving):
            i = np.searchsorted(ordered[:count], leaving)
            for j in range(i, count - 1):
                ordered[j] = ordered[j + 1]
            count -= 1
        entering = values[t]
        if not np.isnan(entering):
            i = np.searchsorted(ordered[:count], entering)
            for j in range(count, i, -1):
                ordered[j] = ordered[j - 1]
            ordered[i] = entering
            count += 1
        if count < window:
            continue
        below = np.searchsorted(ordered, entering)
        ties = np.searchsorted(ordered, entering, side="right") - below - 1
        out[t, 0] = (below + 0.5 * ties) / (window - 1)
        if ordered[0] == ordered[window - 1]:
            continue  # a constant window has no spread to standardise by
        mean = 0.0
        for j in range(window):
            mean += ordered[j]
        mean /= window
        squares = 0.0
        for j in range(window):
            squares += (ordered[j] - mean) ** 2
        std = np.sqrt(squares / (window - 1))
        for k in range(probabilities.size):
            position = (window - 1) * probabilities[k]
            lower = min(int(np.floor(position)), window - 2)
            fraction = position - lower
            quantile = ordered[lower] + fraction * (ordered[lower + 1] - ordered[lower])
            out[t, 1 + k] = (quantile - mean) / std
    return out


def memoised_on_close(family: str, bars: pd.DataFrame,
                      compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``compute(log_returns(bars))``, made once per ``compute_features`` call for every
    feature of the family (:func:`~ares_kedro.analyst.features.registry.memoised`); the
    result is read-only."""
    def fresh() -> np.ndarray:
        result = compute(log_returns(bars))
        result.flags.writeable = False
        return result

    return memoised(family, bars, fresh)


def _return_quantiles(bars: pd.DataFrame) -> np.ndarray:
    """Columns: quantile rank, 5 % and 95 % standardised quantiles over QUANTILE_WINDOW."""
    return memoised_on_close("return_quantiles", bars, lambda returns: _rolling_quantiles(
        returns, QUANTILE_WINDOW, np.array([0.05, 0.95])))


def column_series(table: np.ndarray, column: int, bars: pd.DataFrame) -> pd.Series:
    """One column of a per-bar table as a feature aligned with ``bars`` (a fresh copy)."""
    return pd.Series(table[:, column].copy(), index=bars.index)


@register("return_quantile_rank_96", "statistical", QUANTILE_WINDOW, ["close"])
def return_quantile_rank_96(bars: pd.DataFrame) -> pd.Series:
    """Empirical quantile rank of the latest log return among the last 96, 0..1: share of
    the 95 earlier returns of the window below it (ties count half); 1 at a new 96-bar high
    return, 0 at a new low."""
    return column_series(_return_quantiles(bars), 0, bars)


@register("return_q05_zscore_96", "statistical", QUANTILE_WINDOW, ["close"])
def return_q05_zscore_96(bars: pd.DataFrame) -> pd.Series:
    """Lower tail of the last 96 log returns: (5 % quantile - mean) / std, in standard
    deviations (quantile by linear interpolation of order statistics, std with ddof=1;
    about -1.6 for normal returns, further below for a fat lower tail)."""
    return column_series(_return_quantiles(bars), 1, bars)


@register("return_q95_zscore_96", "statistical", QUANTILE_WINDOW, ["close"])
def return_q95_zscore_96(bars: pd.DataFrame) -> pd.Series:
    """Upper tail of the last 96 log returns: (95 % quantile - mean) / std, in standard
    deviations (about +1.6 for normal returns; its sum with return_q05_zscore_96 measures
    tail asymmetry, > 0 when the upper tail is the longer)."""
    return column_series(_return_quantiles(bars), 2, bars)


def rolling_hurst_exponent(returns: np.ndarray, window: int,
                           scales: tuple[int, ...] = HURST_SCALES) -> np.ndarray:
    """Aggregated-variance Hurst exponent of each trailing window of ``window`` returns.

    For each scale m, S_j = r_{j-m+1} + ... + r_j are the window - m + 1 overlapping m-bar
    sums inside the window and rbar the window's mean return;
    V(m) = mean_j (S_j - m rbar)^2 / (m (1 - m / window)), which has expectation sigma^2 at
    every m for i.i.d. returns (the factor corrects for the estimated mean). As
    Var(S) ~ m^(2H), H = (1 + least-squares slope of ln V(m) on ln m) / 2. The window sums
    are rolling sums of the whole series, so every window is computed at once. On i.i.d.
    returns it averages about 0.48 with a spread of about 0.07 per 128-bar window (the log
    of a noisy variance is biased low at the coarse scales). NaN for a window holding a NaN
    or whose returns are all equal.
    """
    if window <= max(scales) or min(scales) < 1 or len(set(scales)) < 2:
        raise ValueError(f"Hurst scales {scales} must be distinct, >= 1 and below the window "
                         f"({window} bars)")
    series = pd.Series(returns)
    mean = (series.rolling(window).sum() / window).to_numpy()
    log_scale = np.log(np.asarray(scales, dtype=float))
    weights = (log_scale - log_scale.mean()) / np.sum((log_scale - log_scale.mean()) ** 2)
    slope = np.zeros(len(series))
    for m, weight in zip(scales, weights, strict=True):
        block = series.rolling(m).sum()  # S_j, the m-bar sum ending at j
        blocks = window - m + 1
        sum_s = block.rolling(blocks).sum().to_numpy()
        sum_s2 = (block * block).rolling(blocks).sum().to_numpy()
        centre = m * mean
        squares = sum_s2 - 2 * centre * sum_s + blocks * centre**2
        variance = squares / blocks / (m * (1 - m / window))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_variance = np.where(variance > 0, np.log(variance), np.nan)
        slope += weight * log_variance
    # returns all equal (a flat market): no variance to scale, only rounding left in the sums
    constant = (series.rolling(window).max() == series.rolling(window).min()).to_numpy()
    return np.where(constant, np.nan, (1 + slope) / 2)


@register("hurst_exponent_128", "statistical", HURST_WINDOW, ["close"])
def hurst_exponent_128(bars: pd.DataFrame) -> pd.Series:
    """Hurst exponent of the last 128 log returns by aggregated variance: V(m) = mean of
    (m-bar overlapping sum - m x window mean)^2 / (m (1 - m/128)) for m = 1, 2, 4, 8, 16
    bars, H = (1 + least-squares slope of ln V on ln m) / 2; about 0.5 for a random walk,
    above for trending (persistent), below for mean-reverting returns."""
    return pd.Series(rolling_hurst_exponent(log_returns(bars), HURST_WINDOW), index=bars.index)
