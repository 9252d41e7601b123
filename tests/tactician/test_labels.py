"""Meta-labels say whether acting on an analyst signal would have won, net of costs."""

from __future__ import annotations

import pandas as pd
import pytest

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.tactician.labels import meta_labels
from tests.analyst.test_labels import bars

PARAMS = BarrierParams(take_profit=0.02, stop_loss=0.01, holding_bars=4, round_trip_fee=0.001)


def test_a_long_signal_that_reaches_take_profit_first_is_a_1_and_a_short_one_a_0():
    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (102.2, 100, 102), (102, 101, 101)]
                 + [(101, 101, 101)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    predictions = pd.Series(["LONG", "HOLD", "SHORT"], index=frame.index[[0, 1, 2]])
    labels = meta_labels(predictions.iloc[[0]], trades)
    assert labels["meta_label"].iloc[0] == 1 and labels["net_return"].iloc[0] == 0.02
    short = meta_labels(pd.Series(["SHORT"], index=frame.index[[0]]), trades)
    assert short["meta_label"].iloc[0] == 0 and short["side"].iloc[0] == -1
    assert list(meta_labels(predictions, trades).index) == [frame.index[0], frame.index[2]]


def test_a_limit_that_fills_before_the_move_is_worth_waiting_for():
    from ares_kedro.tactician.labels import entry_timing_labels

    # entry 100, ATR 1: a long limit at 99.5 fills on bar 1 (low 99.4), then price rises
    frame = bars([(100, 100, 100), (100.2, 99.4, 99.8), (102.3, 99.9, 102), (102, 101, 101)]
                 + [(101, 100.5, 101)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    signals = meta_labels(pd.Series(["LONG"], index=frame.index[[0]]), trades)
    atr = pd.Series(1.0, index=frame.index)
    timing = entry_timing_labels(frame, signals, trades, atr, max_wait_bars=3,
                                 limit_offset_atr=0.5)
    assert timing["filled"].iloc[0] and timing["fill_row"].iloc[0] == 1
    assert timing["price_improvement"].iloc[0] == 0.005 and timing["wait_label"].iloc[0] == 1


def test_a_limit_that_never_fills_or_fills_after_the_profit_is_not_worth_waiting_for():
    from ares_kedro.tactician.labels import entry_timing_labels

    # the take-profit comes on bar 1, the dip to the limit only on bar 2: the move was missed
    frame = bars([(100, 100, 100), (102.3, 100, 102), (102, 99.4, 100), (100, 100, 100)]
                 + [(100, 100, 100)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    signals = meta_labels(pd.Series(["LONG"], index=frame.index[[0]]), trades)
    atr = pd.Series(1.0, index=frame.index)
    missed = entry_timing_labels(frame, signals, trades, atr, 3, 0.5)
    assert missed["filled"].iloc[0] and missed["wait_label"].iloc[0] == 0
    never = entry_timing_labels(frame, signals, trades, atr, 3, 5.0)  # limit at 95
    assert not never["filled"].iloc[0] and never["fill_row"].iloc[0] == -1
    assert never["wait_label"].iloc[0] == 0


def test_an_open_position_is_closed_early_when_the_rest_of_the_trade_loses():
    from ares_kedro.tactician.labels import position_management_labels

    # long at 100; up to 100.8 after 2 bars, then it fades and is closed at the horizon
    # (bar 4) at 99.5: closing at bar 2 would have kept +0.8 % - 0.1 % fees
    frame = bars([(100, 100, 100), (100.5, 99.8, 100.4), (100.9, 100.3, 100.8),
                  (100.8, 99.8, 100.0), (100.0, 99.4, 99.5)] + [(99.5, 99.5, 99.5)] * 3)
    trades, _ = barrier_trades(frame, PARAMS)
    signals = meta_labels(pd.Series(["LONG"], index=frame.index[[0]]), trades)
    assert signals["exit_row"].iloc[0] == 4 and signals["meta_label"].iloc[0] == 0
    reviews = position_management_labels(frame, signals, trades, (2, 3, 4, 9), 0.001)
    assert list(reviews["bars_held"]) == [2, 3]  # at bar 4 it is closed already
    first = reviews.iloc[0]
    assert first["unrealised_return"] == pytest.approx(0.008)
    assert first["return_saved"] == pytest.approx((0.008 - 0.001) - (-0.005 - 0.001))
    assert first["close_early"] == 1 and reviews.index[0] == frame.index[2]
    assert (reviews["exit_row"] == 4).all() and (reviews["signal_time"] == frame.index[0]).all()


def test_a_position_that_goes_on_to_win_is_not_closed_early():
    from ares_kedro.tactician.labels import position_management_labels

    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (100.4, 99.6, 99.8), (102.2, 100, 102)]
                 + [(101, 101, 101)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    signals = meta_labels(pd.Series(["LONG"], index=frame.index[[0]]), trades)
    reviews = position_management_labels(frame, signals, trades, (1, 2), 0.001)
    assert list(reviews["close_early"]) == [0, 0]
    assert reviews["return_saved"].lt(0).all()
