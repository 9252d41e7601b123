"""A trading bot's view of the governor: its candles in, its entries, exits and stakes out
(the Freqtrade strategy's logic, without Freqtrade; the strategy itself is tested in
Freqtrade's backtesting, tests/integrations/test_freqtrade.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ares_kedro.governor.bot_signals import (
    TAG_PREFIX,
    BotExits,
    _bars_since,
    bars_from_candles,
    bot_exits,
    check_bot,
    pair_symbol,
    stake_from_tag,
    time_to_exit,
)
from ares_kedro.governor.live import BadBars

TRIPLE = {"label_family": "triple_barrier", "take_profit": 0.02, "stop_loss": 0.01,
          "holding_bars": 12, "round_trip_fee": 0.0024}
FIXED = {"label_family": "fixed_horizon", "take_profit": None, "stop_loss": None,
         "holding_bars": 3, "round_trip_fee": 0.0024}


def _system(columns=("open", "high", "low", "close", "volume"), market="spot"):
    return SimpleNamespace(market={"symbol": "BTCUSDT", "timeframe": "1h", "market": market,
                                   "exchange": "binance"},
                           required_columns=lambda: list(columns))


def test_a_bots_pair_names_the_exchange_symbol():
    assert pair_symbol("BTC/USDT") == "BTCUSDT"
    assert pair_symbol("BTC/USDT:USDT") == "BTCUSDT"  # a USDT-settled futures pair
    assert pair_symbol("eth/btc") == "ETHBTC"


def test_the_bot_is_refused_where_the_governor_was_not_trained():
    check_bot(_system(), "BTC/USDT", "spot", "1h")  # its own market passes
    check_bot(_system(market="um_futures"), "BTC/USDT:USDT", "futures", "1h")
    with pytest.raises(BadBars, match="trained on BTCUSDT 1h, not ETH/USDT"):
        check_bot(_system(), "ETH/USDT", "spot", "1h")
    with pytest.raises(BadBars, match="decides 1h bars, the bot runs 5m"):
        check_bot(_system(), "BTC/USDT", "spot", "5m")
    with pytest.raises(BadBars, match="spot market, the bot trades futures"):
        check_bot(_system(), "BTC/USDT:USDT", "futures", "1h")
    with pytest.raises(BadBars, match=r"read \['taker_buy_volume'\].*ohlcv_files"):
        check_bot(_system(("close", "taker_buy_volume")), "BTC/USDT", "spot", "1h")


def test_candles_become_bars_indexed_by_their_utc_open_time():
    candles = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
                            "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 9.0},
                           index=[10, 11, 12])
    bars = bars_from_candles(candles)
    assert bars.index.equals(pd.DatetimeIndex(candles["date"], name="open_time"))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    with pytest.raises(BadBars, match=r"candles lack \['volume'\]"):
        bars_from_candles(candles.drop(columns="volume"))


def test_barrier_exits_become_roi_and_stop_and_a_fixed_horizon_only_a_time_exit():
    triple = bot_exits(TRIPLE, no_stop=0.99)
    # the take-profit is net of fees, as the bot measures profit; the stop is a price move
    assert triple.minimal_roi == {"0": 0.02}
    assert triple.stoploss == pytest.approx(-(0.01 - 0.0024))
    assert triple.holding_bars == 12 and not triple.exit_on_opposite
    fixed = bot_exits(FIXED, no_stop=0.99)
    assert fixed.minimal_roi == {} and fixed.stoploss == -0.99
    assert fixed.holding_bars == 3 and fixed.exit_on_opposite


def test_bars_since_the_last_decision_count_from_zero_on_it():
    mask = np.array([False, True, False, False, True, False])
    since = _bars_since(mask)
    assert since[0] > 10**6  # none yet
    assert since[1:].tolist() == [0, 1, 2, 0, 1]


def test_the_stake_is_the_governors_size_of_the_equity_within_the_bots_limits():
    tag = f"{TAG_PREFIX}0.250000"
    assert stake_from_tag(tag, equity=10_000, min_stake=5, max_stake=9_000) == 2_500
    assert stake_from_tag(f"{TAG_PREFIX}0.95", equity=10_000, min_stake=5,
                          max_stake=9_000) == 9_000  # the balance caps it
    assert stake_from_tag(f"{TAG_PREFIX}0.0001", equity=10_000, min_stake=5,
                          max_stake=9_000) == 0  # below the exchange minimum: no trade
    assert stake_from_tag("", equity=10_000, min_stake=5, max_stake=9_000) == 0
    assert stake_from_tag("manual", equity=10_000, min_stake=None, max_stake=9_000) == 0


def test_time_exits_count_from_the_entry_or_from_the_last_decision_on_the_trades_side():
    barrier = BotExits({"0": 0.02}, -0.0076, holding_bars=12, exit_on_opposite=False)
    candle = pd.Series({"ares_bars_since_long": 0, "ares_bars_since_short": 99})
    assert not time_to_exit(barrier, "long", 11, candle)
    assert time_to_exit(barrier, "long", 12, candle)  # a new LONG does not extend it
    fixed = BotExits({}, -0.99, holding_bars=3, exit_on_opposite=True)
    assert not time_to_exit(fixed, "long", 40, candle)  # extended by the last LONG
    assert time_to_exit(fixed, "long", 4, pd.Series({"ares_bars_since_long": 3,
                                                     "ares_bars_since_short": 99}))
    assert time_to_exit(fixed, "short", 1, candle)
