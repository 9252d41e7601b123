"""Trend-following systems: Parabolic SAR, Ichimoku, SuperTrend (windows in bars).

Every level (SAR, cloud, SuperTrend line) is turned into a scale-free number: its distance
from the close in ATRs, or a direction of +1 (up) / -1 (down). The recursive systems (SAR,
SuperTrend) are numba loops started at the first bar, so truncating the history leaves every
earlier value unchanged.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import (
    bar_atr_values,
    column,
    divide,
    window_max,
    window_min,
)
from ares_kedro.windows import shift

SAR_STEP, SAR_MAX_STEP = 0.02, 0.2
TENKAN_BARS, KIJUN_BARS, SENKOU_B_BARS = 9, 26, 52
SUPERTREND_ATR_BARS, SUPERTREND_MULTIPLIER = 10, 3.0


@numba.njit(cache=True)
def _parabolic_sar(high, low, close, step, max_step):  # pragma: no cover (compiled)
    """Wilder's Parabolic SAR, bar by bar as `ta` 0.11 computes it: starts in an up trend
    with SAR = close of bar 1 and the extremes at bar 0's high and low; the penetration is
    checked before the SAR is limited by the two previous lows (highs), like TradingView;
    values from bar 2 on. Returns (sar, direction +1/-1), NaN before bar 2."""
    n = close.size
    sar = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    if n < 3:
        return sar, direction
    up_trend = True
    acceleration = step
    extreme_high = high[0]
    extreme_low = low[0]
    previous = close[1]
    for i in range(2, n):
        if up_trend:
            value = previous + acceleration * (extreme_high - previous)
            if low[i] < value:  # penetrated: reverse to a down trend at the extreme high
                up_trend = False
                value = extreme_high
                extreme_low = low[i]
                acceleration = step
            else:
                if high[i] > extreme_high:
                    extreme_high = high[i]
                    acceleration = min(acceleration + step, max_step)
                if low[i - 2] < value:
                    value = low[i - 2]
                elif low[i - 1] < value:
                    value = low[i - 1]
        else:
            value = previous - acceleration * (previous - extreme_low)
            if high[i] > value:  # penetrated: reverse to an up trend at the extreme low
                up_trend = True
                value = extreme_low
                extreme_high = high[i]
                acceleration = step
            else:
                if low[i] < extreme_low:
                    extreme_low = low[i]
                    acceleration = min(acceleration + step, max_step)
                if high[i - 2] > value:
                    value = high[i - 2]
                elif high[i - 1] > value:
                    value = high[i - 1]
        sar[i] = value
        direction[i] = 1.0 if up_trend else -1.0
        previous = value
    return sar, direction


def _sar_arrays(bars: pd.DataFrame, step: float = SAR_STEP, max_step: float = SAR_MAX_STEP
                ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parabolic_sar` as arrays, computed once per call (do not modify them)."""
    return memoised(f"psar_{step}_{max_step}", bars, lambda: _parabolic_sar(
        column(bars, "high"), column(bars, "low"), column(bars, "close"),
        float(step), float(max_step)))


def parabolic_sar(bars: pd.DataFrame, step: float = SAR_STEP, max_step: float = SAR_MAX_STEP
                  ) -> tuple[pd.Series, pd.Series]:
    """Parabolic SAR in price units and its direction (+1 up: SAR below price; -1 down)."""
    sar, direction = _sar_arrays(bars, step, max_step)
    return pd.Series(sar, index=bars.index), pd.Series(direction, index=bars.index)


