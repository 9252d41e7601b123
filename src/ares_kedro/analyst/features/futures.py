"""Futures features: funding rate and open interest, and their divergence from price.

``funding_rate`` is the last funding rate known at the bar's close (a fraction per funding
interval, forward-filled) and ``open_interest`` the open interest at the bar's close; spot
markets have neither, so these features are skipped there. Windows are in bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register

BASIS_POINTS = 1e4


def _zscore(values: pd.Series, window: int) -> pd.Series:
    """Z-score of each value against the last ``window`` values (itself included); 0 when
    they are all equal (a funding rate unchanged over the window, common on short bars:
    rounding would otherwise give noise or NaN)."""
    rolling = values.rolling(window)
    constant = rolling.max() == rolling.min()
    zscore = (values - rolling.mean()) / rolling.std().replace(0.0, np.nan)
    return zscore.mask(constant, 0.0)


def _log_change(values: pd.Series, bars: int) -> pd.Series:
    return np.log(values / values.shift(bars))


@register("funding_zscore_90", "futures", 90, ["funding_rate"])
def funding_zscore_90(bars: pd.DataFrame) -> pd.Series:
    """Z-score of the funding rate known at the bar against the last 90 bars."""
    return _zscore(bars["funding_rate"], 90)


@register("funding_rate_bps", "futures", 0, ["funding_rate"])
def funding_rate_bps(bars: pd.DataFrame) -> pd.Series:
    """Funding rate known at the bar, bps per funding interval (8 h on most perpetuals)."""
    return bars["funding_rate"] * BASIS_POINTS


@register("funding_change_24", "futures", 24, ["funding_rate"])
def funding_change_24(bars: pd.DataFrame) -> pd.Series:
    """Funding momentum: funding rate minus its value 24 bars ago, bps per funding interval."""
    rate = bars["funding_rate"]
    return (rate - rate.shift(24)) * BASIS_POINTS


@register("funding_price_divergence_24", "futures", 113, ["funding_rate", "close"])
def funding_price_divergence_24(bars: pd.DataFrame) -> pd.Series:
    """Funding z-score (90) minus 24-bar log-return z-score (90); > 0: funding rich vs price."""
    price_z = _zscore(_log_change(bars["close"], 24), 90)
    return _zscore(bars["funding_rate"], 90) - price_z


@register("open_interest_change_24", "futures", 24, ["open_interest"])
def open_interest_change_24(bars: pd.DataFrame) -> pd.Series:
    """Change of open interest over 24 bars, fraction."""
    return bars["open_interest"].pct_change(24)


@register("open_interest_price_agreement_24", "futures", 113, ["open_interest", "close"])
def open_interest_price_agreement_24(bars: pd.DataFrame) -> pd.Series:
    """Z-score (90) of 24-bar log OI change x sign of 24-bar price change; > 0: OI agrees."""
    open_interest_z = _zscore(_log_change(bars["open_interest"], 24), 90)
    return open_interest_z * np.sign(_log_change(bars["close"], 24))
