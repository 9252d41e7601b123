"""The built-in synthetic market: deterministic, realistic, with known edges or none."""

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
    EDGE_COLUMNS,
    EDGE_KINDS,
    SyntheticMarketSpec,
    ensure_synthetic_archives,
    generate_market,
    true_regimes_path,
)
from ares_kedro.parameter_checks import check_parameters
from ares_kedro.windows import ewm_mean

ALL_REGIMES = {"BULL_TREND", "BEAR_TREND", "SIDEWAYS_RANGE", "SR_ZONE_ACTION", "HIGH_IMPACT_CANDLE"}
# Each kind switched on alone, acting in every regime, strongly enough to measure on 730 days
ALONE = {"order_flow": {"strength": 0.25},
         "mean_reversion": {"strength": 0.06, "regimes": "all"},
         "trend_persistence": {"strength": 0.16, "regimes": "all"}}


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


def _alone(spec: SyntheticMarketSpec, kind: str) -> SyntheticMarketSpec:
    return spec.with_edges(**{k: {"strength": 0.0} for k in EDGE_KINDS if k != kind},
                           **{kind: ALONE[kind]})


def _visible_signal(market, spec: SyntheticMarketSpec, kind: str) -> np.ndarray:
    """(n,) what each kind's drift depends on, computed the way a trader could (the latent
    imbalance for order flow; closes for the price edges)."""
    log_close = np.log(market.close)
    if kind == "order_flow":
        return market.flow_imbalance
    if kind == "mean_reversion":
        return ewm_mean(log_close, span=spec.edges.mean_reversion.anchor_bars) - log_close
    lookback = spec.edges.trend_persistence.lookback_bars
    return np.r_[np.zeros(lookback), log_close[lookback:] - log_close[:-lookback]]


def _lead_correlation(signal: np.ndarray, close: np.ndarray) -> float:
    """Correlation of bar t's signal with bar t + 1's return."""
    return float(np.corrcoef(signal[:-1], _returns(close))[0, 1])


@pytest.mark.parametrize("kind", EDGE_KINDS)
def test_each_planted_edge_switched_on_alone_moves_the_next_bar_and_off_leaves_nothing(
    spec, kind
):
    on = generate_market(_alone(spec, kind))
    off = generate_market(spec.with_edges(**{k: {"strength": 0.0} for k in EDGE_KINDS}))
    noise = 1 / np.sqrt(on.close.size)
    edge = on.edges[f"edge_{kind}"].to_numpy()
    # the planted drift of bar t predicts bar t + 1 (lead 1 for every kind here)
    assert _lead_correlation(edge, on.close) > 5 * noise
    # a trader's version of it does too, clearly more than in the same market without it
    # (the regime market has some unplanted structure: ranges revert to their band, and the
    # persistent flow moves its own bar)
    visible_on = _lead_correlation(_visible_signal(on, on_spec := _alone(spec, kind), kind),
                                   on.close)
    visible_off = _lead_correlation(_visible_signal(off, on_spec, kind), off.close)
    assert visible_on > visible_off + 4 * noise
    # off: no planted drift at all, and the other kinds planted nothing either
    assert (off.edges.to_numpy() == 0).all()
    others = [f"edge_{k}" for k in EDGE_KINDS if k != kind]
    assert (on.edges[others].to_numpy() == 0).all()


