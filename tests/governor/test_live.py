"""The live predictor refuses bad bars with a message naming the problem, and never
unpickles a model file whose bytes are not the recorded ones."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from ares_kedro.datasets import HashedPickleDataset, UnverifiedModelFile, load_verified_pickle
from ares_kedro.governor.live import BadBars, DecisionSystem, check_bars
from tests.analyst.test_features import market

FEATURES = ["rsi_14", "taker_imbalance", "ema_distance_20_1d"]


@pytest.fixture
def system() -> DecisionSystem:
    return DecisionSystem(market={"timeframe": "1h"}, bar_interval=pd.Timedelta(hours=1),
                          regime_model={}, feature_names=FEATURES, ensembles={},
                          calibrators={}, tactician_models=None, tactician_record={},
                          governor_model=None, final_params={}, created="")


def test_good_bars_pass(system):
    check_bars(market(n=700), system)


@pytest.mark.parametrize("spoil, message", [
    (lambda b: b.drop(columns=["taker_buy_volume"]), r"lack the columns \['taker_buy_volume'\]"),
    (lambda b: b.assign(close=np.where(np.arange(len(b)) == 650, np.nan, b["close"])),
     "NaN or infinite price at 2024-01-28 02:00"),
    (lambda b: b.iloc[np.r_[0:300, 301, 300, 302:len(b)]], "not sorted: row 301"),
    (lambda b: b.iloc[np.r_[0:300, 299, 300:len(b)]], "duplicated bar time 2024-01-13 11:00"),
    (lambda b: b.iloc[-400:], "400 bars given, the features need at least"),
    (lambda b: b.iloc[::2], "bars are 0 days 02:00:00 apart"),
    (lambda b: b.tz_localize(None), "timezone-aware"),
])
def test_bad_bars_are_refused_naming_the_problem(system, spoil, message):
    with pytest.raises(BadBars, match=message):
        check_bars(spoil(market(n=700)), system)


def test_a_saved_model_loads_and_a_changed_one_is_refused(tmp_path):
    dataset = HashedPickleDataset(filepath=str(tmp_path / "model.pkl"))
    dataset.save({"weights": [1, 2, 3]})
    assert dataset.load() == {"weights": [1, 2, 3]}
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [6, 6, 6]}))  # swapped after saving
    with pytest.raises(DatasetError, match="does not match"):  # Kedro wraps the refusal
        dataset.load()
    with pytest.raises(UnverifiedModelFile, match="does not match"):
        load_verified_pickle(path)


def test_a_file_without_a_hash_record_is_never_unpickled(tmp_path):
    path = tmp_path / "stranger.pkl"
    path.write_bytes(pickle.dumps("anything"))
    with pytest.raises(UnverifiedModelFile, match="no hash record"):
        load_verified_pickle(path)
    with pytest.raises(UnverifiedModelFile, match="does not match"):
        load_verified_pickle(path, expected_sha256="0" * 64)
