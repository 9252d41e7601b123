"""A regime's specialist ensemble: base models combined by stacking or weighted voting.

Fitting (:meth:`RegimeEnsemble.fit`) never lets a combiner learn from in-sample
predictions:

1. every enabled base model (LightGBM, XGBoost, random forest; :mod:`.models`) is fitted in
   purged, embargoed K-fold CV and predicts only its held-out fold, giving out-of-fold
   (OOF) probabilities for every sample;
2. weighted voting: weights proportional to 1 / OOF log-loss of each base model;
3. stacking: a LightGBM meta-learner on the base models' OOF probabilities; its own OOF
   probabilities come from the same purged folds;
4. the combiner with the lower OOF log-loss is kept (``combiner="auto"``) and recorded;
5. the base models are refitted on all samples, and the meta-learner on all OOF rows.

At prediction time the refitted base models feed the chosen combiner, every tree model
scored by :mod:`.compiled_trees` (the same probabilities as its library, without the
per-call overhead: validation, test and live predictions all take that one path).
``oof_proba_`` keeps the chosen combiner's OOF probabilities (what later stages may learn
from).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ares_kedro.analyst.baseline import class_probabilities, log_loss
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.models import Regularisation, make_model
from ares_kedro.analyst.splits import PurgedKFold
from ares_kedro.compiled_trees import tree_probabilities

COMBINERS = ("auto", "stacking", "voting")
NUMERIC_KINDS = "biuf"  # NumPy dtype kinds a table converts to float directly


def feature_matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """(n, len(columns)) float64 values of ``table``'s ``columns``, in that order: what
    ``table[columns].to_numpy(dtype=float)`` gives, without building the sub-table (its
    column lookup and copy cost hundreds of microseconds on a live decision's one row).
    A missing column is a KeyError naming it."""
    if all(isinstance(dtype, np.dtype) and dtype.kind in NUMERIC_KINDS
           for dtype in table.dtypes.to_numpy()):
        numbers = table  # NumPy numbers only (analyst features): one float array
    else:  # mixed (opinions beside their labels): the number columns, then the others
        numbers = table.select_dtypes(include="number")
    position = {name: k for k, name in enumerate(numbers.columns.to_numpy())}
    take = [position.get(name, -1) for name in columns]
    values = numbers.to_numpy(dtype=float)
    out = values[:, take] if values.shape[1] else np.empty((len(table), len(take)))
    for k in np.flatnonzero(np.array(take, dtype=int) < 0):  # not a number column
        if columns[k] not in table.columns:
            raise KeyError(f"column {columns[k]!r} is not in the table")
        out[:, k] = table[columns[k]].to_numpy(dtype=float)
    return out


class RegimeEnsemble(BaseEstimator, ClassifierMixin):
    """Specialist ensemble for one regime (scikit-learn classifier API).

    Args:
        base_models: {kind: params} of the enabled base models (kinds of :mod:`.models`).
        meta_params: LightGBM parameters of the stacking meta-learner.
        regularisation: applied to every base model and to the meta-learner.
        combiner: "auto" (lower OOF log-loss), "stacking" or "voting".
        cv_folds, embargo_bars: the purged K-fold CV giving OOF predictions.
        seed: every model's random state (same seed, same predictions).
    """

    def __init__(self, base_models: dict[str, dict[str, Any]], meta_params: dict[str, Any],
                 regularisation: Regularisation, combiner: str = "auto", cv_folds: int = 4,
                 embargo_bars: int = 0, seed: int = 0):
        self.base_models = base_models
        self.meta_params = meta_params
        self.regularisation = regularisation
        self.combiner = combiner
        self.cv_folds = cv_folds
        self.embargo_bars = embargo_bars
        self.seed = seed

    def _base(self, kind: str) -> BaseEstimator:
        return make_model(kind, self.base_models[kind], self.regularisation, self.seed)[0]

    def _meta(self) -> BaseEstimator:
        return make_model("lightgbm", self.meta_params, self.regularisation, self.seed)[0]

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None,  # noqa: N803
            label_end: np.ndarray | None = None) -> RegimeEnsemble:
        """Fit on samples in time order; ``label_end`` (sample positions of each label's
        last bar) drives purging (default: each label ends on its own sample)."""
        if self.combiner not in COMBINERS:
            raise ValueError(f"combiner must be one of {COMBINERS}, got {self.combiner!r}")
        if not self.base_models:
            raise ValueError("an ensemble needs at least one enabled base model")
        y = np.asarray(y, dtype=str)
        n = len(y)
        weights = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
        ends = np.arange(n) if label_end is None else np.asarray(label_end)
        folds = list(PurgedKFold(self.cv_folds, ends, self.embargo_bars).split(X))
        self.applied_regularisation_ = {
            kind: make_model(kind, params, self.regularisation, self.seed)[1]
            for kind, params in self.base_models.items()}
        self.applied_regularisation_["meta_learner (lightgbm)"] = make_model(
            "lightgbm", self.meta_params, self.regularisation, self.seed)[1]

        members = {kind: self._out_of_fold(lambda k=kind: self._base(k), X, y, weights, folds)
                   for kind in self.base_models}
        tested = np.all([np.isfinite(p).all(axis=1) for p in members.values()], axis=0)
        if tested.sum() == 0:
            raise ValueError("no sample received out-of-fold predictions: too few samples or "
                             "a single class in every training fold")
        self.member_log_loss_ = {k: log_loss(y[tested], p[tested]) for k, p in members.items()}
        inverse = np.array([1.0 / max(v, 1e-12) for v in self.member_log_loss_.values()])
        self.voting_weights_ = dict(zip(members, inverse / inverse.sum(), strict=True))
        voting = self._vote(members)
        stacked_inputs = self._stack_inputs(members)
        stacking = np.full((n, len(LABELS)), np.nan)
        if len(members) > 1:
            rows = np.flatnonzero(tested)
            stacking[rows] = self._out_of_fold(
                self._meta, pd.DataFrame(stacked_inputs[rows]), y[rows], weights[rows],
                list(PurgedKFold(self.cv_folds, np.searchsorted(rows, ends[rows], "right") - 1,
                                 self.embargo_bars).split(rows)))
        scores = {"voting": log_loss(y[tested], voting[tested])}
        stacked_ok = tested & np.isfinite(stacking).all(axis=1)
        if stacked_ok.sum() == tested.sum() and len(members) > 1:
            scores["stacking"] = log_loss(y[tested], stacking[tested])
        self.combiner_log_loss_ = scores
        if self.combiner == "auto":
            self.combiner_ = min(scores, key=scores.get)
        elif self.combiner == "stacking" and "stacking" not in scores:
            raise ValueError("stacking needs at least two base models and OOF predictions "
                             "for every tested sample")
        else:
            self.combiner_ = self.combiner
        self.oof_proba_ = stacking if self.combiner_ == "stacking" else voting
        self.oof_member_proba_ = members
        self.oof_tested_ = tested

        self.members_ = {kind: self._base(kind).fit(X, y, sample_weight=weights)
                         for kind in self.base_models}
        if self.combiner_ == "stacking":
            self.meta_ = self._meta().fit(pd.DataFrame(stacked_inputs[tested]), y[tested],
                                          sample_weight=weights[tested])
        self.classes_ = np.array(LABELS)
        self.feature_names_in_ = np.array(list(X.columns))
        self.sample_index_ = X.index.copy()  # the bars behind oof_proba_ rows
        return self

    @staticmethod
    def _out_of_fold(build, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray,  # noqa: N803
                     folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        proba = np.full((len(y), len(LABELS)), np.nan)
        for train, test in folds:
            if train.size == 0 or np.unique(y[train]).size < 2:
                continue  # nothing to learn from: these rows stay untested
            model = clone(build()).fit(X.iloc[train], y[train], sample_weight=weights[train])
            proba[test] = class_probabilities(model, X.iloc[test])
        return proba

    def _vote(self, members: dict[str, np.ndarray]) -> np.ndarray:
        return sum(self.voting_weights_[k] * p for k, p in members.items())

    @staticmethod
    def _stack_inputs(members: dict[str, np.ndarray]) -> np.ndarray:
        return np.hstack([members[k] for k in members])

    def member_probabilities(self, X: pd.DataFrame) -> dict[str, np.ndarray]:  # noqa: N803
        """Each refitted base model's (n, 3) probabilities, LABELS order."""
        return self.member_row_probabilities(feature_matrix(X, self.feature_names_in_))

    def member_row_probabilities(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`member_probabilities` of (n, k) float rows whose columns are
        ``feature_names_in_`` (in that order)."""
        return {kind: tree_probabilities(model, rows, LABELS)
                for kind, model in self.members_.items()}

    def fitted_models(self) -> list[Any]:
        """The refitted base models and, when stacking, the meta-learner: every model a
        prediction asks."""
        return [*self.members_.values(), *([self.meta_] if self.combiner_ == "stacking" else [])]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """(n, 3) probabilities in LABELS order (= ``classes_``)."""
        return self.combine(self.member_probabilities(X))

    def combine(self, members: dict[str, np.ndarray]) -> np.ndarray:
        """The ensemble's (n, 3) probabilities from its members' (``member_probabilities``)."""
        if self.combiner_ == "stacking":
            return tree_probabilities(self.meta_, self._stack_inputs(members), LABELS)
        return self._vote(members)

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
