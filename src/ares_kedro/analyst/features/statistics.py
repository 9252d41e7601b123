"""Statistical features of returns: rolling quantiles and the Hurst exponent.

Every feature here reads log returns r_t = ln(close_t / close_{t-1}) over a trailing window
of W returns ending at bar t (bars t-W .. t), so its warm-up is W bars; a window holding a
missing close gives NaN. All are dimensionless (free of the price level and of the returns'
scale). The rolling order statistics are compiled with numba (no Python loop over bars); the
Hurst exponent is built from rolling sums, O(bars x scales).

The window kernels other feature modules share live here too: pandas' rolling sum bit for
bit (:func:`kahan_rolling_sum`) and the central moments of each window
(:func:`window_moments`), both O(bars) whatever the window, so that training's long tables
stay as fast as with pandas and a live decision's short window pays no pandas overhead.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import column
from ares_kedro.windows import slide_sorted_window

QUANTILE_WINDOW = 96
HURST_WINDOW = 128
HURST_SCALES = (1, 2, 4, 8, 16)  # aggregation lengths m, in bars


def log_returns(bars: pd.DataFrame) -> np.ndarray:
    """ln(close_t / close_{t-1}) as a float array aligned with ``bars`` (NaN at row 0),
    computed once per ``compute_features`` call: read-only, never modify it."""
    def fresh() -> np.ndarray:
        log_close = np.log(column(bars, "close"))
        returns = np.empty_like(log_close)
        returns[:1] = np.nan
        returns[1:] = np.diff(log_close)
        return returns

    return memoised("log_returns", bars, fresh)


def feature_series(values: np.ndarray, bars: pd.DataFrame) -> pd.Series:
    """A feature's values as a Series aligned with ``bars``."""
    return pd.Series(values, index=bars.index)


# --- window kernels shared by the feature modules -------------------------------------------

@numba.njit(cache=True, nogil=True)
def _kahan_rolling_sum(values, window):  # pragma: no cover (compiled)
    """pandas' ``rolling(window).sum()`` bit for bit: a running sum with Kahan compensation
    (one for the values added, one for those removed), NaN unless the window holds
    ``window`` finite values (pandas' rolling takes infinities for NaN), and exactly value x
    count when they are all equal."""
    n = values.size
    out = np.full(n, np.nan)
    total = 0.0
    added = 0.0  # compensations
    removed = 0.0
    count = 0
    same = 0  # the last values were all equal to previous, `same` of them
    previous = np.nan
    for t in range(n):
        if t >= window:
            value = values[t - window]
            if np.isfinite(value):
                count -= 1
                y = -value - removed
                s = total + y
                removed = s - total - y
                total = s
        value = values[t]
        if np.isfinite(value):
            count += 1
            y = value - added
            s = total + y
            added = s - total - y
            total = s
            if value == previous:
                same += 1
            else:
                same = 1
                previous = value
        if count >= window:
            out[t] = previous * count if same >= count else total
    return out


