"""The backtester: fees, slippage and funding arithmetic on hand-computed trades, the
labels' barrier rule, the daily loss limit, and equity that adds up to the trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.validation.backtest import (
    STOP,
    TAKE_PROFIT,
    TIME_EXIT,
    ScoredPeriod,
    backtest_decisions,
    buy_and_hold,
    funding_by_bar,
    run_trades,
)
from ares_kedro.validation.costs import CostModel
from ares_kedro.validation.metrics import max_drawdown, performance

HOUR = pd.Timedelta(hours=1)
YEAR_OF_HOURS = 8760.0


def costs(**change) -> CostModel:
    base = dict(maker_fee=0.0002, taker_fee=0.001, entry_order="taker",
                take_profit_order="maker", slippage_model="fixed", slippage_bps=10.0,
                range_impact=0.0, max_slippage_bps=100.0, capital=100_000.0, funding=True)
    return CostModel(**{**base, **change})


def bars_from_closes(closes, spread=0.0, start="2024-01-01") -> pd.DataFrame:
    closes = np.asarray(closes, float)
    index = pd.date_range(start, periods=closes.size, freq="h", tz="UTC")
    opens = np.r_[closes[0], closes[:-1]]
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, closes) * (1 + spread),
                         "low": np.minimum(opens, closes) * (1 - spread), "close": closes,
                         "quote_volume": 1e6}, index=index)


def one_trade(bars, entry, exit_, side, size, exit_price, outcome, model, funding=None):
    funding = np.zeros(len(bars)) if funding is None else funding
    return run_trades(bars, np.array([entry]), np.array([exit_]), np.array([side]),
                      np.array([size]), np.array([exit_price]), np.array([outcome]), model,
                      funding, ScoredPeriod(0, len(bars) - 1, YEAR_OF_HOURS))


def test_a_taker_round_trip_pays_fee_and_slippage_on_both_fills():
    bars = bars_from_closes([100, 104, 110, 110])
    result = one_trade(bars, 0, 2, 1, 1.0, 110.0, TIME_EXIT, costs())
    # entry: 1 x (0.1 % fee + 10 bp slippage) = 0.002; exit: the same on 1.1 x the notional
    expected = 1 - 0.002 + 0.10 - 0.002 * 1.1
    trade = result.trades.iloc[0]
    assert trade["net_return"] == pytest.approx(expected - 1, abs=1e-12)
    assert trade["fees"] == pytest.approx(0.001 + 0.001 * 1.1)
    assert trade["slippage"] == pytest.approx(0.001 + 0.001 * 1.1)
    assert np.prod(1 + result.bar_returns) == pytest.approx(expected, abs=1e-12)


def test_a_take_profit_limit_order_pays_the_maker_fee_and_no_slippage():
    bars = bars_from_closes([100, 101, 103, 103])
    result = one_trade(bars, 0, 2, 1, 0.5, 102.0, TAKE_PROFIT, costs())
    expected = 1 - 0.5 * 0.002 + 0.5 * 0.02 - 0.5 * 0.0002 * 1.02
    assert result.trades["net_return"].iloc[0] == pytest.approx(expected - 1, abs=1e-12)
    assert result.trades["slippage"].iloc[0] == pytest.approx(0.5 * 0.001)


def test_a_stop_is_a_market_order_and_a_short_gains_when_price_falls():
    bars = bars_from_closes([100, 97, 95, 95])
    result = one_trade(bars, 0, 2, -1, 1.0, 96.0, STOP, costs(slippage_bps=0.0))
    expected = 1 - 0.001 + 0.04 - 0.001 * 0.96
    assert result.trades["net_return"].iloc[0] == pytest.approx(expected - 1, abs=1e-12)


def test_funding_is_paid_by_longs_and_received_by_shorts_at_each_funding_time():
    bars = bars_from_closes([100, 105, 105, 105])  # bar 1 opens at 100, bar 2 at 105
    rates = pd.DataFrame({"funding_time": [bars.index[2] + pd.Timedelta(minutes=0)],
                          "funding_rate": [0.0001]})
    funding = funding_by_bar(bars.index, HOUR, rates)
    assert funding.tolist() == [0, 0, 0.0001, 0]
    free = costs(maker_fee=0, taker_fee=0, slippage_bps=0)
    long = one_trade(bars, 0, 3, 1, 0.5, 105.0, TIME_EXIT, free, funding)
    short = one_trade(bars, 0, 3, -1, 0.5, 105.0, TIME_EXIT, free, funding)
    paid = 0.5 * 0.0001 * 105 / 100  # size x rate x price at the funding time / entry price
    assert long.trades["funding"].iloc[0] == pytest.approx(paid)
    assert long.trades["net_return"].iloc[0] == pytest.approx(0.5 * 0.05 - paid)
    assert short.trades["net_return"].iloc[0] == pytest.approx(-0.5 * 0.05 + paid)
    spot = one_trade(bars, 0, 3, 1, 0.5, 105.0, TIME_EXIT, costs(maker_fee=0, taker_fee=0,
                     slippage_bps=0, funding=False), funding)
    assert spot.trades["funding"].iloc[0] == 0


def test_a_spot_short_pays_its_margin_loans_interest_every_hour_it_is_held():
    bars = bars_from_closes([100, 104, 90, 95])  # bars 1, 2, 3 open at 100, 104, 90
    spot = costs(maker_fee=0, taker_fee=0, slippage_bps=0, funding=False,
                 short_interest_per_day=0.0024)  # 0.01 % an hour
    short = one_trade(bars, 0, 3, -1, 0.5, 95.0, TIME_EXIT, spot)
    # size x hourly rate x the borrowed coins' value at each hour's open / entry price
    interest = 0.5 * 0.0001 * (100 + 104 + 90) / 100
    trade = short.trades.iloc[0]
    assert trade["short_interest"] == pytest.approx(interest)
    assert trade["net_return"] == pytest.approx(0.5 * 0.05 - interest)
    assert np.prod(1 + short.bar_returns) == pytest.approx(1 + 0.5 * 0.05 - interest)
    assert performance(short)["short_interest"] == pytest.approx(interest)
    long = one_trade(bars, 0, 3, 1, 0.5, 95.0, TIME_EXIT, spot)  # a long borrows nothing
    assert long.trades["short_interest"].iloc[0] == 0
    assert long.trades["net_return"].iloc[0] == pytest.approx(-0.5 * 0.05)


def test_a_funding_time_between_bars_of_the_table_is_not_invented():
    bars = bars_from_closes([100, 100, 100])
    late = pd.DataFrame({"funding_time": [bars.index[-1] + 2 * HOUR], "funding_rate": [0.01]})
    assert funding_by_bar(bars.index, HOUR, late).sum() == 0


def test_range_volume_slippage_grows_with_the_range_and_the_order_share_of_volume():
    model = costs(slippage_model="range_volume", slippage_bps=1.0, range_impact=0.1)
    slip = model.slippage(np.array([1.0, 0.25]), np.array([102.0, 102.0]),
                          np.array([98.0, 98.0]), np.array([100.0, 100.0]),
                          np.array([1e6, 1e6]))
    # participation 1 x 100,000 / 1,000,000 = 0.1; range 4 %
    assert slip[0] == pytest.approx(1e-4 + 0.1 * 0.04 * np.sqrt(0.1))
    assert slip[1] == pytest.approx(1e-4 + 0.1 * 0.04 * np.sqrt(0.025))
    capped = costs(slippage_model="range_volume", range_impact=10.0, max_slippage_bps=50.0)
    assert capped.slippage(np.array([1.0]), np.array([102.0]), np.array([98.0]),
                           np.array([100.0]), np.array([1e6]))[0] == pytest.approx(0.005)


def test_decisions_exit_by_the_same_barrier_rule_as_the_labels():
    rng = np.random.default_rng(3)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    bars = bars_from_closes(closes, spread=0.004)
    barriers = BarrierParams(take_profit=0.01, stop_loss=0.01, holding_bars=12,
                             round_trip_fee=0.0024)
    trades, _ = barrier_trades(bars, barriers)
    rows = np.arange(0, 380, 7)
    side = np.where(rng.random(rows.size) < 0.5, 1, -1)
    result = backtest_decisions(bars, rows, side, np.full(rows.size, 1.0), trades, barriers,
                                costs(maker_fee=0.0012, taker_fee=0.0012, slippage_bps=0,
                                      take_profit_order="taker", funding=False),
                                np.zeros(len(bars)), ScoredPeriod(0, len(bars) - 1, YEAR_OF_HOURS))
    taken = result.trades
    assert len(taken) > 10
    label_return = np.where(taken["side"] > 0, trades["long_return"].to_numpy()[taken["entry_row"]],
                            trades["short_return"].to_numpy()[taken["entry_row"]])
    wins = taken["outcome"] == TAKE_PROFIT
    # with the labels' own costs and full size, a take-profit earns exactly the labels' net gain
    assert np.allclose(taken["net_return"][wins], label_return[wins], atol=2e-5)
    assert (taken["entry_row"].to_numpy()[1:] >= taken["exit_row"].to_numpy()[:-1]).all()
    assert np.prod(1 + result.bar_returns) == pytest.approx(np.prod(1 + taken["net_return"]))


def test_trades_still_open_at_the_period_end_are_closed_at_its_last_close():
    bars = bars_from_closes(np.linspace(100, 101, 30))
    barriers = BarrierParams(take_profit=0.5, stop_loss=0.5, holding_bars=20, round_trip_fee=0.0)
    trades, _ = barrier_trades(bars, barriers)
    result = backtest_decisions(bars, np.array([5]), np.array([1]), np.array([1.0]), trades,
                                barriers, costs(), np.zeros(30), ScoredPeriod(0, 14, YEAR_OF_HOURS))
    assert result.trades["exit_row"].tolist() == [14]
    assert result.trades["exit_price"].iloc[0] == bars["close"].iloc[14]
    assert len(result.bar_returns) == 15


def test_a_short_decision_with_the_governors_signed_size_is_traded_short():
    """The governor's sizes carry the side's sign (-0.5 for a half-size short): the short
    is traded, with a size of 0.5, and earns when the price falls."""
    bars = bars_from_closes(np.linspace(100, 90, 30))
    fixed = BarrierParams.from_params({"take_profit": None, "stop_loss": None,
                                       "holding_bars": 5, "round_trip_fee": 0.0,
                                       "label_family": "fixed_horizon"})
    trades, _ = barrier_trades(bars, fixed)
    result = backtest_decisions(bars, np.array([2, 4, 10]), np.array([-1, -1, 1]),
                                np.array([-0.5, -0.5, 0.25]), trades, fixed,
                                costs(funding=False), np.zeros(30),
                                ScoredPeriod(0, 29, YEAR_OF_HOURS))
    taken = result.trades
    assert taken["side"].tolist() == [-1, 1] and taken["size"].tolist() == [0.5, 0.25]
    assert taken["entry_row"].tolist() == [2, 10] and taken["exit_row"].tolist() == [9, 15]
    assert taken["net_return"].iloc[0] > 0  # the short extended by the second decision


def test_after_the_daily_loss_limit_no_new_trade_opens_that_day():
    closes = [100, 100, 90, 90, 90, 95, 95, 95, 95, 95]  # a 10 % loss in the first trade
    bars = bars_from_closes(closes)
    barriers = BarrierParams(take_profit=0.5, stop_loss=0.5, holding_bars=2, round_trip_fee=0.0)
    trades, _ = barrier_trades(bars, barriers)
    args = (np.array([0, 4]), np.array([1, 1]), np.array([1.0, 1.0]), trades, barriers,
            costs(), np.zeros(len(bars)), ScoredPeriod(0, len(bars) - 1, YEAR_OF_HOURS))
    free = backtest_decisions(bars, *args)
    limited = backtest_decisions(bars, *args, max_daily_loss=0.05)
    assert free.trades["entry_row"].tolist() == [0, 4]
    assert limited.trades["entry_row"].tolist() == [0]


def test_buy_and_hold_pays_one_entry_one_exit_and_funding():
    bars = bars_from_closes([100, 120, 130, 150])
    funding = np.array([0, 0.001, 0, 0.001])
    result = buy_and_hold(bars, costs(), funding, ScoredPeriod(0, 3, YEAR_OF_HOURS))
    paid = 0.001 * 100 / 100 + 0.001 * 130 / 100
    expected = 1 - 0.002 + 0.5 - paid - 0.002 * 1.5
    assert performance(result)["total_return"] == pytest.approx(expected - 1)


def test_performance_reports_every_headline_metric_from_the_bar_returns():
    bars = bars_from_closes([100, 110, 99, 99, 108.9])
    result = one_trade(bars, 0, 4, 1, 1.0, 108.9, TIME_EXIT,
                       costs(maker_fee=0, taker_fee=0, slippage_bps=0))
    metrics = performance(result)
    assert metrics["total_return"] == pytest.approx(0.089)
    assert metrics["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert metrics["exposure"] == pytest.approx(0.8)
    assert metrics["trades"] == 1 and metrics["win_rate"] == 1.0
    years = 5 / YEAR_OF_HOURS
    assert metrics["annualised_return"] == pytest.approx(1.089 ** (1 / years) - 1, rel=1e-9)
    assert metrics["turnover"] == pytest.approx(2 / years)
    assert max_drawdown(np.array([0.1, -0.5, 0.2])) == pytest.approx(0.5)


def test_bad_cost_parameters_are_refused_with_the_key_named():
    params = {"fees": {"um_futures": {"maker": 0.0002, "taker": 0.0005}},
              "entry_order": "taker", "take_profit_order": "maker", "slippage_model": "fixed",
              "slippage_bps": 2.0, "range_impact": 0.1, "max_slippage_bps": 50.0,
              "capital": 100_000.0, "funding": True, "spot_short_interest_per_day": 0.0002}
    futures = CostModel.from_params(params, "um_futures")
    assert futures.taker_fee == 0.0005 and futures.short_interest_per_day == 0  # funding instead
    spot = CostModel.from_params({**params, "fees": {**params["fees"], "spot": {
        "maker": 0.001, "taker": 0.001}}}, "spot")
    assert spot.funding is False and spot.short_interest_per_day == 0.0002
    assert spot.short_interest_per_bar(YEAR_OF_HOURS) == pytest.approx(0.0002 / 24)
    with pytest.raises(ValueError, match="spot_short_interest_per_day"):
        CostModel.from_params({**params, "spot_short_interest_per_day": -0.1}, "um_futures")
    with pytest.raises(ValueError, match="no entry for market 'spot'"):
        CostModel.from_params(params, "spot")
    with pytest.raises(ValueError, match="slippage_model"):
        CostModel.from_params({**params, "slippage_model": "magic"}, "um_futures")
    with pytest.raises(ValueError, match="unknown keys"):
        CostModel.from_params({**params, "fee": 1}, "um_futures")
