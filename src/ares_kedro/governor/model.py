"""The global meta-learner: one scikit-learn Pipeline (encoder, scaler, then LightGBM or
a multinomial logistic regression, whichever predicts better out of fold).

Trained on the training and validation periods: on training bars every input is an
out-of-fold opinion of the ensembles and the tactician, on validation bars an opinion of
models fitted on the training period, so the governor never learns from an in-sample
prediction of its base models (the seeds' in-sample fit leaks). Its own quality is
measured out of fold in purged, embargoed K-fold CV over those bars, and each fold stops
boosting early on the last part of its own training rows (purged from them), never on the
fold it predicts. The final model is fitted on every row with the median of the folds'
best iteration counts.

Candidate learners (``governor.model.learners``) are fitted on the same purged folds;
the one with the lowest out-of-fold log-loss (label-uniqueness weighted) is the governor.
A linear stacker can copy its best input (a weight on one opinion) where small trees on a
few thousand rows blur it; the trees can find interactions (regime x opinion) a line
cannot. Choosing between two by a smooth proper score on rows neither was fitted on is a
small, recorded choice; the final study's deflated Sharpe counts its own trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ares_kedro.analyst.ensembles import feature_matrix
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.splits import PurgedKFold
from ares_kedro.compiled_trees import compiled
from ares_kedro.governor.inputs import categorical_columns, numeric_columns
from ares_kedro.params import checked_keys


@dataclass(frozen=True)
class GovernorModelParams:
    """``governor.model`` in conf."""

    cv_folds: int  # purged, embargoed folds over the validation bars
    early_stopping_rounds: int  # rounds without improvement of the stopping set's log-loss
    early_stopping_share: float  # last share of a fold's training rows used to stop
    seed: int
    lightgbm: dict[str, Any] = field(hash=False)  # n_estimators is the maximum
    learners: tuple[str, ...] = ("lightgbm",)  # candidates, chosen by out-of-fold log-loss
    logistic: dict[str, Any] = field(default_factory=dict, hash=False)  # LogisticRegression

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GovernorModelParams:
        spec = cls(**checked_keys(cls, params, "governor.model"))
        spec = replace(spec, learners=tuple(spec.learners))
        if not spec.learners or set(spec.learners) - set(LEARNERS):
            raise ValueError(f"governor.model.learners: {list(spec.learners)}; choose among "
                             f"{list(LEARNERS)}")
        if "logistic" in spec.learners:
            unknown = sorted(set(spec.logistic) - set(LogisticRegression().get_params()))
            if unknown or "C" not in spec.logistic:
                raise ValueError("governor.model.logistic: LogisticRegression parameters, "
                                 f"C (inverse L2 strength) required; unknown {unknown}")
        if (int(spec.cv_folds) < 2 or int(spec.early_stopping_rounds) < 1
                or not 0 < spec.early_stopping_share < 0.5):
            raise ValueError("governor.model: cv_folds >= 2, early_stopping_rounds >= 1, "
                             "early_stopping_share in (0, 0.5)")
        unknown = sorted(set(spec.lightgbm) - set(lgb.LGBMClassifier().get_params()))
        if unknown:
            raise ValueError(f"governor.model.lightgbm: unknown LightGBM parameters {unknown}")
        if "n_estimators" not in spec.lightgbm:
            raise ValueError("governor.model.lightgbm.n_estimators (the maximum) is required")
        return spec


LEARNERS = ("lightgbm", "logistic")


def governor_pipeline(params: GovernorModelParams, n_estimators: int | None = None,
                      learner: str = "lightgbm") -> Pipeline:
    """Encoder (fixed categories: a live row encodes exactly like training), scaler and
    the ``learner`` (LightGBM, or an L2 multinomial logistic regression) in one
    estimator."""
    categories = categorical_columns()
    prepare = ColumnTransformer([
        ("categories", OneHotEncoder(categories=list(categories.values()),
                                     handle_unknown="ignore", sparse_output=False),
         list(categories)),
        ("numbers", StandardScaler(), numeric_columns()),
    ])
    if learner == "logistic":
        return Pipeline([("prepare", prepare), ("model", LogisticRegression(
            **params.logistic, random_state=int(params.seed)))])
    model_params = {"verbose": -1, **params.lightgbm, "random_state": int(params.seed)}
    if n_estimators is not None:
        model_params["n_estimators"] = int(n_estimators)
    return Pipeline([("prepare", prepare), ("model", lgb.LGBMClassifier(**model_params))])


def is_tree_model(pipeline: Pipeline) -> bool:
    """Whether the governor's learner is LightGBM (compiled trees score it)."""
    return isinstance(pipeline.named_steps["model"], lgb.LGBMClassifier)


