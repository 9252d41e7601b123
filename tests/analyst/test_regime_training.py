"""Per-regime training: the enhancement pass adds back only pruned features that help."""

from __future__ import annotations

import numpy as np

from ares_kedro.analyst.baseline import TrainingSamples
from ares_kedro.analyst.regime_training import (
    EnhancementParams,
    enhance_features,
    enhancement_candidates,
)
from tests.analyst.test_ensembles import noisy_problem

MODEL = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def test_enhancement_adds_back_a_pruned_feature_only_when_it_improves_the_cv_score():
    X, y = noisy_problem(2000, seed=6)  # f0 carries the signal, f1..f4 are noise
    n = len(y)
    samples = TrainingSamples(X[["f1"]], y, np.ones(n), np.arange(n), np.arange(n))
    params = EnhancementParams(enabled=True, max_candidates=3, min_improvement=0.001)
    added, record = enhance_features(samples, X, ["f2", "f0", "f3"], MODEL, 3, 5, 0, params)
    assert added == ["f0"]
    assert record["log_loss_after"] < record["log_loss_before"] - 0.01
    assert set(record["tried"]) == {"f2", "f0", "f3"}


def test_only_features_pruned_for_rank_are_candidates_best_first():
    pruned = {"dropped": {"a": "constant on the training samples",
                          "b": "ranked below the kept 3 by held-out importance",
                          "c": "near-duplicate of x (|Spearman| 0.990)",
                          "d": "ranked below the kept 3 by held-out importance"},
              "importance": {"b": {"score": 0.01}, "d": {"score": 0.05}}}
    assert enhancement_candidates(pruned) == ["d", "b"]


def test_feature_importances_are_shares_per_base_model_and_find_the_signal():
    from ares_kedro.analyst.regime_training import feature_importances
    from tests.analyst.test_ensembles import ensemble

    X, y = noisy_problem(1500, seed=2)
    table = feature_importances(ensemble().fit(X, y))
    assert list(table.index) == list(X.columns)
    assert np.allclose(table.sum(axis=0), 1.0)
    assert (table.idxmax(axis=0) == "f0").all()  # every model finds the informative feature
