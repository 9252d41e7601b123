"""Order flow per bar from aggTrades: real layout samples summed by hand, the no-lookahead
large-trade threshold, warm-up, chunk independence and cached incremental reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.archives import inventory_archives, parse_archive_name
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.quality import QualityLog
from ares_kedro.market.trade_flow import (
    DAY_NS,
    N_BINS,
    TRADE_FLOW_COLUMNS,
    LargeTradeRule,
    aggregate_trade_file,
    notional_bins,
    threshold_from_history,
)
from ares_kedro.market.vision_ingest import read_trade_flow

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
DAY0 = pd.Timestamp("2024-01-01", tz="UTC")
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
LARGE = ["large_trade_count", "large_buy_volume", "large_sell_volume"]
NO_HISTORY = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=1)


@pytest.fixture
def samples(real_data: Path) -> Path:
    """Real files from ../shared/data/real (skipped with a reason when it is absent)."""
    return real_data / "binance_vision_format_samples"


# ------------------------------------------------------------------------------- helpers


def ns(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


def random_trades(day: int, n: int, seed: int, first_id: int = 1) -> pd.DataFrame:
    """``n`` sorted trades on day ``day`` after 2024-01-01: id, time (ms), price, qty, maker."""
    rng = np.random.default_rng(seed)
    start_ms = (DAY0 + pd.Timedelta(days=day)).value // 10**6
    return pd.DataFrame({
        "id": first_id + np.arange(n),
        "time_ms": start_ms + np.sort(rng.integers(0, 86_400_000, n)),
        "price": np.round(100 + rng.normal(0, 1, n), 2),
        "qty": np.round(rng.lognormal(0, 1, n), 3) + 0.001,
        "maker": rng.random(n) < 0.5,
    })


def write_trades(folder: Path, name: str, trades: pd.DataFrame, header: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{t.id},{t.price},{t.qty},{t.id},{t.id},{t.time_ms},{str(t.maker).lower()}"
             for t in trades.itertuples()]
    path = folder / name
    path.write_text("\n".join(([AGG_HEADER] if header else []) + lines) + "\n")
    return path


def day_name(day: int) -> str:
    return f"BTCUSDT-aggTrades-{(DAY0 + pd.Timedelta(days=day)):%Y-%m-%d}.csv"


def aggregate(path: Path, bar_ns: int = MINUTE_NS, rule: LargeTradeRule = NO_HISTORY,
              prior: dict | None = None, block_bytes: int = 32 << 20, parse_threads: int = 1):
    return aggregate_trade_file(parse_archive_name(path), bar_ns, rule, prior or {},
                                block_bytes=block_bytes, parse_threads=parse_threads)


def histogram(notionals: list[float]) -> np.ndarray:
    return np.bincount(notional_bins(np.asarray(notionals, dtype=float)), minlength=N_BINS)


# ------------------------------------------------------------------- real layout samples


def test_spot_2023_sample_true_means_the_taker_sold(samples):
    # 2 trades with is_buyer_maker True (taker sold) at 36163.51, 2 with False at 36163.52
    result = aggregate(samples / "spot" / "BTCUSDT-aggTrades-2023-11-17.csv")
    assert result.rows == 4 and result.duplicates == 0
    assert list(result.bars.index) == [ns("2023-11-17 00:00")]
    bar = result.bars.iloc[0]
    assert bar["sell_volume"] == pytest.approx(0.00207 + 0.00231)
    assert bar["buy_volume"] == pytest.approx(0.00161 + 0.00199)
    assert bar["sell_quote_volume"] == pytest.approx(36163.51 * (0.00207 + 0.00231))
    assert bar["buy_quote_volume"] == pytest.approx(36163.52 * (0.00161 + 0.00199))
    assert bar["agg_trade_count"] == 4
    assert bar[LARGE].isna().all()  # no earlier day: warm-up


def test_spot_2026_sample_in_microseconds_lands_in_its_minute(samples):
    result = aggregate(samples / "spot" / "BTCUSDT-aggTrades-2026-09-15.csv")
    assert list(result.bars.index) == [ns("2026-09-15 00:00")]
    bar = result.bars.iloc[0]
    assert bar["sell_volume"] == pytest.approx(0.00009 + 0.00010)
    assert bar["buy_volume"] == pytest.approx(0.00100 + 0.00204 + 0.02830)
    assert bar["sell_quote_volume"] == pytest.approx(78189.20 * 0.00019)
    assert bar["buy_quote_volume"] == pytest.approx(78189.21 * 0.03134)
    assert bar["agg_trade_count"] == 5 and result.rows == 5


def test_um_sample_with_header_and_lowercase_booleans(samples):
    result = aggregate(samples / "um" / "BTCUSDT-aggTrades-2026-09-15.csv")
    assert list(result.bars.index) == [ns("2026-09-15 00:00")]
    bar = result.bars.iloc[0]
    assert bar["buy_volume"] == pytest.approx(0.001)  # the one 'false' row
    assert bar["buy_quote_volume"] == pytest.approx(78153.0 * 0.001)
    assert bar["sell_volume"] == pytest.approx(0.148 + 0.001 + 0.008 + 0.001)
    assert bar["sell_quote_volume"] == pytest.approx(
        78152.9 * 0.148 + 78152.8 * 0.001 + 78152.6 * 0.008 + 78152.3 * 0.001)
    assert bar["agg_trade_count"] == 5 and result.rows == 5


def test_sample_names_give_the_day_the_trades_are_checked_against(samples):
    for path in sorted(samples.rglob("*aggTrades*.csv")):
        archive = parse_archive_name(path)
        assert archive.kind == "aggTrades" and archive.granularity == "daily"
        bars = aggregate(path).bars
        assert (bars.index >= archive.period_start.value).all()
        assert (bars.index < archive.period_end.value).all()


def test_trade_flow_of_a_sample_folder_has_the_documented_columns(samples):
    log = QualityLog()
    flow = read_trade_flow(inventory_archives(samples / "um", "BTCUSDT"), MINUTE_NS, NO_HISTORY,
                           log, ParsedFileCache(None))
    assert list(flow.columns) == TRADE_FLOW_COLUMNS and flow.index.name == "bar_time"
    assert log.rows_read["agg_trades"] == 5 and flow["agg_trade_count"].sum() == 5


# --------------------------------------------------------------------- the threshold


RULE = LargeTradeRule(quantile=0.9, lookback_days=2, min_history_trades=10)
DAY = 19_723  # 2024-01-01 in days since the epoch


def test_threshold_is_the_quantile_of_the_days_before():
    history = {DAY - 1: histogram([100.0] * 80 + [10_000.0] * 20)}
    threshold = threshold_from_history(DAY, history, RULE)
    assert 9_000 < threshold <= 10_000  # bin edge at or just below 10,000 (~4.7 % bins)
    lower = {DAY - 1: histogram([100.0] * 95 + [10_000.0] * 5)}
    assert 90 < threshold_from_history(DAY, lower, RULE) <= 100


def test_same_day_and_later_trades_do_not_change_the_days_threshold():
    history = {DAY - 2: histogram([50.0] * 30), DAY - 1: histogram([200.0] * 30)}
    before = threshold_from_history(DAY, history, RULE)
    with_today = {**history, DAY: histogram([1e9] * 1000), DAY + 1: histogram([1e9] * 1000)}
    assert threshold_from_history(DAY, with_today, RULE) == before
    older = {**history, DAY - 3: histogram([1e9] * 1000)}  # outside the 2-day lookback
    assert threshold_from_history(DAY, older, RULE) == before


def test_history_shorter_than_min_history_trades_gives_nan():
    assert np.isnan(threshold_from_history(DAY, {}, RULE))
    assert np.isnan(threshold_from_history(DAY, {DAY - 1: histogram([100.0] * 9)}, RULE))
    assert not np.isnan(threshold_from_history(DAY, {DAY - 1: histogram([100.0] * 10)}, RULE))


def test_a_huge_trade_on_the_same_day_is_large_but_does_not_move_that_days_threshold(tmp_path):
    rule = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=50)
    prior = aggregate(write_trades(tmp_path, day_name(0), random_trades(0, 300, 1)), HOUR_NS,
                      rule).histograms
    today = random_trades(1, 300, 2)
    plain = aggregate(write_trades(tmp_path / "a", day_name(1), today), HOUR_NS, rule, prior)
    huge = today.copy()
    huge.loc[0, "qty"] = 1e6
    spiked = aggregate(write_trades(tmp_path / "b", day_name(1), huge), HOUR_NS, rule, prior)
    assert spiked.thresholds == plain.thresholds and not np.isnan(plain.thresholds[DAY + 1])
    first_bar = spiked.bars.index[0]
    assert spiked.bars.at[first_bar, "large_trade_count"] >= 1
    assert spiked.bars.at[first_bar, "large_buy_volume"] + spiked.bars.at[
        first_bar, "large_sell_volume"] >= 1e6


def test_large_trades_are_counted_against_the_threshold_by_hand(tmp_path):
    rule = LargeTradeRule(quantile=0.8, lookback_days=1, min_history_trades=100)
    prior = aggregate(write_trades(tmp_path, day_name(0), random_trades(0, 400, 3)), HOUR_NS,
                      rule).histograms
    trades = random_trades(1, 400, 4)
    result = aggregate(write_trades(tmp_path / "d1", day_name(1), trades), HOUR_NS, rule, prior)
    threshold = result.thresholds[DAY + 1]
    assert threshold == threshold_from_history(DAY + 1, prior, rule)
    trades["bar"] = trades["time_ms"] * 10**6 // HOUR_NS * HOUR_NS
    trades["large"] = trades["price"] * trades["qty"] >= threshold
    by_bar = trades.groupby("bar")
    expected_count = by_bar["large"].sum().astype(float)
    large_sells = trades["qty"].where(trades["large"] & trades["maker"], 0.0)
    expected_sell = large_sells.groupby(trades["bar"]).sum()
    assert result.bars["large_trade_count"].to_numpy() == pytest.approx(expected_count.to_numpy())
    assert result.bars["large_sell_volume"].to_numpy() == pytest.approx(expected_sell.to_numpy())
    assert 0 < expected_count.sum() < len(trades)


# -------------------------------------------------------------------------- warm-up


def test_large_trade_columns_are_nan_on_the_warm_up_day_and_numbers_after(tmp_path):
    rule = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=100)
    write_trades(tmp_path, day_name(0), random_trades(0, 200, 5))
    write_trades(tmp_path, day_name(1), random_trades(1, 200, 6, first_id=1000))
    log = QualityLog()
    flow = read_trade_flow(inventory_archives(tmp_path, "BTCUSDT"), HOUR_NS, rule, log,
                           ParsedFileCache(None))
    first_day = flow.index < (DAY0.value + DAY_NS)
    assert flow.loc[first_day, LARGE].isna().all().all()
    assert flow.loc[~first_day, LARGE].notna().all().all()
    assert flow.loc[~first_day, "large_trade_count"].sum() > 0
    assert flow[TRADE_FLOW_COLUMNS[:5]].notna().all().all()
    assert flow["agg_trade_count"].sum() == 400 == log.rows_read["agg_trades"]


def test_monthly_file_warms_up_on_its_own_first_day(tmp_path):
    rule = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=100)
    trades = pd.concat([random_trades(0, 200, 7), random_trades(1, 200, 8, first_id=1000)])
    result = aggregate(write_trades(tmp_path, "BTCUSDT-aggTrades-2024-01.csv", trades), HOUR_NS,
                       rule)
    assert np.isnan(result.thresholds[DAY]) and not np.isnan(result.thresholds[DAY + 1])
    first_day = result.bars.index < (DAY0.value + DAY_NS)
    assert result.bars.loc[first_day, LARGE].isna().all().all()
    assert result.bars.loc[~first_day, LARGE].notna().all().all()


# ------------------------------------------------------------------ chunk independence


def test_small_blocks_give_the_same_bars_as_one_block(tmp_path):
    rule = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=100)
    trades = pd.concat([random_trades(0, 300, 9), random_trades(1, 300, 10, first_id=1000)])
    trades = pd.concat([trades, trades.iloc[[5, 450]]]).sort_values(["time_ms", "id"])  # repeats
    path = write_trades(tmp_path, "BTCUSDT-aggTrades-2024-01.csv", trades)
    assert path.stat().st_size > 100 * 256  # many blocks
    whole = aggregate(path, MINUTE_NS, rule)
    blocks = aggregate(path, MINUTE_NS, rule, block_bytes=256)
    pd.testing.assert_frame_equal(blocks.bars, whole.bars, rtol=1e-12)
    threaded = aggregate(path, MINUTE_NS, rule, block_bytes=256, parse_threads=3)
    pd.testing.assert_frame_equal(threaded.bars, blocks.bars)  # parsed in parallel, same order
    assert (blocks.rows, blocks.duplicates) == (whole.rows, whole.duplicates) == (602, 2)
    assert list(blocks.thresholds) == list(whole.thresholds) == [DAY, DAY + 1]
    np.testing.assert_array_equal(list(blocks.thresholds.values()),
                                  list(whole.thresholds.values()))  # NaN (warm-up) equals NaN
    assert whole.bars["agg_trade_count"].sum() == 600
    assert whole.bars.index.is_unique and whole.bars.index.is_monotonic_increasing


def test_repeated_agg_trade_is_counted_once_and_reported(tmp_path):
    trades = random_trades(0, 20, 11)
    repeated = pd.concat([trades, trades.iloc[[3]]]).sort_values(["time_ms", "id"])
    once = aggregate(write_trades(tmp_path / "a", day_name(0), trades))
    twice = aggregate(write_trades(tmp_path / "b", day_name(0), repeated))
    pd.testing.assert_frame_equal(twice.bars, once.bars)
    assert (twice.rows, twice.duplicates) == (21, 1)


# -------------------------------------------------------------------------- the cache


def test_trade_flow_is_cached_and_a_new_day_is_the_only_file_parsed(tmp_path):
    rule = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=50)
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    for day in (0, 1):
        write_trades(vision, day_name(day), random_trades(day, 150, 20 + day, 1000 * day + 1))

    def read(cache_: ParsedFileCache) -> tuple[pd.DataFrame, QualityLog]:
        log = QualityLog()
        inventory = inventory_archives(vision, "BTCUSDT")
        return read_trade_flow(inventory, HOUR_NS, rule, log, cache_), log

    first, _ = read(cache)
    again, again_log = read(cache)
    pd.testing.assert_frame_equal(first, again)
    assert dict(again_log.files["agg_trades"]) == {"from_cache": 2}
    write_trades(vision, day_name(2), random_trades(2, 150, 22, 2001))
    warm, warm_log = read(cache)
    assert warm_log.files["agg_trades"]["parsed"] == 1
    assert warm_log.files["agg_trades"]["from_cache"] == 2
    cold, _ = read(ParsedFileCache(None))
    pd.testing.assert_frame_equal(warm, cold)
    assert warm.loc[warm.index >= DAY0.value + 2 * DAY_NS, LARGE].notna().all().all()
