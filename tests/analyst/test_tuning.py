"""Tuning searches the right space, lets regularisation win, and resumes an interrupted study."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest

from ares_kedro.analyst import tuning
from ares_kedro.analyst.baseline import TrainingSamples
from ares_kedro.analyst.coarse_search import SearchRange
from ares_kedro.analyst.labels import BarrierParams, barrier_trades, triple_barrier_labels
from ares_kedro.analyst.models import Regularisation, make_model
from ares_kedro.analyst.tuning import (
    TuningParams,
    search_space,
    tune_model,
    tuning_study_name,
)
from ares_kedro.studies import StudySettings

REG = Regularisation(l1=0.1, l2=1.0, dropout=0.0)
FIXED = {"lightgbm": {"n_estimators": 20, "n_jobs": 1},
         "xgboost": {"n_estimators": 20, "n_jobs": 1},
         "random_forest": {"n_estimators": 20, "n_jobs": 1}}
TUNING = {
    "n_trials": 3, "objective": "log_loss", "cv_folds": 3, "n_jobs": 1, "seed": 7,
    "pruner": "median",
    "timeout_seconds": None,
    "search_spaces": {
        "xgboost": {"max_depth": {"low": 2, "high": 4, "type": "int", "log": False},
                    "learning_rate": {"low": 0.05, "high": 0.3, "type": "float", "log": True},
                    "reg_lambda": {"low": 0.01, "high": 10.0, "type": "float", "log": True}},
        "random_forest": {"max_depth": {"low": 2, "high": 6, "type": "int", "log": False},
                          "max_features": {"low": 0.3, "high": 1.0, "type": "float",
                                           "log": False}},
    },
}
HPO_RANGES = {"ranges": {  # the shape of the coarse search's output
    "num_leaves": {"low": 7, "high": 15, "type": "int", "log": True},
    "learning_rate": {"low": 0.05, "high": 0.2, "type": "float", "log": True},
    "min_child_samples": {"low": 10, "high": 60, "type": "int", "log": True},
    "reg_alpha": {"low": 0.001, "high": 1.0, "type": "float", "log": True},
    "reg_lambda": {"low": 0.001, "high": 1.0, "type": "float", "log": True},
}}
EMBARGO = 8


def tuning_params(**change) -> TuningParams:
    return TuningParams.from_params({**TUNING, **change})


@pytest.fixture(scope="module")
def market() -> tuple[TrainingSamples, pd.DataFrame]:
    """~1,500 labelled hourly bars of a random walk: three noise features and one that
    carries the next 8 bars' return (with noise); and the bars' barrier trades."""
    n = 1_520
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.002, n))
    bars = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + wick),
                         "low": np.minimum(open_, close) * (1 - wick), "close": close},
                        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    barriers = BarrierParams(take_profit=0.015, stop_loss=0.01, holding_bars=8,
                             round_trip_fee=0.001)
    labels = triple_barrier_labels(bars, barriers)
    trades, _ = barrier_trades(bars, barriers)
    future = np.log(bars["close"]).diff(8).shift(-8).fillna(0.0).to_numpy()
    features = pd.DataFrame(rng.normal(size=(n, 3)), columns=["noise_a", "noise_b", "noise_c"],
                            index=bars.index)
    features["informative"] = future + rng.normal(0, 0.01, n)
    rows = np.flatnonzero(labels["is_labelled"].to_numpy())
    label_end = np.searchsorted(rows, labels["label_end"].to_numpy()[rows], side="right") - 1
    samples = TrainingSamples(features.iloc[rows], labels["label"].to_numpy(dtype=str)[rows],
                              labels["uniqueness"].to_numpy()[rows], rows,
                              np.maximum(label_end, np.arange(rows.size)))
    return samples, trades


def tune(kind, samples, storage, name, params=None, space=None, **kwargs):
    params = params or tuning_params()
    space = space if space is not None else search_space(kind, HPO_RANGES, params)
    return tune_model(kind, samples, FIXED[kind], space, kwargs.pop("regularisation", REG),
                      params, EMBARGO, StudySettings(storage, False), name, **kwargs)


def storage_in(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def test_a_study_resumes_by_name_and_runs_only_the_missing_trials(market, tmp_path):
    samples, _ = market
    storage = storage_in(tmp_path)
    first = tune("lightgbm", samples, storage, "resume", tuning_params(n_trials=3))
    second = tune("lightgbm", samples, storage, "resume", tuning_params(n_trials=5))
    assert first["trials_added"] == 3 and first["trials_run"] == 3
    assert second["trials_added"] == 2 and second["trials_run"] == 5
    assert len(optuna.load_study(study_name="resume", storage=storage).trials) == 5
    again = tune("lightgbm", samples, storage, "resume", tuning_params(n_trials=5))
    assert again["trials_added"] == 0 and again["tuned_params"] == second["tuned_params"]


def test_an_interrupted_study_continues_its_trial_count(market, tmp_path, monkeypatch):
    """Kill the tuning (KeyboardInterrupt) during its third trial, run again: the two
    finished trials are kept, the interrupted one is run again, and every trial tried
    counts in trials_run."""
    samples, _ = market
    storage = storage_in(tmp_path)
    params = tuning_params(n_trials=4, pruner="none")
    run_resumable_study = tuning.run_resumable_study

    def interrupted_after_two_trials(study, objective, n_trials, show_progress_bar, *args):
        calls = []

        def objective_then_kill(trial):
            calls.append(trial.number)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return objective(trial)

        return run_resumable_study(study, objective_then_kill, n_trials, show_progress_bar,
                                   *args)

    monkeypatch.setattr(tuning, "run_resumable_study", interrupted_after_two_trials)
    with pytest.raises(KeyboardInterrupt):
        tune("lightgbm", samples, storage, "killed", params)
    states = [t.state for t in optuna.load_study(study_name="killed", storage=storage).trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2 and len(states) == 3

    monkeypatch.setattr(tuning, "run_resumable_study", run_resumable_study)
    result = tune("lightgbm", samples, storage, "killed", params)
    assert result["trials_added"] == 2 and result["trials_complete"] == 4
    assert result["trials_failed"] == 1 and result["trials_run"] == 5


def test_the_best_params_lie_inside_the_space_and_keep_the_fixed_ones(market, tmp_path):
    samples, _ = market
    params = tuning_params()
    result = tune("xgboost", samples, storage_in(tmp_path), "inside", params)
    space = search_space("xgboost", HPO_RANGES, params)
    for name, value in result["tuned_params"].items():
        assert space[name].low <= value <= space[name].high
    assert isinstance(result["tuned_params"]["max_depth"], int)
    assert result["best_params"] == {**FIXED["xgboost"], **result["tuned_params"]}
    assert result["objective"] == "log_loss" and result["direction"] == "minimize"
    assert 0 < result["best_value"] < math.log(3) + 0.5


def test_the_lightgbm_space_is_the_coarse_search_hpo_ranges():
    params = tuning_params()
    assert search_space("lightgbm", HPO_RANGES, params) == {
        name: SearchRange(**spec) for name, spec in HPO_RANGES["ranges"].items()}
    assert search_space("random_forest", HPO_RANGES, params) == params.search_spaces[
        "random_forest"]
    with pytest.raises(ValueError, match="ranges"):
        search_space("lightgbm", {"original_ranges": {}}, params)
    with pytest.raises(ValueError, match="unknown model kind"):
        search_space("svm", HPO_RANGES, params)


def test_regularisation_penalties_are_not_tuned(market, tmp_path):
    """hpo_ranges holds reg_alpha and reg_lambda, the conf block wins: they are dropped from
    the space, never suggested, and the model built from the best params gets the block's."""
    samples, _ = market
    storage = storage_in(tmp_path)
    result = tune("lightgbm", samples, storage, "penalties", tuning_params(n_trials=2))
    assert result["not_tuned_regularised"] == ["reg_alpha", "reg_lambda"]
    assert not {"reg_alpha", "reg_lambda"} & set(result["search_space"])
    for trial in optuna.load_study(study_name="penalties", storage=storage).trials:
        assert not {"reg_alpha", "reg_lambda"} & set(trial.params)
    model, _ = make_model("lightgbm", result["best_params"], REG, seed=0)
    assert model.get_params()["reg_alpha"] == REG.l1
    assert model.get_params()["reg_lambda"] == REG.l2

    xgb = tune("xgboost", samples, storage, "xgb-penalties", tuning_params(n_trials=1))
    assert xgb["not_tuned_regularised"] == ["reg_lambda"]
    dart = Regularisation(l1=0.1, l2=1.0, dropout=0.1)
    space = {"drop_rate": SearchRange(0.05, 0.5, "float", False),
             "lambda_l1": SearchRange(0.01, 1.0, "float", True),
             "num_leaves": SearchRange(4, 8, "int", False)}
    assert tuning.regularised_names("lightgbm", dart) & set(space) == {"drop_rate",
                                                                        "lambda_l1"}
    assert tuning.regularised_names("random_forest", dart) == set()


