"""What the tactician knows at a bar beside the analyst's opinion: higher-timeframe trend
context, realised volatility and the feature rows its models read.

Everything here is causal: the higher-timeframe trend comes from the analyst's
multi-timeframe features (complete 4h and 1d bars only, see
:mod:`~ares_kedro.analyst.features.multi_timeframe`) and the volatility from a trailing
window of closes, so a value at bar t never changes when later bars arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys
from ares_kedro.regimes import REGIMES

TIMEFRAMES = ("4h", "1d")
OPINION = ("p_long", "p_short", "p_hold", "confidence")


@dataclass(frozen=True)
class ContextParams:
    """``tactician.context`` in conf."""

    trend_feature: str  # multi-timeframe feature name without the suffix, e.g. ema_distance_20
    trend_min_distance: float  # |feature| at or above it: that timeframe trends (its units)
    against_daily_trend_scale: float  # size multiplier of an entry against the daily trend
    volatility_window_bars: int  # trailing bars of the realised volatility

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ContextParams:
        spec = cls(**checked_keys(cls, params, "tactician.context"))
        if not (spec.trend_min_distance >= 0 and 0 <= spec.against_daily_trend_scale <= 1
                and int(spec.volatility_window_bars) >= 2):
            raise ValueError("tactician.context: trend_min_distance >= 0, "
                             "against_daily_trend_scale in [0, 1], volatility_window_bars >= 2")
        return spec

    def trend_columns(self) -> dict[str, str]:
        """{timeframe: the analyst feature column giving its trend}."""
        return {tf: f"{self.trend_feature}_{tf}" for tf in TIMEFRAMES}


def higher_timeframe_trends(features: pd.DataFrame, params: ContextParams) -> pd.DataFrame:
    """``trend_4h`` and ``trend_1d`` per bar: +1 (up), -1 (down) or 0 (no trend, or not
    known yet: the feature is NaN during its warm-up or when bars are not shorter)."""
    out = {}
    for timeframe, column in params.trend_columns().items():
        if column not in features:
            raise ValueError(f"tactician.context.trend_feature: analyst_features has no "
                             f"{column!r}; choose a multi-timeframe feature (docs/features.md)")
        value = features[column].to_numpy(dtype=float)
        trend = np.where(value >= params.trend_min_distance, 1,
                         np.where(value <= -params.trend_min_distance, -1, 0))
        out[f"trend_{timeframe}"] = np.where(np.isnan(value), 0, trend)
    return pd.DataFrame(out, index=features.index)


def realised_volatility(close: pd.Series, window: int, bars_per_year: float) -> pd.Series:
    """Annualised standard deviation of log returns over the trailing ``window`` bars
    (fraction; NaN until the window is full)."""
    log_returns = np.log(close.astype(float)).diff()
    return log_returns.rolling(int(window), min_periods=int(window)).std() * np.sqrt(bars_per_year)


def model_features(features: pd.DataFrame, opinion: pd.DataFrame, side: np.ndarray,
                   regime: np.ndarray, trends: pd.DataFrame) -> pd.DataFrame:
    """The rows a tactician model reads, one per sample.

    Args:
        features: analyst features at each sample's bar (the columns the models use).
        opinion: the analyst's ``p_long``, ``p_short``, ``p_hold`` and ``confidence`` for
            the signal.
        side: +1 / -1 per sample.
        regime: regime name per sample (one-hot encoded: the global model spans regimes).
        trends: :func:`higher_timeframe_trends` at each sample's bar.

    Returns:
        ``features`` plus ``analyst_<opinion>``, ``side``, ``trend_4h``, ``trend_1d``,
        ``with_daily_trend`` (+1 with, -1 against, 0 no daily trend) and
        ``regime_<NAME>`` columns; the index of ``features``.
    """
    table = features.copy()
    for column in OPINION:
        table[f"analyst_{column}"] = opinion[column].to_numpy(dtype=float)
    table["side"] = np.asarray(side, dtype=float)
    for column in trends:
        table[column] = trends[column].to_numpy(dtype=float)
    table["with_daily_trend"] = table["side"] * table["trend_1d"]
    regime = np.asarray(regime).astype(str)
    for name in REGIMES:
        table[f"regime_{name}"] = (regime == name).astype(float)
    return table
