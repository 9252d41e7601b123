"""Trading the governor's and its baselines' decisions on the test period, the same way:
one set-up (bars, the labels' exits, costs, funding, sizing, gate) shared by every
strategy, so that differences between them come from their probabilities alone."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from ares_kedro.analyst.labels import (
    PROBABILITY_COLUMNS,
    BarrierParams,
    barrier_record,
    barrier_trades,
)
from ares_kedro.governor.comparison import strategy_gates
from ares_kedro.governor.decisions import EdgeGate, ExpectedReturnMap, governor_decisions
from ares_kedro.governor.final_parameters import (
    DecisionInputs,
    decision_inputs,
    margin_gate,
    opinion_probability_columns,
)
from ares_kedro.governor.policy import DecisionPolicy
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.tactician.sizing import SizingParams
from ares_kedro.validation.backtest import (
    Backtest,
    ScoredPeriod,
    backtest_decisions,
    buy_and_hold,
    funding_by_bar,
)
from ares_kedro.validation.costs import CostModel
from ares_kedro.validation.metrics import performance

logger = logging.getLogger(__name__)


class TradingSetup:
    """Everything needed to trade decisions on ``market_bars`` (built once per node)."""

    def __init__(self, market_bars: pd.DataFrame, funding_rates: pd.DataFrame | None,
                 optimal_target_params: dict[str, Any], policy: DecisionPolicy,
                 costs: dict[str, Any], market: str, analyst_features: pd.DataFrame | None):
        self.bars = market_bars
        self.interval = bar_interval(market_bars.index)
        self.bars_per_year = bars_per_year(self.interval)
        self.barriers = BarrierParams.from_params(optimal_target_params)
        self.trades = barrier_trades(market_bars, self.barriers)[0]
        self.costs = CostModel.from_params(costs, market)
        if self.costs.funding and (funding_rates is None or funding_rates.empty):
            raise ValueError(f"validation: the {market} market pays funding but funding_rates "
                             "is empty or missing; run `kedro run --pipelines=ingestion` with "
                             "funding data, or set validation.costs.funding: false")
        self.funding = funding_by_bar(market_bars.index, self.interval, funding_rates)
        self.context = policy.context
        self.sizing = policy.sizing
        self.gate = policy.gate
        self.payoff = self.barriers.payoff_ratio
        self.features = analyst_features

    def inputs(self, index: pd.Index) -> DecisionInputs:  # needs analyst_features
        return decision_inputs(index, None, self.bars, self.features, self.context)

    def decide(self, proba: np.ndarray, inputs: DecisionInputs, gate: EdgeGate | None = None,
               sizing: SizingParams | None = None) -> pd.DataFrame:
        return governor_decisions(proba, self.gate if gate is None else gate,
                                  inputs.volatility, inputs.trend_1d, self.payoff,
                                  sizing or self.sizing, self.context, inputs.index)

    def backtest(self, rows: np.ndarray, side: np.ndarray, size: np.ndarray) -> Backtest:
        return backtest_decisions(self.bars, rows, side, size, self.trades, self.barriers,
                                  self.costs, self.funding,
                                  ScoredPeriod.of_rows(rows, self.bars_per_year),
                                  self.sizing.max_daily_loss)


def per_regime_results(returns: pd.DataFrame, trades: pd.DataFrame, bars_per_year: float
                ) -> dict[str, dict[str, Any]]:
    """The governor's results split by the regime of each bar (trades: of the entry bar)."""
    regime_of_entry = returns["regime"].reindex(trades["entry_time"]).to_numpy()
    out = {}
    for regime, group in returns.groupby("regime", observed=True):
        r = group["governor"].to_numpy()
        std = r.std(ddof=1) if r.size > 1 else 0.0
        net = trades["net_return"].to_numpy()[regime_of_entry == regime]
        out[str(regime)] = {"bars": int(r.size), "share_of_bars": r.size / len(returns),
                            "total_return": float(np.prod(1 + r) - 1),
                            "sharpe": float(r.mean() / std * np.sqrt(bars_per_year))
                            if std > 0 else 0.0,
                            "trades": int(net.size),
                            "win_rate": float((net > 0).mean()) if net.size else None}
    return out


