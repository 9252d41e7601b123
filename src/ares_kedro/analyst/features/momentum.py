"""Momentum features (windows in bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import ta
from numpy.lib.stride_tricks import sliding_window_view

from ares_kedro.analyst.features.registry import register


@register("rsi_14", "momentum", 28, ["close"])
def rsi_14(bars: pd.DataFrame) -> pd.Series:
    """Wilder's RSI over 14 bars, 0..100 (`ta`)."""
    return ta.momentum.RSIIndicator(bars["close"], window=14).rsi()


@register("macd_hist", "momentum", 60, ["close"])
def macd_hist(bars: pd.DataFrame) -> pd.Series:
    """MACD histogram (12, 26, 9) divided by the close: scale-free."""
    return ta.trend.MACD(bars["close"]).macd_diff() / bars["close"]


@register("roc_24", "momentum", 24, ["close"])
def roc_24(bars: pd.DataFrame) -> pd.Series:
    """Return over the last 24 bars, fraction."""
    return bars["close"].pct_change(24)


@register("williams_r_14", "momentum", 14, ["high", "low", "close"])
def williams_r_14(bars: pd.DataFrame) -> pd.Series:
    """Williams %R over 14 bars, -100..0."""
    return ta.momentum.WilliamsRIndicator(bars["high"], bars["low"], bars["close"], 14).williams_r()


@register("cci_20", "momentum", 20, ["high", "low", "close"])
def cci_20(bars: pd.DataFrame) -> pd.Series:
    """Commodity Channel Index over 20 bars: (TP - mean TP) / (0.015 x mean absolute
    deviation of TP), TP = (high + low + close) / 3; dimensionless, mostly -200..200
    (same values as `ta`, vectorised)."""
    typical = ((bars["high"] + bars["low"] + bars["close"]) / 3.0).to_numpy(dtype=np.float64)
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
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    flow = typical * bars["volume"]
    change = typical.diff()
    positive = flow.where(change > 0, 0.0).rolling(14).sum().clip(lower=0.0)
    negative = flow.where(change < 0, 0.0).rolling(14).sum().clip(lower=0.0)
    total = positive + negative
    return (100 * positive / total.where(total > 0)).mask(total == 0, 50.0)
