"""Volatility features (windows in bars; all as fractions of price)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import bar_atr
from ares_kedro.regimes.indicators import bollinger_width


@register("atr_14_pct", "volatility", 28, ["high", "low", "close"])
def atr_14_pct(bars: pd.DataFrame) -> pd.Series:
    """ATR over 14 bars as a fraction of the close."""
    return bar_atr(bars) / bars["close"]


@register("bollinger_width_20", "volatility", 20, ["close"])
def bollinger_width_20(bars: pd.DataFrame) -> pd.Series:
    """Bollinger band width (20 bars, 2 std) as a fraction of the middle band."""
    return bollinger_width(bars["close"], 20, 2.0)


@register("realized_vol_24", "volatility", 25, ["close"])
def realized_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Standard deviation of log returns over 24 bars."""
    return np.log(bars["close"]).diff().rolling(24).std()


@register("parkinson_vol_24", "volatility", 24, ["high", "low"])
def parkinson_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Parkinson volatility over 24 bars: sqrt(mean(ln(H/L)^2) / (4 ln 2))."""
    squared = np.log(bars["high"] / bars["low"]) ** 2
    return np.sqrt(squared.rolling(24).mean() / (4 * np.log(2)))


@register("garman_klass_vol_24", "volatility", 24, ["open", "high", "low", "close"])
def garman_klass_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Garman-Klass volatility over 24 bars."""
    range_part = 0.5 * np.log(bars["high"] / bars["low"]) ** 2
    body_part = (2 * np.log(2) - 1) * np.log(bars["close"] / bars["open"]) ** 2
    return np.sqrt((range_part - body_part).clip(lower=0).rolling(24).mean())
