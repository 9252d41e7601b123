"""Causal technical indicators, vectorised: the value at bar t uses bars up to t only.

All inputs are float Series on the same index; Wilder smoothing is an exponential mean
with alpha = 1/window (pandas ``ewm``, ``adjust=False``), NaN until ``window`` values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def wilder_mean(values: pd.Series, window: int) -> pd.Series:
    return values.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """The largest of high - low, |high - previous close| and |low - previous close|
    (the first bar, with no previous close: high - low)."""
    h, lo, c = (np.asarray(s, dtype=float) for s in (high, low, close))
    previous = np.r_[np.nan, c[:-1]]
    return pd.Series(np.fmax(np.fmax(h - lo, np.abs(h - previous)), np.abs(lo - previous)),
                     index=high.index)


def average_true_range(high: pd.Series, low: pd.Series, close: pd.Series, window: int) -> pd.Series:
    """ATR in price units."""
    return wilder_mean(true_range(high, low, close), window)


def average_directional_index(high: pd.Series, low: pd.Series, close: pd.Series,
                              window: int) -> pd.Series:
    """Wilder's ADX, 0..100: trend strength regardless of direction."""
    up = high.diff()
    down = -low.diff()
    plus_dm = pd.Series(np.where((up > down) & (up > 0), up, 0.0), index=high.index)
    minus_dm = pd.Series(np.where((down > up) & (down > 0), down, 0.0), index=high.index)
    atr = average_true_range(high, low, close, window)
    plus_di = 100 * wilder_mean(plus_dm, window) / atr
    minus_di = 100 * wilder_mean(minus_dm, window) / atr
    total = (plus_di + minus_di).replace(0.0, np.nan)
    dx = 100 * (plus_di - minus_di).abs() / total
    return wilder_mean(dx, window)


def ema_slope(close: pd.Series, atr: pd.Series, window: int, lag_bars: int) -> pd.Series:
    """Change of the EMA over ``lag_bars`` bars, per bar, in ATR units (dimensionless)."""
    ema = close.ewm(span=window, adjust=False, min_periods=window).mean()
    return (ema - ema.shift(lag_bars)) / (lag_bars * atr)


def bollinger_width(close: pd.Series, window: int, num_std: float) -> pd.Series:
    """Band width (upper - lower) as a fraction of the middle band."""
    mean = close.rolling(window, min_periods=window).mean()
    std = close.rolling(window, min_periods=window).std(ddof=0)
    return 2 * num_std * std / mean


def trailing_percentile(values: pd.Series, window: int) -> pd.Series:
    """Rank of each value among the last ``window`` values (itself included), 0..1."""
    return values.rolling(window, min_periods=window).rank(pct=True)