def test_the_same_seed_gives_the_same_best_params(market, tmp_path):
    samples, _ = market
    storage = storage_in(tmp_path)
    one = tune("lightgbm", samples, storage, "seed-one", tuning_params(n_trials=2))
    two = tune("lightgbm", samples, storage, "seed-two", tuning_params(n_trials=2))
    assert one["tuned_params"] == two["tuned_params"]
    assert one["best_value"] == two["best_value"]


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "random_forest"])
def test_each_model_kind_can_be_tuned(market, tmp_path, kind):
    samples, _ = market
    result = tune(kind, samples, storage_in(tmp_path), f"kind-{kind}", tuning_params(n_trials=2))
    assert result["kind"] == kind and result["trials_complete"] == 2
    assert math.isfinite(result["best_value"])


def test_parallel_trials_fill_the_count(market, tmp_path):
    samples, _ = market
    result = tune("random_forest", samples, storage_in(tmp_path), "parallel",
                  tuning_params(n_trials=4, n_jobs=2))
    assert result["trials_complete"] + result["trials_pruned"] == 4


def test_the_sharpe_objective_trades_the_out_of_fold_signals(market, tmp_path):
    samples, trades = market
    params = tuning_params(n_trials=2, objective="sharpe")
    result = tune("lightgbm", samples, storage_in(tmp_path), "sharpe", params,
                  trades=trades, bars_per_year=8760)
    assert result["direction"] == "maximize" and math.isfinite(result["best_value"])
    best = optuna.load_study(study_name="sharpe", storage=storage_in(tmp_path)).best_trial
    assert best.user_attrs["sharpe"] == result["best_value"]
    assert best.user_attrs["trades"] > 0 and math.isfinite(best.user_attrs["log_loss"])
    with pytest.raises(ValueError, match="barrier trades"):
        tune("lightgbm", samples, storage_in(tmp_path), "sharpe-no-trades", params)
    with pytest.raises(ValueError, match="cover"):
        tune("lightgbm", samples, storage_in(tmp_path), "sharpe-short", params,
             trades=trades.iloc[:100], bars_per_year=8760)


