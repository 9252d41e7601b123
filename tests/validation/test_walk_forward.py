"""Walk-forward planning, drift and across-fold statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.validation.walk_forward import (
    WalkForwardParams,
    mean_interval,
    plan_folds,
    population_stability_index,
    summarise_folds,
)

PARAMS = WalkForwardParams(scheme="expanding", folds=3, test_days=20, window_days=100,
                           validation_share=0.25, env="blank", scheduler=None, workers=0, root="x",
                           psi_bins=10, psi_drift_threshold=0.25, confidence=0.95)
FIRST = pd.Timestamp("2024-01-01", tz="UTC")
LAST_CLOSE = pd.Timestamp("2024-06-29", tz="UTC")


def test_expanding_folds_start_at_the_first_bar_and_their_test_periods_follow_each_other():
    folds = plan_folds(FIRST, LAST_CLOSE, PARAMS)
    ends = [pd.Timestamp(f["window_end"]) for f in folds]
    assert all(pd.Timestamp(f["window_start"]) == FIRST for f in folds)
    assert ends[-1] == LAST_CLOSE and np.all(np.diff(ends) == pd.Timedelta(days=20))
    for fold in folds:
        days = fold["lookback_days"]
        test_fraction = 1 - fold["train_fraction"] - fold["validation_fraction"]
        assert test_fraction * days == pytest.approx(20)
        assert fold["validation_fraction"] == pytest.approx(
            0.25 * (fold["train_fraction"] + fold["validation_fraction"]))


def test_rolling_folds_keep_their_window_length():
    rolling = WalkForwardParams(**{**PARAMS.__dict__, "scheme": "rolling"})
    folds = plan_folds(FIRST, LAST_CLOSE, rolling)
    assert {f["lookback_days"] for f in folds} == {100}
    starts = [pd.Timestamp(f["window_start"]) for f in folds]
    assert np.all(np.diff(starts) == pd.Timedelta(days=20))


def test_folds_that_do_not_fit_the_data_are_refused_with_advice():
    with pytest.raises(ValueError, match="fewer folds"):
        plan_folds(FIRST, FIRST + pd.Timedelta(days=50),
                   WalkForwardParams(**{**PARAMS.__dict__, "folds": 3, "test_days": 20}))
    with pytest.raises(ValueError, match="scheme"):
        WalkForwardParams.from_params({**PARAMS.__dict__, "scheme": "sideways"})


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 5000)
    assert population_stability_index(base, rng.normal(0, 1, 2000), 10) < 0.02
    assert population_stability_index(base, rng.normal(1, 1, 2000), 10) > 0.25
    assert np.isnan(population_stability_index(base[:3], base, 10))


def test_the_mean_across_folds_carries_a_student_t_interval():
    result = mean_interval([1.0, 2.0, 3.0], 0.95)
    assert result["mean"] == 2.0
    assert result["ci_high"] - 2.0 == pytest.approx(4.302652 * 1.0 / np.sqrt(3), rel=1e-5)
    assert mean_interval([1.0], 0.95)["folds"] == 1


def test_a_falling_sharpe_across_folds_is_flagged_as_decay_and_drifted_features_listed():
    def fold(k, sharpe, psi):
        strategies = {name: {"sharpe": sharpe, "total_return": 0.01, "max_drawdown": 0.02,
                             "trades": 5} for name in ("governor", "buy_and_hold")}
        return {"fold": k, "test_first_bar": "a", "test_last_bar": "b", "governor_acts": True,
                "strategies": strategies, "feature_psi": {"rsi_14": psi, "atr": 0.01}}
    summary = summarise_folds([fold(0, 3.0, 0.1), fold(1, 2.0, 0.4), fold(2, 1.0, 0.1)], PARAMS)
    assert summary["decaying"] and summary["governor_sharpe_trend_per_fold"] == pytest.approx(-1)
    assert summary["folds_with_drift"] == [1]
    assert summary["folds"][1]["drifted_features"] == ["rsi_14"]
    assert summary["summary"]["governor_sharpe"]["mean"] == pytest.approx(2.0)
