"""The training samples of a period and a quick LightGBM baseline scored out of fold.

Target optimisation and feature pruning both ask "how well does a plain model learn these
labels from these features, on bars it did not train on?". This module answers it once:
:func:`training_samples` picks the labelled, warmed-up bars of a period, and
:func:`out_of_fold_probabilities` fits the baseline in purged, embargoed K-fold CV
(:class:`~ares_kedro.analyst.splits.PurgedKFold`) and returns each bar's prediction from
the fold that did not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import warmup_bars
from ares_kedro.analyst.labels import LABELS, in_label_order
from ares_kedro.analyst.splits import PurgedKFold
from ares_kedro.market.timeframes import bar_interval


@dataclass(frozen=True)
class TrainingSamples:
    """Rows of one period usable for training: features, labels and purging windows.

    ``bar_rows`` are the samples' rows in the full bar table (sorted, contiguous);
    ``label_end`` is each label's last bar as a sample position (for PurgedKFold).
    """

    features: pd.DataFrame  # (n_samples, n_features), NaN allowed (LightGBM handles it)
    labels: np.ndarray  # (n_samples,) of "LONG" / "SHORT" / "HOLD"
    weights: np.ndarray  # (n_samples,) label uniqueness
    bar_rows: np.ndarray  # (n_samples,) int
    label_end: np.ndarray  # (n_samples,) int, sample positions


def training_samples(features: pd.DataFrame, labels: pd.DataFrame, period: np.ndarray
                     ) -> TrainingSamples:
    """Bars inside ``period`` (boolean mask over all bars), after every feature's warm-up,
    whose label is known. Raises ValueError when none are left."""
    n = len(features)
    usable = np.asarray(period, dtype=bool) & labels["is_labelled"].to_numpy(dtype=bool)
    usable[: min(n, warmup_bars(features.columns, bar_interval(features.index)))] = False
    bar_rows = np.flatnonzero(usable)
    if bar_rows.size == 0:
        raise ValueError("no labelled bar after the features' warm-up in this period: use more "
                         "data (ingestion.lookback_days) or shorter feature windows")
    return samples_at_rows(features.iloc[bar_rows], labels, bar_rows)


def samples_at_rows(features: pd.DataFrame, labels: pd.DataFrame, bar_rows: np.ndarray
                    ) -> TrainingSamples:
    """Samples of the bars at ``bar_rows`` (sorted rows of the bar table; ``features`` holds
    exactly those rows), with label windows turned into sample positions for purging."""
    end_rows = labels["label_end"].to_numpy()[bar_rows]
    label_end = np.searchsorted(bar_rows, end_rows, side="right") - 1
    return TrainingSamples(features, labels["label"].to_numpy(dtype=str)[bar_rows],
                           labels["uniqueness"].to_numpy(dtype=float)[bar_rows], bar_rows,
                           np.maximum(label_end, np.arange(bar_rows.size)))


def baseline_classifier(model_params: dict[str, Any], seed: int) -> lgb.LGBMClassifier:
    """LightGBM multiclass classifier from conf; an unknown parameter name is an error."""
    known = set(lgb.LGBMClassifier().get_params())
    unknown = sorted(set(model_params) - known)
    if unknown:
        raise ValueError(f"baseline_model: unknown LightGBM parameters {unknown}")
    return lgb.LGBMClassifier(**{"verbose": -1, **model_params, "random_state": seed})


def class_probabilities(model: lgb.LGBMClassifier, features: pd.DataFrame) -> np.ndarray:
    """(n, 3) probabilities in :data:`LABELS` order; a class the model never saw gets 0."""
    return in_label_order(model.classes_, model.predict_proba(features))


def log_loss(labels: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true class; ``proba`` columns in LABELS order
    (scikit-learn's ``log_loss`` assumes sorted class names, which LABELS are not)."""
    column = np.searchsorted(np.array(sorted(LABELS)), labels)
    to_labels_order = np.array([LABELS.index(name) for name in sorted(LABELS)])
    picked = proba[np.arange(len(labels)), to_labels_order[column]]
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


def purged_folds(samples: TrainingSamples, n_splits: int, embargo_bars: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The purged, embargoed K-fold splits of ``samples`` (train rows, test rows)."""
    splitter = PurgedKFold(n_splits, samples.label_end, embargo_bars)
    return list(splitter.split(samples.features))


def out_of_fold_probabilities(
        samples: TrainingSamples, model_params: dict[str, Any], n_splits: int,
        embargo_bars: int, seed: int,
        on_fold: Callable[[lgb.LGBMClassifier, np.ndarray, np.ndarray], None] | None = None
) -> np.ndarray:
    """(n_samples, 3) out-of-fold class probabilities (LABELS order) of the baseline.

    Each fold's model is fitted on the purged, embargoed training rows with uniqueness
    weights and predicts only its test rows; ``on_fold(model, train, test)`` lets callers
    measure more on the same fits (e.g. importances). Rows of a fold whose training part
    holds a single class get the training class frequencies.
    """
    proba = np.full((len(samples.labels), len(LABELS)), np.nan)
    for train, test in purged_folds(samples, n_splits, embargo_bars):
        y = samples.labels[train]
        if train.size == 0 or np.unique(y).size < 2:
            counts = np.array([(y == name).sum() for name in LABELS], dtype=float)
            proba[test] = counts / max(counts.sum(), 1.0) if counts.sum() else 1 / len(LABELS)
            continue
        model = baseline_classifier(model_params, seed)
        model.fit(samples.features.iloc[train], y, sample_weight=samples.weights[train])
        proba[test] = class_probabilities(model, samples.features.iloc[test])
        if on_fold is not None:
            on_fold(model, train, test)
    return proba
