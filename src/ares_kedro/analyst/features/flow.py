"""Volume, order-flow (aggTrades) and futures features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register


@register("volume_zscore_48", "volume", 48, ["volume"])
def volume_zscore_48(bars: pd.DataFrame) -> pd.Series:
    """Z-score of log volume against the last 48 bars."""
    log_volume = np.log(bars["volume"].clip(lower=1e-12))
    mean, std = log_volume.rolling(48).mean(), log_volume.rolling(48).std()
    return (log_volume - mean) / std.replace(0.0, np.nan)


@register("taker_imbalance", "order_flow", 0, ["buy_volume", "sell_volume"])
def taker_imbalance(bars: pd.DataFrame) -> pd.Series:
    """(taker buy - taker sell volume) / total, -1..1, of the bar."""
    total = (bars["buy_volume"] + bars["sell_volume"]).replace(0.0, np.nan)
    return (bars["buy_volume"] - bars["sell_volume"]) / total


@register("taker_imbalance_6", "order_flow", 6, ["buy_volume", "sell_volume"])
def taker_imbalance_6(bars: pd.DataFrame) -> pd.Series:
    """Taker imbalance over the last 6 bars."""
    buy, sell = bars["buy_volume"].rolling(6).sum(), bars["sell_volume"].rolling(6).sum()
    return (buy - sell) / (buy + sell).replace(0.0, np.nan)


@register("large_trade_share", "order_flow", 0, ["large_trade_count", "agg_trade_count"])
def large_trade_share(bars: pd.DataFrame) -> pd.Series:
    """Share of the bar's trades that were large (NaN during the large-trade warm-up)."""
    return bars["large_trade_count"] / bars["agg_trade_count"].replace(0.0, np.nan)


@register("funding_zscore_90", "futures", 90, ["funding_rate"])
def funding_zscore_90(bars: pd.DataFrame) -> pd.Series:
    """Z-score of the funding rate known at the bar against the last 90 bars."""
    rate = bars["funding_rate"]
    return (rate - rate.rolling(90).mean()) / rate.rolling(90).std().replace(0.0, np.nan)


@register("open_interest_change_24", "futures", 24, ["open_interest"])
def open_interest_change_24(bars: pd.DataFrame) -> pd.Series:
    """Change of open interest over 24 bars, fraction."""
    return bars["open_interest"].pct_change(24)