def prepared_rows(prepare: ColumnTransformer, rows: pd.DataFrame | Mapping[str, Any]
                  ) -> np.ndarray:
    """``prepare.transform(rows)`` (one-hot categories, then standardised numbers) computed
    from the fitted encoder and scaler with NumPy: the same numbers without scikit-learn's
    per-call checks, which cost milliseconds on the one row of a live decision. ``rows``
    is the governor inputs table or its columns as arrays
    (:func:`~ares_kedro.governor.inputs.governor_input_columns`). Any other layout goes
    through ``transform`` itself."""
    fitted = dict((name, (step, columns)) for name, step, columns in prepare.transformers_)
    encoder, categorical = fitted.get("categories", (None, None))
    scaler, numeric = fitted.get("numbers", (None, None))
    if (list(fitted) != ["categories", "numbers"] or not isinstance(encoder, OneHotEncoder)
            or not isinstance(scaler, StandardScaler) or encoder.handle_unknown != "ignore"
            or encoder.drop is not None or not (scaler.with_mean and scaler.with_std)):
        return prepare.transform(rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows))
    width = sum(len(known) for known in encoder.categories_)
    prepared = np.empty((len(rows[categorical[0]]), width + len(numeric)))
    position = 0
    for column, known in zip(categorical, encoder.categories_, strict=True):
        values = np.asarray(rows[column], dtype=object)
        for category in known:
            prepared[:, position] = values == category
            position += 1
    numbers = prepared[:, position:]
    if isinstance(rows, pd.DataFrame):
        numbers[:] = feature_matrix(rows, numeric)
    else:
        for k, column in enumerate(numeric):
            numbers[:, k] = np.asarray(rows[column], dtype=float)
    numbers -= scaler.mean_
    numbers /= scaler.scale_
    return prepared


def class_probabilities(pipeline: Pipeline, rows: pd.DataFrame | Mapping[str, Any]
                        ) -> np.ndarray:
    """(n, 3) probabilities in LABELS order (a class never seen in training gets 0) of the
    governor inputs ``rows`` (a table or its columns as arrays). The model is fitted on
    class codes (positions in LABELS)."""
    prepared = prepared_rows(pipeline.named_steps["prepare"], rows)
    model = pipeline.named_steps["model"]
    proba = (compiled(model).predict_proba(prepared) if is_tree_model(pipeline)  # faster
             else model.predict_proba(prepared))
    out = np.zeros((len(prepared), len(LABELS)))
    for column, code in enumerate(model.classes_):
        out[:, int(code)] = proba[:, column]
    return out


def label_codes(labels: np.ndarray) -> np.ndarray:
    """Positions of ``labels`` in LABELS (LightGBM's evaluation sets want numeric classes)."""
    labels = np.asarray(labels).astype(str)
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ValueError(f"governor: unknown labels {unknown}, expected {LABELS}")
    return pd.Categorical(labels, categories=list(LABELS)).codes.astype(int)


