"""Causal technical indicators, vectorised: the value at bar t uses bars up to t only.

Inputs are float arrays or Series of one length; the result is a Series on the first
input's index when that input is a Series, else an array (the regime rules and the
features work on arrays: :mod:`ares_kedro.windows`). Wilder smoothing is an exponential
mean with alpha = 1/window (pandas' ``ewm(adjust=False)``, bit for bit), NaN until
``window`` values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.windows import as_floats, ewm_mean, rolling_mean, rolling_rank, rolling_std, shift


def _like(template, values: np.ndarray):
    """``values`` as a Series on ``template``'s index when ``template`` is a Series."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index)
    return values


def wilder_mean(values, window: int):
    return _like(values, ewm_mean(values, alpha=1.0 / window, min_periods=window))


def true_range(high, low, close):
    """The largest of high - low, |high - previous close| and |low - previous close|
    (the first bar, with no previous close: high - low)."""
    h, lo, c = as_floats(high), as_floats(low), as_floats(close)
    previous = shift(c, 1)
    return _like(high, np.fmax(np.fmax(h - lo, np.abs(h - previous)), np.abs(lo - previous)))


def average_true_range(high, low, close, window: int):
    """ATR in price units."""
    return _like(high, ewm_mean(np.asarray(true_range(as_floats(high), low, close)),
                                alpha=1.0 / window, min_periods=window))


def average_directional_index(high, low, close, window: int):
    """Wilder's ADX, 0..100: trend strength regardless of direction."""
    h, lo = as_floats(high), as_floats(low)
    up = h - shift(h, 1)
    down = shift(lo, 1) - lo
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    atr = average_true_range(h, lo, close, window)
    plus_di = 100 * wilder_mean(plus_dm, window) / atr
    minus_di = 100 * wilder_mean(minus_dm, window) / atr
    total = plus_di + minus_di
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = 100 * np.abs(plus_di - minus_di) / np.where(total == 0.0, np.nan, total)
    return _like(high, wilder_mean(dx, window))


def ema_slope(close, atr, window: int, lag_bars: int):
    """Change of the EMA over ``lag_bars`` bars, per bar, in ATR units (dimensionless)."""
    ema = ewm_mean(close, span=window, min_periods=window)
    return _like(close, (ema - shift(ema, lag_bars)) / (lag_bars * as_floats(atr)))


def bollinger_width(close, window: int, num_std: float):
    """Band width (upper - lower) as a fraction of the middle band."""
    values = as_floats(close)
    mean = rolling_mean(values, window)
    std = rolling_std(values, window, ddof=0)
    return _like(close, 2 * num_std * std / mean)


def trailing_percentile(values, window: int):
    """Rank of each value among the last ``window`` values (itself included), 0..1."""
    return _like(values, rolling_rank(values, window))
