"""Momentum features (windows in bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import (
    column,
    divide,
    typical_price,
    wilder_rsi,
    window_max,
    window_min,
    window_sum,
)
from ares_kedro.windows import diff, ewm_mean, pct_change


@register("rsi_14", "momentum", 28, ["close"])
def rsi_14(bars: pd.DataFrame) -> pd.Series:
    """Wilder's RSI over 14 bars, 0..100 (`ta`)."""
    return pd.Series(wilder_rsi(column(bars, "close"), 14), index=bars.index)


@register("macd_hist", "momentum", 60, ["close"])
def macd_hist(bars: pd.DataFrame) -> pd.Series:
    """MACD histogram (12, 26, 9) divided by the close: scale-free."""
    close = column(bars, "close")
    # `ta`'s MACD: EMAs (adjust=False) each NaN until its span
    macd = (ewm_mean(close, span=12, min_periods=12)
            - ewm_mean(close, span=26, min_periods=26))
    signal = ewm_mean(macd, span=9, min_periods=9)
    return pd.Series(divide(macd - signal, close), index=bars.index)


@register("roc_24", "momentum", 24, ["close"])
def roc_24(bars: pd.DataFrame) -> pd.Series:
    """Return over the last 24 bars, fraction."""
    return pd.Series(pct_change(column(bars, "close"), 24), index=bars.index)


@register("williams_r_14", "momentum", 14, ["high", "low", "close"])
def williams_r_14(bars: pd.DataFrame) -> pd.Series:
    """Williams %R over 14 bars, -100..0."""
    highest, lowest = window_max(column(bars, "high"), 14), window_min(column(bars, "low"), 14)
    values = divide(-100 * (highest - column(bars, "close")), highest - lowest)  # as `ta`
    return pd.Series(values, index=bars.index)


@register("cci_20", "momentum", 20, ["high", "low", "close"])
def cci_20(bars: pd.DataFrame) -> pd.Series:
    """Commodity Channel Index over 20 bars: (TP - mean TP) / (0.015 x mean absolute
    deviation of TP), TP = (high + low + close) / 3; dimensionless, mostly -200..200
    (same values as `ta`, vectorised)."""
    typical = typical_price(bars)
    values = np.full(typical.size, np.nan)
    if typical.size >= 20:
        windows = sliding_window_view(typical, 20)
        mean = windows.mean(axis=1)
        deviation = np.abs(windows - mean[:, None]).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            values[19:] = np.where(deviation > 0, (typical[19:] - mean) / (0.015 * deviation),
                                   np.nan)
    return pd.Series(values, index=bars.index)


@register("mfi_14", "momentum", 14, ["high", "low", "close", "volume"])
def mfi_14(bars: pd.DataFrame) -> pd.Series:
    """Money Flow Index over 14 bars, 0..100: 100 x positive / (positive + negative money
    flow), money flow = TP x volume, positive when TP = (high + low + close) / 3 rose from
    the bar before, negative when it fell; 50 when the window has no money flow (same values
    as `ta`, vectorised)."""
    typical = typical_price(bars)
    flow = typical * column(bars, "volume")
    change = diff(typical)
    positive = np.maximum(window_sum(np.where(change > 0, flow, 0.0), 14), 0.0)
    negative = np.maximum(window_sum(np.where(change < 0, flow, 0.0), 14), 0.0)
    total = positive + negative
    values = divide(100 * positive, np.where(total > 0, total, np.nan))
    return pd.Series(np.where(total == 0, 50.0, values), index=bars.index)
