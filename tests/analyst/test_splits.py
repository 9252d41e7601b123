"""Time splits and purged, embargoed cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.splits import PurgedKFold, TimeSplitParams, split_timeline

INDEX = pd.date_range("2024-01-01", periods=1000, freq="h", tz="UTC")
PARAMS = TimeSplitParams(train_fraction=0.6, validation_fraction=0.2, purge_bars=24,
                         embargo_bars=12)


def test_periods_follow_in_time_order_separated_by_purge_and_embargo():
    splits = split_timeline(INDEX, PARAMS, label_horizon_bars=48)
    gap = pd.Timedelta(hours=48 + 12)  # the label horizon is longer than purge_bars
    assert splits.loc["validation", "first_bar"] - splits.loc["train", "last_bar"] > gap
    assert splits.loc["test", "first_bar"] - splits.loc["validation", "last_bar"] > gap
    assert splits.loc["train", "bars"] == 600 and splits.loc["test", "last_bar"] == INDEX[-1]


def test_a_split_leaving_an_empty_period_is_refused():
    with pytest.raises(ValueError, match="validation period empty"):
        split_timeline(INDEX[:100], PARAMS, label_horizon_bars=48)
    with pytest.raises(ValueError, match="train_fraction"):
        TimeSplitParams.from_params({"train_fraction": 0.8, "validation_fraction": 0.3,
                                     "purge_bars": 1, "embargo_bars": 0})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_training_label_window_overlaps_a_test_label_window(seed):
    rng = np.random.default_rng(seed)
    n = 500
    label_end = np.minimum(np.arange(n) + rng.integers(0, 30, n), n - 1)
    folds = list(PurgedKFold(5, label_end, embargo_bars=7).split(np.zeros((n, 1))))
    tested = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(n))  # each bar tested once
    for train, test in folds:
        test_start, test_end = test.min(), label_end[test].max()
        windows_overlap = (train <= test_end) & (label_end[train] >= test_start)
        assert not windows_overlap.any()
        embargo = (train > test_end) & (train <= test_end + 7)
        assert not embargo.any()
        assert train.size > 0
