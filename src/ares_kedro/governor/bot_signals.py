"""The governor's decisions as a trading bot reads them (Freqtrade's candle table).

A bot hands over candles, ``date, open, high, low, close, volume`` (one row per candle,
``date`` its open time in UTC), and wants back, per candle, whether to enter or exit and
how much to stake. This module turns one into the other with the live predictor
(:meth:`~ares_kedro.governor.live.Governor.decide_batch`), and the trained exit rule
(``optimal_target_params``, packaged in the decision system) into the bot's exits, so that
the bot trades what validation backtested (:mod:`ares_kedro.validation.backtest`):

* entries: a LONG (SHORT) decision with a non-zero size at the close of candle t, i.e. at
  the open of candle t + 1, the bot's fill; one position at a time;
* take-profit and stop: the barriers of the triple-barrier family, as the bot's ROI and
  stop-loss (the take-profit is net of fees as the bot measures profit; the stop is a
  price distance);
* time exit: ``holding_bars`` after the entry (triple barrier) or after the last decision
  on the trade's side (fixed horizon, whose trades a same-side decision extends and an
  opposite one flips, :func:`~ares_kedro.analyst.trade_scoring.held_positions`);
* stake: the governor's size, a fraction of the equity.

Nothing here imports a bot: the Freqtrade strategy (``integrations/freqtrade``) is a thin
shell over these functions, and they are tested on tables of Freqtrade's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import BarrierParams
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.governor.live import BadBars, DecisionSystem, Governor, at_rows

CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")
TAG_PREFIX = "ares size="
DECISION_COLUMNS = ("ares_decision", "ares_confidence", "ares_size", "ares_regime",
                    "ares_bars_since_long", "ares_bars_since_short")
ENTRY_COLUMNS = ("enter_long", "enter_short", "enter_tag")  # the bot's names; ours: ares_<name>
EXIT_COLUMNS = ("exit_long", "exit_short")


def pair_symbol(pair: str) -> str:
    """The exchange symbol of a bot's pair: ``BTC/USDT`` and ``BTC/USDT:USDT`` (a futures
    pair, settled in USDT) are ``BTCUSDT``."""
    return pair.split(":")[0].replace("/", "").upper()


def check_bot(system: DecisionSystem, pair: str, trading_mode: str, timeframe: str) -> None:
    """Refuse (:class:`BadBars`) a bot the decision system cannot serve: another pair,
    timeframe or trading mode than it was trained on (its models know one market), or a
    governor whose features read columns a bot's candles do not carry."""
    market = system.market
    if pair_symbol(pair) != str(market["symbol"]).upper():
        raise BadBars(f"the governor was trained on {market['symbol']} "
                      f"{market['timeframe']}, not {pair}: train one for {pair} "
                      "(ingestion.symbol) or trade the pair it knows")
    if timeframe != market["timeframe"]:
        raise BadBars(f"the governor decides {market['timeframe']} bars, the bot runs "
                      f"{timeframe}: set the bot's timeframe to {market['timeframe']}")
    futures = trading_mode == "futures"
    if futures != (market["market"] != "spot"):
        raise BadBars(f"the governor was trained on the {market['market']} market, the bot "
                      f"trades {trading_mode}: set trading_mode to "
                      f"{'spot' if market['market'] == 'spot' else 'futures'}")
    beyond = sorted(set(system.required_columns()) - set(CANDLE_COLUMNS))
    if beyond:
        raise BadBars(f"the governor's features read {beyond}, which a bot's candles "
                      f"({', '.join(CANDLE_COLUMNS[1:])}) do not carry: train it on the "
                      "bot's own candles (ingestion.source: ohlcv_files, docs/freqtrade.md)")


def bars_from_candles(candles: pd.DataFrame) -> pd.DataFrame:
    """The bot's candles as the live predictor reads bars: indexed by UTC open time, the
    other columns kept. Raises :class:`BadBars` naming a missing column."""
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise BadBars(f"candles lack {missing}; a bot's candle table has {list(CANDLE_COLUMNS)}")
    index = pd.DatetimeIndex(pd.to_datetime(candles["date"], utc=True), name="open_time")
    return candles.drop(columns="date").set_axis(index, axis=0)


@dataclass(frozen=True)
class BotExits:
    """The trained exit rule in a bot's terms.

    ``minimal_roi``: Freqtrade's ROI table (minutes held: profit ratio), the take-profit;
    ``stoploss``: negative ratio of the entry price; ``holding_bars``: time exit;
    ``exit_on_opposite``: an opposite decision closes the trade (fixed horizon only)."""

    minimal_roi: dict[str, float]
    stoploss: float
    holding_bars: int
    exit_on_opposite: bool


