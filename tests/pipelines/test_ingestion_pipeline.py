"""The ingestion pipeline run through Kedro itself, on a temporary project directory."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the project's metadata and conf; data and MLflow go under it."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copy(PROJECT_ROOT / ".telemetry", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # ares_kedro itself is imported from the installed checkout
    monkeypatch.chdir(root)
    bootstrap_project(root)
    return root


def run_ingestion(project: Path, **params: Any) -> dict[str, Any]:
    runtime = {"data_root": str(project / "data"),
               "mlflow_tracking_uri": f"sqlite:///{project / 'mlflow.db'}",
               "ingestion": params}
    with KedroSession.create(project_path=project, env="base", runtime_params=runtime) as session:
        session.run(pipeline_names=["ingestion"])
        catalog = session.load_context().catalog
        out = {"bars": catalog.load("market_bars"),
               "report": catalog.load("ingestion_quality_report")}
    # kedro-mlflow marks its run FINISHED in the database but leaves it on MLflow's
    # in-process run stack; a second session in the same process would log into it.
    # One `kedro run` is one process, so only in-process callers (tests, notebooks) need this.
    while mlflow.active_run() is not None:
        mlflow.end_run()
    return out


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
    out = run_ingestion(project, source="ohlcv_files", lookback_days=None,
                        paths={"ohlcv_files": str(path)})
    assert len(out["bars"]) == 48 and "vwap" in out["bars"].columns
    assert out["bars"]["close"].iloc[-1] == pytest.approx(110)


def test_planted_signal_is_visible_in_market_bars(project):
    bars = run_ingestion(project, lookback_days=None, synthetic={"days": 365})["bars"]
    imbalance = (bars["buy_volume"] - bars["sell_volume"]) / bars["volume"]
    next_return = np.log(bars["close"]).diff().shift(-1)
    correlation = imbalance.corr(next_return)
    assert correlation > 4 / np.sqrt(len(bars)), correlation
    json.dumps(correlation)  # a plain float
