"""Computations several features share, made once per ``compute_features`` call
(:func:`~ares_kedro.analyst.features.registry.memoised`)."""

from __future__ import annotations

import pandas as pd

from ares_kedro.analyst.features.registry import memoised
from ares_kedro.regimes.indicators import average_true_range

PRICE_COLUMNS = ("high", "low", "close")


def bar_atr(bars: pd.DataFrame, window: int = 14) -> pd.Series:
    """Wilder's ATR over ``window`` bars of ``bars``, price units (do not modify it)."""
    high, low, close = (bars[c] for c in PRICE_COLUMNS)
    return memoised(f"atr_{window}", bars, lambda: average_true_range(high, low, close, window))
