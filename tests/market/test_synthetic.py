"""The built-in synthetic market: deterministic, realistic, with a known edge or none."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market import ingest
from ares_kedro.market.quality import QualityLog
from ares_kedro.market.synthetic import (
    SyntheticMarketSpec,
    ensure_synthetic_archives,
    generate_market,
    true_regimes_path,
)

ALL_REGIMES = {"BULL_TREND", "BEAR_TREND", "SIDEWAYS_RANGE", "SR_ZONE_ACTION", "HIGH_IMPACT_CANDLE"}


@pytest.fixture
def spec(ingestion_params) -> SyntheticMarketSpec:
    return SyntheticMarketSpec.from_params(ingestion_params["synthetic"])


def _returns(close: np.ndarray) -> np.ndarray:
    return np.diff(np.log(close))


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(x[:-lag], x[lag:])[0, 1])


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_gives_identical_market_and_identical_files(spec, tmp_path):
    small = replace(spec, days=20)
    first, second = generate_market(small), generate_market(small)
    np.testing.assert_array_equal(first.close, second.close)
    pd.testing.assert_frame_equal(first.trades, second.trades)
    ensure_synthetic_archives(small, "BTCUSDT", "um_futures", tmp_path / "a")
    ensure_synthetic_archives(small, "BTCUSDT", "um_futures", tmp_path / "b")
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")


def test_another_seed_gives_another_market(spec):
    small = replace(spec, days=20)
    other = replace(small, seed=small.seed + 1)
    assert not np.allclose(generate_market(small).close, generate_market(other).close)


def test_default_market_has_every_regime_with_plausible_shares(spec):
    market = generate_market(spec)
    share = pd.Series(market.true_regime).value_counts(normalize=True)
    assert set(share.index) == ALL_REGIMES
    assert share["HIGH_IMPACT_CANDLE"] < 0.02  # rare
    assert share[["BULL_TREND", "BEAR_TREND"]].sum() > 0.2
    assert share[["SIDEWAYS_RANGE", "SR_ZONE_ACTION"]].sum() > 0.2


def test_returns_are_fat_tailed_with_volatility_clustering(spec):
    returns = _returns(generate_market(spec).close)
    standardized = (returns - returns.mean()) / returns.std()
    assert pd.Series(standardized).kurt() > 1.0  # a normal has excess kurtosis 0
    assert _autocorrelation(np.abs(returns), 1) > 0.05  # |returns| cluster


def test_planted_signal_flow_imbalance_leads_next_bar_return(spec):
    market = generate_market(spec)
    returns = _returns(market.close)  # returns[t-1] is bar t's return
    lead_correlation = np.corrcoef(market.flow_imbalance[:-1], returns)[0, 1]
    noise = 1 / np.sqrt(returns.size)
    assert lead_correlation > 5 * noise


def test_null_market_has_no_autocorrelation_and_no_signal(spec):
    market = generate_market(replace(spec, mode="random_walk"))
    returns = _returns(market.close)
    band = 4 / np.sqrt(returns.size)  # about 4 standard errors
    for lag in range(1, 11):
        assert abs(_autocorrelation(returns, lag)) < band, f"lag {lag}"
    assert abs(np.corrcoef(market.flow_imbalance[:-1], returns)[0, 1]) < band
    assert set(market.true_regime) == {"NONE"}


def test_generator_output_goes_through_the_vision_reader_with_true_regimes_beside_it(
    ingestion_params, tmp_path
):
    ingestion_params["synthetic"]["days"] = 40
    ingestion_params["lookback_days"] = None
    config = ingest.IngestionConfig.from_params(ingestion_params)
    manifest = ingest.prepare_raw_archives(config)
    assert set(manifest["files"]) == {"klines", "aggTrades", "fundingRate", "metrics"}
    log = QualityLog()
    klines, source_ns = ingest.read_source_klines(config, log)
    flow = ingest.read_source_trade_flow(config, log)
    funding, interest = ingest.read_source_futures(config, log)
    bars, report = ingest.consolidate(config, klines, source_ns, flow, funding, interest,
                                      [log.to_dict()])
    regimes = pd.read_parquet(true_regimes_path(config.archive_root, "BTCUSDT", "1h"))
    assert len(bars) == 40 * 24 == len(regimes)
    assert bars.index.equals(regimes.index)
    assert report["gaps"]["count"] == 0 and report["repaired_rows"] == 0
    # klines and trades agree: taker-buy volume of the klines equals the trades' buy volume
    np.testing.assert_allclose(bars["taker_buy_volume"], bars["buy_volume"], rtol=1e-6)
    np.testing.assert_allclose(bars["volume"], bars["buy_volume"] + bars["sell_volume"], rtol=1e-6)


def test_spot_market_switches_to_microsecond_files_in_2025_like_binance(ingestion_params):
    ingestion_params.update(market="spot", lookback_days=None)
    ingestion_params["synthetic"].update(start="2024-12-20", days=20)
    config = ingest.IngestionConfig.from_params(ingestion_params)
    ingest.prepare_raw_archives(config)
    log = QualityLog()
    klines, _ = ingest.read_source_klines(config, log)
    times = pd.to_datetime(klines["open_time"], utc=True)
    assert times.is_monotonic_increasing and times.is_unique
    assert (times.diff().dropna() == pd.Timedelta(hours=1)).all()
    january = sorted(config.archive_root.rglob("BTCUSDT-1h-2025-01.zip"))[0]
    first_field = __import__("zipfile").ZipFile(january).read("BTCUSDT-1h-2025-01.csv").split(b",")[0]
    assert len(first_field) == 16  # microseconds


def test_markets_of_other_timeframes_live_side_by_side(ingestion_params):
    ingestion_params["lookback_days"] = None
    ingestion_params["synthetic"]["days"] = 20
    hourly = ingest.IngestionConfig.from_params(ingestion_params)
    ingest.prepare_raw_archives(hourly)
    four_hourly = ingest.IngestionConfig.from_params(
        {**ingestion_params, "timeframe": "4h",
         "synthetic": {**ingestion_params["synthetic"], "interval": "4h"}})
    ingest.prepare_raw_archives(four_hourly)
    assert hourly.archive_root != four_hourly.archive_root
    klines, _ = ingest.read_source_klines(hourly, QualityLog())  # the 1h files are still there
    assert len(klines) == 20 * 24