def test_a_study_is_not_resumed_with_the_other_direction(market, tmp_path):
    samples, trades = market
    storage = storage_in(tmp_path)
    optuna.create_study(study_name="was-log-loss", storage=storage, direction="minimize")
    with pytest.raises(ValueError, match="another study name"):
        tune("lightgbm", samples, storage, "was-log-loss", tuning_params(objective="sharpe"),
             trades=trades, bars_per_year=8760)


def test_the_study_name_follows_the_inputs_but_not_the_trial_count(market):
    samples, _ = market
    space = search_space("lightgbm", HPO_RANGES, tuning_params())

    def name(**change):
        return tuning_study_name("tuning-BULL_TREND", "lightgbm", samples, FIXED["lightgbm"],
                                 space, REG, tuning_params(**change), EMBARGO)

    assert name().startswith("tuning-BULL_TREND-lightgbm-")
    assert name() == name(n_trials=50, n_jobs=2)
    assert name() != name(seed=8) != name(cv_folds=4)


@pytest.mark.parametrize("change, message", [
    ({"n_trials": 0}, "n_trials"),
    ({"objective": "accuracy"}, "objective"),
    ({"cv_folds": 1}, "cv_folds"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"pruner": "hyperband"}, "pruner"),
    ({"seed": None}, "missing keys"),
    ({"surprise": 1}, "unknown keys"),
    ({"search_spaces": {"xgboost": {}}}, "search_spaces"),
    ({"search_spaces": {**TUNING["search_spaces"],
                        "xgboost": {"max_depth": {"low": 5, "high": 2, "type": "int",
                                                  "log": False}}}},
     "search_spaces.xgboost.max_depth"),
    ({"search_spaces": {**TUNING["search_spaces"],
                        "xgboost": {"max_depth": {"low": 2, "high": 5}}}}, "missing keys"),
])
def test_bad_tuning_settings_are_refused(change, message):
    params = {**TUNING, **change}
    if change.get("seed", 0) is None:
        params.pop("seed")
    with pytest.raises(ValueError, match=message):
        TuningParams.from_params(params)


def test_an_unknown_parameter_in_a_space_is_refused_before_any_trial(market, tmp_path):
    samples, _ = market
    space = {"num_leafs": SearchRange(4, 8, "int", False)}
    with pytest.raises(ValueError, match="unknown parameters"):
        tune("lightgbm", samples, storage_in(tmp_path), "typo", space=space)
