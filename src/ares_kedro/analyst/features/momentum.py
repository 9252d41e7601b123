"""Momentum features (windows in bars)."""

from __future__ import annotations

import pandas as pd
import ta

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
