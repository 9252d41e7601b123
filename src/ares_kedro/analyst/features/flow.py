"""Volume and order-flow (aggTrades) features; futures features are in ``futures``."""

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


@register("taker_imbalance", "order_flow", 0, ["taker_buy_volume", "volume"])
def taker_imbalance(bars: pd.DataFrame) -> pd.Series:
    """(taker buy - taker sell volume) / volume of the bar, -1..1 (from the klines, so it
    exists for every Binance market even without aggTrades)."""
    return (2 * bars["taker_buy_volume"] - bars["volume"]) / bars["volume"].replace(0.0, np.nan)


@register("taker_imbalance_6", "order_flow", 6, ["taker_buy_volume", "volume"])
def taker_imbalance_6(bars: pd.DataFrame) -> pd.Series:
    """Taker imbalance over the last 6 bars."""
    buy, volume = bars["taker_buy_volume"].rolling(6).sum(), bars["volume"].rolling(6).sum()
    return (2 * buy - volume) / volume.replace(0.0, np.nan)


@register("large_trade_imbalance", "order_flow", 0, ["large_buy_volume", "large_sell_volume"])
def large_trade_imbalance(bars: pd.DataFrame) -> pd.Series:
    """(large taker buy - large taker sell volume) / their sum (0 when no large trade)."""
    buy, sell = bars["large_buy_volume"], bars["large_sell_volume"]
    total = buy + sell
    return ((buy - sell) / total.replace(0.0, np.nan)).where(total != 0, 0.0).where(total.notna())


@register("large_trade_share", "order_flow", 0, ["large_trade_count", "agg_trade_count"])
def large_trade_share(bars: pd.DataFrame) -> pd.Series:
    """Share of the bar's trades that were large (NaN during the large-trade warm-up)."""
    return bars["large_trade_count"] / bars["agg_trade_count"].replace(0.0, np.nan)

