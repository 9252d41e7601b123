"""Volume and order-flow (aggTrades) features; futures features are in ``futures``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import column
from ares_kedro.analyst.features.statistics import (
    feature_series,
    kahan_rolling_sum,
    window_moments,
)

MIN_VOLUME = 1e-12  # a bar without volume counts as this little before the logarithm


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0.0, np.nan, numerator / denominator)


@register("volume_zscore_48", "volume", 48, ["volume"])
def volume_zscore_48(bars: pd.DataFrame) -> pd.Series:
    """Z-score of log volume against the last 48 bars."""
    log_volume = np.log(np.maximum(column(bars, "volume"), MIN_VOLUME))
    moments = window_moments(log_volume, 48)
    std = np.sqrt(moments[:, 1] / (48 - 1))
    return feature_series(_ratio(log_volume - moments[:, 0], std), bars)


@register("taker_imbalance", "order_flow", 0, ["taker_buy_volume", "volume"])
def taker_imbalance(bars: pd.DataFrame) -> pd.Series:
    """(taker buy - taker sell volume) / volume of the bar, -1..1 (from the klines, so it
    exists for every Binance market even without aggTrades)."""
    volume = column(bars, "volume")
    return feature_series(_ratio(2 * column(bars, "taker_buy_volume") - volume, volume), bars)


@register("taker_imbalance_6", "order_flow", 6, ["taker_buy_volume", "volume"])
def taker_imbalance_6(bars: pd.DataFrame) -> pd.Series:
    """Taker imbalance over the last 6 bars."""
    buy = kahan_rolling_sum(column(bars, "taker_buy_volume"), 6)
    volume = kahan_rolling_sum(column(bars, "volume"), 6)
    return feature_series(_ratio(2 * buy - volume, volume), bars)


@register("large_trade_imbalance", "order_flow", 0, ["large_buy_volume", "large_sell_volume"])
def large_trade_imbalance(bars: pd.DataFrame) -> pd.Series:
    """(large taker buy - large taker sell volume) / their sum (0 when no large trade)."""
    buy, sell = column(bars, "large_buy_volume"), column(bars, "large_sell_volume")
    total = buy + sell
    with np.errstate(divide="ignore", invalid="ignore"):
        return feature_series(np.where(total == 0.0, 0.0, (buy - sell) / total), bars)


@register("large_trade_share", "order_flow", 0, ["large_trade_count", "agg_trade_count"])
def large_trade_share(bars: pd.DataFrame) -> pd.Series:
    """Share of the bar's trades that were large (NaN during the large-trade warm-up)."""
    return feature_series(_ratio(column(bars, "large_trade_count"),
                                 column(bars, "agg_trade_count")), bars)
