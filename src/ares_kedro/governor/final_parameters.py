"""Final parameters optimisation (the seeds' step 12): the opinion the decisions follow,
the expected-return margin of the decision gate and the sizing parameters, tuned out of
fold on the training and validation periods.

An **opinion** is a table of class probabilities on those bars, out of fold: the
governor's meta-learner (its purged out-of-fold probabilities), the GLOBAL ensemble's
or the bar's own regime's ensemble (their calibrated out-of-fold opinions, the
governor's own inputs). A stacker that cannot beat its best input out of fold should
defer to it: the study chooses the opinion with the other parameters, and its trials are
counted by the deflated Sharpe ratio like every other. Each opinion's directional edge
``p_long - p_short`` goes through its own isotonic map turns the edge into the expected net
return of a long and of a short trade (:class:`~.decisions.ExpectedReturnMap`, every cost
in). A trial chooses a margin (in round-trip costs): the governor trades where the
expected net return exceeds it (:class:`~.decisions.EdgeGate`). A multi-objective Optuna
study (TPE, SQLite, resumable, named by a fingerprint of its inputs) maximises the net
Sharpe ratio and minimises the maximum drawdown of those decisions traded on the
validation bars: one position at a time, the analyst's exits, returns net of the
round-trip costs, scaled by each decision's size. The Pareto front is reported; the
chosen point is the front's best Sharpe among trials within ``max_drawdown_limit`` (the
smallest drawdown when none is).

The governor does not act (``acts`` false, every decision HOLD) when no trial made
``min_trades`` trades, or when the chosen point's net Sharpe is below
``min_validation_sharpe``; ``why`` says which, with the best expected net return the map
found and the cost it had to beat. The number of trials is recorded: validation's
deflated Sharpe ratio (#8) needs it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.analyst.trade_scoring import booked_log_returns, trade_list, trade_performance
from ares_kedro.governor.decisions import (
    EdgeGate,
    ExpectedReturnMap,
    expected_return_map,
    governor_decisions,
)
from ares_kedro.market.timeframes import bars_per_year
from ares_kedro.params import checked_keys
from ares_kedro.studies import StudySettings, fingerprint, run_resumable_study, trials_in_storage
from ares_kedro.tactician.context import ContextParams, higher_timeframe_trends, realised_volatility
from ares_kedro.tactician.sizing import SizingParams
from ares_kedro.validation.overfitting import deflated_sharpe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinalOptimisationParams:
    """``governor.final_optimisation`` in conf; ranges are [low, high]."""

    n_trials: int
    seed: int
    expected_return_margin: list[float]  # in round-trip costs: act when E[net] > margin x cost
    target_volatility: list[float]  # annualised
    max_position: list[float]
    max_drawdown_limit: float  # the chosen point's drawdown should stay within it
    min_trades: int  # fewer trades on validation: the trial is pruned
    min_validation_sharpe: float  # the chosen point earns less: the governor does not trade
    expected_return_bin_rows: int = 50  # rows per step of the expected-return map
    max_p_value: float = 0.05  # deflated Sharpe p-value the chosen point must stay below
    opinions: tuple[str, ...] = ("governor",)  # what decisions may follow (OPINIONS)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FinalOptimisationParams:
        spec = cls(**checked_keys(cls, params, "governor.final_optimisation"))
        for name in ("target_volatility", "max_position"):
            low, high = getattr(spec, name)
            if not 0 < low <= high:
                raise ValueError(f"governor.final_optimisation.{name}: need 0 < low <= high")
        low, high = spec.expected_return_margin
        if not -1 < low <= high:
            raise ValueError("governor.final_optimisation.expected_return_margin: need "
                             "-1 < low <= high (multiples of the round-trip cost)")
        if not 0 < spec.max_p_value <= 1:
            raise ValueError("governor.final_optimisation.max_p_value must be in (0, 1]")
        if int(spec.expected_return_bin_rows) < 1:
            raise ValueError("governor.final_optimisation.expected_return_bin_rows must be >= 1")
        if spec.max_position[1] > 1:
            raise ValueError("governor.final_optimisation: max_position is at most 1")
        unknown = sorted(set(spec.opinions) - set(OPINIONS))
        if unknown or not spec.opinions or "governor" not in spec.opinions:
            raise ValueError(f"governor.final_optimisation.opinions: {list(spec.opinions)}; "
                             f"choose among {list(OPINIONS)}, 'governor' included")
        if int(spec.n_trials) < 1 or not 0 < spec.max_drawdown_limit < 1:
            raise ValueError("governor.final_optimisation: n_trials >= 1, "
                             "max_drawdown_limit in (0, 1)")
        return replace(spec, opinions=tuple(spec.opinions))


OPINIONS = ("governor", GLOBAL, "own", "mean")
"""The meta-learner, GLOBAL, the bar's regime's ensemble, and ``mean``: the equal-weight
average of the first three (a forecast combination: it needs no weights fitted, so it
cannot overfit the rows the study scores on)."""
COMBINED = ("governor", GLOBAL, "own")  # what the ``mean`` opinion averages


def opinion_probabilities(final_params: dict[str, Any], governor_proba: np.ndarray,
                          input_columns: pd.DataFrame | dict[str, Any],
                          opinion: str | None = None) -> np.ndarray:
    """(n, 3) LABELS-order probabilities of ``opinion`` (default: the one the final
    parameters chose): ``governor_proba`` (the meta-learner's), or that ensemble's columns
    of the governor inputs ``input_columns`` (a table or its columns as arrays;
    ``GLOBAL_p_long`` ...). Final parameters without a choice follow the governor."""
    opinion = opinion or final_params.get("opinion") or "governor"
    if opinion == "governor":
        return governor_proba
    if opinion not in OPINIONS:
        raise ValueError(f"governor_final_params: unknown opinion {opinion!r}")
    if opinion == "mean":  # a row missing any member's opinion stays missing (NaN)
        return np.mean([opinion_probabilities(final_params, governor_proba, input_columns, name)
                        for name in COMBINED], axis=0)
    return np.column_stack([np.asarray(input_columns[f"{opinion}_p_{c.lower()}"], dtype=float)
                            for c in LABELS])


def opinion_probability_columns(opinion: str) -> list[str]:
    """The columns of ``governor_decisions`` that carry a candidate opinion's probabilities."""
    return [f"opinion_{opinion}_p_{c.lower()}" for c in LABELS]


@dataclass(frozen=True)
class DecisionInputs:
    """What turning probabilities into traded decisions needs, on the same rows."""

    proba: np.ndarray  # (n, 3) LABELS order
    bar_rows: np.ndarray  # (n,) sorted rows of the bar table
    volatility: np.ndarray  # (n,) annualised
    trend_1d: np.ndarray  # (n,)
    index: pd.Index




def decision_inputs(index: pd.Index, proba: np.ndarray | None, market_bars: pd.DataFrame,
                    analyst_features: pd.DataFrame, context: ContextParams) -> DecisionInputs:
    """What turns ``proba`` at the bars ``index`` into sized decisions: their rows in
    ``market_bars``, the annualised realised volatility and the daily trend there."""
    rows = market_bars.index.get_indexer(index)
    if (rows < 0).any():
        raise ValueError("decisions at bars missing from market_bars; re-run the upstream "
                         "pipelines on the same data")
    volatility = realised_volatility(market_bars["close"], context.volatility_window_bars,
                                     bars_per_year(market_bars.index)).to_numpy()[rows]
    trend = higher_timeframe_trends(analyst_features, context)["trend_1d"]
    return DecisionInputs(proba, rows, volatility, trend.reindex(index).to_numpy(dtype=float),
                          index)


def decision_gate(final_params: dict[str, Any]) -> EdgeGate:
    """The edges a decision needs: the tuned gate, or one that never opens when the final
    optimisation found no setting that trades profitably (the governor holds)."""
    if not final_params.get("acts", False) or final_params.get("gate") is None:
        return EdgeGate.never()
    return EdgeGate.from_record(final_params["gate"])


def sized_trades(side: np.ndarray, size: np.ndarray, bar_rows: np.ndarray,
                 trades: pd.DataFrame) -> pd.DataFrame:
    """The trades of ``side`` with ``size`` at ``bar_rows``, one position at a time with
    the exits of ``trades`` (returns net of costs, times |size|)."""
    signal = np.where(np.abs(size) > 0, side, 0).astype(np.int8)
    taken = trade_list(bar_rows, signal, trades)
    by_row = pd.Series(np.abs(size), index=bar_rows)
    taken["net_return"] = taken["net_return"] * by_row.loc[taken["entry_row"]].to_numpy()
    return taken


def sized_performance(side: np.ndarray, size: np.ndarray, bar_rows: np.ndarray,
                      trades: pd.DataFrame, bars_per_year: float) -> dict[str, float]:
    """Net performance of :func:`sized_trades` over the rows."""
    return trade_performance(sized_trades(side, size, bar_rows, trades), int(bar_rows[0]),
                             int(bar_rows[-1]), bars_per_year)


def evaluate(inputs: DecisionInputs, gate: EdgeGate, sizing: SizingParams,
             context: ContextParams, payoff_ratio: float, trades: pd.DataFrame,
             bars_per_year: float) -> dict[str, float]:
    decided = governor_decisions(inputs.proba, gate, inputs.volatility, inputs.trend_1d,
                                 payoff_ratio, sizing, context, inputs.index)
    return sized_performance(decided["side"].to_numpy(), decided["size"].to_numpy(),
                             inputs.bar_rows, trades, bars_per_year)


def _significance(inputs: DecisionInputs, gate: EdgeGate, sizing: SizingParams,
                  context: ContextParams, payoff_ratio: float, trades: pd.DataFrame,
                  bars_per_year: float, complete: list, storage: str) -> dict[str, Any]:
    """Deflated Sharpe ratio of the chosen point's out-of-fold bar returns, deflated by
    every trial in the Optuna storage (target search, coarse search, tuning and this study:
    each chose something on the same history), with the variance of this study's trial
    Sharpe ratios."""
    decided = governor_decisions(inputs.proba, gate, inputs.volatility, inputs.trend_1d,
                                 payoff_ratio, sizing, context, inputs.index)
    taken = sized_trades(decided["side"].to_numpy(), decided["size"].to_numpy(),
                         inputs.bar_rows, trades)
    returns = np.expm1(booked_log_returns(taken, int(inputs.bar_rows[0]),
                                          int(inputs.bar_rows[-1])))
    trial_sharpes = np.array([t.user_attrs["sharpe"] for t in complete]) / np.sqrt(bars_per_year)
    result = deflated_sharpe(returns, trials_in_storage(storage)["trials"], trial_sharpes)
    return {k: result[k] for k in ("p_value", "trials", "deflated_sharpe",
                                   "probabilistic_sharpe", "sharpe_per_bar")}


def margin_gate(returns: ExpectedReturnMap, margin_in_costs: float, trades: pd.DataFrame
                ) -> EdgeGate:
    """The gate of a margin given in round-trip costs (``trades.attrs["round_trip_fee"]``)."""
    return returns.gate(float(margin_in_costs) * float(trades.attrs["round_trip_fee"]))


def _opinion_of(trial: optuna.trial.FrozenTrial) -> str:
    """The opinion a finished trial followed (with one candidate it is not a parameter)."""
    return trial.params.get("opinion", "governor")


def _same_rows(inputs: DecisionInputs, opinions: dict[str, np.ndarray] | None,
               params: FinalOptimisationParams
               ) -> tuple[DecisionInputs, dict[str, np.ndarray]]:
    """``params.opinions``' probabilities (the governor's are ``inputs.proba``) and the
    inputs, on the rows where every one of them has a prediction."""
    candidates = {"governor": inputs.proba, **(opinions or {})}
    missing = sorted(set(params.opinions) - set(candidates))
    if missing:
        raise ValueError(f"final parameters: no probabilities for the opinions {missing}")
    candidates = {name: candidates[name] for name in params.opinions}
    known = np.logical_and.reduce([~np.isnan(p).any(axis=1) for p in candidates.values()])
    if known.all():
        return inputs, candidates
    return (DecisionInputs(inputs.proba[known], inputs.bar_rows[known],
                           inputs.volatility[known], inputs.trend_1d[known],
                           inputs.index[known]),
            {name: p[known] for name, p in candidates.items()})


def _why(opinion: str, chosen: optuna.trial.FrozenTrial, significance: dict[str, Any],
         margin: float, cost: float, params: FinalOptimisationParams) -> tuple[bool, str]:
    """Whether the chosen point acts, and the sentence that says why."""
    profitable = chosen.values[0] >= params.min_validation_sharpe
    significant = significance["p_value"] < params.max_p_value
    why = (f"following the {opinion} opinion, out-of-fold net Sharpe {chosen.values[0]:.2f} "
           f"from {chosen.user_attrs['trades']} trades ({chosen.user_attrs['bets']} bets), "
           f"deflated Sharpe p-value {significance['p_value']:.3g} after "
           f"{significance['trials']} trials, trading where the expected net return exceeds "
           f"{margin * cost:.4%} ({margin:.2f} round-trip costs of {cost:.4%})")
    if not profitable:
        why = (f"the best out-of-fold net Sharpe on the front is {chosen.values[0]:.2f} < "
               f"min_validation_sharpe {params.min_validation_sharpe:.2f}: " + why)
    elif not significant:
        why = (f"the edge is not significant (p-value {significance['p_value']:.3g} >= "
               f"max_p_value {params.max_p_value}): " + why)
    return profitable and significant, why


def optimise_final_parameters(inputs: DecisionInputs, sizing: SizingParams,
                              context: ContextParams, payoff_ratio: float,
                              trades: pd.DataFrame, bars_per_year: float,
                              params: FinalOptimisationParams, studies: StudySettings,
                              opinions: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Run (or resume) the study; return the chosen opinion, gate and sizing with the
    evidence.

    ``inputs.proba`` are the governor's out-of-fold probabilities; ``opinions`` the other
    opinions of ``params.opinions`` on the same rows (name -> (n, 3), LABELS order). When no
    trial bets ``min_trades`` times, or the chosen one loses net of costs or is not
    significant, the governor holds (``acts`` false) and ``why`` says so."""
    inputs, candidates = _same_rows(inputs, opinions, params)
    maps = {name: expected_return_map(p, inputs.bar_rows, trades,
                                      int(params.expected_return_bin_rows))
            for name, p in candidates.items()}
    cost = float(trades.attrs["round_trip_fee"])
    name = "final-" + fingerprint(list(candidates), *candidates.values(), inputs.bar_rows,
                                  inputs.volatility, inputs.trend_1d, asdict(sizing),
                                  asdict(context),
                                  {k: v for k, v in asdict(params).items() if k != "n_trials"},
                                  payoff_ratio, trades)
    study = optuna.create_study(
        study_name=name, storage=studies.storage, load_if_exists=True,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=int(params.seed), multivariate=True))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        opinion = (trial.suggest_categorical("opinion", list(candidates))
                   if len(candidates) > 1 else "governor")
        margin = trial.suggest_float("expected_return_margin", *params.expected_return_margin)
        trial_sizing = replace(
            sizing,
            target_volatility=trial.suggest_float("target_volatility", *params.target_volatility),
            max_position=trial.suggest_float("max_position", *params.max_position))
        metrics = evaluate(replace(inputs, proba=candidates[opinion]),
                           margin_gate(maps[opinion], margin, trades), trial_sizing, context,
                           payoff_ratio, trades, bars_per_year)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        if metrics["bets"] < int(params.min_trades):
            raise optuna.TrialPruned(f"{metrics['bets']} bets < min_trades")
        return metrics["sharpe"], metrics["max_drawdown"]

    run_resumable_study(study, objective, int(params.n_trials), studies.show_progress_bar)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    evidence = {"round_trip_cost": cost, "opinions": list(candidates),
                "expected_return_maps": {k: m.record() for k, m in maps.items()},
                "best_sharpe_by_opinion": {
                    opinion: max((t.values[0] for t in complete if _opinion_of(t) == opinion),
                                 default=None) for opinion in candidates},
                "expected_return_bin_rows": int(params.expected_return_bin_rows),
                "study_name": name, "trials_run": len(study.get_trials(deepcopy=False)),
                "trials_complete": len(complete),
                "objective_note": "out-of-fold probabilities of the chosen opinion on the "
                                  "training and validation periods, net of round-trip "
                                  "costs, one position at a time, sized"}
    if not complete:
        best = max(m.best_expected_return() for m in maps.values())
        why = (f"no setting made min_trades={params.min_trades} bets out of fold: the best "
               f"expected net return of any trade was {best:.4%} against a round-trip cost "
               f"of {cost:.4%}")
        logger.warning("Final parameters study %s: the governor will not trade: %s", name, why)
        return {"acts": False, "why": why, "opinion": "governor", "gate": None,
                "expected_return_map": maps["governor"].record(),
                "best_expected_net_return": best, "expected_return_margin": None,
                "sizing": asdict(sizing), "chosen_trial": None,
                "chosen_within_drawdown_limit": False, "chosen_metrics": None,
                "pareto_front": [], **evidence}
    front = study.best_trials
    within = [t for t in front if t.values[1] <= params.max_drawdown_limit]
    chosen = (max(within, key=lambda t: t.values[0]) if within
              else min(front, key=lambda t: t.values[1]))
    opinion, margin = _opinion_of(chosen), float(chosen.params["expected_return_margin"])
    gate = margin_gate(maps[opinion], margin, trades)
    chosen_sizing = replace(sizing, target_volatility=chosen.params["target_volatility"],
                            max_position=chosen.params["max_position"])
    significance = _significance(replace(inputs, proba=candidates[opinion]), gate,
                                 chosen_sizing, context, payoff_ratio, trades, bars_per_year,
                                 complete, studies.storage)
    acts, why = _why(opinion, chosen, significance, margin, cost, params)
    if not acts:
        logger.warning("Final parameters: the governor will not trade: %s", why)
    return {
        "acts": bool(acts), "why": why, "opinion": opinion,
        "gate": gate.record(), "expected_return_margin": margin,
        "expected_return_map": maps[opinion].record(),
        "best_expected_net_return": maps[opinion].best_expected_return(),
        "sizing": asdict(chosen_sizing),
        "chosen_trial": chosen.number, "significance": significance,
        "chosen_within_drawdown_limit": bool(within),
        "chosen_metrics": dict(chosen.user_attrs),
        "pareto_front": [{"trial": t.number, **t.params, "sharpe": t.values[0],
                          "max_drawdown": t.values[1]} for t in front],
        **evidence,
    }
