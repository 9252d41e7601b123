"""Feature pruning inside purged CV on the training period.

1. Drop features that are constant or missing on most training samples.
2. Fit the baseline in purged, embargoed K-fold CV; on each held-out fold measure LightGBM
   gain (normalised per fold) and permutation importance (increase of the fold's log-loss
   when one feature's column is shuffled). Average over folds.
3. Rank by the chosen importance; walking down the ranking, drop a feature whose rank
   correlation with a better-ranked kept feature exceeds the threshold (near-duplicate).
4. Keep the top-k, or the shortest head of the ranking that holds a share of the total
   importance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ares_kedro.analyst.baseline import (
    TrainingSamples,
    class_probabilities,
    log_loss,
    out_of_fold_probabilities,
)
from ares_kedro.params import checked_keys

logger = logging.getLogger(__name__)

IMPORTANCE_KINDS = ("gain", "permutation", "mean")
KEEP_RULES = ("top_k", "cumulative_share")


@dataclass(frozen=True)
class FeaturePruningParams:
    """``analyst.feature_pruning`` in conf."""

    max_missing_share: float  # NaN on more of the training samples than this: dropped
    correlation_threshold: float  # |Spearman| above this with a better feature: dropped
    importance: str  # gain | permutation | mean (of the two normalised shares)
    keep: str  # top_k | cumulative_share
    top_k: int
    cumulative_share: float  # 0..1
    permutation_repeats: int
    cv_folds: int
    seed: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FeaturePruningParams:
        spec = cls(**checked_keys(cls, params, "analyst.feature_pruning"))
        if spec.importance not in IMPORTANCE_KINDS or spec.keep not in KEEP_RULES:
            raise ValueError(f"analyst.feature_pruning: importance must be one of "
                             f"{IMPORTANCE_KINDS} and keep one of {KEEP_RULES}")
        if not (0 < spec.correlation_threshold <= 1 and 0 < spec.cumulative_share <= 1
                and 0 <= spec.max_missing_share < 1):
            raise ValueError("analyst.feature_pruning: correlation_threshold and "
                             "cumulative_share in (0, 1], max_missing_share in [0, 1)")
        if spec.top_k < 1 or spec.cv_folds < 2 or spec.permutation_repeats < 1:
            raise ValueError("analyst.feature_pruning: top_k >= 1, cv_folds >= 2 and "
                             "permutation_repeats >= 1 are required")
        return spec


def uninformative_features(features: pd.DataFrame, max_missing_share: float) -> dict[str, str]:
    """Features that are constant or mostly missing, with the reason."""
    reasons: dict[str, str] = {}
    missing_share = features.isna().mean()
    distinct = features.nunique(dropna=True)
    for name in features.columns:
        if missing_share[name] > max_missing_share:
            reasons[name] = f"missing on {missing_share[name]:.0%} of training samples"
        elif distinct[name] <= 1:
            reasons[name] = "constant on the training samples"
    return reasons


def permutation_importance(model: lgb.LGBMClassifier, features: pd.DataFrame,
                           labels: np.ndarray, repeats: int, rng: np.random.Generator
                           ) -> np.ndarray:
    """Mean increase of log-loss on (features, labels) when each column is shuffled."""
    base = log_loss(labels, class_probabilities(model, features))
    values = features.to_numpy(copy=True)
    out = np.zeros(values.shape[1])
    for column in range(values.shape[1]):
        original = values[:, column].copy()
        for _ in range(repeats):
            values[:, column] = rng.permutation(original)
            shuffled = pd.DataFrame(values, columns=features.columns, index=features.index)
            out[column] += log_loss(labels, class_probabilities(model, shuffled)) - base
        values[:, column] = original
    return out / repeats


def _shares(values: np.ndarray) -> np.ndarray:
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    return positive / total if total > 0 else np.zeros_like(positive)


def held_out_importance(samples: TrainingSamples, model_params: dict[str, Any],
                        params: FeaturePruningParams, embargo_bars: int) -> pd.DataFrame:
    """Per feature: gain share, permutation importance (log-loss increase) and its share,
    averaged over the purged folds, and the ``score`` used for ranking."""
    rng = np.random.default_rng(params.seed)
    gains, permutations = [], []

    def measure(model: lgb.LGBMClassifier, train: np.ndarray, test: np.ndarray) -> None:
        gains.append(_shares(model.booster_.feature_importance("gain")))
        permutations.append(permutation_importance(
            model, samples.features.iloc[test], samples.labels[test],
            params.permutation_repeats, rng))

    out_of_fold_probabilities(samples, model_params, params.cv_folds, embargo_bars,
                              params.seed, on_fold=measure)
    if not gains:
        raise ValueError("feature pruning: no fold had two classes to learn from; use more data")
    table = pd.DataFrame({"gain_share": np.mean(gains, axis=0),
                          "permutation_loss_increase": np.mean(permutations, axis=0)},
                         index=samples.features.columns)
    table["permutation_share"] = _shares(table["permutation_loss_increase"].to_numpy())
    table["score"] = {"gain": table["gain_share"],
                      "permutation": table["permutation_share"],
                      "mean": (table["gain_share"] + table["permutation_share"]) / 2
                      }[params.importance]
    return table.sort_values("score", ascending=False, kind="stable")


def rank_correlation(features: pd.DataFrame) -> pd.DataFrame:
    """|Spearman| correlation matrix (NaN ranks take the column's mean rank)."""
    ranks = features.rank()
    ranks = ranks.fillna(ranks.mean())
    matrix = np.corrcoef(ranks.to_numpy().T)
    return pd.DataFrame(np.abs(np.nan_to_num(matrix)), index=features.columns,
                        columns=features.columns)


def prune_features(samples: TrainingSamples, model_params: dict[str, Any],
                   params: FeaturePruningParams, embargo_bars: int) -> dict[str, Any]:
    """``pruned_features``: the kept features in rank order, every dropped one with its
    reason, and the held-out importances behind the choice."""
    dropped = uninformative_features(samples.features, params.max_missing_share)
    candidates = [c for c in samples.features.columns if c not in dropped]
    if not candidates:
        raise ValueError("feature pruning: every feature is constant or missing on the "
                         "training samples")
    informative = TrainingSamples(samples.features[candidates], samples.labels,
                                  samples.weights, samples.bar_rows, samples.label_end)
    importance = held_out_importance(informative, model_params, params, embargo_bars)
    correlation = rank_correlation(informative.features)
    ranked: list[str] = []
    for name in importance.index:
        twin = next((kept for kept in ranked
                     if correlation.loc[name, kept] > params.correlation_threshold), None)
        if twin is None:
            ranked.append(name)
        else:
            dropped[name] = (f"near-duplicate of {twin} (|Spearman| "
                             f"{correlation.loc[name, twin]:.3f})")
    if params.keep == "top_k":
        kept = ranked[: params.top_k]
    else:
        share = importance.loc[ranked, "score"].to_numpy()
        share = share / share.sum() if share.sum() > 0 else np.full(len(ranked), 1 / len(ranked))
        kept = ranked[: int(np.searchsorted(np.cumsum(share), params.cumulative_share) + 1)]
    for name in ranked[len(kept):]:
        dropped[name] = f"ranked below the kept {len(kept)} by held-out importance"
    logger.info("Feature pruning: kept %d of %d features (%d near-duplicates, %d uninformative)",
                len(kept), samples.features.shape[1],
                sum(r.startswith("near-duplicate") for r in dropped.values()),
                sum(r.startswith(("missing", "constant")) for r in dropped.values()))
    return {
        "features": kept,
        "dropped": dict(sorted(dropped.items())),
        "importance": {name: {k: float(v) for k, v in row.items()}
                       for name, row in importance.iterrows()},
        "importance_kind": params.importance,
        "training_samples": len(samples.labels),
        "cv_folds": params.cv_folds,
    }
