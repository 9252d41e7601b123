"""Trend, statistical and candle-shape features (windows in bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import bar_atr
from ares_kedro.regimes.indicators import average_directional_index


@register("adx_14", "trend", 28, ["high", "low", "close"])
def adx_14(bars: pd.DataFrame) -> pd.Series:
    """Wilder's ADX over 14 bars, 0..100 (trend strength, either direction)."""
    return average_directional_index(bars["high"], bars["low"], bars["close"], 14)


@register("ema_distance_50", "trend", 50, ["high", "low", "close"])
def ema_distance_50(bars: pd.DataFrame) -> pd.Series:
    """(close - EMA 50) in ATRs (14): how far price has run from its trend."""
    ema = bars["close"].ewm(span=50, adjust=False, min_periods=50).mean()
    atr = bar_atr(bars)
    return (bars["close"] - ema) / atr


@register("donchian_position_48", "volatility", 48, ["high", "low", "close"])
def donchian_position_48(bars: pd.DataFrame) -> pd.Series:
    """Where the close sits in the 48-bar Donchian channel, 0 (low) .. 1 (high)."""
    upper, lower = bars["high"].rolling(48).max(), bars["low"].rolling(48).min()
    return (bars["close"] - lower) / (upper - lower).replace(0.0, np.nan)


@register("return_skew_48", "statistical", 49, ["close"])
def return_skew_48(bars: pd.DataFrame) -> pd.Series:
    """Skewness of log returns over 48 bars."""
    return np.log(bars["close"]).diff().rolling(48).skew()


@register("return_kurtosis_48", "statistical", 49, ["close"])
def return_kurtosis_48(bars: pd.DataFrame) -> pd.Series:
    """Excess kurtosis of log returns over 48 bars."""
    return np.log(bars["close"]).diff().rolling(48).kurt()


@register("return_autocorr_48", "statistical", 50, ["close"])
def return_autocorr_48(bars: pd.DataFrame) -> pd.Series:
    """Lag-1 autocorrelation of log returns over 48 bars."""
    returns = np.log(bars["close"]).diff()
    return returns.rolling(48).corr(returns.shift(1))


@register("candle_body_ratio", "price_action", 0, ["open", "high", "low", "close"])
def candle_body_ratio(bars: pd.DataFrame) -> pd.Series:
    """(close - open) / (high - low), -1..1: signed body share of the bar's range."""
    return (bars["close"] - bars["open"]) / (bars["high"] - bars["low"]).replace(0.0, np.nan)


@register("upper_wick_ratio", "price_action", 0, ["open", "high", "low", "close"])
def upper_wick_ratio(bars: pd.DataFrame) -> pd.Series:
    """(high - max(open, close)) / (high - low), 0..1: rejection from above."""
    top = np.maximum(bars["open"], bars["close"])
    return (bars["high"] - top) / (bars["high"] - bars["low"]).replace(0.0, np.nan)
