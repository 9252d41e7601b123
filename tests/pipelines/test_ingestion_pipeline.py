"""The ingestion pipeline run through Kedro itself, on a temporary project directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow


def run_ingestion(project: Path, **params: Any) -> dict[str, Any]:
    return run_pipelines(project, ["ingestion"], {"bars": "market_bars",
                                                  "report": "ingestion_quality_report"}, **params)


def test_default_synthetic_market_lands_in_versioned_market_bars_and_mlflow(project):
    out = run_ingestion(project, lookback_days=30, synthetic={"days": 30})
    bars, report = out["bars"], out["report"]
    assert len(bars) == 30 * 24 and bars.index.is_unique and bars.index.is_monotonic_increasing
    assert str(bars.index.tz) == "UTC"
    assert {"open", "high", "low", "close", "volume", "buy_volume", "sell_volume",
            "large_trade_count", "funding_rate", "open_interest", "is_filled"} <= set(bars.columns)
    assert report["rows_read"]["agg_trades"] > 0 and report["gaps"]["count"] == 0
    versions = list((project / "data/03_primary/BINANCE-um_futures-BTCUSDT-1h/market_bars.parquet").iterdir())
    assert len(versions) == 1  # <timestamp>/market_bars.parquet
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = db.execute("select status from runs").fetchall()
    assert runs == [("FINISHED",)]


def test_rerun_over_the_same_files_gives_the_same_bars_from_cache(project):
    first = run_ingestion(project, lookback_days=20, synthetic={"days": 20})
    second = run_ingestion(project, lookback_days=20, synthetic={"days": 20})
    pd.testing.assert_frame_equal(first["bars"], second["bars"])
    assert set(second["report"]["files"]["klines"]) == {"from_cache"}


def test_another_symbol_writes_its_own_datasets(project):
    run_ingestion(project, symbol="ETHUSDT", lookback_days=10, synthetic={"days": 10})
    assert (project / "data/03_primary/BINANCE-um_futures-ETHUSDT-1h/market_bars.parquet").is_dir()
    assert not (project / "data/03_primary/BINANCE-um_futures-BTCUSDT-1h").exists()


def test_real_btcusdt_hourly_vision_sample(project, real_data):
    out = run_ingestion(project, source="binance_vision", market="spot", lookback_days=None,
                        paths={"binance_vision": str(real_data / "binance_spot_klines_1h")})
    bars, report = out["bars"], out["report"]
    assert len(bars) == 20_708
    assert bars.index[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2019-12-31 23:00", tz="UTC")
    assert report["gaps"]["missing_bars"] == 96  # real exchange outages, reported, not invented
    assert not bars["is_filled"].any()
    # Binance shifted 43 bars off the hour after the 2018-02 outage: snapped, logged, counted
    snapped = [r for r in report["repairs"] if r["rule"] == "snap_off_grid_times"]
    assert [(Path(r["file"]).name, r["rows"]) for r in snapped] == [("BTCUSDT-1h-2018-02.csv", 43)]


def test_real_minute_zips_resampled_to_hours(project, real_data):
    out = run_ingestion(project, source="binance_vision", market="spot", lookback_days=None,
                        source_interval="1m",
                        paths={"binance_vision": str(real_data / "binance_spot_klines_1m_zip")})
    bars, report = out["bars"], out["report"]
    assert len(bars) == 72 and report["partial_bars"] == 0
    assert report["files"]["klines"]["checksum_verified"] == 3


def test_generic_ohlcv_file(project, tmp_path):
    hours = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    close = np.linspace(100, 110, 48)
    frame = pd.DataFrame({"Timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "Open": close,
                          "High": close + 1, "Low": close - 1, "Close": close, "Volume": 5.0,
                          "vwap": close})
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    out = run_ingestion(project, source="ohlcv_files", market="spot", lookback_days=None,
                        paths={"ohlcv_files": str(path)})
    assert len(out["bars"]) == 48 and "vwap" in out["bars"].columns
    assert out["bars"]["close"].iloc[-1] == pytest.approx(110)


def test_planted_signal_is_visible_in_market_bars(project):
    bars = run_ingestion(project, lookback_days=None, synthetic={"days": 365})["bars"]
    imbalance = (bars["buy_volume"] - bars["sell_volume"]) / bars["volume"]
    next_return = np.log(bars["close"]).diff().shift(-1)
    correlation = imbalance.corr(next_return)
    assert correlation > 4 / np.sqrt(len(bars)), correlation
