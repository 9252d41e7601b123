"""The planted-edge oracle of the proof benchmarks (benchmarks/oracle.py) trades the
signal it is given, one bar later, through the validation backtester with every cost; the
oracles and observable rules of each planted edge kind are what the generator planted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.synthetic import EDGE_KINDS, SyntheticMarketSpec, generate_market
from ares_kedro.validation.backtest import funding_by_bar
from ares_kedro.validation.costs import CostModel
from ares_kedro.validation.metrics import performance
from benchmarks.oracle import (
    OBSERVABLE_RULES,
    observable_signals,
    observed_taker_imbalance,
    planted_signals,
    signal_backtest,
    signal_trades,
)
from benchmarks.proof import PLANTED_EDGES, PLANTED_KINDS, planted_params
from tests.conftest import load_parameters
from tests.validation.test_backtest import bars_from_closes, costs


@pytest.fixture(scope="module")
def blank_spec() -> SyntheticMarketSpec:
    """The blank-mode market (180 days), as the planted benchmark generates it."""
    return SyntheticMarketSpec.from_params(load_parameters("blank")["ingestion"]["synthetic"])


def _planted(spec: SyntheticMarketSpec, kind: str) -> SyntheticMarketSpec:
    """``spec`` with ``kind`` planted as benchmarks/proof.py plants it, the others off."""
    edges = spec.edges.only(kind).updated({kind: PLANTED_EDGES[kind]})
    return replace(spec, edges=edges)


def _bars(market) -> pd.DataFrame:
    bars = bars_from_closes(market.close)
    return bars.set_axis(pd.DatetimeIndex(market.bar_open_ns, tz="UTC"))


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


def test_planted_params_plant_one_kind_and_switch_every_other_off():
    for kind in PLANTED_KINDS:
        params = planted_params(kind)
        for other in EDGE_KINDS:
            strength = params[f"ingestion.synthetic.edges.{other}.strength"]
            assert (strength > 0) == (other == kind)
    with pytest.raises(ValueError, match="unknown edge kind"):
        planted_params("momentum")


@pytest.fixture
def spec_lead_2(blank_spec) -> SyntheticMarketSpec:
    return replace(blank_spec, days=20).with_edges(order_flow={"strength": 0.3, "lead_bars": 2},
                                                   trend_persistence={"strength": 0.0})


def test_oracles_trade_every_planted_edge_together_and_each_kind_with_its_own_lead(spec_lead_2):
    market = generate_market(spec_lead_2)
    signals = planted_signals(market.edges, spec_lead_2.edges)
    assert set(signals) == {"oracle", "oracle_order_flow", "oracle_mean_reversion"}
    assert signals["oracle"][1] == 1 and signals["oracle_mean_reversion"][1] == 1
    assert signals["oracle_order_flow"][1] == 2
    np.testing.assert_array_equal(signals["oracle"][0], market.edges["edge_total"])
    bars = _bars(market).assign(buy_quote_volume=2.0, sell_quote_volume=1.0)
    observable = observable_signals(bars, spec_lead_2.edges)
    assert set(observable) == {"observable_rule", "observable_mean_reversion"}
    assert observable["observable_rule"][1] == 2


def test_observable_price_rules_use_past_closes_only(blank_spec):
    spec = _planted(replace(blank_spec, days=30), "mean_reversion").with_edges(
        trend_persistence={"strength": 0.1})
    bars = _bars(generate_market(spec))
    changed = bars.copy()
    changed.iloc[400:, changed.columns.get_loc("close")] *= 1.1  # a different future
    before = observable_signals(bars, spec.edges)
    after = observable_signals(changed, spec.edges)
    for name in ("observable_mean_reversion", "observable_trend_persistence"):
        np.testing.assert_array_equal(before[name][0][:400], after[name][0][:400])
        assert not np.allclose(before[name][0][400:], after[name][0][400:])
    lookback = spec.edges.trend_persistence.lookback_bars
    assert np.isnan(before["observable_trend_persistence"][0][:lookback]).all()


@pytest.mark.parametrize("kind", ["mean_reversion", "trend_persistence"])
def test_a_price_edge_is_visible_from_closes_alone(blank_spec, kind):
    """Planted in every regime, the observable rule takes the oracle's side on nearly every
    bar: the edge is in the closes, for a model to find."""
    spec = _planted(blank_spec, kind)
    market = generate_market(spec)
    oracle = np.sign(planted_signals(market.edges, spec.edges)[f"oracle_{kind}"][0])
    seen = np.sign(np.nan_to_num(observable_signals(_bars(market), spec.edges)
                                 [OBSERVABLE_RULES[kind]][0]))
    trading = oracle != 0
    assert trading.mean() > 0.9
    assert (oracle[trading] == seen[trading]).mean() > 0.99


@pytest.mark.parametrize("kind", PLANTED_KINDS)
def test_each_planted_kinds_oracle_earns_net_of_spot_costs(blank_spec, kind):
    spec = _planted(blank_spec, kind)
    market = generate_market(spec)
    bars = _bars(market)
    model = CostModel.from_params(load_parameters()["validation"]["costs"], "spot")
    signal, lead = planted_signals(market.edges, spec.edges)[f"oracle_{kind}"]
    funding = np.zeros(len(bars))
    result = performance(signal_backtest(bars, signal, 0, len(bars) - 1, lead, model, funding,
                                         365 * 24.0))
    assert result["sharpe"] > 2.0 and result["trades"] > 20
