"""Training one specialist ensemble per regime on that regime's bars of the training period.

A regime with fewer than ``min_training_samples`` usable samples uses the global ensemble
(trained on every training bar) instead; the choice is recorded in its report.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ares_kedro.analyst.baseline import (
    TrainingSamples,
    log_loss,
    out_of_fold_probabilities,
    training_samples,
)
from ares_kedro.analyst.ensembles import COMBINERS, RegimeEnsemble
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.models import MODEL_KINDS, Regularisation
from ares_kedro.analyst.tuning import TuningParams, search_space, tune_model, tuning_study_name
from ares_kedro.params import checked_keys
from ares_kedro.regimes import REGIMES
from ares_kedro.studies import StudySettings

GLOBAL = "GLOBAL"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleParams:
    """``analyst.ensembles`` in conf, with one regime's overrides applied."""

    min_training_samples: int
    cv_folds: int
    combiner: str
    seed: int
    base_models: dict[str, dict[str, Any]]  # kind -> {enabled, params}
    meta_model: dict[str, Any]
    per_regime: dict[str, dict[str, Any]]  # regime -> {features?, base_models?}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EnsembleParams:
        spec = cls(**checked_keys(cls, params, "analyst.ensembles"))
        unknown = sorted(set(spec.base_models) - set(MODEL_KINDS))
        if unknown:
            raise ValueError(f"analyst.ensembles.base_models: unknown kinds {unknown}; "
                             f"choose from {MODEL_KINDS}")
        for kind, block in spec.base_models.items():
            checked_keys(_ModelBlock, block, f"analyst.ensembles.base_models.{kind}")
        if not any(block["enabled"] for block in spec.base_models.values()):
            raise ValueError("analyst.ensembles.base_models: enable at least one model")
        if spec.combiner not in COMBINERS or spec.cv_folds < 2 or spec.min_training_samples < 1:
            raise ValueError(f"analyst.ensembles: combiner in {COMBINERS}, cv_folds >= 2 and "
                             "min_training_samples >= 1 are required")
        bad = sorted(set(spec.per_regime or {}) - set(REGIMES))
        if bad:
            raise ValueError(f"analyst.ensembles.per_regime: unknown regimes {bad}")
        return spec

    def enabled_models(self, regime: str) -> dict[str, dict[str, Any]]:
        """{kind: params} of the enabled base models, with ``regime``'s overrides."""
        blocks = copy.deepcopy(self.base_models)
        for kind, override in ((self.per_regime or {}).get(regime, {}) or {}).get(
                "base_models", {}).items():
            blocks[kind] = {**blocks.get(kind, {"enabled": True, "params": {}}), **override,
                            "params": {**blocks.get(kind, {}).get("params", {}),
                                       **override.get("params", {})}}
        return {kind: dict(block["params"]) for kind, block in blocks.items()
                if block["enabled"]}

    def features(self, regime: str, pruned: list[str]) -> list[str]:
        """The regime's feature subset: its own list in conf, else the pruned features."""
        chosen = ((self.per_regime or {}).get(regime, {}) or {}).get("features")
        return list(chosen) if chosen else list(pruned)


@dataclass(frozen=True)
class _ModelBlock:
    enabled: bool
    params: dict[str, Any]


def regime_mask(regime_labels: pd.DataFrame, period: np.ndarray, regime: str) -> np.ndarray:
    """Bars of ``period`` in ``regime`` (every regime for GLOBAL) past the regime warm-up."""
    mask = np.asarray(period, dtype=bool) & ~regime_labels["is_warmup"].to_numpy(dtype=bool)
    if regime != GLOBAL:
        mask &= regime_labels["regime"].astype(str).to_numpy() == regime
    return mask


def regime_samples(features: pd.DataFrame, labels: pd.DataFrame, regime_labels: pd.DataFrame,
                   period: np.ndarray, regime: str) -> TrainingSamples:
    """Labelled, warmed-up bars of ``period`` in ``regime`` (all regimes for GLOBAL)."""
    mask = regime_mask(regime_labels, period, regime)
    if not mask.any():
        raise ValueError(f"no {regime} bar in this period")
    return training_samples(features, labels, mask)


