"""Volume features: OBV and its divergence from price, rolling VWAP and its bands.

OBV itself is a running sum whose level depends on where the history starts; only its
change over a window, divided by the volume traded in that window, is used (-1..1).
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
    typical_price,
    window_rank,
    window_sum,
)
from ares_kedro.windows import diff

FLOW_BARS = 24  # OBV and VWAP window
DIVERGENCE_RANK_BARS = 240  # trailing window ranking the 24-bar OBV and price changes
VWAP_BAND_STDS = 2.0


def signed_volume(bars: pd.DataFrame) -> np.ndarray:
    """OBV's step: +volume when the close rose from the bar before, -volume when it fell,
    0 when unchanged; NaN on the first bar."""
    return np.sign(diff(column(bars, "close"))) * column(bars, "volume")


def obv_slope(bars: pd.DataFrame, window: int = FLOW_BARS) -> np.ndarray:
    """(OBV_t - OBV_{t-window}) / volume of the last ``window`` bars, -1..1 (an array: do not
    modify it)."""
    def slope() -> np.ndarray:
        volume = window_sum(column(bars, "volume"), window)
        return np.clip(divide(window_sum(signed_volume(bars), window),
                              np.where(volume > 0, volume, np.nan)), -1.0, 1.0)

    return memoised(f"obv_slope_{window}", bars, slope)


@numba.njit(cache=True)
def _rolling_vwap(price, volume, window):  # pragma: no cover (compiled)
    """Volume-weighted mean and standard deviation of ``price`` over the last ``window``
    bars, each window summed afresh (two passes, no running sums to drift); NaN until
    ``window`` bars and when the window traded no volume."""
    n = price.size
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    for t in range(window - 1, n):
        total = 0.0
        weighted = 0.0
        for k in range(t - window + 1, t + 1):
            total += volume[k]
            weighted += volume[k] * price[k]
        if not total > 0.0:
            continue
        average = weighted / total
        spread = 0.0
        for k in range(t - window + 1, t + 1):
            spread += volume[k] * (price[k] - average) ** 2
        mean[t] = average
        std[t] = np.sqrt(spread / total)
    return mean, std


def _vwap_arrays(bars: pd.DataFrame, window: int = FLOW_BARS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rolling_vwap` as arrays, computed once per call (do not modify them)."""
    def vwap() -> tuple[np.ndarray, np.ndarray]:
        return _rolling_vwap(typical_price(bars), column(bars, "volume"), int(window))

    return memoised(f"vwap_{window}", bars, vwap)


def rolling_vwap(bars: pd.DataFrame, window: int = FLOW_BARS) -> tuple[pd.Series, pd.Series]:
    """Rolling VWAP of the typical price (high + low + close) / 3 over ``window`` bars and
    the volume-weighted standard deviation of the typical price around it (price units)."""
    mean, std = _vwap_arrays(bars, window)
    return pd.Series(mean, index=bars.index), pd.Series(std, index=bars.index)


@register("obv_slope_24", "volume", FLOW_BARS + 1, ["close", "volume"])
def obv_slope_24(bars: pd.DataFrame) -> pd.Series:
    """On-balance volume slope: (OBV_t - OBV_{t-24}) / volume of the last 24 bars, -1..1
    (OBV adds the bar's volume when the close rose, subtracts it when it fell, 0 unchanged)."""
    return pd.Series(obv_slope(bars), index=bars.index)


@register("obv_divergence_24", "volume", FLOW_BARS + DIVERGENCE_RANK_BARS,
          ["close", "volume"])
def obv_divergence_24(bars: pd.DataFrame) -> pd.Series:
    """OBV/price divergence, -1..1: trailing percentile (240 bars) of `obv_slope_24` minus
    trailing percentile (240 bars) of the 24-bar log return; < 0 when price rose more than
    volume flow confirms (bearish divergence), > 0 when volume flow leads price up."""
    price_change = diff(np.log(column(bars, "close")), FLOW_BARS)
    return pd.Series(window_rank(obv_slope(bars), DIVERGENCE_RANK_BARS)
                     - window_rank(price_change, DIVERGENCE_RANK_BARS),
                     index=bars.index)


@register("vwap_distance_24", "volume", 28, ["high", "low", "close", "volume"])
def vwap_distance_24(bars: pd.DataFrame) -> pd.Series:
    """(close - rolling VWAP of the last 24 bars) in ATRs (14); the VWAP averages the
    typical price (high + low + close) / 3 weighted by volume."""
    vwap, _ = _vwap_arrays(bars)
    return pd.Series(divide(column(bars, "close") - vwap, bar_atr_values(bars)), index=bars.index)


@register("vwap_band_position_24", "volume", FLOW_BARS, ["high", "low", "close", "volume"])
def vwap_band_position_24(bars: pd.DataFrame) -> pd.Series:
    """Where the close sits in the 24-bar VWAP bands (VWAP +- 2 volume-weighted standard
    deviations of the typical price), in band widths: 0 at the lower band, 0.5 at the VWAP,
    1 at the upper band (beyond 0..1 outside the bands)."""
    vwap, std = _vwap_arrays(bars)
    width = 2 * VWAP_BAND_STDS * std
    values = divide(column(bars, "close") - (vwap - VWAP_BAND_STDS * std),
                    np.where(width > 0, width, np.nan))
    return pd.Series(values, index=bars.index)
