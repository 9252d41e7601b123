"""Trend, statistical and candle-shape features (windows in bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import bar_atr_values, column, window_max, window_min
from ares_kedro.analyst.features.statistics import (
    feature_series,
    log_returns,
    window_correlation,
    window_moments,
)
from ares_kedro.regimes.indicators import average_directional_index
from ares_kedro.windows import ewm_mean, shift

MOMENT_WINDOW = 48  # bars of log returns for skewness, kurtosis and autocorrelation


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0.0, np.nan, numerator / denominator)


@register("adx_14", "trend", 28, ["high", "low", "close"])
def adx_14(bars: pd.DataFrame) -> pd.Series:
    """Wilder's ADX over 14 bars, 0..100 (trend strength, either direction)."""
    return feature_series(average_directional_index(
        column(bars, "high"), column(bars, "low"), column(bars, "close"), 14), bars)


@register("ema_distance_50", "trend", 50, ["high", "low", "close"])
def ema_distance_50(bars: pd.DataFrame) -> pd.Series:
    """(close - EMA 50) in ATRs (14): how far price has run from its trend."""
    close = column(bars, "close")
    ema = ewm_mean(close, span=50, min_periods=50)
    with np.errstate(divide="ignore", invalid="ignore"):  # no ATR yet on flat bars
        return feature_series((close - ema) / bar_atr_values(bars), bars)


@register("donchian_position_48", "volatility", 48, ["high", "low", "close"])
def donchian_position_48(bars: pd.DataFrame) -> pd.Series:
    """Where the close sits in the 48-bar Donchian channel, 0 (low) .. 1 (high)."""
    upper, lower = window_max(column(bars, "high"), 48), window_min(column(bars, "low"), 48)
    return feature_series(_ratio(column(bars, "close") - lower, upper - lower), bars)


def _return_shape(bars: pd.DataFrame) -> np.ndarray:
    """Columns: skewness and excess kurtosis of the last MOMENT_WINDOW log returns, both
    unbiased as pandas' ``rolling().skew()`` and ``kurt()`` (NaN for a constant window)."""
    def fresh() -> np.ndarray:
        n = float(MOMENT_WINDOW)
        moments = window_moments(log_returns(bars), MOMENT_WINDOW)
        m2, m3, m4 = moments[:, 1], moments[:, 2], moments[:, 3]
        spread = np.where(m2 > 0, m2, np.nan)
        skew = m3 / (spread * np.sqrt(spread)) * (n * np.sqrt(n - 1.0) / (n - 2.0))
        kurt = ((n - 1.0) / ((n - 2.0) * (n - 3.0))
                * (n * (n + 1.0) * m4 / (spread * spread) - 3.0 * (n - 1.0)))
        shape = np.column_stack([skew, kurt])
        return shape

    return memoised("return_shape_48", bars, fresh)


@register("return_skew_48", "statistical", 49, ["close"])
def return_skew_48(bars: pd.DataFrame) -> pd.Series:
    """Skewness of log returns over 48 bars."""
    return feature_series(_return_shape(bars)[:, 0].copy(), bars)


@register("return_kurtosis_48", "statistical", 49, ["close"])
def return_kurtosis_48(bars: pd.DataFrame) -> pd.Series:
    """Excess kurtosis of log returns over 48 bars."""
    return feature_series(_return_shape(bars)[:, 1].copy(), bars)


@register("return_autocorr_48", "statistical", 50, ["close"])
def return_autocorr_48(bars: pd.DataFrame) -> pd.Series:
    """Lag-1 autocorrelation of log returns over 48 bars."""
    returns = log_returns(bars)
    moments = window_moments(returns, MOMENT_WINDOW, shift(returns, 1))
    return feature_series(window_correlation(moments), bars)


@register("candle_body_ratio", "price_action", 0, ["open", "high", "low", "close"])
def candle_body_ratio(bars: pd.DataFrame) -> pd.Series:
    """(close - open) / (high - low), -1..1: signed body share of the bar's range."""
    high_low = column(bars, "high") - column(bars, "low")
    return feature_series(_ratio(column(bars, "close") - column(bars, "open"), high_low), bars)


@register("upper_wick_ratio", "price_action", 0, ["open", "high", "low", "close"])
def upper_wick_ratio(bars: pd.DataFrame) -> pd.Series:
    """(high - max(open, close)) / (high - low), 0..1: rejection from above."""
    high = column(bars, "high")
    top = np.maximum(column(bars, "open"), column(bars, "close"))
    return feature_series(_ratio(high - top, high - column(bars, "low")), bars)