@numba.njit(cache=True)
def _supertrend(high, low, close, atr, multiplier):  # pragma: no cover (compiled)
    """SuperTrend bands around (high + low) / 2 at +-multiplier x ATR; the lower band only
    rises while the previous close stays above it, the upper band only falls while the
    previous close stays below it; the direction turns up when the close crosses above the
    previous upper band and down when it crosses below the previous lower band. Starts up at
    the first bar with an ATR. Returns (line, direction +1/-1)."""
    n = close.size
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    started = False
    trend = 1.0
    lower_before = 0.0
    upper_before = 0.0
    for i in range(n):
        if np.isnan(atr[i]):
            continue
        middle = 0.5 * (high[i] + low[i])
        lower = middle - multiplier * atr[i]
        upper = middle + multiplier * atr[i]
        if started:
            if close[i - 1] > lower_before:
                lower = max(lower, lower_before)
            if close[i - 1] < upper_before:
                upper = min(upper, upper_before)
            if trend < 0 and close[i] > upper_before:
                trend = 1.0
            elif trend > 0 and close[i] < lower_before:
                trend = -1.0
        started = True
        lower_before = lower
        upper_before = upper
        line[i] = lower if trend > 0 else upper
        direction[i] = trend
    return line, direction


def _supertrend_arrays(bars: pd.DataFrame, atr_bars: int = SUPERTREND_ATR_BARS,
                      multiplier: float = SUPERTREND_MULTIPLIER
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`supertrend` as arrays, computed once per call (do not modify them)."""
    return memoised(f"supertrend_{atr_bars}_{multiplier}", bars, lambda: _supertrend(
        column(bars, "high"), column(bars, "low"), column(bars, "close"),
        bar_atr_values(bars, atr_bars), float(multiplier)))


def supertrend(bars: pd.DataFrame, atr_bars: int = SUPERTREND_ATR_BARS,
               multiplier: float = SUPERTREND_MULTIPLIER) -> tuple[pd.Series, pd.Series]:
    """SuperTrend line in price units and its direction (+1 up: line below price; -1 down),
    on Wilder's ATR over ``atr_bars``."""
    line, direction = _supertrend_arrays(bars, atr_bars, multiplier)
    return pd.Series(line, index=bars.index), pd.Series(direction, index=bars.index)


def _midpoint(high: np.ndarray, low: np.ndarray, window: int) -> np.ndarray:
    """(highest high + lowest low) / 2 over the last ``window`` bars."""
    return 0.5 * (window_max(high, window) + window_min(low, window))


def _ichimoku_arrays(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """:func:`ichimoku_lines` as arrays, computed once per call (do not modify them)."""
    def lines() -> dict[str, np.ndarray]:
        high, low = column(bars, "high"), column(bars, "low")
        tenkan, kijun = _midpoint(high, low, TENKAN_BARS), _midpoint(high, low, KIJUN_BARS)
        span_a, span_b = 0.5 * (tenkan + kijun), _midpoint(high, low, SENKOU_B_BARS)
        drawn_a, drawn_b = shift(span_a, KIJUN_BARS), shift(span_b, KIJUN_BARS)
        return {"tenkan": tenkan, "kijun": kijun, "span_a": span_a, "span_b": span_b,
                "cloud_top": np.maximum(drawn_a, drawn_b),
                "cloud_bottom": np.minimum(drawn_a, drawn_b)}

    return memoised("ichimoku", bars, lines)


def ichimoku_lines(bars: pd.DataFrame) -> dict[str, pd.Series]:
    """Ichimoku (9, 26, 52) lines known at each bar, in price units.

    ``tenkan`` and ``kijun``: 9- and 26-bar midpoints; ``span_a`` = (tenkan + kijun) / 2 and
    ``span_b`` = the 52-bar midpoint, both computed at the bar (charts plot them 26 bars
    ahead); ``cloud_top`` / ``cloud_bottom``: the cloud drawn at the bar, i.e. max / min of
    the spans computed 26 bars earlier (causal). The chikou span (the close plotted 26 bars
    back) is not computed: at bar t it would need the close of t + 26.
    """
    return {name: pd.Series(values, index=bars.index)
            for name, values in _ichimoku_arrays(bars).items()}


def _in_atrs(bars: pd.DataFrame, values: np.ndarray, atr: np.ndarray | None = None
             ) -> pd.Series:
    """``values`` (price units) divided by ``atr`` (default: the bars' ATR over 14 bars),
    on the bars' index."""
    atr = bar_atr_values(bars) if atr is None else atr
    return pd.Series(divide(values, atr), index=bars.index)


@register("psar_distance", "trend", 50, ["high", "low", "close"])
def psar_distance(bars: pd.DataFrame) -> pd.Series:
    """(close - Parabolic SAR (step 0.02, max 0.2)) in ATRs (14): positive while the SAR
    trails below price (up trend), negative above it."""
    sar, _ = _sar_arrays(bars)
    return _in_atrs(bars, column(bars, "close") - sar)


@register("psar_direction", "trend", 50, ["high", "low", "close"])
def psar_direction(bars: pd.DataFrame) -> pd.Series:
    """Parabolic SAR (step 0.02, max 0.2) direction: +1 in an up trend (SAR below price),
    -1 in a down trend; it flips when a bar's low (high) penetrates the SAR."""
    _, direction = _sar_arrays(bars)
    return pd.Series(direction, index=bars.index)


@register("ichimoku_cloud_top_distance", "trend", KIJUN_BARS + SENKOU_B_BARS,
          ["high", "low", "close"])
def ichimoku_cloud_top_distance(bars: pd.DataFrame) -> pd.Series:
    """(close - top of the Ichimoku (9, 26, 52) cloud drawn at the bar) in ATRs (14); the
    cloud drawn at t is max(span A, span B) computed at t - 26, so only past bars are used."""
    return _in_atrs(bars, column(bars, "close") - _ichimoku_arrays(bars)["cloud_top"])


@register("ichimoku_cloud_bottom_distance", "trend", KIJUN_BARS + SENKOU_B_BARS,
          ["high", "low", "close"])
def ichimoku_cloud_bottom_distance(bars: pd.DataFrame) -> pd.Series:
    """(close - bottom of the Ichimoku (9, 26, 52) cloud drawn at the bar) in ATRs (14):
    min(span A, span B) computed at t - 26. Both cloud distances > 0: price above the cloud;
    both < 0: below; opposite signs: inside."""
    return _in_atrs(bars, column(bars, "close") - _ichimoku_arrays(bars)["cloud_bottom"])


@register("ichimoku_tenkan_kijun", "trend", 28, ["high", "low", "close"])
def ichimoku_tenkan_kijun(bars: pd.DataFrame) -> pd.Series:
    """(tenkan - kijun) in ATRs (14): 9-bar minus 26-bar (highest high + lowest low) / 2,
    the Ichimoku fast/slow line cross."""
    lines = _ichimoku_arrays(bars)
    return _in_atrs(bars, lines["tenkan"] - lines["kijun"])


@register("ichimoku_span_difference", "trend", SENKOU_B_BARS, ["high", "low", "close"])
def ichimoku_span_difference(bars: pd.DataFrame) -> pd.Series:
    """(span A - span B) computed at the bar, in ATRs (14): the colour and thickness of the
    cloud charts draw 26 bars ahead (> 0 bullish), known now."""
    lines = _ichimoku_arrays(bars)
    return _in_atrs(bars, lines["span_a"] - lines["span_b"])


@register("supertrend_direction", "trend", 30, ["high", "low", "close"])
def supertrend_direction(bars: pd.DataFrame) -> pd.Series:
    """SuperTrend (ATR 10, multiplier 3) direction: +1 while the close holds above the
    trailing lower band, -1 after it closes below it (until it closes above the upper band)."""
    _, direction = _supertrend_arrays(bars)
    return pd.Series(direction, index=bars.index)


@register("supertrend_distance", "trend", 30, ["high", "low", "close"])
def supertrend_distance(bars: pd.DataFrame) -> pd.Series:
    """(close - SuperTrend line (ATR 10, multiplier 3)) in ATRs (10, the system's own):
    > 0 above the line in an up trend, < 0 below it in a down trend."""
    line, _ = _supertrend_arrays(bars)
    return _in_atrs(bars, column(bars, "close") - line, bar_atr_values(bars, SUPERTREND_ATR_BARS))
