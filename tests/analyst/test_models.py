"""Every model kind follows the scikit-learn API and gets the one regularisation block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ares_kedro.analyst.models import MODEL_KINDS, Regularisation, make_model

REG = Regularisation(l1=0.1, l2=2.0, dropout=0.0)
PARAMS = {"lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1},
          "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1},
          "random_forest": {"n_estimators": 20, "min_samples_leaf": 5, "n_jobs": 1}}


def data(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    X.iloc[::17, 1] = np.nan  # trees must cope with missing values
    y = np.where(X["a"] > 0.5, "LONG", np.where(X["a"] < -0.5, "SHORT", "HOLD"))
    return X, y


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_each_kind_learns_clones_and_reports_probabilities_per_class(kind):
    X, y = data()
    model, _ = make_model(kind, PARAMS[kind], REG, seed=1)
    fitted = clone(model).fit(X, y, sample_weight=np.ones(len(y)))
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(y), 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(fitted.classes_) == {"LONG", "SHORT", "HOLD"}
    assert (fitted.classes_[proba.argmax(axis=1)] == y).mean() > 0.9


def test_xgboost_copes_with_a_fold_missing_a_class():
    X, y = data()
    keep = y != "SHORT"
    model, _ = make_model("xgboost", PARAMS["xgboost"], REG, seed=1)
    fitted = model.fit(X[keep], y[keep])
    assert list(fitted.classes_) == ["HOLD", "LONG"]
    assert fitted.predict_proba(X).shape == (len(X), 2)


def test_regularisation_reaches_each_boosting_kind_and_is_reported():
    lgbm, applied = make_model("lightgbm", PARAMS["lightgbm"], REG, seed=1)
    assert lgbm.get_params()["reg_alpha"] == 0.1 and lgbm.get_params()["reg_lambda"] == 2.0
    assert applied["reg_lambda (l2)"] == 2.0
    xgbm, _ = make_model("xgboost", PARAMS["xgboost"], Regularisation(0.3, 4.0, 0.1), seed=1)
    assert xgbm.params["reg_alpha"] == 0.3 and xgbm.params["booster"] == "dart"
    assert xgbm.params["rate_drop"] == 0.1
    _, forest = make_model("random_forest", PARAMS["random_forest"], REG, seed=1)
    assert all(value.startswith("not applicable") for value in forest.values())


def test_a_missing_regularisation_key_or_an_unknown_model_parameter_is_an_error():
    with pytest.raises(ValueError, match="missing keys"):
        Regularisation.from_params({"l1": 0.1, "l2": 1.0})
    with pytest.raises(ValueError, match="unknown parameters"):
        make_model("lightgbm", {"n_estimators": 5, "num_leafs": 7}, REG, seed=1)
    with pytest.raises(ValueError, match="unknown model kind"):
        make_model("svm", {}, REG, seed=1)
