"""The live predictor refuses bad bars with a message naming the problem, and no model
file is unpickled unless its bytes are the ones this project signed."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from ares_kedro.datasets import (
    SignedPickleDataset,
    UnverifiedModelFile,
    load_verified_pickle,
    manifest_path,
)
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
    dataset = SignedPickleDataset(filepath=str(tmp_path / "model.pkl"))
    dataset.save({"weights": [1, 2, 3]})
    assert dataset.load() == {"weights": [1, 2, 3]}
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [6, 6, 6]}))  # swapped after saving
    with pytest.raises(DatasetError, match="signature does not match"):  # Kedro wraps it
        dataset.load()
    with pytest.raises(UnverifiedModelFile, match="signature does not match"):
        load_verified_pickle(path)


class Payload:
    """A crafted pickle: unpickling it calls ``Path.touch`` on a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_swapped_pickle_with_a_rewritten_record_is_refused_and_its_code_never_runs(
        tmp_path):
    """The attacker of the data folder swaps the model file and rewrites the record beside
    it with the new file's SHA-256 (and any signature they can make without the key)."""
    import hashlib
    import json

    dataset = SignedPickleDataset(filepath=str(tmp_path / "model.pkl"))
    dataset.save({"weights": [1, 2, 3]})
    path, marker = tmp_path / "model.pkl", tmp_path / "code_ran"
    crafted = pickle.dumps(Payload(marker))
    path.write_bytes(crafted)
    record = json.loads(manifest_path(path).read_text())
    record["sha256"] = hashlib.sha256(crafted).hexdigest()
    record["hmac_sha256"] = hashlib.sha256(b"guessed key" + crafted).hexdigest()
    manifest_path(path).write_text(json.dumps(record))
    with pytest.raises(UnverifiedModelFile, match="signature does not match"):
        load_verified_pickle(path)
    del record["hmac_sha256"]  # or no signature at all
    manifest_path(path).write_text(json.dumps(record))
    with pytest.raises(UnverifiedModelFile, match="has no signature"):
        load_verified_pickle(path)
    assert not marker.exists()  # nothing of the crafted file ran
    pickle.loads(crafted)  # the payload is real: unpickled, it runs
    assert marker.exists()


def test_without_the_signing_key_a_model_file_is_not_unpickled(tmp_path, monkeypatch):
    from ares_kedro.signing import KEY_FILE_VARIABLE

    dataset = SignedPickleDataset(filepath=str(tmp_path / "model.pkl"))
    dataset.save("model")
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "elsewhere" / "key"))
    with pytest.raises(UnverifiedModelFile, match="no artifact signing key at .*elsewhere"):
        load_verified_pickle(tmp_path / "model.pkl")
    other = tmp_path / "other.key"  # another project's key does not do either
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(other))
    other.write_text("ab" * 32)
    with pytest.raises(UnverifiedModelFile, match="signature does not match"):
        load_verified_pickle(tmp_path / "model.pkl")


def test_the_signing_key_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    from ares_kedro.signing import KEY_FILE_VARIABLE, signing_key

    key = tmp_path / "conf" / "local" / "artifact_signing.key"
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(key))
    first = signing_key(create=True)
    assert key.stat().st_mode & 0o777 == 0o600 and len(first) == 32
    assert signing_key(create=True) == first == signing_key()


def test_a_file_without_a_record_is_never_unpickled(tmp_path):
    path = tmp_path / "stranger.pkl"
    path.write_bytes(pickle.dumps("anything"))
    with pytest.raises(UnverifiedModelFile, match="no signature record"):
        load_verified_pickle(path)
    with pytest.raises(UnverifiedModelFile, match="does not match"):
        load_verified_pickle(path, expected_sha256="0" * 64)


def test_processes_making_the_key_at_once_all_end_with_the_same_key(tmp_path):
    import subprocess
    import sys

    key = tmp_path / "conf" / "local" / "artifact_signing.key"
    child = ("import os, sys; os.environ['ARES_SIGNING_KEY_FILE'] = sys.argv[1]; "
             "from ares_kedro.signing import signing_key; print(signing_key(create=True).hex())")
    workers = [subprocess.Popen([sys.executable, "-c", child, str(key)], stdout=subprocess.PIPE,
                                text=True) for _ in range(4)]
    keys = {w.communicate(timeout=120)[0].strip() for w in workers}
    assert len(keys) == 1 and key.read_text().strip() in keys
    assert sorted(p.name for p in key.parent.iterdir()) == ["artifact_signing.key"]
