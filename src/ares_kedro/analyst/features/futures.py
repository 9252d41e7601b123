"""Futures features: funding rate and open interest, and their divergence from price.

``funding_rate`` is the last funding rate known at the bar's close (a fraction per funding
interval, forward-filled) and ``open_interest`` the open interest at the bar's close; spot
markets have neither, so these features are skipped there. Windows are in bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import column
from ares_kedro.analyst.features.statistics import feature_series, window_moments
from ares_kedro.windows import pct_change, shift

BASIS_POINTS = 1e4
ZSCORE_WINDOW = 90
CHANGE_BARS = 24


def _zscore(values: np.ndarray, window: int) -> np.ndarray:
    """Z-score of each value against the last ``window`` values (itself included); 0 when
    they are all equal (a funding rate unchanged over the window, common on short bars:
    rounding would otherwise give noise or NaN)."""
    moments = window_moments(values, window)
    spread = moments[:, 1]  # exactly 0 for a window of equal values
    std = np.sqrt(np.where(spread > 0, spread, np.nan) / (window - 1))
    return np.where(spread == 0, 0.0, (values - moments[:, 0]) / std)


def _log_change(values: np.ndarray, bars: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values / shift(values, bars))


def _funding_zscore(bars: pd.DataFrame) -> np.ndarray:
    """Z-score (ZSCORE_WINDOW) of the funding rate, once per call (read-only)."""
    return memoised("funding_zscore", bars,
                    lambda: _zscore(column(bars, "funding_rate"), ZSCORE_WINDOW))


def _price_change(bars: pd.DataFrame) -> np.ndarray:
    """Log change of the close over CHANGE_BARS bars, once per call (read-only)."""
    return memoised("close_log_change_24", bars,
                    lambda: _log_change(column(bars, "close"), CHANGE_BARS))


@register("funding_zscore_90", "futures", 90, ["funding_rate"])
def funding_zscore_90(bars: pd.DataFrame) -> pd.Series:
    """Z-score of the funding rate known at the bar against the last 90 bars."""
    return feature_series(_funding_zscore(bars).copy(), bars)


@register("funding_rate_bps", "futures", 0, ["funding_rate"])
def funding_rate_bps(bars: pd.DataFrame) -> pd.Series:
    """Funding rate known at the bar, bps per funding interval (8 h on most perpetuals)."""
    return feature_series(column(bars, "funding_rate") * BASIS_POINTS, bars)


@register("funding_change_24", "futures", 24, ["funding_rate"])
def funding_change_24(bars: pd.DataFrame) -> pd.Series:
    """Funding momentum: funding rate minus its value 24 bars ago, bps per funding interval."""
    rate = column(bars, "funding_rate")
    return feature_series((rate - shift(rate, CHANGE_BARS)) * BASIS_POINTS, bars)


@register("funding_price_divergence_24", "futures", 113, ["funding_rate", "close"])
def funding_price_divergence_24(bars: pd.DataFrame) -> pd.Series:
    """Funding z-score (90) minus 24-bar log-return z-score (90); > 0: funding rich vs price."""
    price_z = _zscore(_price_change(bars), ZSCORE_WINDOW)
    return feature_series(_funding_zscore(bars) - price_z, bars)


@register("open_interest_change_24", "futures", 24, ["open_interest"])
def open_interest_change_24(bars: pd.DataFrame) -> pd.Series:
    """Change of open interest over 24 bars, fraction."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return feature_series(pct_change(column(bars, "open_interest"), CHANGE_BARS), bars)


@register("open_interest_price_agreement_24", "futures", 113, ["open_interest", "close"])
def open_interest_price_agreement_24(bars: pd.DataFrame) -> pd.Series:
    """Z-score (90) of 24-bar log OI change x sign of 24-bar price change; > 0: OI agrees."""
    open_interest_z = _zscore(_log_change(column(bars, "open_interest"), CHANGE_BARS),
                              ZSCORE_WINDOW)
    return feature_series(open_interest_z * np.sign(_price_change(bars)), bars)
