"""Ingestion configuration: validated once, blank mode, offline messages."""

from __future__ import annotations

import pytest

from ares_kedro.market import ingest
from ares_kedro.market.errors import MissingMarketDataError
from tests.conftest import load_parameters


def test_conf_base_parameters_make_a_valid_configuration(ingestion_params):
    config = ingest.IngestionConfig.from_params(ingestion_params)
    assert (config.symbol, config.market, config.timeframe, config.source) == (
        "BTCUSDT", "um_futures", "1h", "synthetic")
    assert config.synthetic is not None and config.synthetic.interval == "1h"


def test_blank_mode_shrinks_the_market_and_keeps_every_other_key():
    base = load_parameters("base")["ingestion"]
    blank = load_parameters("blank")["ingestion"]
    assert blank["lookback_days"] < base["lookback_days"]
    assert blank["synthetic"]["days"] < base["synthetic"]["days"]
    assert blank["synthetic"]["transition"] == base["synthetic"]["transition"]  # soft merge
    assert blank["repairs"] == base["repairs"]
    ingest.IngestionConfig.from_params(blank)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("market", "options", "ingestion.market"),
    ("timeframe", "7m", "ingestion.timeframe"),
    ("source", "ftp", "ingestion.source"),
    ("lookback_days", 0, "lookback_days"),
])
def test_a_bad_parameter_is_refused_with_its_name(ingestion_params, key, value, message):
    ingestion_params[key] = value
    with pytest.raises(ValueError, match=message):
        ingest.IngestionConfig.from_params(ingestion_params)


def test_an_unknown_repair_is_refused(ingestion_params):
    ingestion_params["repairs"]["fix_everything"] = True
    with pytest.raises(ValueError, match="fix_everything"):
        ingest.IngestionConfig.from_params(ingestion_params)


def test_a_missing_synthetic_key_is_an_error_not_a_silent_default(ingestion_params):
    del ingestion_params["synthetic"]["tail_dof"]
    with pytest.raises(ValueError, match="tail_dof"):
        ingest.IngestionConfig.from_params(ingestion_params)


def test_offline_without_archives_says_which_files_are_missing_and_how_to_get_them(
    ingestion_params, tmp_path
):
    ingestion_params.update(source="binance_vision", market="spot", lookback_days=60,
                            end="2024-03-01")
    ingestion_params["paths"]["binance_vision"] = str(tmp_path / "empty")
    config = ingest.IngestionConfig.from_params(ingestion_params)
    with pytest.raises(MissingMarketDataError) as caught:
        ingest.prepare_raw_archives(config)
    message = str(caught.value)
    assert "BTCUSDT-1h-2024-01.zip" in message
    assert "https://data.binance.vision/data/spot/monthly/klines/BTCUSDT/1h/" in message
    assert "ingestion.download" in message


def test_a_runtime_timeframe_change_reaches_the_synthetic_market():
    params = load_parameters(ingestion={"timeframe": "4h"})["ingestion"]
    params["timeframe"] = "4h"  # what `kedro run --params ingestion.timeframe=4h` merges in
    config = ingest.IngestionConfig.from_params(params)
    assert config.synthetic.interval == "4h"
