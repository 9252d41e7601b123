"""A regime ensemble learns only from out-of-fold predictions, beats the class prior out
of sample when there is something to learn, and finds nothing in shuffled labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from ares_kedro.analyst.baseline import log_loss
from ares_kedro.analyst.ensembles import RegimeEnsemble
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.models import Regularisation

BASE = {"lightgbm": {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1},
        "xgboost": {"n_estimators": 40, "max_depth": 3, "n_jobs": 1},
        "random_forest": {"n_estimators": 40, "min_samples_leaf": 10, "n_jobs": 1}}
META = {"n_estimators": 30, "num_leaves": 4, "min_child_samples": 20, "n_jobs": 1}
REG = Regularisation(l1=0.0, l2=1.0, dropout=0.0)


def noisy_problem(n: int = 2400, seed: int = 0):
    """Labels that depend on one feature through noise (a learnable, imperfect signal)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"f{k}" for k in range(5)])
    score = X["f0"] + rng.normal(0, 1.0, n)
    y = np.where(score > 0.6, "LONG", np.where(score < -0.6, "SHORT", "HOLD"))
    return X, y


def ensemble(**kwargs) -> RegimeEnsemble:
    return RegimeEnsemble(BASE, META, REG, cv_folds=4, embargo_bars=5, seed=3, **kwargs)


def test_shuffled_labels_give_chance_level_out_of_fold_balanced_accuracy():
    X, y = noisy_problem()
    shuffled = np.random.default_rng(1).permutation(y)
    model = ensemble().fit(X, shuffled)
    predicted = np.array(LABELS)[np.argmax(model.oof_proba_, axis=1)]
    tested = model.oof_tested_
    assert abs(balanced_accuracy_score(shuffled[tested], predicted[tested]) - 1 / 3) < 0.05


def test_the_ensemble_beats_the_class_prior_on_later_unseen_samples():
    X, y = noisy_problem(3000)
    model = ensemble().fit(X.iloc[:2000], y[:2000])
    later_X, later_y = X.iloc[2000:], y[2000:]
    prior = np.array([(y[:2000] == name).mean() for name in LABELS])
    assert log_loss(later_y, model.predict_proba(later_X)) < log_loss(
        later_y, np.tile(prior, (len(later_y), 1))) - 0.05
    assert balanced_accuracy_score(later_y, model.predict(later_X)) > 0.5


def test_the_stacker_is_trained_on_out_of_fold_member_predictions_only():
    X, y = noisy_problem()
    model = ensemble(combiner="stacking").fit(X, y)
    tested = model.oof_tested_
    oof_inputs = np.hstack([model.oof_member_proba_[k] for k in BASE])[tested]
    in_sample = np.hstack(list(model.member_probabilities(X).values()))[tested]
    assert not np.allclose(oof_inputs, in_sample, atol=0.02)  # the two really differ
    replay = model._meta().fit(pd.DataFrame(oof_inputs), y[tested])
    probe = pd.DataFrame(in_sample[:200])
    np.testing.assert_allclose(replay.predict_proba(probe), model.meta_.predict_proba(probe))


def test_the_combiner_is_chosen_by_out_of_fold_log_loss_and_recorded():
    X, y = noisy_problem()
    model = ensemble().fit(X, y)
    scores = model.combiner_log_loss_
    assert set(scores) == {"voting", "stacking"}
    assert model.combiner_ == min(scores, key=scores.get)
    assert sum(model.voting_weights_.values()) == pytest.approx(1.0)
    assert set(model.applied_regularisation_) == {*BASE, "meta_learner (lightgbm)"}


def test_the_same_seed_gives_the_same_predictions():
    X, y = noisy_problem(1200)
    first = ensemble().fit(X, y).predict_proba(X.iloc[:100])
    second = ensemble().fit(X, y).predict_proba(X.iloc[:100])
    np.testing.assert_array_equal(first, second)


def test_one_base_model_votes_alone():
    X, y = noisy_problem(1200)
    model = RegimeEnsemble({"lightgbm": BASE["lightgbm"]}, META, REG, cv_folds=3).fit(X, y)
    assert model.combiner_ == "voting" and model.voting_weights_ == {"lightgbm": 1.0}
