"""Signals become trades: the direction of the edge, one position at a time, and a
fixed-horizon position held as a trader holds a view (extended, flipped, one round trip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.analyst.trade_scoring import (
    held_positions,
    signals_from_probabilities,
    trade_list,
    trade_performance,
)

FEE = 0.002


def _bars(closes) -> pd.DataFrame:
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes},
                        index=pd.date_range("2024-01-01", periods=closes.size, freq="h",
                                            tz="UTC"))


def _fixed(holding_bars: int) -> BarrierParams:
    return BarrierParams.from_params({"take_profit": None, "stop_loss": None,
                                      "holding_bars": holding_bars, "round_trip_fee": FEE,
                                      "label_family": "fixed_horizon"})


def test_a_signal_is_the_direction_of_the_edge_not_the_most_probable_class():
    proba = np.array([[0.3, 0.1, 0.6], [0.1, 0.3, 0.6], [0.32, 0.3, 0.38], [np.nan] * 3])
    assert list(signals_from_probabilities(proba)) == [1, -1, 1, 0]
    assert list(signals_from_probabilities(proba, min_edge=0.05)) == [1, -1, 0, 0]


def test_signals_on_the_same_side_extend_a_fixed_horizon_position():
    bars = _bars(100 + np.arange(12.0))
    trades, _ = barrier_trades(bars, _fixed(1))
    signal = np.array([1, 1, 1, 0, 0, -1, -1, 1, 0, 0, 0, 0])
    taken = trade_list(np.arange(12), signal, trades)
    # long 0 -> 3 (one position, not three round trips), short 5 -> 7, flipped long 7 -> 8
    assert list(zip(taken["entry_row"], taken["exit_row"], taken["side"], strict=True)) == [
        (0, 3, 1), (5, 7, -1), (7, 8, 1)]
    assert taken["net_return"].iloc[0] == pytest.approx(103 / 100 - 1 - FEE)
    assert list(taken["bets"]) == [3, 2, 1]  # an extended position counts per horizon held


def test_an_opposite_signal_flips_an_open_fixed_horizon_position_at_once():
    bars = _bars(np.full(20, 100.0))
    trades, _ = barrier_trades(bars, _fixed(6))
    taken, exits = held_positions(np.arange(20), np.r_[1, 0, -1, np.zeros(17)], trades)
    assert list(taken) == [0, 2] and list(exits) == [2, 8]


def test_barrier_trades_are_never_extended_later_signals_wait_for_the_exit():
    bars = _bars(100 + np.arange(12.0))
    trades, _ = barrier_trades(bars, BarrierParams(0.5, 0.5, 3, FEE))  # far barriers
    taken = trade_list(np.arange(11), np.ones(11, dtype=int), trades)
    assert list(taken["entry_row"]) == [0, 3, 6, 9] and list(taken["bets"]) == [1] * 4


def test_extension_counts_one_round_trip_of_costs():
    closes = 100 * np.exp(np.cumsum(np.full(50, 0.001)))
    bars = _bars(closes)
    trades, _ = barrier_trades(bars, _fixed(1))
    held = trade_performance(trade_list(np.arange(49), np.ones(49, dtype=int), trades), 0, 49,
                             8760.0)
    assert held["trades"] == 1 and held["bets"] == 49
    assert held["total_return"] == pytest.approx(closes[49] / closes[0] - 1 - FEE)