def kahan_rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of each trailing ``window`` values (NaN until ``window`` values and while one is
    NaN or infinite): pandas' ``rolling(window).sum()`` bit for bit, O(bars) for any
    window."""
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return _kahan_rolling_sum(np.ascontiguousarray(values, dtype=np.float64), int(window))


MOMENT_COLUMNS = ("mean_x", "m2_x", "m3_x", "m4_x", "m2_y", "c_xy")
# the running sums of a window are summed anew when its spread falls below this share of
# all they have added and removed since they were last summed anew (rounding would show)
MOMENT_RESUM_SHARE = 1e-2


@numba.njit(cache=True, nogil=True, inline="always")
def _add_pair(x, y, k, sign, x_anchor, y_anchor, sums):  # pragma: no cover (compiled)
    """Add (sign 1) or remove (-1) pair k to the power sums of its deviations from the
    anchors (sums 0-3: x^1..x^4, 4-5: y^1, y^2, 6: xy, 7-8: all x^2 and y^2 moved);
    returns 1 for a pair holding a NaN or an infinity (left out of the sums), else 0."""
    if not (np.isfinite(x[k]) and np.isfinite(y[k])):
        return 1
    u = x[k] - x_anchor
    v = y[k] - y_anchor
    uu = u * u
    vv = v * v
    sums[0] += sign * u
    sums[1] += sign * uu
    sums[2] += sign * uu * u
    sums[3] += sign * uu * uu
    sums[4] += sign * v
    sums[5] += sign * vv
    sums[6] += sign * u * v
    sums[7] += uu
    sums[8] += vv
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _sum_anew(x, y, t, window, sums):  # pragma: no cover (compiled)
    """The sums of the window ending at t, anchored at pair t; returns its pairs with a
    NaN or an infinity."""
    sums[:] = 0.0
    missing = 0
    for k in range(max(t - window + 1, 0), t + 1):
        missing += _add_pair(x, y, k, 1.0, x[t], y[t], sums)
    return missing


@numba.njit(cache=True, nogil=True, inline="always")
def _spreads(sums, window):  # pragma: no cover (compiled)
    """Mean deviations of x and y from their anchors, sums of squared deviations from
    their means."""
    mean_u = sums[0] / window
    mean_v = sums[4] / window
    return (mean_u, mean_v, max(sums[1] - sums[0] * mean_u, 0.0),
            max(sums[5] - sums[4] * mean_v, 0.0))


@numba.njit(cache=True, nogil=True)
def _window_moments(x, y, window):  # pragma: no cover (compiled)
    """See :func:`window_moments`."""
    n = x.size
    out = np.full((n, 6), np.nan)
    sums = np.zeros(9)
    missing = 0  # pairs of the window holding a NaN or an infinity
    anchor = 0  # position of the pair the sums are anchored at, inside every window using it
    x_run = y_run = 0  # the last x_run values of x are equal and finite, same for y
    for t in range(n):
        x_run = 0 if not np.isfinite(x[t]) else (x_run + 1 if t > 0 and x[t] == x[t - 1] else 1)
        y_run = 0 if not np.isfinite(y[t]) else (y_run + 1 if t > 0 and y[t] == y[t - 1] else 1)
        if t == 0 or t - anchor >= window:
            anchor = t
            missing = _sum_anew(x, y, t, window, sums)
        else:
            if t >= window:
                missing -= _add_pair(x, y, t - window, -1.0, x[anchor], y[anchor], sums)
            missing += _add_pair(x, y, t, 1.0, x[anchor], y[anchor], sums)
        if t < window - 1 or missing:
            continue
        mean_u, mean_v, m2_x, m2_y = _spreads(sums, window)
        if ((m2_x < MOMENT_RESUM_SHARE * sums[7] and x_run < window)
                or (m2_y < MOMENT_RESUM_SHARE * sums[8] and y_run < window)):
            # a spread small next to what the updates moved: their rounding would show
            anchor = t
            _sum_anew(x, y, t, window, sums)
            mean_u, mean_v, m2_x, m2_y = _spreads(sums, window)
        if x_run >= window:  # all equal: exact values, whatever the running sums hold
            out[t, 0] = x[t]
            out[t, 1:4] = 0.0
        else:
            out[t, 0] = x[anchor] + mean_u
            out[t, 1] = m2_x
            out[t, 2] = sums[2] - 3.0 * mean_u * sums[1] + 2.0 * mean_u * mean_u * sums[0]
            out[t, 3] = (sums[3] - 4.0 * mean_u * sums[2] + 6.0 * mean_u * mean_u * sums[1]
                         - 3.0 * mean_u * mean_u * mean_u * sums[0])
        out[t, 4] = 0.0 if y_run >= window else m2_y
        out[t, 5] = 0.0 if x_run >= window or y_run >= window else sums[6] - sums[0] * mean_v
    return out


def window_moments(x: np.ndarray, window: int, y: np.ndarray | None = None) -> np.ndarray:
    """Moments of each trailing window of ``window`` pairs (x_k, y_k) (``y`` defaults to
    ``x``), columns :data:`MOMENT_COLUMNS`: the mean of x, the sums of the 2nd, 3rd and 4th
    powers of x's deviations from that mean, of the squared deviations of y, and of the
    products of the deviations of x and y (divide by the window, or window - 1, for
    moments). NaN until ``window`` pairs and while one holds a NaN or an infinity (pandas'
    full windows, which take infinities for NaN); exactly the value and zeros for a window
    of equal values.

    O(bars) for any window, as accurate as summing each window afresh: the power sums are
    of deviations from a value inside the window (so they stay small), summed anew every
    ``window`` bars and updated one pair in, one out between; and summed anew at once when
    the window's spread becomes small next to what the updates moved (a calm window after
    a jump), where the rounding of the updates would show.
    """
    if int(window) < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = x if y is None else np.ascontiguousarray(y, dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} and {y.shape}")
    return _window_moments(x, y, int(window))


def window_correlation(moments: np.ndarray) -> np.ndarray:
    """Correlation of x and y in each window from :func:`window_moments`, NaN where either
    is constant."""
    spread = moments[:, 1] * moments[:, 4]
    return moments[:, 5] / np.sqrt(np.where(spread > 0, spread, np.nan))


# --- quantiles ---------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _rolling_quantiles(values, window, probabilities, moments):  # pragma: no cover (compiled)
    """Per trailing window of ``window`` values, column 0: quantile rank of the last value
    (share of the other window - 1 values below it, ties counting half); column 1 + i:
    (q_p - mean) / std for p = probabilities[i], q_p by linear interpolation between order
    statistics (numpy's default), mean and std (ddof=1) from the window's ``moments``
    (:func:`window_moments`). A sorted copy of the window is kept up to date (one removal,
    one insertion per bar): O(bars x window), the order statistics exact. NaN when the
    window holds a NaN (and the quantiles when it is constant)."""
    n = values.size
    out = np.full((n, 1 + probabilities.size), np.nan)
    ordered = np.empty(window)
    count = 0  # the non-NaN values of the current window, sorted in ordered[:count]
    for t in range(n):
        leaving = values[t - window] if t >= window else np.nan
        entering = values[t]
        count = slide_sorted_window(ordered, count, leaving, entering)
        if count < window:
            continue
        below = np.searchsorted(ordered, entering)
        ties = np.searchsorted(ordered, entering, side="right") - below - 1
        out[t, 0] = (below + 0.5 * ties) / (window - 1)
        if ordered[0] == ordered[window - 1]:
            continue  # a constant window has no spread to standardise by
        mean = moments[t, 0]
        std = np.sqrt(moments[t, 1] / (window - 1))
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
    return memoised(family, bars, lambda: compute(log_returns(bars)))


def _return_quantiles(bars: pd.DataFrame) -> np.ndarray:
    """Columns: quantile rank, 5 % and 95 % standardised quantiles over QUANTILE_WINDOW."""
    return memoised_on_close("return_quantiles", bars, lambda returns: _rolling_quantiles(
        returns, QUANTILE_WINDOW, np.array([0.05, 0.95]),
        window_moments(returns, QUANTILE_WINDOW)))


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


@numba.njit(cache=True, nogil=True)
def _rolling_hurst(returns, window, scales, weights):  # pragma: no cover (compiled)
    """See :func:`rolling_hurst_exponent`: pandas' rolling sums (bit for bit) and the same
    arithmetic, in one compiled pass per scale."""
    n = returns.size
    mean = _kahan_rolling_sum(returns, window) / window
    slope = np.zeros(n)
    for i in range(scales.size):
        m = scales[i]
        blocks = window - m + 1
        block = _kahan_rolling_sum(returns, m)  # S_j, the m-bar sum ending at j
        sum_s = _kahan_rolling_sum(block, blocks)
        sum_s2 = _kahan_rolling_sum(block * block, blocks)
        correction = m * (1 - m / window)
        for t in range(n):
            centre = m * mean[t]
            squares = sum_s2[t] - 2 * centre * sum_s[t] + blocks * (centre * centre)
            variance = squares / blocks / correction
            slope[t] += weights[i] * (np.log(variance) if variance > 0 else np.nan)
    out = np.full(n, np.nan)
    same = 0  # the last `same` returns are equal and finite
    for t in range(n):
        if not np.isfinite(returns[t]):
            same = 0
        elif t > 0 and returns[t] == returns[t - 1]:
            same += 1
        else:
            same = 1
        # returns all equal (a flat market): no variance to scale, only rounding left
        if same < window:
            out[t] = (1 + slope[t]) / 2
    return out


def rolling_hurst_exponent(returns: np.ndarray, window: int,
                           scales: tuple[int, ...] = HURST_SCALES) -> np.ndarray:
    """Aggregated-variance Hurst exponent of each trailing window of ``window`` returns.

    For each scale m, S_j = r_{j-m+1} + ... + r_j are the window - m + 1 overlapping m-bar
    sums inside the window and rbar the window's mean return;
    V(m) = mean_j (S_j - m rbar)^2 / (m (1 - m / window)), which has expectation sigma^2 at
    every m for i.i.d. returns (the factor corrects for the estimated mean). As
    Var(S) ~ m^(2H), H = (1 + least-squares slope of ln V(m) on ln m) / 2. The window sums
    are rolling sums of the whole series (pandas' running sums, compiled), so every window
    is computed at once, O(bars x scales). On i.i.d. returns it averages about 0.48 with a
    spread of about 0.07 per 128-bar window (the log of a noisy variance is biased low at
    the coarse scales). NaN for a window holding a NaN or whose returns are all equal.
    """
    if window <= max(scales) or min(scales) < 1 or len(set(scales)) < 2:
        raise ValueError(f"Hurst scales {scales} must be distinct, >= 1 and below the window "
                         f"({window} bars)")
    log_scale = np.log(np.asarray(scales, dtype=float))
    weights = (log_scale - log_scale.mean()) / np.sum((log_scale - log_scale.mean()) ** 2)
    return _rolling_hurst(np.ascontiguousarray(returns, dtype=np.float64), int(window),
                          np.asarray(scales, dtype=np.int64), weights)


@register("hurst_exponent_128", "statistical", HURST_WINDOW, ["close"])
def hurst_exponent_128(bars: pd.DataFrame) -> pd.Series:
    """Hurst exponent of the last 128 log returns by aggregated variance: V(m) = mean of
    (m-bar overlapping sum - m x window mean)^2 / (m (1 - m/128)) for m = 1, 2, 4, 8, 16
    bars, H = (1 + least-squares slope of ln V on ln m) / 2; about 0.5 for a random walk,
    above for trending (persistent), below for mean-reverting returns."""
    return feature_series(rolling_hurst_exponent(log_returns(bars), HURST_WINDOW), bars)