def bot_exits(exit_rule: dict[str, Any], no_stop: float) -> BotExits:
    """:class:`BotExits` of ``optimal_target_params``. ``no_stop`` (a ratio, e.g. 0.99) is
    the stop a bot requires when the label family has none (fixed horizon)."""
    barriers = BarrierParams.from_params(exit_rule)
    if barriers.time_exits_only:
        # no ROI: the trade leaves by time or by an opposite decision only
        return BotExits({}, -abs(no_stop), barriers.holding_bars, True)
    # the bot nets its fees out of profit, as the take-profit is net; the stop is gross
    stop = barriers.stop_loss - barriers.round_trip_fee
    return BotExits({"0": float(barriers.take_profit)}, -float(stop), barriers.holding_bars,
                    False)


def _bars_since(mask: np.ndarray) -> np.ndarray:
    """(n,) bars since the last True of ``mask`` at or before each row (0 on it); a large
    number before the first."""
    n = mask.size
    rows = np.arange(n)
    last = np.maximum.accumulate(np.where(mask, rows, -1))
    return np.where(last >= 0, rows - last, np.iinfo(np.int32).max)


def candle_signals(governor: Governor, candles: pd.DataFrame, can_short: bool,
                   reference_bars: pd.DataFrame | None = None) -> pd.DataFrame:
    """The bot's signal columns for every candle, aligned with ``candles`` (same index):
    :data:`DECISION_COLUMNS`, every ensemble's ``ares_<name>_prediction`` and
    ``ares_<name>_confidence``, and, prefixed ``ares_``, the bot's :data:`ENTRY_COLUMNS` and
    :data:`EXIT_COLUMNS` (0 / 1; ``ares_enter_tag`` carries the stake as
    :data:`TAG_PREFIX` size). Freqtrade resets its own ``enter_tag`` before asking for
    entries, so the strategy copies them in its entry and exit steps.

    Candles of the warm-up, before the features are defined, hold (decision HOLD, size 0).
    Shorts are entered only when ``can_short`` (a futures bot); on spot a SHORT decision
    is a reason to leave a long (fixed horizon) and nothing more."""
    bars = bars_from_candles(candles)
    decided = governor.decide_batch(bars, reference_bars=reference_bars)
    n = len(bars)
    rows = np.searchsorted(bars.index.asi8, decided.index.asi8)
    def placed(column: str) -> np.ndarray:  # the decided rows' values, missing before
        return at_rows(decided[column].to_numpy(), rows, n)

    decision = np.full(n, "HOLD", dtype=object)
    decision[rows] = decided["decision"].to_numpy(dtype=object)
    size = np.zeros(n)
    size[rows] = np.abs(decided["size"].to_numpy(dtype=float))
    long_ = (decision == "LONG") & (size > 0)
    short = (decision == "SHORT") & (size > 0)
    rule = governor.system.exit_rule
    opposite = bool(rule) and BarrierParams.from_params(rule).time_exits_only
    out = pd.DataFrame({
        "ares_decision": decision, "ares_confidence": placed("confidence"),
        "ares_size": size, "ares_regime": placed("regime"),
        "ares_bars_since_long": _bars_since(long_), "ares_bars_since_short": _bars_since(short),
        "ares_enter_long": long_.astype(int),
        "ares_enter_short": (short & can_short).astype(int),
        "ares_exit_long": (short & opposite).astype(int),
        "ares_exit_short": (long_ & opposite).astype(int),
        "ares_enter_tag": np.where(long_ | (short & can_short),
                              np.char.add(TAG_PREFIX, np.char.mod("%.6f", size)), None),
    }, index=candles.index)
    for name in ENSEMBLES:  # every ensemble's opinion, as the seeds' get_all_predictions
        for what in ("prediction", "confidence"):
            out[f"ares_{name}_{what}"] = placed(f"{name}_{what}")
    return out


def stake_from_tag(entry_tag: str | None, equity: float, min_stake: float | None,
                   max_stake: float) -> float:
    """The stake of an entry: the governor's size (read from its ``entry_tag``) times the
    bot's equity, within the exchange minimum and the available balance. 0 (no trade)
    without an Ares tag or below the minimum."""
    if not entry_tag or not entry_tag.startswith(TAG_PREFIX):
        return 0.0
    stake = min(float(entry_tag[len(TAG_PREFIX):]) * equity, max_stake)
    if min_stake is not None and stake < min_stake:
        return 0.0
    return stake


def time_to_exit(exits: BotExits, side: str, bars_held: int, last_candle: pd.Series) -> bool:
    """Whether a trade on ``side`` ('long' / 'short') held ``bars_held`` bars leaves by
    time at ``last_candle`` (a row of :func:`candle_signals`): ``holding_bars`` after its
    entry, or, when an opposite decision flips trades (fixed horizon), after the last
    decision on its side."""
    if exits.exit_on_opposite:
        return int(last_candle[f"ares_bars_since_{side}"]) >= exits.holding_bars
    return bars_held >= exits.holding_bars
