"""Computations several features share, made once per ``compute_features`` call
(:func:`~ares_kedro.analyst.features.registry.memoised`).

Features work on float arrays (:mod:`ares_kedro.windows`): on a live decision's short
window pandas' per-call overhead would dominate. The arrays returned here are shared
between features: never modify them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.windows import (
    as_floats,
    diff,
    ewm_mean,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_rank,
    rolling_std,
    rolling_sum,
)

PRICE_COLUMNS = ("high", "low", "close")


def column(bars: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of ``bars`` as a float64 array, read once per call (do not modify it)."""
    return memoised(f"float_column_{name}", bars, lambda: as_floats(bars[name].to_numpy(dtype=float)))


def bar_atr_values(bars: pd.DataFrame, window: int = 14) -> np.ndarray:
    """Wilder's ATR over ``window`` bars of ``bars``, price units, as an array (do not
    modify it)."""
    high, low, close = (column(bars, c) for c in PRICE_COLUMNS)
    return memoised(f"atr_{window}_values", bars,
                    lambda: average_true_range(high, low, close, window))


def typical_price(bars: pd.DataFrame) -> np.ndarray:
    """(high + low + close) / 3, price units."""
    return (column(bars, "high") + column(bars, "low") + column(bars, "close")) / 3.0


def divide(numerator, denominator) -> np.ndarray:
    """numerator / denominator without warnings, as pandas divides: x / 0 is +-inf and
    0 / 0 NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(numerator, denominator)


def wilder_rsi(close: np.ndarray, window: int) -> np.ndarray:
    """Wilder's RSI of ``close`` over ``window`` bars, 0..100, as `ta` computes it: Wilder
    means (NaN until ``window`` values) of the gains and losses (a missing change counts as
    0), 100 where the mean loss is 0."""
    change = diff(close)
    gains = np.where(change > 0, change, 0.0)
    losses = -np.where(change < 0, change, 0.0)
    mean_gain = ewm_mean(gains, alpha=1 / window, min_periods=window)
    mean_loss = ewm_mean(losses, alpha=1 / window, min_periods=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_loss == 0, 100.0, 100 - (100 / (1 + mean_gain / mean_loss)))


# Full-window statistics (NaN until ``window`` values and while a NaN is in the window, as
# pandas' ``rolling(window)``): the kernels of :mod:`ares_kedro.windows`.
window_sum = rolling_sum
window_mean = rolling_mean
window_std = rolling_std
window_max = rolling_max
window_min = rolling_min
window_rank = rolling_rank
