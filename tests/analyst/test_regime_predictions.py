"""Ensemble opinions after training: calibrated on validation only, cross-fitted there,
never worse in held-out Brier than uncalibrated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.regime_predictions import regime_predictions
from tests.analyst.test_ensembles import ensemble, noisy_problem


@pytest.fixture(scope="module")
def setting():
    X, y = noisy_problem(3000, seed=4)
    X.index = pd.date_range("2024-01-01", periods=len(X), freq="h", tz="UTC")
    fitted = ensemble().fit(X.iloc[:1500], y[:1500])
    labels = pd.DataFrame({"label": y, "is_labelled": True}, index=X.index)
    regimes = pd.Series(np.where(np.arange(len(X)) % 2, "BULL_TREND", "BEAR_TREND"),
                        index=X.index)
    periods = pd.Series(np.repeat(["train", "", "validation", "test"], [1500, 100, 800, 600]),
                        index=X.index)
    return X, labels, regimes, periods, {"GLOBAL": fitted, "BULL_TREND": fitted}


def run(setting, method="sigmoid"):
    X, labels, regimes, periods, ensembles = setting
    return regime_predictions(ensembles, X, labels, regimes, periods, method, 100, 10, 0.001)


def test_predictions_cover_only_validation_and_test_bars(setting):
    predictions, *_ = run(setting)
    assert set(predictions["period"]) == {"validation", "test"} and len(predictions) == 1400
    for name in ("GLOBAL", "BULL_TREND"):
        p = predictions[[f"{name}_p_long", f"{name}_p_short", f"{name}_p_hold"]]
        assert np.allclose(p.sum(axis=1), 1)


def test_a_validation_row_is_never_calibrated_with_its_own_label(setting):
    """Changing the labels of the first validation half leaves that half's cross-fitted
    probabilities unchanged (they come from the other half's calibrator); the second half's
    do change (its calibrator learnt from the changed labels)."""
    X, labels, regimes, periods, ensembles = setting
    validation = np.flatnonzero(periods.to_numpy() == "validation")
    first_half = validation[: len(validation) // 2]
    changed = labels.copy()
    changed.iloc[first_half, 0] = np.roll(changed["label"].to_numpy()[first_half], 7)
    runs = [regime_predictions({"GLOBAL": ensembles["GLOBAL"]}, X, table, regimes, periods,
                               "sigmoid", 100, 10, 0.001)[3]["GLOBAL"][1]
            for table in (labels, changed)]
    half = len(first_half)
    np.testing.assert_allclose(runs[0][:half], runs[1][:half])
    assert not np.allclose(runs[0][half:], runs[1][half:])


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_never_worsens_the_held_out_brier_score(setting, method):
    _, _, report, _ = run(setting, method)
    for name, entry in report.items():
        if entry["applied"]:
            assert entry["held_out_after"]["brier_score"] <= entry["held_out_before"][
                "brier_score"], name
        else:
            assert entry["held_out_after"]["brier_score"] > entry["held_out_before"][
                "brier_score"]


def test_a_specialist_calibrates_on_its_own_regime_when_it_has_enough_bars(setting):
    _, _, report, _ = run(setting)
    assert report["BULL_TREND"]["calibration_scope"] == "own regime"
    assert report["BULL_TREND"]["calibration_rows"] == 400
    assert report["GLOBAL"]["calibration_rows"] == 800
