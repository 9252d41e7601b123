"""The tactician's binary specialists: one LightGBM per label and regime, calibrated.

Each specialist answers one yes/no question about a signal (will it win? will a limit
order do better? should the open position be closed now?). It is trained in purged,
embargoed K-fold CV (:class:`~ares_kedro.analyst.splits.PurgedKFold`) over the signals of
the training period, which gives every signal an out-of-fold probability; Platt scaling
fitted on those out-of-fold probabilities calibrates the final model (fitted on every
signal). The out-of-fold probabilities handed on are *cross-fitted*: the rows of fold k
are calibrated by a calibrator fitted on the other folds' rows, so no row is calibrated
with its own label. When the cross-fitted calibration does not lower the out-of-fold
Brier score it is not applied (``calibration_applied`` in the report): LightGBM's
log-loss fit is often calibrated enough already.

A regime with fewer than ``min_training_signals`` signals is served by the global
specialist (all regimes, with the regime one-hot as features), as the analyst does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from ares_kedro.analyst.calibration import platt_probability, platt_scaling
from ares_kedro.analyst.ensembles import feature_matrix
from ares_kedro.analyst.splits import PurgedKFold
from ares_kedro.compiled_trees import compiled
from ares_kedro.params import checked_keys


@dataclass(frozen=True)
class TacticianModelParams:
    """``tactician.models`` in conf."""

    min_training_signals: int  # fewer signals in a regime: the global specialist serves it
    cv_folds: int  # purged, embargoed folds over the training signals
    seed: int
    top_features: int  # the first top_features of the analyst's pruned ranking (0 = none)
    lightgbm: dict[str, Any] = field(hash=False)  # LGBMClassifier parameters

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TacticianModelParams:
        spec = cls(**checked_keys(cls, params, "tactician.models"))
        if (int(spec.cv_folds) < 2 or int(spec.min_training_signals) < 1
                or int(spec.top_features) < 0):
            raise ValueError("tactician.models: cv_folds >= 2, min_training_signals >= 1, "
                             "top_features >= 0")
        unknown = sorted(set(spec.lightgbm) - set(lgb.LGBMClassifier().get_params()))
        if unknown:
            raise ValueError(f"tactician.models.lightgbm: unknown LightGBM parameters {unknown}")
        return spec


def sample_label_end(sample_rows: np.ndarray, end_rows: np.ndarray) -> np.ndarray:
    """Each sample's label end as a sample position (the last sample at or before the bar
    its label depends on), for :class:`PurgedKFold` over sparse, sorted samples."""
    position = np.searchsorted(sample_rows, end_rows, side="right") - 1
    return np.maximum(position, np.arange(sample_rows.size))


class BinarySpecialist:
    """A fitted LightGBM and its Platt calibrator; ``probability`` gives the calibrated
    probability of the positive class. With one class in training it says that class's
    frequency (no model)."""

    def __init__(self, columns: list[str], model: lgb.LGBMClassifier | None,
                 calibrator: LogisticRegression | None, base_rate: float):
        self.columns = columns
        self.model = model
        self.calibrator = calibrator
        self.base_rate = base_rate

    def raw_probability(self, features: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            return np.full(len(features), self.base_rate)
        return self.raw_row_probability(feature_matrix(features, self.columns))

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """(n,) calibrated probability of the positive class."""
        return self._calibrated(self.raw_probability(features))

    def raw_row_probability(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`raw_probability` of (n, k) float rows whose columns are ``columns`` (not
        read without a model)."""
        if self.model is None:
            return np.full(len(rows), self.base_rate)
        return compiled(self.model).predict_proba(rows)[:, 1]

    def row_probability(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`probability` of (n, k) float rows whose columns are ``columns``."""
        return self._calibrated(self.raw_row_probability(rows))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator is None or len(raw) == 0:
            return raw
        return platt_probability(self.calibrator, raw)


def _classifier(params: TacticianModelParams) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**{"verbose": -1, **params.lightgbm,
                                 "random_state": int(params.seed)})


def _fit(features: pd.DataFrame, y: np.ndarray, weights: np.ndarray,
         params: TacticianModelParams) -> lgb.LGBMClassifier | None:
    if np.unique(y).size < 2:
        return None
    return _classifier(params).fit(features, y, sample_weight=weights)


def _calibrator(raw: np.ndarray, y: np.ndarray) -> LogisticRegression | None:
    if raw.size == 0 or np.unique(y).size < 2:
        return None
    return platt_scaling(raw, y.astype(bool), np.ones(raw.size))


def fit_specialist(features: pd.DataFrame, y: np.ndarray, label_end: np.ndarray,
                   params: TacticianModelParams, embargo: int
                   ) -> tuple[BinarySpecialist, np.ndarray, dict[str, Any]]:
    """Fit one specialist on sorted samples.

    Args:
        features: (n, k) model features, rows sorted by time.
        y: (n,) 0/1 labels.
        label_end: (n,) each label's end as a sample position (:func:`sample_label_end`).
        embargo: samples dropped after each test fold's label windows.

    Returns:
        (specialist, out_of_fold calibrated probabilities (n,), NaN where no fold tested,
        report: samples, positive rate, out-of-fold AUC and Brier score raw and calibrated).
    """
    y = np.asarray(y, dtype=int)
    weights = np.ones(y.size)
    raw = np.full(y.size, np.nan)
    folds = list(PurgedKFold(int(params.cv_folds), label_end, embargo).split(features))
    for train, test in folds:
        if train.size == 0:
            continue
        model = _fit(features.iloc[train], y[train], weights[train], params)
        raw[test] = (model.predict_proba(features.iloc[test])[:, 1] if model is not None
                     else y[train].mean())
    tested = ~np.isnan(raw)
    calibrated = np.full(y.size, np.nan)
    for _, test in folds:  # cross-fitted: fold k calibrated on the other folds' rows
        other = tested.copy()
        other[test] = False
        rows = test[tested[test]]
        calibrator = _calibrator(raw[other], y[other])
        calibrated[rows] = (raw[rows] if calibrator is None
                            else platt_probability(calibrator, raw[rows]))
    report = _report(y[tested], raw[tested], calibrated[tested])
    # like the analyst's: calibration that worsens the out-of-fold Brier score is not applied
    applied = (report["out_of_fold_brier_calibrated"] is not None
               and report["out_of_fold_brier_calibrated"] <= report["out_of_fold_brier_raw"])
    report["calibration_applied"] = bool(applied)
    final = BinarySpecialist(list(features.columns), _fit(features, y, weights, params),
                             _calibrator(raw[tested], y[tested]) if applied else None,
                             float(y.mean()))
    return final, calibrated if applied else raw, report


def _report(y: np.ndarray, raw: np.ndarray, calibrated: np.ndarray) -> dict[str, Any]:
    both = np.unique(y).size == 2
    return {
        "samples": int(y.size), "positive_rate": float(y.mean()) if y.size else None,
        "out_of_fold_auc": float(roc_auc_score(y, raw)) if both else None,
        "out_of_fold_brier_raw": float(np.mean((raw - y) ** 2)) if y.size else None,
        "out_of_fold_brier_calibrated": float(np.mean((calibrated - y) ** 2)) if y.size else None,
    }
