"""Freqtrade strategy that trades the Ares governor's decisions (docs/freqtrade.md).

The strategy holds no trading logic of its own: every candle is decided by the live
predictor (``Governor.decide_batch``, the code validation backtested) through
:mod:`ares_kedro.governor.bot_signals`, and the exits are the trained exit rule:

* ``populate_indicators``: the governor's decision, confidence, size and regime per candle;
* entries: a LONG (futures: also SHORT) decision with a size; the stake is that size times
  the bot's equity (``custom_stake_amount``);
* exits: the take-profit as ``minimal_roi``, the stop as ``stoploss``, the holding period
  by ``custom_exit`` (and, for the fixed-horizon family, an opposite decision).

Configure it in the Freqtrade config (or with the ``ARES_GOVERNOR`` environment variable)::

    "ares": {"governor": "models:/ares-governor@champion-binance-spot-btcusdt-1h",  # or a file
             "tracking_uri": "sqlite:////path/to/ares/mlflow.db",
             "signing_key_file": "/path/to/ares/conf/local/artifact_signing.key"}

The key is the training project's: a model file is unpickled only when its signature
matches (``ARES_SIGNING_KEY_FILE`` works too).

The pair, timeframe and trading mode must be the ones the governor was trained on; the
strategy refuses others at start-up.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pandas as pd
from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy

from ares_kedro.governor.bot_signals import (
    DECISION_COLUMNS,
    ENTRY_COLUMNS,
    EXIT_COLUMNS,
    bot_exits,
    candle_signals,
    check_bot,
    stake_from_tag,
    time_to_exit,
)
from ares_kedro.governor.live import Governor
from ares_kedro.signing import KEY_FILE_VARIABLE

NO_STOP = 0.99  # the stop Freqtrade requires when the exit rule has none (fixed horizon)


class AresGovernorStrategy(IStrategy):
    INTERFACE_VERSION = 3
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False
    can_short = False  # set from the trading mode in __init__

    def __init__(self, config: dict) -> None:
        settings: dict[str, Any] = config.get("ares", {})
        source = settings.get("governor") or os.environ.get("ARES_GOVERNOR")
        if settings.get("signing_key_file"):
            os.environ[KEY_FILE_VARIABLE] = str(settings["signing_key_file"])
        self.governor = Governor.load(source, tracking_uri=settings.get("tracking_uri"))
        system = self.governor.system
        if not system.exit_rule:
            raise ValueError(f"{source}: this decision system carries no exit rule; "
                             "package it again (`kedro run --pipelines=governor`)")
        self.exits = bot_exits(system.exit_rule, NO_STOP)
        # Freqtrade reads these attributes after __init__ (the config may override them;
        # bot_start refuses another timeframe, pair or trading mode than the governor's)
        self.timeframe = system.market["timeframe"]
        self.minimal_roi = dict(self.exits.minimal_roi)
        self.stoploss = self.exits.stoploss
        # the history the pipeline's decisions rest on (governor.serving.history_days)
        self.startup_candle_count = system.live_history_bars()
        self.can_short = config.get("trading_mode", "spot") == "futures"
        super().__init__(config)

    def bot_start(self, **kwargs: Any) -> None:
        for pair in self.dp.current_whitelist() if self.dp else []:
            check_bot(self.governor.system, pair, self.config.get("trading_mode", "spot"),
                      self.timeframe)

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        signals = candle_signals(self.governor, dataframe, self.can_short)
        for column in signals.columns:
            dataframe[column] = signals[column]
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        for column in ENTRY_COLUMNS:
            dataframe[column] = dataframe[f"ares_{column}"]
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        for column in EXIT_COLUMNS:
            dataframe[column] = dataframe[f"ares_{column}"]
        return dataframe

    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None,
                            max_stake: float, leverage: float, entry_tag: str | None,
                            side: str, **kwargs: Any) -> float:
        equity = self.wallets.get_total_stake_amount() if self.wallets else max_stake
        return stake_from_tag(entry_tag, equity, min_stake, max_stake)

    def custom_exit(self, pair: str, trade: Trade, current_time: datetime,
                    current_rate: float, current_profit: float, **kwargs: Any) -> str | None:
        candles, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if candles.empty:
            return None
        interval = pd.Timedelta(self.governor.system.bar_interval)
        bars_held = int((current_time - trade.open_date_utc) / interval)
        side = "short" if trade.is_short else "long"
        if time_to_exit(self.exits, side, bars_held, candles.iloc[-1]):
            return "ares_time_exit"
        return None


__all__ = ["AresGovernorStrategy", "DECISION_COLUMNS"]
