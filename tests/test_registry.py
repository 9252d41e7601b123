"""One registered governor, one champion per market (a real MLflow registry on SQLite)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from ares_kedro.registry import (
    REGISTERED_MODEL,
    NoChampion,
    champion_alias,
    champion_source,
    champions,
    promote,
    tag_version,
)

BTC_1H = {"exchange": "BINANCE", "market": "spot", "symbol": "BTCUSDT", "timeframe": "1h"}
ETH_4H = {"exchange": "BINANCE", "market": "spot", "symbol": "ETHUSDT", "timeframe": "4h"}


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                          registry_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model(REGISTERED_MODEL)
    return client


def _register(client: MlflowClient, tmp_path, market: dict, sha256: str) -> str:
    """A run that registers a version, tagged as the ModelRegistry hook tags it."""
    experiment = client.get_experiment_by_name("ares") or client.get_experiment(
        client.create_experiment("ares", artifact_location=str(tmp_path / "artifacts")))
    run = client.create_run(experiment.experiment_id)
    client.create_model_version(REGISTERED_MODEL, source=str(tmp_path / run.info.run_id),
                                run_id=run.info.run_id)
    return tag_version(client, run.info.run_id, market, sha256, {"mode": "blank"})[0]


def test_a_promotion_moves_only_its_own_markets_champion(client, tmp_path):
    btc = _register(client, tmp_path, BTC_1H, "aaa")
    eth = _register(client, tmp_path, ETH_4H, "bbb")
    assert champions(client) == {}
    with pytest.raises(NoChampion, match="no champion yet for binance-spot-btcusdt-1h"):
        champion_source(client, BTC_1H)

    assert promote(client, BTC_1H, "aaa") == btc
    assert promote(client, ETH_4H, "bbb") == eth  # ETHUSDT 4h: its own alias
    assert champions(client) == {"champion-binance-spot-btcusdt-1h": btc,
                                 "champion-binance-spot-ethusdt-4h": eth}
    assert champion_source(client, BTC_1H) == \
        "models:/ares-governor@champion-binance-spot-btcusdt-1h"
    version = client.get_model_version_by_alias(REGISTERED_MODEL, champion_alias(BTC_1H))
    assert version.tags["symbol"] == "BTCUSDT" and version.tags["timeframe"] == "1h"

    newer = _register(client, tmp_path, BTC_1H, "ccc")
    assert promote(client, BTC_1H, "ccc") == newer
    assert champions(client)["champion-binance-spot-ethusdt-4h"] == eth  # untouched


def test_a_decision_system_registered_for_another_market_is_never_promoted_for_this_one(
        client, tmp_path):
    _register(client, tmp_path, ETH_4H, "same-bytes")
    assert promote(client, BTC_1H, "same-bytes") is None
    assert champions(client) == {}


def test_without_a_market_the_only_champion_is_found_and_several_must_be_named(
        client, tmp_path):
    with pytest.raises(NoChampion, match="no champion yet: `kedro run`"):
        champion_source(client)
    _register(client, tmp_path, BTC_1H, "aaa")
    promote(client, BTC_1H, "aaa")
    assert champion_source(client).endswith("@champion-binance-spot-btcusdt-1h")
    _register(client, tmp_path, ETH_4H, "bbb")
    promote(client, ETH_4H, "bbb")
    with pytest.raises(NoChampion, match="several markets have a champion; say which: "
                       "models:/ares-governor@champion-binance-spot-btcusdt-1h, "
                       "models:/ares-governor@champion-binance-spot-ethusdt-4h"):
        champion_source(client)
