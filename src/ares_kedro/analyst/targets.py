"""Choose the label family, take-profit, stop-loss and holding period with Optuna, on the
training period only.

Label families (:mod:`~ares_kedro.analyst.labels`): ``triple_barrier`` (take-profit,
stop-loss, holding period) and ``fixed_horizon`` (the sign of the net forward return over
the holding period, HOLD when neither side earns its costs: a cost-aware "trade / no
trade" label). ``label_families`` in conf lists those searched; a trial of the fixed
horizon draws only its holding period.

The hindsight profit of the labels themselves is perfect foresight and says nothing. The
objective here is what a model can actually do with the labels a parameter set produces:
a quick LightGBM baseline is fitted in purged, embargoed K-fold CV on the training period,
its out-of-fold signals (the sign of p_long - p_short beyond ``min_edge``) are traded one
position at a time with those exits (net of the round-trip fee), and the trades are scored: Sharpe by default, or several objectives at
once (Sharpe, maximum drawdown, win rate), in which case the Pareto point with the best
Sharpe is chosen. The study lives in SQLite storage and resumes where it stopped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from ares_kedro.analyst.baseline import out_of_fold_probabilities, samples_at_rows
from ares_kedro.analyst.labels import (
    FIXED_HORIZON,
    LABEL_FAMILIES,
    TRIPLE_BARRIER,
    BarrierParams,
    barrier_record,
    barrier_trades,
    triple_barrier_labels,
)
from ares_kedro.analyst.trade_scoring import (
    signals_from_probabilities,
    trade_list,
    trade_performance,
)
from ares_kedro.params import checked_keys
from ares_kedro.studies import StudySettings, fingerprint, run_resumable_study

logger = logging.getLogger(__name__)

DIRECTIONS = {"sharpe": "maximize", "max_drawdown": "minimize", "win_rate": "maximize",
              "total_return": "maximize"}


@dataclass(frozen=True)
class TargetSearchParams:
    """``analyst.target_search`` in conf (ranges are [low, high], inclusive)."""

    n_trials: int
    take_profit: tuple[float, float]  # fraction of price, net of fees (log-uniform)
    stop_loss: tuple[float, float]  # fraction of price, net of fees (log-uniform)
    holding_bars: tuple[int, int]
    objectives: tuple[str, ...]  # first one chooses among the Pareto front
    cv_folds: int
    min_trades: int  # fewer out-of-fold trades: the trial is pruned (not enough evidence)
    seed: int
    label_families: tuple[str, ...] = (TRIPLE_BARRIER,)  # searched as a categorical choice
    min_edge: float = 0.0  # |p_long - p_short| a scored signal needs

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TargetSearchParams:
        values = checked_keys(cls, params, "analyst.target_search")
        for key in ("take_profit", "stop_loss", "holding_bars"):
            low, high = values[key]
            if not 0 < low <= high:
                raise ValueError(f"analyst.target_search.{key} must be [low, high] with "
                                 f"0 < low <= high, got {values[key]}")
            values[key] = (low, high)
        if values["holding_bars"][0] < 1:
            raise ValueError("analyst.target_search.holding_bars must start at 1 or more")
        values["objectives"] = tuple(values["objectives"])
        families = tuple(values.get("label_families", (TRIPLE_BARRIER,)))
        if not families or any(f not in LABEL_FAMILIES for f in families):
            raise ValueError(f"analyst.target_search.label_families: a non-empty list from "
                             f"{list(LABEL_FAMILIES)}, got {list(families)}")
        values["label_families"] = families
        if not 0 <= values.get("min_edge", 0.0) < 1:
            raise ValueError("analyst.target_search.min_edge must be in [0, 1)")
        bad = [o for o in values["objectives"] if o not in DIRECTIONS]
        if not values["objectives"] or bad:
            raise ValueError(f"analyst.target_search.objectives: choose from "
                             f"{sorted(DIRECTIONS)}, got {list(values['objectives'])}")
        if values["n_trials"] < 1 or values["cv_folds"] < 2 or values["min_trades"] < 1:
            raise ValueError("analyst.target_search: n_trials >= 1, cv_folds >= 2 and "
                             "min_trades >= 1 are required")
        return cls(**values)


@dataclass(frozen=True)
class TargetSamplesSpec:
    """The training-period rows the search learns from (labels change per trial)."""

    features: pd.DataFrame  # (n_samples, n_features)
    bar_rows: np.ndarray  # (n_samples,) rows of the bar table, sorted


def evaluate_targets(bars: pd.DataFrame, spec: TargetSamplesSpec, barriers: BarrierParams,
                     search: TargetSearchParams, baseline_model: dict[str, Any],
                     embargo_bars: int, bars_per_year: float) -> dict[str, float]:
    """Out-of-fold trading metrics of the baseline trained on ``barriers``' labels."""
    labels = triple_barrier_labels(bars, barriers)
    rows = spec.bar_rows
    known = labels["is_labelled"].to_numpy()[rows]
    rows = rows[known]
    samples = samples_at_rows(spec.features.loc[known], labels, rows)
    proba = out_of_fold_probabilities(samples, baseline_model, search.cv_folds,
                                      embargo_bars, search.seed)
    trades, _ = barrier_trades(bars, barriers)
    taken = trade_list(rows, signals_from_probabilities(proba, search.min_edge), trades)
    metrics = trade_performance(taken, int(rows[0]), int(rows[-1]), bars_per_year)
    counts = pd.Series(samples.labels).value_counts(normalize=True)
    metrics.update({f"share_{name.lower()}": float(counts.get(name, 0.0))
                    for name in ("LONG", "SHORT", "HOLD")})
    return metrics


