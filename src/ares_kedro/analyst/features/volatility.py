"""Volatility features (windows in bars; all as fractions of price)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import (
    bar_atr_values,
    column,
    divide,
    window_mean,
    window_std,
)
from ares_kedro.regimes.indicators import bollinger_width
from ares_kedro.windows import diff


@register("atr_14_pct", "volatility", 28, ["high", "low", "close"])
def atr_14_pct(bars: pd.DataFrame) -> pd.Series:
    """ATR over 14 bars as a fraction of the close."""
    return pd.Series(divide(bar_atr_values(bars), column(bars, "close")), index=bars.index)


@register("bollinger_width_20", "volatility", 20, ["close"])
def bollinger_width_20(bars: pd.DataFrame) -> pd.Series:
    """Bollinger band width (20 bars, 2 std) as a fraction of the middle band."""
    return pd.Series(bollinger_width(column(bars, "close"), 20, 2.0), index=bars.index)


@register("realized_vol_24", "volatility", 25, ["close"])
def realized_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Standard deviation of log returns over 24 bars."""
    return pd.Series(window_std(diff(np.log(column(bars, "close"))), 24), index=bars.index)


@register("parkinson_vol_24", "volatility", 24, ["high", "low"])
def parkinson_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Parkinson volatility over 24 bars: sqrt(mean(ln(H/L)^2) / (4 ln 2))."""
    squared = np.log(divide(column(bars, "high"), column(bars, "low"))) ** 2
    return pd.Series(np.sqrt(window_mean(squared, 24) / (4 * np.log(2))), index=bars.index)


@register("garman_klass_vol_24", "volatility", 24, ["open", "high", "low", "close"])
def garman_klass_vol_24(bars: pd.DataFrame) -> pd.Series:
    """Garman-Klass volatility over 24 bars."""
    range_part = 0.5 * np.log(divide(column(bars, "high"), column(bars, "low"))) ** 2
    body_part = ((2 * np.log(2) - 1)
                 * np.log(divide(column(bars, "close"), column(bars, "open"))) ** 2)
    return pd.Series(np.sqrt(window_mean(np.maximum(range_part - body_part, 0.0), 24)),
                     index=bars.index)