def test_the_edge_columns_are_exactly_the_extra_next_bar_return(spec):
    """With the shocks the same, the planted market's returns minus the edge columns give
    back the unplanted market's: the columns are the whole planted drift, not a guess."""
    planted = spec.with_edges(order_flow={"strength": 0.3, "lead_bars": 2},
                              mean_reversion={"strength": 0.05, "regimes": "all"},
                              trend_persistence={"strength": 0.1, "regimes": "all"})
    small = replace(planted, days=60)
    market = generate_market(small)
    base = generate_market(small.with_edges(**{k: {"strength": 0.0} for k in EDGE_KINDS}))
    edges = market.edges
    added = _returns(market.close) - _returns(base.close)  # added[t - 1]: bar t's extra
    of = edges["edge_order_flow"].to_numpy()
    expected = (edges["edge_mean_reversion"]
                + edges["edge_trend_persistence"]).to_numpy()[:-1].copy()
    expected[1:] += of[:-2]  # order flow two bars ahead
    np.testing.assert_allclose(added, expected, rtol=1e-7, atol=1e-12)
    # edge_total: every drift of the next bar, known at this bar's close
    np.testing.assert_allclose(edges["edge_total"].to_numpy()[:-1], expected, atol=1e-15)
    assert np.array_equal(np.sign(of), np.sign(market.flow_imbalance))


def test_price_edges_are_computed_from_past_closes_only(spec):
    market = generate_market(replace(spec, days=90).with_edges(
        mean_reversion={"strength": 0.05, "regimes": "all"},
        trend_persistence={"strength": 0.1, "regimes": "all"}))
    log_close = np.log(market.close)
    # mean reversion: minus strength x the distance from the EMA of log closes, the EMA
    # started at the first bar's open
    anchor = ewm_mean(np.r_[np.log(spec.start_price), log_close],
                      span=spec.edges.mean_reversion.anchor_bars)[1:]
    np.testing.assert_allclose(market.edges["edge_mean_reversion"],
                               -0.05 * (log_close - anchor), rtol=1e-9, atol=1e-15)
    # trend persistence: the sign of the trailing return (its size also uses the latent
    # volatility), nothing before a whole lookback
    lookback = spec.edges.trend_persistence.lookback_bars
    trend = market.edges["edge_trend_persistence"].to_numpy()
    assert (trend[:lookback] == 0).all()
    np.testing.assert_array_equal(np.sign(trend[lookback:]),
                                  np.sign(log_close[lookback:] - log_close[:-lookback]))


def test_truncating_the_future_leaves_the_past_unchanged(spec):
    """Every draw has its own stream, made bar by bar: a market of D/2 days is exactly the
    first half of the market of D days (closes, planted edges, regimes, trades, funding)."""
    planted = spec.with_edges(mean_reversion={"strength": 0.05},
                              trend_persistence={"strength": 0.1})
    long, short = generate_market(replace(planted, days=40)), generate_market(replace(planted, days=20))
    n = short.close.size
    np.testing.assert_array_equal(long.close[:n], short.close)
    pd.testing.assert_frame_equal(long.edges.iloc[:n], short.edges)
    np.testing.assert_array_equal(long.true_regime[:n], short.true_regime)
    np.testing.assert_array_equal(long.flow_imbalance[:n], short.flow_imbalance)
    end = short.bar_open_ns[-1] + (short.bar_open_ns[1] - short.bar_open_ns[0])
    pd.testing.assert_frame_equal(long.trades[long.trades["transact_time"] < end], short.trades)
    funding = long.funding[long.funding["funding_time"] <= short.funding["funding_time"].max()]
    pd.testing.assert_frame_equal(funding, short.funding)


def test_default_market_reverts_in_ranges_and_persists_in_trends(spec):
    market = generate_market(spec)
    regime = pd.Series(market.true_regime)
    reverting = market.edges["edge_mean_reversion"].to_numpy() != 0
    persisting = market.edges["edge_trend_persistence"].to_numpy() != 0
    in_range = regime.isin(["SIDEWAYS_RANGE", "SR_ZONE_ACTION"]).to_numpy()
    in_trend = regime.isin(["BULL_TREND", "BEAR_TREND"]).to_numpy()
    assert not reverting[in_trend].any() and reverting[in_range].mean() > 0.99
    assert not persisting[in_range].any() and persisting[in_trend].mean() > 0.95
    assert (market.edges["edge_order_flow"].to_numpy() != 0).all()


