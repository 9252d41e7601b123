"""The base model kinds of the ensembles, built from conf with one regularisation block.

Every kind follows the scikit-learn classifier API (``fit(X, y, sample_weight)``,
``predict_proba``, ``classes_``, ``get_params``), so cloning, calibration and stacking
compose. Labels are the strings of :data:`~ares_kedro.analyst.labels.LABELS`.

Regularisation (``analyst.regularisation``: ``l1``, ``l2``, ``dropout``) is applied to every
kind where it has a meaning, and :func:`make_model` says what was applied:

| kind | l1 | l2 | dropout |
|---|---|---|---|
| lightgbm | ``reg_alpha`` | ``reg_lambda`` | DART boosting, ``drop_rate`` (when > 0) |
| xgboost | ``reg_alpha`` | ``reg_lambda`` | DART booster, ``rate_drop`` (when > 0) |
| random_forest | not applicable (no leaf weights to penalise) | not applicable | not applicable |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier

from ares_kedro.params import checked_keys

MODEL_KINDS = ("lightgbm", "xgboost", "random_forest")


@dataclass(frozen=True)
class Regularisation:
    """``analyst.regularisation``: penalties applied to every model kind that has them."""

    l1: float  # L1 penalty on leaf weights
    l2: float  # L2 penalty on leaf weights
    dropout: float  # share of trees dropped per boosting round (DART); 0 = plain boosting

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Regularisation:
        spec = cls(**checked_keys(cls, params, "analyst.regularisation"))
        if spec.l1 < 0 or spec.l2 < 0 or not 0 <= spec.dropout < 1:
            raise ValueError("analyst.regularisation: l1 and l2 must be >= 0 and dropout in "
                             f"[0, 1), got {spec}")
        return spec


class XGBoostClassifier(BaseEstimator, ClassifierMixin):
    """XGBoost's classifier for any label values (it wants 0..k-1 codes, and a training
    fold may lack a class); ``params`` go to ``xgboost.XGBClassifier``."""

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = params

    def fit(self, X, y, sample_weight=None):  # noqa: N803 (scikit-learn API)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError("XGBoostClassifier needs at least two classes to learn")
        self.model_ = xgb.XGBClassifier(**(self.params or {}))
        self.model_.fit(X, codes, sample_weight=sample_weight)
        return self

    def predict_proba(self, X):  # noqa: N803
        return self.model_.predict_proba(X)

    def predict(self, X):  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.model_.feature_importances_


def regularised_params(kind: str, params: dict[str, Any], regularisation: Regularisation
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` with the regularisation applied for ``kind``, and what was applied."""
    out = dict(params)
    if kind in ("lightgbm", "xgboost"):
        out["reg_alpha"], out["reg_lambda"] = regularisation.l1, regularisation.l2
        applied: dict[str, Any] = {"reg_alpha (l1)": regularisation.l1,
                                   "reg_lambda (l2)": regularisation.l2}
        if regularisation.dropout > 0:
            if kind == "lightgbm":
                out["boosting_type"], out["drop_rate"] = "dart", regularisation.dropout
                applied["dart drop_rate (dropout)"] = regularisation.dropout
            else:
                out["booster"], out["rate_drop"] = "dart", regularisation.dropout
                applied["dart rate_drop (dropout)"] = regularisation.dropout
        else:
            applied["dropout"] = "off (0)"
        return out, applied
    if kind == "random_forest":
        return out, {name: "not applicable: a random forest has no leaf weights to penalise "
                           "or boosting rounds to drop" for name in ("l1", "l2", "dropout")}
    raise ValueError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


def make_model(kind: str, params: dict[str, Any], regularisation: Regularisation,
               seed: int) -> tuple[BaseEstimator, dict[str, Any]]:
    """An unfitted classifier of ``kind`` from conf ``params`` (an unknown parameter name
    is an error) with ``regularisation`` applied, and the report of what was applied."""
    full, applied = regularised_params(kind, params, regularisation)
    if kind == "lightgbm":
        known, model = set(lgb.LGBMClassifier().get_params()), None
        check(kind, full, known | {"drop_rate"})
        model = lgb.LGBMClassifier(**{"verbose": -1, **full, "random_state": seed})
    elif kind == "xgboost":
        check(kind, full, set(xgb.XGBClassifier().get_params()) | {"rate_drop"})
        model = XGBoostClassifier({"verbosity": 0, **full, "random_state": seed})
    else:
        check(kind, full, set(RandomForestClassifier().get_params()))
        model = RandomForestClassifier(**{**full, "random_state": seed})
    return model, applied


def check(kind: str, params: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{kind}: unknown parameters {unknown}")
