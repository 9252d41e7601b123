"""Target optimisation scores what a model can trade out of fold, and resumes its study."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.analyst.targets import (
    TargetSamplesSpec,
    TargetSearchParams,
    evaluate_targets,
    optimise_targets,
)
from ares_kedro.analyst.trade_scoring import trade_list, trade_performance
from ares_kedro.studies import StudySettings

MODEL = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}
SEARCH = {"n_trials": 2, "take_profit": [0.01, 0.03], "stop_loss": [0.005, 0.02],
          "holding_bars": [6, 12], "objectives": ["sharpe"], "cv_folds": 3,
          "min_trades": 5, "seed": 1, "label_families": ["triple_barrier"], "min_edge": 0.0}


def random_walk(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.002, n))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + wick),
                         "low": np.minimum(open_, close) * (1 - wick), "close": close},
                        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))


def spec_with(features: pd.DataFrame, rows: slice = slice(0, 2000)) -> TargetSamplesSpec:
    positions = np.arange(len(features))[rows]
    return TargetSamplesSpec(features.iloc[positions], positions)


def test_one_position_at_a_time_ignores_signals_while_a_trade_is_open():
    bars = random_walk(200)
    params = BarrierParams(0.01, 0.01, 10, 0.001)
    trades, _ = barrier_trades(bars, params)
    signal = np.ones(100, dtype=np.int8)
    taken = trade_list(np.arange(100), signal, trades)
    assert (taken["entry_row"].to_numpy()[1:] >= taken["exit_row"].to_numpy()[:-1]).all()
    assert len(taken) < 100
    expected = trades["long_return"].to_numpy()[taken["entry_row"]]
    np.testing.assert_allclose(taken["net_return"], expected)


def test_performance_books_each_trade_at_its_exit_bar():
    taken = pd.DataFrame({"entry_row": [0, 5], "exit_row": [3, 9], "side": [1, -1],
                          "net_return": [0.02, -0.01]})
    metrics = trade_performance(taken, 0, 9, bars_per_year=8760)
    assert metrics["trades"] == 2 and metrics["win_rate"] == 0.5
    assert metrics["total_return"] == pytest.approx(1.02 * 0.99 - 1)
    assert metrics["max_drawdown"] == pytest.approx(0.01)


def test_a_learnable_signal_scores_far_better_than_noise_out_of_fold():
    """The objective is what the baseline predicts out of fold, not the labels' hindsight
    profit: the same labels score high with a feature that carries the future and near
    zero with noise."""
    bars = random_walk()
    future = np.log(bars["close"]).diff(8).shift(-8).fillna(0.0)
    rng = np.random.default_rng(3)
    noise = pd.DataFrame({"noise": rng.normal(size=len(bars))}, index=bars.index)
    barriers = BarrierParams(0.015, 0.01, 8, 0.001)
    search = TargetSearchParams.from_params(SEARCH)
    informed = evaluate_targets(bars, spec_with(noise.assign(future=future)), barriers, search,
                                MODEL, 8, 8760)
    blind = evaluate_targets(bars, spec_with(noise), barriers, search, MODEL, 8, 8760)
    assert informed["sharpe"] > 3 and informed["trades"] > 20
    assert blind["sharpe"] < informed["sharpe"] / 3


def test_the_study_resumes_and_runs_only_the_missing_trials(tmp_path):
    bars = random_walk()
    future = np.log(bars["close"]).diff(8).shift(-8).fillna(0.0)
    spec = spec_with(pd.DataFrame({"future": future}, index=bars.index))
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    first = optimise_targets(bars, spec, 0.001, TargetSearchParams.from_params(SEARCH), MODEL,
                             8, 8760, StudySettings(storage, False))
    more = TargetSearchParams.from_params({**SEARCH, "n_trials": 3})
    second = optimise_targets(bars, spec, 0.001, more, MODEL, 8, 8760,
                              StudySettings(storage, False))
    assert first["study_name"] == second["study_name"]
    assert first["trials_run"] == 2 and second["trials_run"] == 3
    study = optuna.load_study(study_name=second["study_name"], storage=storage)
    assert len(study.trials) == 3
    assert 0.01 <= second["take_profit"] <= 0.03 and 6 <= second["holding_bars"] <= 12
    assert second["chosen_metrics"]["trades"] >= 5


def test_several_objectives_report_a_pareto_front_and_choose_its_best_sharpe(tmp_path):
    bars = random_walk()
    future = np.log(bars["close"]).diff(8).shift(-8).fillna(0.0)
    spec = spec_with(pd.DataFrame({"future": future}, index=bars.index))
    search = TargetSearchParams.from_params(
        {**SEARCH, "n_trials": 3, "objectives": ["sharpe", "max_drawdown", "win_rate"]})
    result = optimise_targets(bars, spec, 0.001, search, MODEL, 8, 8760,
                              StudySettings(f"sqlite:///{tmp_path / 's.db'}", False))
    front = result["pareto_front"]
    assert front and {"sharpe", "max_drawdown", "win_rate"} <= set(front[0])
    assert result["chosen_metrics"]["sharpe"] == max(point["sharpe"] for point in front)


@pytest.mark.parametrize("change, message", [
    ({"take_profit": [0.0, 0.02]}, "take_profit"),
    ({"holding_bars": [0, 5]}, "holding_bars"),
    ({"objectives": ["profit_in_hindsight"]}, "objectives"),
    ({"seed": None, "surprise": 1}, "unknown keys"),
])
def test_bad_search_settings_are_refused_before_any_work(change, message):
    params = {**SEARCH, **change}
    if change.get("seed", 0) is None:
        params.pop("seed")
    with pytest.raises(ValueError, match=message):
        TargetSearchParams.from_params(params)