def classification_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and log-loss of (n, 3) LABELS-order probabilities."""
    predicted = np.array(LABELS)[np.argmax(proba, axis=1)]
    return {"samples": int(len(labels)),
            "accuracy": float((predicted == labels).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
            "log_loss": log_loss(labels, proba)}


def feature_importances(ensemble: RegimeEnsemble) -> pd.DataFrame:
    """Normalised importance of each feature per base model (columns), rows = features."""
    table = {}
    for kind, model in ensemble.members_.items():
        values = np.asarray(model.feature_importances_, dtype=float)
        table[kind] = values / values.sum() if values.sum() > 0 else values
    return pd.DataFrame(table, index=ensemble.feature_names_in_)


def fit_regime_ensemble(samples: TrainingSamples, models: dict[str, dict[str, Any]],
                        params: EnsembleParams, regularisation: Regularisation,
                        embargo_bars: int) -> tuple[RegimeEnsemble, dict[str, Any]]:
    """Fit the ensemble on ``samples`` and report its out-of-fold quality."""
    ensemble = RegimeEnsemble(models, params.meta_model, regularisation, params.combiner,
                              params.cv_folds, embargo_bars, params.seed)
    ensemble.fit(samples.features, samples.labels, samples.weights, samples.label_end)
    tested = ensemble.oof_tested_
    report = {
        "training_samples": len(samples.labels),
        "label_shares": {name: float((samples.labels == name).mean()) for name in LABELS},
        "combiner": ensemble.combiner_,
        "combiner_oof_log_loss": ensemble.combiner_log_loss_,
        "member_oof_log_loss": ensemble.member_log_loss_,
        "voting_weights": ensemble.voting_weights_,
        "applied_regularisation": ensemble.applied_regularisation_,
        "out_of_fold": classification_metrics(samples.labels[tested],
                                              ensemble.oof_proba_[tested]),
        "features": list(samples.features.columns),
        "feature_importances": {
            name: {kind: float(v) for kind, v in row.items()}
            for name, row in feature_importances(ensemble).iterrows()},
    }
    return ensemble, report


@dataclass(frozen=True)
class EnhancementParams:
    """``analyst.enhancement``: the second pass adding pruned features back per regime."""

    enabled: bool
    max_candidates: int  # pruned features tried, best-ranked first
    min_improvement: float  # purged-CV log-loss must drop by more than this to add one

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EnhancementParams:
        spec = cls(**checked_keys(cls, params, "analyst.enhancement"))
        if spec.max_candidates < 0 or spec.min_improvement < 0:
            raise ValueError("analyst.enhancement: max_candidates and min_improvement >= 0")
        return spec


def enhancement_candidates(pruned_features: dict[str, Any]) -> list[str]:
    """Features pruning dropped for rank alone (not constant, missing or duplicate), best
    held-out importance first."""
    ranked_out = [name for name, reason in pruned_features["dropped"].items()
                  if reason.startswith("ranked below")]
    importance = pruned_features.get("importance", {})
    return sorted(ranked_out, key=lambda n: -importance.get(n, {}).get("score", 0.0))


def enhance_features(samples: TrainingSamples, all_features: pd.DataFrame,
                     candidates: list[str], model_params: dict[str, Any], cv_folds: int,
                     embargo_bars: int, seed: int, params: EnhancementParams
                     ) -> tuple[list[str], dict[str, Any]]:
    """Greedy forward pass: try each candidate on top of the current features and keep it
    when the baseline's purged-CV log-loss improves by more than ``min_improvement``.

    ``all_features`` holds every feature for the same rows as ``samples``. Returns the
    added features and the record (score before, each trial's score, score after).
    """
    def score(columns: list[str]) -> float:
        trial = TrainingSamples(all_features[columns], samples.labels, samples.weights,
                                samples.bar_rows, samples.label_end)
        proba = out_of_fold_probabilities(trial, model_params, cv_folds, embargo_bars, seed)
        tested = np.isfinite(proba).all(axis=1)
        return log_loss(samples.labels[tested], proba[tested])

    current = list(samples.features.columns)
    record: dict[str, Any] = {"log_loss_before": score(current), "tried": {}}
    best = record["log_loss_before"]
    added = []
    for name in [c for c in candidates if c in all_features][: params.max_candidates]:
        value = score([*current, name])
        record["tried"][name] = value
        if best - value > params.min_improvement:
            current.append(name)
            added.append(name)
            best = value
    record["log_loss_after"] = best
    record["added"] = added
    return added, record


@dataclass(frozen=True)
class SpecialistSettings:
    """Every setting that trains one regime's ensemble, parsed once per node."""

    ensembles: EnsembleParams
    regularisation: Regularisation
    tuning: TuningParams
    studies: StudySettings
    embargo_bars: int

    @classmethod
    def from_params(cls, ensembles: dict[str, Any], regularisation: dict[str, Any],
                    tuning: dict[str, Any], optuna: dict[str, Any], embargo_bars: int
                    ) -> SpecialistSettings:
        return cls(EnsembleParams.from_params(ensembles),
                   Regularisation.from_params(regularisation), TuningParams.from_params(tuning),
                   StudySettings.from_params(optuna), int(embargo_bars))


def enough_samples(regime: str, analyst_labels: pd.DataFrame, regime_labels: pd.DataFrame,
                   period: np.ndarray, params: EnsembleParams) -> tuple[bool, int]:
    """Whether ``regime`` has ``min_training_samples`` labelled bars in ``period`` (GLOBAL
    always trains), and how many it has."""
    count = int((regime_mask(regime_labels, period, regime)
                 & analyst_labels["is_labelled"].to_numpy(dtype=bool)).sum())
    return regime == GLOBAL or count >= params.min_training_samples, count


def global_stand_in(regime: str, count: int, params: EnsembleParams) -> dict[str, Any]:
    """The report of a regime the GLOBAL ensemble stands in for."""
    logger.warning("Regime %s has %d training samples (< %d): the global ensemble stands in",
                   regime, count, params.min_training_samples)
    return {"regime": regime, "model": "global_fallback", "training_samples": count,
            "min_training_samples": params.min_training_samples}


def train_specialist(regime: str, samples: TrainingSamples, hpo_ranges: dict[str, Any],
                     settings: SpecialistSettings, trades: pd.DataFrame | None = None,
                     bars_per_year: float | None = None) -> tuple[RegimeEnsemble, dict[str, Any]]:
    """Tune every enabled base model of ``regime`` on ``samples`` (one resumable Optuna
    study each; ``trades`` and ``bars_per_year`` when the objective is the net Sharpe),
    then fit the ensemble with the best parameters. Returns it and its report."""
    params, tuning = settings.ensembles, settings.tuning
    models, tuned = {}, {}
    for kind, fixed in params.enabled_models(regime).items():
        space = search_space(kind, hpo_ranges, tuning)
        name = tuning_study_name(f"tune-{regime}", kind, samples, fixed, space,
                                 settings.regularisation, tuning, settings.embargo_bars, trades,
                                 bars_per_year)
        tuned[kind] = tune_model(kind, samples, fixed, space, settings.regularisation, tuning,
                                 settings.embargo_bars, settings.studies, name, trades,
                                 bars_per_year)
        models[kind] = tuned[kind]["best_params"]
    ensemble, report = fit_regime_ensemble(samples, models, params, settings.regularisation,
                                           settings.embargo_bars)
    logger.info("Ensemble %s: %d samples, combiner %s, out-of-fold balanced accuracy %.3f",
                regime, report["training_samples"], report["combiner"],
                report["out_of_fold"]["balanced_accuracy"])
    return ensemble, {"regime": regime, "model": "specialist", **report, "tuning": tuned,
                      "trials_run": sum(t["trials_run"] for t in tuned.values())}


def regime_enhancement(regime: str, features: pd.DataFrame, labels: pd.DataFrame,
                       regime_labels: pd.DataFrame, period: np.ndarray,
                       pruned_features: dict[str, Any], params: EnsembleParams,
                       enhancement: EnhancementParams, baseline_model: dict[str, Any],
                       embargo_bars: int) -> dict[str, Any]:
    """The seeds' step 6 for one ensemble: the pruned features added back for ``regime``
    (``added``) with the evidence; nothing for a regime the GLOBAL ensemble stands in for."""
    if not enhancement.enabled:
        return {"enabled": False, "added": []}
    trains, count = enough_samples(regime, labels, regime_labels, period, params)
    if not trains:
        return {"enabled": True, "added": [], "skipped": f"{count} training samples: the "
                                                         "GLOBAL ensemble stands in"}
    columns = params.features(regime, pruned_features["features"])
    samples = regime_samples(features[columns], labels, regime_labels, period, regime)
    every = regime_samples(features, labels, regime_labels, period, regime)
    added, record = enhance_features(samples, every.features,
                                     enhancement_candidates(pruned_features), baseline_model,
                                     params.cv_folds, embargo_bars, params.seed, enhancement)
    if added:
        logger.info("Ensemble %s: enhancement adds %s", regime, added)
    return {"enabled": True, **record}