def test_null_market_has_no_autocorrelation_and_no_edge_whatever_the_strengths(spec):
    strong = spec.with_edges(**{kind: {"strength": 0.5} for kind in EDGE_KINDS})
    null = replace(strong, mode="random_walk")
    assert strong.planted_edges() == EDGE_KINDS and null.planted_edges() == ()
    market = generate_market(null)
    returns = _returns(market.close)
    band = 4 / np.sqrt(returns.size)  # about 4 standard errors
    for lag in range(1, 11):
        assert abs(_autocorrelation(returns, lag)) < band, f"lag {lag}"
    assert (market.edges.to_numpy() == 0).all()
    for kind in EDGE_KINDS:
        assert abs(_lead_correlation(_visible_signal(market, strong, kind), market.close)) < band
    assert set(market.true_regime) == {"NONE"}


@pytest.mark.parametrize(("change", "message"), [
    ({"order_flow": {"strength": -0.1}}, r"edges\.order_flow\.strength must be a number >= 0"),
    ({"trend_persistence": {"strength": float("nan")}}, r"edges\.trend_persistence\.strength"),
    ({"mean_reversion": {"strength": 1.0}}, r"edges\.mean_reversion\.strength .* < 1"),
    ({"mean_reversion": {"anchor_bars": 1}}, r"edges\.mean_reversion\.anchor_bars must be an "
                                             r"integer >= 2"),
    ({"order_flow": {"lead_bars": 0}}, r"edges\.order_flow\.lead_bars must be an integer >= 1"),
    ({"trend_persistence": {"lookback_bars": 2.5}}, r"edges\.trend_persistence\.lookback_bars"),
    ({"trend_persistence": {"regimes": "sideways"}}, r"edges\.trend_persistence\.regimes must be "
                                                     r"one of \['all', 'trends', 'ranges'\]"),
    ({"order_flow": {"window": 3}}, r"edges\.order_flow: missing keys \[\], unknown keys "
                                    r"\['window'\]"),
    ({"momentum": {"strength": 1.0}}, r"edges: unknown edge kind\(s\) \['momentum'\]"),
])
def test_a_bad_edge_setting_is_refused_at_start_up_naming_its_key(ingestion_params, change,
                                                                   message):
    for kind, block in change.items():
        ingestion_params["synthetic"]["edges"].setdefault(kind, {}).update(block)
    with pytest.raises(ValueError, match=message):
        check_parameters({"ingestion": ingestion_params})


def test_the_old_signal_block_is_refused_with_where_it_went(ingestion_params):
    ingestion_params["synthetic"]["signal"] = {"strength": 1.0, "lead_bars": 1}
    with pytest.raises(ValueError, match=r"signal was replaced by ingestion\.synthetic\."
                                         r"edges\.order_flow"):
        SyntheticMarketSpec.from_params(ingestion_params["synthetic"])


def test_a_missing_edge_kind_is_refused(ingestion_params):
    del ingestion_params["synthetic"]["edges"]["mean_reversion"]
    with pytest.raises(ValueError, match=r"edges\.mean_reversion is missing"):
        SyntheticMarketSpec.from_params(ingestion_params["synthetic"])


def test_every_edge_setting_changes_the_fingerprint_so_archives_regenerate(spec):
    changes = [{"order_flow": {"strength": 0.5}}, {"order_flow": {"lead_bars": 2}},
               {"mean_reversion": {"strength": 0.01}}, {"mean_reversion": {"anchor_bars": 10}},
               {"mean_reversion": {"regimes": "all"}}, {"trend_persistence": {"strength": 0.2}},
               {"trend_persistence": {"lookback_bars": 48}},
               {"trend_persistence": {"regimes": "ranges"}}]
    prints = {spec.with_edges(**change).fingerprint("BTCUSDT", "um_futures") for change in changes}
    assert len(prints | {spec.fingerprint("BTCUSDT", "um_futures")}) == len(changes) + 1


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
    assert {"true_regime", "flow_imbalance", *EDGE_COLUMNS} <= set(regimes.columns)
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
