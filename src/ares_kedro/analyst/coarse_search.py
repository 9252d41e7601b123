"""Coarse hyperparameter search that narrows the ranges for the ensembles' tuning (#5).

A short Optuna study (TPE, median pruning across folds) tunes the baseline LightGBM on the
pruned features, scored by purged-CV log-loss on the training period. The best share of
trials then bounds each parameter: ``hpo_ranges`` holds, per parameter, the span of its
values among those trials (widened to a minimum width, inside the original range), so
part 2 searches where the coarse pass found good models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from ares_kedro.analyst.baseline import (
    TrainingSamples,
    baseline_classifier,
    class_probabilities,
    log_loss,
    purged_folds,
)
from ares_kedro.params import checked_keys
from ares_kedro.studies import StudySettings, run_resumable_study

logger = logging.getLogger(__name__)
PARAM_TYPES = ("int", "float")


@dataclass(frozen=True)
class SearchRange:
    """One hyperparameter's range: [low, high], integer or float, log scale or not."""

    low: float
    high: float
    type: str
    log: bool

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any]) -> SearchRange:
        spec = cls(**checked_keys(cls, params, f"analyst.coarse_search.ranges.{name}"))
        if spec.type not in PARAM_TYPES or not spec.low <= spec.high or (
                spec.log and spec.low <= 0):
            raise ValueError(f"analyst.coarse_search.ranges.{name}: type in {PARAM_TYPES}, "
                             "low <= high, and low > 0 on a log scale")
        return spec

    def suggest(self, trial: optuna.Trial, name: str) -> float | int:
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class CoarseSearchParams:
    """``analyst.coarse_search`` in conf."""

    n_trials: int
    cv_folds: int
    best_share: float  # the best share of complete trials bounds the narrowed ranges
    min_width_share: float  # a narrowed range spans at least this share of the original
    seed: int
    ranges: dict[str, SearchRange]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CoarseSearchParams:
        values = checked_keys(cls, params, "analyst.coarse_search")
        values["ranges"] = {name: SearchRange.from_params(name, dict(spec))
                            for name, spec in values["ranges"].items()}
        spec = cls(**values)
        if spec.n_trials < 1 or spec.cv_folds < 2 or not 0 < spec.best_share <= 1 or not (
                0 <= spec.min_width_share <= 1):
            raise ValueError("analyst.coarse_search: n_trials >= 1, cv_folds >= 2, best_share "
                             "in (0, 1] and min_width_share in [0, 1] are required")
        return spec


def narrowed_range(values: np.ndarray, original: SearchRange, min_width_share: float
                   ) -> dict[str, Any]:
    """The span of ``values`` inside ``original``, widened around its centre (on the
    range's scale) to at least ``min_width_share`` of the original width."""
    to_scale = np.log if original.log else (lambda x: x)
    from_scale = np.exp if original.log else (lambda x: x)
    low_o, high_o = to_scale(original.low), to_scale(original.high)
    low, high = to_scale(values.min()), to_scale(values.max())
    min_width = min_width_share * (high_o - low_o)
    if high - low < min_width:
        centre = (low + high) / 2
        low, high = centre - min_width / 2, centre + min_width / 2
        shift = max(low_o - low, 0) - max(high - high_o, 0)  # slide back inside
        low, high = low + shift, high + shift
    low, high = float(from_scale(max(low, low_o))), float(from_scale(min(high, high_o)))
    if original.type == "int":
        low = max(int(np.floor(low)), int(original.low))
        high = min(int(np.ceil(high)), int(original.high))
    return {"low": low, "high": high, "type": original.type, "log": original.log}


def coarse_search(samples: TrainingSamples, model_params: dict[str, Any],
                  params: CoarseSearchParams, embargo_bars: int, studies: StudySettings,
                  study_name: str) -> dict[str, Any]:
    """Run (or resume) the coarse study; return the narrowed ``hpo_ranges`` and its record.

    The searched parameters override the same keys of ``model_params``.
    """
    folds = purged_folds(samples, params.cv_folds, embargo_bars)
    study = optuna.create_study(
        study_name=study_name, storage=studies.storage, load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=params.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))

    def objective(trial: optuna.Trial) -> float:
        chosen = {name: spec.suggest(trial, name) for name, spec in params.ranges.items()}
        losses, weights = [], []
        for step, (train, test) in enumerate(folds):
            y = samples.labels[train]
            if np.unique(y).size < 2:
                continue
            model = baseline_classifier({**model_params, **chosen}, params.seed)
            model.fit(samples.features.iloc[train], y, sample_weight=samples.weights[train])
            proba = class_probabilities(model, samples.features.iloc[test])
            losses.append(log_loss(samples.labels[test], proba))
            weights.append(test.size)
            trial.report(float(np.average(losses, weights=weights)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if not losses:
            raise ValueError("coarse search: no fold had two classes to learn from")
        return float(np.average(losses, weights=weights))

    run_resumable_study(study, objective, params.n_trials, studies.show_progress_bar)
    complete = sorted(study.get_trials(deepcopy=False,
                                       states=(optuna.trial.TrialState.COMPLETE,)),
                      key=lambda t: t.value)
    if not complete:
        raise ValueError(f"coarse search {study_name}: no trial completed")
    best = complete[: max(1, int(np.ceil(params.best_share * len(complete))))]
    ranges = {name: narrowed_range(np.array([t.params[name] for t in best], dtype=float), spec,
                                   params.min_width_share)
              for name, spec in params.ranges.items()}
    return {
        "ranges": ranges,
        "original_ranges": {name: vars(spec) for name, spec in params.ranges.items()},
        "best_params": dict(complete[0].params),
        "best_log_loss": float(complete[0].value),
        "trials_bounding_ranges": len(best),
        "study_name": study_name,
        "trials_run": len(study.get_trials(deepcopy=False)),
        "trials_complete": len(complete),
        "objective": "purged-CV log-loss of the baseline LightGBM on the pruned features, "
                     "training period",
    }