def test_period_backtest(trading: TradingSetup, governor_decisions: pd.DataFrame,
                         baselines: dict[str, np.ndarray], baseline_rows: pd.Index,
                         baseline_periods: np.ndarray, governor_final_params: dict[str, Any],
                         market: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The governor's test-period decisions and every baseline's traded by ``trading``.

    Args:
        governor_decisions: ``governor_decisions`` (``period``, ``side``, ``size``, ...).
        baselines: name -> (n, 3) probabilities on ``baseline_rows`` (validation and test
            bars), ``baseline_periods`` their periods: each baseline's gate comes from its
            own validation rows (:func:`~ares_kedro.governor.comparison.strategy_gates`).

    Returns:
        (net bar returns of every strategy on the test bars, the governor's trades, the
        metrics report)."""
    market_bars = trading.bars
    test = governor_decisions[governor_decisions["period"] == "test"]
    if len(test) < 2:
        raise ValueError("validation: fewer than 2 test bars in governor_decisions; use more "
                         "data or a larger test share (time_splits)")
    inputs = trading.inputs(test.index)
    rows = inputs.bar_rows
    results = {"governor": trading.backtest(rows, test["side"].to_numpy(),
                                            test["size"].to_numpy())}
    results["buy_and_hold"] = buy_and_hold(market_bars, trading.costs, trading.funding,
                                           ScoredPeriod.of_rows(rows, trading.bars_per_year))
    validation = np.asarray(baseline_periods) == "validation"
    gates = strategy_gates({name: p[validation] for name, p in baselines.items()},
                           market_bars.index.get_indexer(baseline_rows[validation]),
                           trading.trades, governor_final_params)
    on_test = baseline_rows.get_indexer(test.index)
    for name, proba in baselines.items():
        decided = trading.decide(proba[on_test], inputs, gates[name])
        results[name] = trading.backtest(rows, decided["side"].to_numpy(),
                                         decided["size"].to_numpy())
    bar_index = market_bars.index[int(rows[0]):int(rows[-1]) + 1]
    returns = pd.DataFrame({name: r.bar_returns for name, r in results.items()}, index=bar_index)
    returns["governor_position"] = results["governor"].positions
    returns["regime"] = test["regime"].reindex(bar_index).ffill().astype(str)
    decided_columns = ["label", "is_labelled", *PROBABILITY_COLUMNS, "decision"]
    returns = returns.join(test[decided_columns])
    metrics = {name: performance(r) for name, r in results.items()}
    report = {
        "period": {"first_bar": str(bar_index[0]), "last_bar": str(bar_index[-1]),
                   "bars": len(bar_index)},
        "strategies": metrics,
        "governor_acts": bool(governor_final_params.get("acts", False)),
        "governor_why": governor_final_params.get("why"),
        "gates": {name: gate.record() for name, gate in {"governor": trading.gate,
                                                         **gates}.items()},
        "per_regime": per_regime_results(returns, results["governor"].trades, trading.bars_per_year),
        "costs": {**trading.costs.__dict__, "market": market},
        "barriers": barrier_record(trading.barriers),
        "note": ("test period only (never trained, tuned or calibrated on); every baseline is "
                 "gated by its own expected-return map from the validation period at the "
                 "governor's margin (0 when the governor chose none) and sized as the governor "
                 "is, so differences come from their probabilities; one position at a time, "
                 "the labels' exits, every cost in"),
    }
    governor = metrics["governor"]
    logger.info("Validation backtest (%d test bars): governor net Sharpe %.2f, return %.2f%% "
                "(%d trades); buy-and-hold Sharpe %.2f, return %.2f%%", len(bar_index),
                governor["sharpe"], 100 * governor["total_return"], governor["trades"],
                metrics["buy_and_hold"]["sharpe"], 100 * metrics["buy_and_hold"]["total_return"])
    return returns, results["governor"].trades, report


def trial_bar_returns(trading: TradingSetup, decisions: pd.DataFrame,
                      trials: list[optuna.trial.FrozenTrial],
                      maps: dict[str, dict[str, Any]]) -> np.ndarray:
    """(bars, trials) net bar returns of each final-parameter trial, traded on the rows of
    ``decisions`` (``governor_decisions`` rows: each candidate opinion's probabilities) with
    its opinion, margin and sizing, the gate from that opinion's expected-return map
    (``maps``: opinion -> record); the matrix the PBO's CSCV splits."""
    inputs = trading.inputs(decisions.index)
    matrix = []
    for trial in trials:
        opinion = trial.params.get("opinion", "governor")
        columns = opinion_probability_columns(opinion)
        proba = decisions[columns if set(columns) <= set(decisions.columns)
                          else PROBABILITY_COLUMNS].to_numpy(dtype=float)
        sizing = replace(trading.sizing, target_volatility=trial.params["target_volatility"],
                         max_position=trial.params["max_position"])
        gate = margin_gate(ExpectedReturnMap.from_record(maps[opinion]),
                           trial.params["expected_return_margin"], trading.trades)
        decided = trading.decide(proba, inputs, gate, sizing)
        matrix.append(trading.backtest(inputs.bar_rows, decided["side"].to_numpy(),
                                       decided["size"].to_numpy()).bar_returns.to_numpy())
    return np.column_stack(matrix)