def _fit_early_stopped(rows: pd.DataFrame, labels: np.ndarray, weights: np.ndarray,
                       label_end: np.ndarray, params: GovernorModelParams
                       ) -> tuple[Pipeline, int]:
    """Fit on the first rows, stop on the last ``early_stopping_share`` (rows whose label
    reaches into the stopping set are purged); returns the model and its best iteration."""
    n = len(rows)
    first_stop = int(np.floor(n * (1 - params.early_stopping_share)))
    fit = np.flatnonzero(np.arange(n) < first_stop)
    fit = fit[label_end[fit] < first_stop]
    stop = np.arange(first_stop, n)
    pipeline = governor_pipeline(params)
    if fit.size == 0 or stop.size == 0 or np.unique(labels[fit]).size < 2:
        raise ValueError("governor: a fold has too few rows to fit and stop early; use more "
                         "validation bars or fewer governor.model.cv_folds")
    prepare = pipeline.named_steps["prepare"].fit(rows.iloc[fit])
    model = pipeline.named_steps["model"]
    model.fit(prepare.transform(rows.iloc[fit]), labels[fit], sample_weight=weights[fit],
              eval_X=(prepare.transform(rows.iloc[stop]),), eval_y=(labels[stop],),
              eval_sample_weight=[weights[stop]],
              callbacks=[lgb.early_stopping(int(params.early_stopping_rounds), verbose=False)])
    best = int(model.best_iteration_ or model.n_estimators)
    return pipeline, max(best, 1)


def _fit_logistic(rows: pd.DataFrame, labels: np.ndarray, weights: np.ndarray,
                  params: GovernorModelParams) -> Pipeline:
    if np.unique(labels).size < 2:
        raise ValueError("governor: a fold's training rows hold one class; use more "
                         "validation bars or fewer governor.model.cv_folds")
    return governor_pipeline(params, learner="logistic").fit(
        rows, labels, model__sample_weight=weights)


def _weighted_log_loss(codes: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean negative log-probability of the true class (``codes``: positions in
    LABELS, ``proba`` in LABELS order) over the rows that have a prediction."""
    tested = ~np.isnan(proba[:, 0])
    picked = proba[np.flatnonzero(tested), codes[tested]]
    return float(np.average(-np.log(np.clip(picked, 1e-15, 1.0)), weights=weights[tested]))


def fit_governor(rows: pd.DataFrame, labels: np.ndarray, weights: np.ndarray,
                 label_end: np.ndarray, params: GovernorModelParams, embargo: int
                 ) -> tuple[Pipeline, np.ndarray, dict[str, Any]]:
    """Fit the governor on sorted training and validation rows.

    Args:
        rows: governor inputs (:func:`~ares_kedro.governor.inputs.governor_inputs`).
        labels: (n,) true labels; weights: (n,) sample weights (label uniqueness).
        label_end: (n,) each label's end as a row position (for purging).
        embargo: rows dropped after each test fold's label windows.

    Returns:
        (final pipeline of the chosen learner, its out-of-fold (n, 3) probabilities (NaN
        where untested), report with every candidate's out-of-fold log-loss, the folds'
        best iterations and the final tree count).
    """
    labels = label_codes(labels)
    oof = {learner: np.full((len(rows), len(LABELS)), np.nan) for learner in params.learners}
    best_iterations = []
    for train, test in PurgedKFold(int(params.cv_folds), label_end, embargo).split(rows):
        if "lightgbm" in oof:
            positions = np.searchsorted(train, label_end[train], side="right") - 1
            model, best = _fit_early_stopped(rows.iloc[train], labels[train], weights[train],
                                             np.maximum(positions, np.arange(train.size)),
                                             params)
            oof["lightgbm"][test] = class_probabilities(model, rows.iloc[test])
            best_iterations.append(best)
        if "logistic" in oof:
            model = _fit_logistic(rows.iloc[train], labels[train], weights[train], params)
            oof["logistic"][test] = class_probabilities(model, rows.iloc[test])
    losses = {learner: _weighted_log_loss(labels, proba, weights)
              for learner, proba in oof.items()}
    chosen = min(params.learners, key=lambda learner: losses[learner])
    final_count = int(np.median(best_iterations)) if best_iterations else None
    final = (governor_pipeline(params, final_count).fit(rows, labels,
                                                        model__sample_weight=weights)
             if chosen == "lightgbm" else _fit_logistic(rows, labels, weights, params))
    return final, oof[chosen], {
        "learner": chosen, "out_of_fold_log_loss": losses,
        "fold_best_iterations": best_iterations, "n_estimators": final_count,
        "training_rows": int(len(rows)),
        "out_of_fold_rows": int((~np.isnan(oof[chosen][:, 0])).sum())}