def optimise_targets(bars: pd.DataFrame, spec: TargetSamplesSpec, round_trip_fee: float,
                     search: TargetSearchParams, baseline_model: dict[str, Any],
                     embargo_bars: int, bars_per_year: float,
                     studies: StudySettings, study_prefix: str = "targets"
                     ) -> dict[str, Any]:
    """Run (or resume) the study and return the chosen parameters and the evidence.

    The study name carries a fingerprint of the data, period, features and search space,
    so a changed input starts a new study rather than resuming a stale one. Only the trials
    still missing to reach ``n_trials`` (complete or pruned) are run.
    """
    name = "-".join((study_prefix, fingerprint(
        bars[["high", "low", "close"]], spec.features, spec.bar_rows,
        {k: v for k, v in asdict(search).items() if k != "n_trials"},  # more trials: same study
        baseline_model, round_trip_fee)))
    directions = [DIRECTIONS[o] for o in search.objectives]
    study = optuna.create_study(
        study_name=name, storage=studies.storage, load_if_exists=True, directions=directions,
        sampler=optuna.samplers.TPESampler(seed=search.seed, multivariate=True))

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        barriers = suggested_barriers(trial, search, round_trip_fee)
        if barriers.stop_loss <= round_trip_fee:
            raise optuna.TrialPruned("stop_loss within the round-trip fee")
        metrics = evaluate_targets(bars, spec, barriers, search, baseline_model, embargo_bars,
                                   bars_per_year)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        if metrics["bets"] < search.min_trades:
            raise optuna.TrialPruned(f"{metrics['bets']} bets < min_trades")
        return tuple(metrics[o] for o in search.objectives)

    run_resumable_study(study, objective, search.n_trials, studies.show_progress_bar)
    return target_search_result(study, search, round_trip_fee)


def suggested_barriers(trial: optuna.Trial, search: TargetSearchParams,
                       round_trip_fee: float) -> BarrierParams:
    """The label family and its parameters a trial draws (a fixed-horizon label has no
    take-profit or stop-loss to draw)."""
    family = (trial.suggest_categorical("label_family", list(search.label_families))
              if len(search.label_families) > 1 else search.label_families[0])
    # log-uniform: 1, 2, 4 bars are as different as 12, 24, 48
    holding_bars = trial.suggest_int("holding_bars", *search.holding_bars, log=True)
    if family == FIXED_HORIZON:
        return BarrierParams.from_params({"take_profit": None, "stop_loss": None,
                                          "holding_bars": holding_bars,
                                          "round_trip_fee": round_trip_fee,
                                          "label_family": family})
    return BarrierParams(
        take_profit=trial.suggest_float("take_profit", *search.take_profit, log=True),
        stop_loss=trial.suggest_float("stop_loss", *search.stop_loss, log=True),
        holding_bars=holding_bars, round_trip_fee=round_trip_fee)


def target_search_result(study: optuna.Study, search: TargetSearchParams,
                         round_trip_fee: float) -> dict[str, Any]:
    """``optimal_target_params``: the chosen barriers, their metrics and the study record."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ValueError(
            f"target search {study.study_name}: no trial reached min_trades="
            f"{search.min_trades} out-of-fold trades; widen analyst.target_search ranges, lower "
            "min_trades or use more data")
    front = study.best_trials
    chosen = max(front, key=lambda t: t.values[0] * (1 if DIRECTIONS[search.objectives[0]]
                                                     == "maximize" else -1))
    trials = study.get_trials(deepcopy=False)
    family = chosen.params.get("label_family", search.label_families[0])
    barriers = BarrierParams.from_params({
        "take_profit": chosen.params.get("take_profit"),
        "stop_loss": chosen.params.get("stop_loss"),
        "holding_bars": int(chosen.params["holding_bars"]),
        "round_trip_fee": float(round_trip_fee), "label_family": family})
    return {
        **barrier_record(barriers),
        "objectives": list(search.objectives),
        "chosen_trial": chosen.number,
        "chosen_metrics": dict(chosen.user_attrs),
        "pareto_front": [{"trial": t.number, **t.params, **dict(zip(search.objectives, t.values,
                                                                      strict=True))}
                         for t in front],
        "study_name": study.study_name,
        "trials_run": len(trials),
        "trials_complete": len(complete),
        "trials_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "objective_note": "out-of-fold, net of the round-trip fee, one position at a time "
                          "(fixed-horizon positions extended by signals on their side), "
                          "training period only",
    }
