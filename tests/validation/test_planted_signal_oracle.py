"""The planted-signal oracle of the proof benchmarks (benchmarks/oracle.py) trades the
signal it is given, one bar later, through the validation backtester with every cost."""

from __future__ import annotations

import numpy as np
import pytest

from ares_kedro.validation.backtest import funding_by_bar
from benchmarks.oracle import observed_taker_imbalance, signal_backtest, signal_trades
from tests.validation.test_backtest import bars_from_closes, costs


def test_runs_of_the_same_side_are_one_trade_entered_at_the_close_before_them():
    signal = np.array([1.0, 2.0, -1.0, 0.0, 0.0, 3.0, np.nan, -2.0])
    entry, exit_, side = signal_trades(signal, first_row=0, last_row=7, lead_bars=1)
    # held through bars 1..7: sides +, +, -, 0, 0, +, 0 (from signal rows 0..6)
    assert entry.tolist() == [0, 2, 5]
    assert exit_.tolist() == [2, 3, 6]
    assert side.tolist() == [1.0, -1.0, 1.0]


def test_a_longer_lead_uses_the_signal_that_many_bars_back_and_nothing_before_the_data():
    signal = np.array([1.0, -1.0, 1.0, 1.0, 1.0])
    entry, exit_, side = signal_trades(signal, first_row=0, last_row=4, lead_bars=2)
    # bar 1 has no signal 2 bars back; bars 2, 3, 4 use signals 0, 1, 2: +, -, +
    assert entry.tolist() == [1, 2, 3]
    assert exit_.tolist() == [2, 3, 4]
    assert side.tolist() == [1.0, -1.0, 1.0]
    with pytest.raises(ValueError, match="lead_bars"):
        signal_trades(signal, 0, 4, lead_bars=0)


def test_without_costs_the_oracle_earns_the_signed_returns_and_costs_only_lower_it():
    closes = np.array([100.0, 101.0, 99.0, 99.5, 102.0, 101.0])
    bars = bars_from_closes(closes)
    returns = closes[1:] / closes[:-1] - 1
    signal = np.sign(np.r_[returns, 0.0])  # a perfect signal: each bar knows the next return
    funding = funding_by_bar(bars.index, bars.index[1] - bars.index[0], None)
    free = costs(maker_fee=0.0, taker_fee=0.0, slippage_bps=0.0)
    result = signal_backtest(bars, signal, 0, 5, 1, free, funding, 8760.0)
    expected_equity = np.cumprod(1 + np.abs(returns))
    # flat through the first bar; then runs of one side compound inside a trade
    assert result.bar_returns.iloc[0] == 0.0
    np.testing.assert_allclose(result.equity.to_numpy()[1:], expected_equity)
    paid = signal_backtest(bars, signal, 0, 5, 1, costs(), funding, 8760.0)
    assert paid.equity.iloc[-1] < result.equity.iloc[-1]
    assert len(paid.trades) == 4 and (paid.trades["fees"] > 0).all()


def test_the_observable_imbalance_is_the_taker_buy_minus_sell_share():
    bars = bars_from_closes([1.0, 1.0, 1.0])
    bars["buy_quote_volume"] = [3.0, 0.0, 0.0]
    bars["sell_quote_volume"] = [1.0, 2.0, 0.0]
    imbalance = observed_taker_imbalance(bars)
    assert imbalance[:2].tolist() == [0.5, -1.0] and np.isnan(imbalance[2])
