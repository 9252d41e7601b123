"""Hyperparameter tuning of the ensembles' base models (#5, "Tuning").

One Optuna study per model kind (and per regime, through the study name): TPE, seeded, in
SQLite storage and opened by name, so an interrupted tuning resumes and runs only the trials
still missing (:func:`~ares_kedro.studies.run_resumable_study`). A trial fits the
model in purged, embargoed K-fold CV of the training samples and scores it either by

- ``log_loss``: the out-of-fold log-loss, averaged over folds weighted by their size
  (minimised), or
- ``sharpe``: the annualised net Sharpe of trading the out-of-fold signals one position at a
  time on the barrier trades (:mod:`~ares_kedro.analyst.trade_scoring`; maximised).

The running score is reported after each fold, so a median pruner (``pruner: median``) stops
a trial that is worse than the median of earlier trials at the same fold.

Search spaces: LightGBM's are the narrowed ranges of part 1's coarse search
(``hpo_ranges``); XGBoost's and the random forest's come from conf
(``analyst.tuning.search_spaces``).

Regularisation wins: the ``analyst.regularisation`` block sets the penalties
(``reg_alpha``/``reg_lambda``, and DART dropout when > 0) on every model
(:func:`~ares_kedro.analyst.models.regularised_params`), overriding any value a trial would
propose. Tuning those names would only waste trials on parameters that are then ignored (and
make TPE model noise), so they and their aliases are removed from the search space; the
result lists what was removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from ares_kedro.analyst.baseline import (
    TrainingSamples,
    class_probabilities,
    log_loss,
    purged_folds,
)
from ares_kedro.analyst.coarse_search import SearchRange
from ares_kedro.analyst.models import MODEL_KINDS, Regularisation, make_model, regularised_params
from ares_kedro.analyst.trade_scoring import (
    signals_from_probabilities,
    trade_list,
    trade_performance,
)
from ares_kedro.params import checked_keys
from ares_kedro.studies import StudySettings, fingerprint, run_resumable_study

logger = logging.getLogger(__name__)

OBJECTIVES = {"log_loss": "minimize", "sharpe": "maximize"}
PRUNERS = ("median", "none")
CONF_SPACE_KINDS = ("xgboost", "random_forest")  # LightGBM's space comes from hpo_ranges
# Other spellings of the parameters the regularisation block sets, per kind.
REGULARISED_ALIASES = {
    "lightgbm": {"reg_alpha": ("lambda_l1", "l1_regularization"),
                 "reg_lambda": ("lambda_l2", "l2_regularization", "lambda"),
                 "drop_rate": ("rate_drop",), "boosting_type": ("boosting", "boost")},
    "xgboost": {"reg_alpha": ("alpha",), "reg_lambda": ("lambda",)},
    "random_forest": {},
}


def _range(section: str, spec: dict[str, Any]) -> SearchRange:
    """``spec`` ({low, high, type, log}) as a SearchRange, errors naming ``section``."""
    values = checked_keys(SearchRange, dict(spec), section)
    try:
        return SearchRange.from_params(section, values)
    except ValueError as error:
        raise ValueError(f"{section}: type in ('int', 'float'), low <= high, and low > 0 on a "
                         f"log scale are required, got {values}") from error


@dataclass(frozen=True)
class TuningParams:
    """``analyst.tuning`` in conf."""

    n_trials: int  # complete or pruned trials per study (blank: 3 to 5; full: 100 to 200)
    objective: str  # "log_loss" (minimised) or "sharpe" (net, annualised; maximised)
    cv_folds: int  # purged, embargoed folds of the training samples
    n_jobs: int  # trials run in parallel threads (Optuna's study.optimize n_jobs)
    timeout_seconds: float | None  # per study: stop starting trials after this (None: no limit)
    seed: int  # TPE sampler and model seed
    pruner: str  # "median" (prune a trial below the median at the same fold) or "none"
    search_spaces: dict[str, dict[str, SearchRange]]  # xgboost, random_forest

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TuningParams:
        section = "analyst.tuning"
        values = checked_keys(cls, params, section)
        spaces = values["search_spaces"]
        if not isinstance(spaces, dict) or sorted(spaces) != sorted(CONF_SPACE_KINDS):
            raise ValueError(f"{section}.search_spaces: one space per kind of "
                             f"{list(CONF_SPACE_KINDS)} is required (LightGBM's comes from "
                             f"the coarse search's hpo_ranges), got "
                             f"{sorted(spaces) if isinstance(spaces, dict) else spaces!r}")
        values["search_spaces"] = {
            kind: {name: _range(f"{section}.search_spaces.{kind}.{name}", spec)
                   for name, spec in (space or {}).items()}
            for kind, space in spaces.items()}
        spec = cls(**values)
        problems = []
        if not _is_int(spec.n_trials) or spec.n_trials < 1:
            problems.append(f"n_trials must be an integer >= 1, got {spec.n_trials!r}")
        if spec.objective not in OBJECTIVES:
            problems.append(f"objective must be one of {list(OBJECTIVES)}, "
                            f"got {spec.objective!r}")
        if not _is_int(spec.cv_folds) or spec.cv_folds < 2:
            problems.append(f"cv_folds must be an integer >= 2, got {spec.cv_folds!r}")
        if not _is_int(spec.n_jobs) or spec.n_jobs < 1:
            problems.append(f"n_jobs must be an integer >= 1, got {spec.n_jobs!r}")
        if not _is_int(spec.seed):
            problems.append(f"seed must be an integer, got {spec.seed!r}")
        if spec.timeout_seconds is not None and not spec.timeout_seconds > 0:
            problems.append(f"timeout_seconds must be > 0 or null, got {spec.timeout_seconds!r}")
        if spec.pruner not in PRUNERS:
            problems.append(f"pruner must be one of {list(PRUNERS)}, got {spec.pruner!r}")
        if problems:
            raise ValueError(f"{section}: " + "; ".join(problems))
        return spec

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def search_space(kind: str, hpo_ranges: dict[str, Any], params: TuningParams
                 ) -> dict[str, SearchRange]:
    """The space searched for ``kind``: LightGBM's narrowed ``hpo_ranges["ranges"]`` from the
    coarse search, or the conf space of XGBoost and the random forest."""
    if kind == "lightgbm":
        if "ranges" not in hpo_ranges:
            raise ValueError("hpo_ranges has no 'ranges': pass the coarse search's output "
                             "(analyst pipeline, part 1)")
        return {name: _range(f"hpo_ranges.ranges.{name}", spec)
                for name, spec in hpo_ranges["ranges"].items()}
    if kind in params.search_spaces:
        return dict(params.search_spaces[kind])
    raise ValueError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


def regularised_names(kind: str, regularisation: Regularisation) -> set[str]:
    """Parameter names (with aliases) whose value the regularisation block sets for
    ``kind``: tuning them would be overridden, so they are not searched."""
    names = set(regularised_params(kind, {}, regularisation)[0])
    aliases = REGULARISED_ALIASES[kind]
    return names | {alias for name in names for alias in aliases.get(name, ())}


def tuning_study_name(prefix: str, kind: str, samples: TrainingSamples,
                      fixed_params: dict[str, Any], space: dict[str, SearchRange],
                      regularisation: Regularisation, params: TuningParams, embargo_bars: int,
                      trades: pd.DataFrame | None = None, bars_per_year: float | None = None
                      ) -> str:
    """``<prefix>-<kind>-<fingerprint>`` of everything that shapes a trial's score (data,
    fixed parameters, space, regularisation, objective, folds, seed, pruner), but not
    ``n_trials`` or ``n_jobs``: raising the trial count extends the same study, while a
    changed input starts a new one instead of resuming a stale one."""
    parts: list[Any] = [
        samples.features, samples.labels, samples.weights, samples.bar_rows, samples.label_end,
        fixed_params, {name: vars(spec) for name, spec in sorted(space.items())},
        vars(regularisation), params.objective, params.cv_folds, params.seed, params.pruner,
        embargo_bars]
    if params.objective == "sharpe" and trades is not None:
        parts += [trades, bars_per_year]
    return f"{prefix}-{kind}-{fingerprint(*parts)}"


def tune_model(kind: str, samples: TrainingSamples, fixed_params: dict[str, Any],
               space: dict[str, SearchRange], regularisation: Regularisation,
               params: TuningParams, embargo_bars: int, studies: StudySettings,
               study_name: str, trades: pd.DataFrame | None = None,
               bars_per_year: float | None = None) -> dict[str, Any]:
    """Run (or resume) the tuning study of ``kind`` and return its best parameters.

    Args:
        kind: one of :data:`~ares_kedro.analyst.models.MODEL_KINDS`.
        samples: the training samples (purged CV runs over them; ``bar_rows`` index
            ``trades``).
        fixed_params: model parameters that are not searched (e.g. ``n_jobs``); a tuned
            value overrides the same key.
        space: the searched parameters (:func:`search_space`). The names the
            ``regularisation`` block sets (``reg_alpha``/``reg_lambda`` and aliases, DART
            dropout when > 0) are removed: regularisation wins over tuned values.
        regularisation: applied to every trial's model by
            :func:`~ares_kedro.analyst.models.make_model`.
        params: ``analyst.tuning``.
        embargo_bars: bars dropped after each test fold.
        studies: the Optuna storage and progress bar; the study is opened by
            ``study_name`` and only the trials missing to reach ``params.n_trials``
            complete or pruned ones are run.
        trades, bars_per_year: for ``objective: sharpe``: the
            :func:`~ares_kedro.analyst.labels.barrier_trades` table of the whole bar table
            and the bars in a year (annualisation).

    Returns:
        ``best_params`` (fixed merged with the best trial's tuned values; regularisation is
        applied on top by ``make_model``), ``tuned_params``, ``best_value``, ``objective``,
        ``direction``, ``trials_run`` (every trial the study holds, failed and interrupted
        ones included: the number of configurations tried, for validation's deflated
        Sharpe), ``trials_added`` (run by this call), ``trials_complete``,
        ``trials_pruned``, ``trials_failed``, ``search_space``, ``not_tuned_regularised``
        and ``study_name``.

    With ``n_jobs`` > 1 trials run in parallel threads and the result is no longer
    reproducible from the seed alone.
    """
    started = time.perf_counter()
    if params.objective == "sharpe":
        _check_trades(samples, trades, bars_per_year)
    searched, regularised = _searched_space(kind, space, fixed_params, regularisation,
                                            params.seed)
    study = _open_study(study_name, studies.storage, params)
    objective = _cv_objective(kind, samples, purged_folds(samples, params.cv_folds,
                                                          embargo_bars),
                              searched, fixed_params, regularisation, params, trades,
                              bars_per_year)
    ran = run_resumable_study(study, objective, params.n_trials, studies.show_progress_bar,
                              params.n_jobs, params.timeout_seconds)
    result = tuning_result(study, kind, fixed_params, searched, regularised, params, ran)
    logger.info("Tuned %s (%s): %d trials in the study, %d run now, %d pruned; best %s %.4f "
                "in %.1f s", kind, study_name, result["trials_run"], ran,
                result["trials_pruned"], params.objective, result["best_value"],
                time.perf_counter() - started)
    return result


def _open_study(study_name: str, storage: Any, params: TuningParams) -> optuna.Study:
    """The tuning study ``study_name`` (TPE from the seed, median pruning after each fold
    unless ``pruner: none``), created or resumed; refused if it was created to optimise in
    the other direction."""
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if params.pruner == "median" else optuna.pruners.NopPruner())
    study = optuna.create_study(
        study_name=study_name, storage=storage, load_if_exists=True,
        direction=params.direction, sampler=optuna.samplers.TPESampler(seed=params.seed),
        pruner=pruner)
    if study.direction.name.lower() != params.direction:
        raise ValueError(f"study {study_name} in {storage} was created to "
                         f"{study.direction.name.lower()}, not to {params.direction} "
                         f"({params.objective}): use another study name")
    return study


def _cv_objective(kind: str, samples: TrainingSamples, folds: list,
                  searched: dict[str, SearchRange], fixed_params: dict[str, Any],
                  regularisation: Regularisation, params: TuningParams,
                  trades: pd.DataFrame | None, bars_per_year: float | None
                  ) -> Callable[[optuna.Trial], float]:
    """A trial's objective: the purged-CV score of ``kind`` with the trial's values of
    ``searched`` (log-loss, or the net Sharpe of the out-of-fold signals), reported after
    each fold so that the pruner can stop a poor trial early."""
    def objective(trial: optuna.Trial) -> float:
        tuned = {name: spec.suggest(trial, name) for name, spec in searched.items()}
        model_params = {**fixed_params, **tuned}
        proba = np.full((len(samples.labels), 3), np.nan)
        covered = np.zeros(len(samples.labels), dtype=bool)
        losses, sizes = [], []
        for step, (train, test) in enumerate(folds):
            covered[test] = True
            y = samples.labels[train]
            if np.unique(y).size < 2:  # nothing to learn: no score, no signal for this fold
                continue
            model, _ = make_model(kind, model_params, regularisation, params.seed)
            model.fit(samples.features.iloc[train], y, sample_weight=samples.weights[train])
            proba[test] = class_probabilities(model, samples.features.iloc[test])
            losses.append(log_loss(samples.labels[test], proba[test]))
            sizes.append(test.size)
            trial.report(score_so_far(losses, sizes, proba, covered)[0], step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if not losses:
            raise ValueError(f"tuning {kind}: no fold had two classes to learn from")
        score, metrics = score_so_far(losses, sizes, proba, covered)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        return score

    def score_so_far(losses: list[float], sizes: list[int], proba: np.ndarray,
                     covered: np.ndarray) -> tuple[float, dict[str, float]]:
        """The objective over the folds done so far, and the metrics behind it."""
        metrics = {"log_loss": float(np.average(losses, weights=sizes))}
        if params.objective == "sharpe":
            metrics.update(_trading_metrics(samples, proba, covered, trades, bars_per_year))
        return float(metrics[params.objective]), metrics

    return objective


def _searched_space(kind: str, space: dict[str, SearchRange], fixed_params: dict[str, Any],
                    regularisation: Regularisation, seed: int
                    ) -> tuple[dict[str, SearchRange], list[str]]:
    """``space`` without the names the regularisation block sets (and those names),
    checked by building one model: an unknown parameter fails here, not in a trial."""
    regularised = sorted(regularised_names(kind, regularisation) & set(space))
    searched = {name: spec for name, spec in space.items() if name not in regularised}
    if regularised:
        logger.info("Tuning %s: %s not tuned, set by analyst.regularisation", kind,
                    regularised)
    if not searched:
        raise ValueError(f"tuning {kind}: the search space is empty once the parameters "
                         f"set by analyst.regularisation ({regularised}) are removed")
    make_model(kind, {**fixed_params, **{name: spec.low for name, spec in searched.items()}},
               regularisation, seed)
    return searched, regularised


def _check_trades(samples: TrainingSamples, trades: pd.DataFrame | None,
                  bars_per_year: float | None) -> None:
    if trades is None or bars_per_year is None:
        raise ValueError("analyst.tuning.objective 'sharpe' needs the barrier trades of the "
                         "bar table and bars_per_year")
    if not bars_per_year > 0:
        raise ValueError(f"bars_per_year must be > 0, got {bars_per_year}")
    if len(samples.bar_rows) and int(samples.bar_rows.max()) >= len(trades):
        raise ValueError(f"the samples reach bar row {int(samples.bar_rows.max())} but the "
                         f"barrier trades cover {len(trades)} bars: pass barrier_trades of the "
                         "whole bar table the samples were taken from")


def _trading_metrics(samples: TrainingSamples, proba: np.ndarray, covered: np.ndarray,
                     trades: pd.DataFrame, bars_per_year: float) -> dict[str, float]:
    """Net trading metrics of the out-of-fold signals of the ``covered`` samples (rows
    without a prediction give no signal), over the bars from the first to the last one."""
    rows = samples.bar_rows[covered]
    taken = trade_list(rows, signals_from_probabilities(proba[covered]), trades)
    return trade_performance(taken, int(rows[0]), int(rows[-1]), bars_per_year)


def tuning_result(study: optuna.Study, kind: str, fixed_params: dict[str, Any],
                  searched: dict[str, SearchRange], regularised: list[str],
                  params: TuningParams, ran: int) -> dict[str, Any]:
    """The study's best trial and its trial counts (see :func:`tune_model`)."""
    trials = study.get_trials(deepcopy=False)
    states = [trial.state for trial in trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    if not complete:
        raise ValueError(f"tuning {kind} ({study.study_name}): no trial completed")
    best = study.best_trial
    return {
        "kind": kind,
        "best_params": {**fixed_params, **best.params},
        "tuned_params": dict(best.params),
        "best_value": float(best.value),
        "objective": params.objective,
        "direction": params.direction,
        "trials_run": len(trials),
        "trials_added": ran,
        "trials_complete": complete,
        "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "trials_failed": states.count(optuna.trial.TrialState.FAIL),
        "search_space": {name: vars(spec) for name, spec in searched.items()},
        "not_tuned_regularised": regularised,
        "study_name": study.study_name,
    }
