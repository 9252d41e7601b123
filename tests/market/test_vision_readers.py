"""Binance Vision readers on real archives and layout samples, the folder inventory,
duplicates across files, and the parsed-file cache (idempotent and incremental reads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.archives import (
    Inventory,
    inventory_archives,
    parse_archive_name,
    stable_zip_bytes,
    verify_checksum,
)
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.quality import QualityLog, RepairPolicy
from ares_kedro.market.vision_ingest import read_funding_rates, read_klines, read_open_interest
from ares_kedro.market.vision_readers import (
    read_funding_file,
    read_klines_file,
    read_metrics_file,
)

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HOUR_MS = 3_600_000
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)
OFF_GRID_MONTH = "BTCUSDT-1h-2018-02.csv"  # 43 bars at hh:28:14.789 after the Feb 2018 outage


@pytest.fixture
def real(real_data: Path) -> Path:
    """Real files from ../shared/data/real (skipped with a reason when it is absent)."""
    return real_data


# ------------------------------------------------------------------------------- helpers


def utc(text: str) -> int:
    """A UTC time as int64 epoch nanoseconds, the readers' time representation."""
    return pd.Timestamp(text, tz="UTC").value


def kline_row(hour: int, close: float = 100.5, volume: float = 2.0) -> str:
    t = T0_MS + hour * HOUR_MS
    return (f"{t},100.0,101.0,99.0,{close},{volume},{t + HOUR_MS - 1},{volume * 100},7,"
            f"{volume / 2},{volume * 50},0")


def write_klines(folder: Path, name: str, hour_range: range, **row_args) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(kline_row(h, **row_args) for h in hour_range) + "\n")
    return path


def read_one(path: Path, policy: RepairPolicy | None = None) -> tuple[pd.DataFrame, QualityLog]:
    log = QualityLog()
    return read_klines_file(parse_archive_name(path), policy or RepairPolicy(), log), log


def read_folder(folder: Path, cache: ParsedFileCache, policy: RepairPolicy | None = None,
                interval: str = "1h") -> tuple[pd.DataFrame, QualityLog]:
    log = QualityLog()
    frame = read_klines(inventory_archives(folder, "BTCUSDT"), interval, policy or RepairPolicy(),
                        log, cache)
    return frame, log


def times(frame: pd.DataFrame, column: str = "open_time") -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(frame[column].to_numpy(), utc=True))


def only_repair(log: QualityLog) -> dict:
    assert len(log.repairs) == 1, log.repairs
    return log.repairs[0]


def bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(("name", "kind", "interval", "granularity", "start", "end"), [
    ("BTCUSDT-1h-2017-08.csv", "klines", "1h", "monthly", "2017-08-01", "2017-09-01"),
    ("BTCUSDT-1h-2019-12.csv", "klines", "1h", "monthly", "2019-12-01", "2020-01-01"),
    ("BTCUSDT-1m-2020-01-01.zip", "klines", "1m", "daily", "2020-01-01", "2020-01-02"),
    ("BTCUSDT-aggTrades-2023-11-17.csv", "aggTrades", None, "daily", "2023-11-17", "2023-11-18"),
    ("BTCUSDT-metrics-2026-09-15.csv", "metrics", None, "daily", "2026-09-15", "2026-09-16"),
    ("BTCUSDT-fundingRate-2024-02.zip", "fundingRate", None, "monthly", "2024-02-01",
     "2024-03-01"),
])
def test_archive_name_gives_symbol_kind_and_utc_period(name, kind, interval, granularity,
                                                       start, end):
    parsed = parse_archive_name(Path("some/folder") / name)
    assert parsed is not None
    assert (parsed.symbol, parsed.kind, parsed.interval, parsed.granularity) == (
        "BTCUSDT", kind, interval, granularity)
    assert parsed.period_start == pd.Timestamp(start, tz="UTC")
    assert parsed.period_end == pd.Timestamp(end, tz="UTC")


@pytest.mark.parametrize("name", [
    "BTCUSDT-1m-2020-01-01.zip.CHECKSUM", "XRP_USDT_USDT-1h-futures.feather",
    "btcusdt-1h-2020-01.csv", "BTCUSDT-7h-2020-01.csv", "BTCUSDT-1h-2020-1.csv", "README.md"])
def test_names_that_are_not_vision_archives_give_none(name):
    assert parse_archive_name(name) is None


# ---------------------------------------------------------------------------- inventory


def test_inventory_supersedes_daily_files_inside_a_monthly_file_and_prefers_zips(tmp_path):
    write_klines(tmp_path / "monthly", "BTCUSDT-1h-2024-01.csv", range(48))
    write_klines(tmp_path / "daily", "BTCUSDT-1h-2024-01-02.csv", range(24, 48))
    unzipped = write_klines(tmp_path / "daily", "BTCUSDT-1h-2024-02-01.csv", range(744, 768))
    zipped = tmp_path / "daily" / "BTCUSDT-1h-2024-02-01.zip"  # the same content, zipped
    zipped.write_bytes(stable_zip_bytes("BTCUSDT-1h-2024-02-01.csv", unzipped.read_bytes()))
    write_klines(tmp_path, "ETHUSDT-1h-2024-01.csv", range(3))
    (tmp_path / "notes.txt").write_text("not an archive")
    inventory = inventory_archives(tmp_path, "BTCUSDT")
    assert [f.name for f in inventory.of("klines", "1h")] == [
        "BTCUSDT-1h-2024-01.csv", "BTCUSDT-1h-2024-02-01.zip"]
    assert [f.name for f in inventory.superseded] == ["BTCUSDT-1h-2024-01-02.csv"]
    assert inventory.other_symbols == 1
    assert inventory.kline_intervals() == ["1h"]


def test_superseded_daily_file_is_not_read(tmp_path):
    write_klines(tmp_path, "BTCUSDT-1h-2024-01.csv", range(48))
    (tmp_path / "BTCUSDT-1h-2024-01-05.csv").write_text("this,would,fail,if,read\n")
    frame, log = read_folder(tmp_path, ParsedFileCache(None))
    assert len(frame) == 48 and log.rows_read["klines"] == 48
    assert log.files["klines"]["parsed"] == 1


def test_missing_interval_error_lists_the_intervals_found(tmp_path):
    write_klines(tmp_path, "BTCUSDT-1h-2024-01.csv", range(3))
    with pytest.raises(MarketDataError, match=r"no 1m kline files \(intervals found: 1h\)"):
        read_folder(tmp_path, ParsedFileCache(None), interval="1m")


# ------------------------------------------------------------------ real hourly klines


def real_hourly(real: Path) -> list:
    return inventory_archives(real / "binance_spot_klines_1h", "BTCUSDT").of("klines", "1h")


def test_real_hourly_folder_lists_29_monthly_files_oldest_first(real):
    files = real_hourly(real)
    assert len(files) == 29
    assert files[0].name == "BTCUSDT-1h-2017-08.csv" and files[-1].name == "BTCUSDT-1h-2019-12.csv"
    assert all(f.granularity == "monthly" for f in files)
    assert all(a.period_end == b.period_start for a, b in zip(files, files[1:], strict=False))


def test_real_hourly_month_with_off_grid_bars_is_refused_at_line_170_by_default(real):
    path = real / "binance_spot_klines_1h" / OFF_GRID_MONTH
    with pytest.raises(MarketDataError, match="not on the 1h grid") as caught:
        read_one(path)
    assert caught.value.row == 170 and OFF_GRID_MONTH in str(caught.value)
    assert "snap_off_grid_times" in caught.value.fix


def test_all_29_real_hourly_files_read_into_20708_increasing_bars_with_off_grid_snapped(real):
    log = QualityLog()
    frame = read_klines(inventory_archives(real / "binance_spot_klines_1h", "BTCUSDT"), "1h",
                        RepairPolicy(snap_off_grid_times=True), log, ParsedFileCache(None))
    assert len(frame) == 20_708 == log.rows_read["klines"]
    assert log.files["klines"]["parsed"] == 29 and not log.duplicates_dropped["klines"]
    stamps = times(frame)
    assert stamps[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC")
    assert stamps[-1] == pd.Timestamp("2019-12-31 23:00", tz="UTC")
    assert np.all(np.diff(frame["open_time"].to_numpy()) > 0)  # increasing, so no duplicates
    assert (frame["open_time"] % (HOUR_MS * 10**6) == 0).all()
    repair = only_repair(log)
    assert repair["rule"] == "snap_off_grid_times" and repair["file"].endswith(OFF_GRID_MONTH)
    assert repair["rows"] == 43 and repair["first_lines"][:2] == [170, 171]
    assert pd.Timestamp("2018-02-09 09:00", tz="UTC") in stamps  # was 09:28:14.789
    first = frame.iloc[0]  # line 1 of BTCUSDT-1h-2017-08.csv
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        4261.48, 4313.62, 4261.32, 4308.83)
    assert first["volume"] == 47.181009 and first["trade_count"] == 171


# ---------------------------------------------------------------- real minute zips


def test_real_minute_zips_verify_their_checksums_and_hold_1440_bars_each(real):
    folder = real / "binance_spot_klines_1m_zip"
    files = inventory_archives(folder, "BTCUSDT").of("klines", "1m")
    assert [f.name for f in files] == [f"BTCUSDT-1m-2020-01-0{d}.zip" for d in (1, 2, 3)]
    for archive in files:
        assert verify_checksum(archive.path) is True
        frame, log = read_one(archive.path)
        expected = pd.date_range(archive.period_start, periods=1440, freq="min")
        assert times(frame).equals(expected) and log.rows_read["klines"] == 1440


def test_read_klines_counts_verified_checksums_of_the_real_minute_zips(real):
    log = QualityLog()
    frame = read_klines(inventory_archives(real / "binance_spot_klines_1m_zip", "BTCUSDT"), "1m",
                        RepairPolicy(), log, ParsedFileCache(None))
    assert len(frame) == 3 * 1440
    assert log.files["klines"]["checksum_verified"] == 3
    assert np.all(np.diff(frame["open_time"].to_numpy()) == 60 * 10**9)


# --------------------------------------------------------------- layout samples


def test_spot_2026_minute_sample_in_microseconds_gives_minutes_0_to_3(real):
    path = real / "binance_vision_format_samples" / "spot" / "BTCUSDT-1m-2026-09-15.csv"
    frame, _ = read_one(path)
    assert list(times(frame)) == list(pd.date_range("2026-09-15", periods=4, freq="min", tz="UTC"))
    assert frame["open"].iloc[0] == 78189.2 and frame["close"].iloc[-1] == 78218.5
    assert frame["trade_count"].tolist() == [1076, 1757, 1382, 1156]


def test_um_hourly_sample_with_header_gives_three_hours_of_values(real):
    path = real / "binance_vision_format_samples" / "um" / "BTCUSDT-1h-2026-09-15.csv"
    frame, log = read_one(path)
    assert list(times(frame)) == list(pd.date_range("2026-09-15", periods=3, freq="h", tz="UTC"))
    assert log.rows_read["klines"] == 3
    row = frame.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"]) == (
        78153.0, 78223.3, 77905.5, 77928.5)
    assert row["volume"] == 5124.846 and row["trade_count"] == 109441
    assert row["taker_buy_volume"] == 2423.99


def test_um_metrics_sample_gives_open_interest_at_midnight(real):
    folder = real / "binance_vision_format_samples" / "um"
    archive = parse_archive_name(folder / "BTCUSDT-metrics-2026-09-15.csv")
    frame = read_metrics_file(archive, "BTCUSDT", RepairPolicy(), QualityLog())
    assert list(times(frame, "metric_time")) == [
        pd.Timestamp("2026-09-15 00:00", tz="UTC"), pd.Timestamp("2026-09-15 00:25", tz="UTC")]
    assert frame["open_interest"].tolist() == [103513.561, 103351.079]
    assert frame["open_interest_value"].iloc[0] == 8088539305.1839
    log = QualityLog()
    through_folder = read_open_interest(inventory_archives(folder, "BTCUSDT"), "BTCUSDT",
                                        RepairPolicy(), log, ParsedFileCache(None))
    pd.testing.assert_frame_equal(through_folder, frame.drop(columns="source_line"))
    assert log.rows_read["open_interest"] == 2


# ------------------------------------------------------------------------------ funding

FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"


def write_funding(folder: Path, rates: list[str]) -> Path:
    lines = [f"{T0_MS + 8 * HOUR_MS * k},8,{rate}" for k, rate in enumerate(rates)]
    path = folder / "BTCUSDT-fundingRate-2024-01.csv"
    path.write_text("\n".join([FUNDING_HEADER, *lines]) + "\n")
    return path


def test_funding_file_gives_rates_as_fractions_at_their_times(tmp_path):
    path = write_funding(tmp_path, ["0.00010000", "-0.00002500", "0.00037500"])
    frame = read_funding_file(parse_archive_name(path), RepairPolicy(), QualityLog())
    assert frame["funding_rate"].tolist() == [0.0001, -0.000025, 0.000375]
    assert frame["funding_interval_hours"].tolist() == [8.0, 8.0, 8.0]
    assert list(times(frame, "funding_time")) == list(
        pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC"))
    log = QualityLog()
    merged = read_funding_rates(inventory_archives(tmp_path, "BTCUSDT"), RepairPolicy(), log,
                                ParsedFileCache(None))
    pd.testing.assert_frame_equal(merged, frame.drop(columns="source_line"))
    assert log.rows_read["funding_rates"] == 3


def test_funding_rate_given_in_percent_is_refused_at_its_line(tmp_path):
    path = write_funding(tmp_path, ["0.0001", "1.5"])
    with pytest.raises(MarketDataError, match="finite fraction") as caught:
        read_funding_file(parse_archive_name(path), RepairPolicy(), QualityLog())
    assert caught.value.row == 3 and path.name in str(caught.value)


# ---------------------------------------------------------------- exact duplicates


def test_exact_duplicate_row_in_one_file_is_dropped_and_counted(tmp_path):
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n".join(kline_row(h) for h in (0, 1, 1, 2, 3, 3, 3)) + "\n")
    frame, log = read_one(path)
    assert len(frame) == 4 and log.rows_read["klines"] == 7
    assert log.duplicates_dropped["klines"] == 3 and log.repairs == []


def test_same_bar_in_a_daily_and_an_overlapping_monthly_file_is_kept_once(tmp_path):
    month = write_klines(tmp_path, "BTCUSDT-1h-2024-01.csv", range(48))
    day = write_klines(tmp_path, "BTCUSDT-1h-2024-01-02.csv", range(24, 34))
    # listed by a caller, not by inventory_archives (which would supersede the daily file)
    inventory = Inventory({"klines": [parse_archive_name(month), parse_archive_name(day)]}, [], 0)
    log = QualityLog()
    frame = read_klines(inventory, "1h", RepairPolicy(), log, ParsedFileCache(None))
    alone, _ = read_one(month)
    pd.testing.assert_frame_equal(frame, alone.drop(columns="source_line"))
    assert log.rows_read["klines"] == 58 and log.duplicates_dropped["klines"] == 10


# --------------------------------------------------------------------------- the cache


def copy_real_months(real: Path, folder: Path, months: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for month in months:
        shutil.copy(real / "binance_spot_klines_1h" / f"BTCUSDT-1h-{month}.csv", folder)


def test_second_read_of_a_folder_is_identical_and_comes_from_the_cache(real, tmp_path):
    copy_real_months(real, tmp_path / "vision", ["2019-01", "2019-02", "2019-03"])
    cache = ParsedFileCache(tmp_path / "cache")
    first, first_log = read_folder(tmp_path / "vision", cache)
    second, second_log = read_folder(tmp_path / "vision", cache)
    pd.testing.assert_frame_equal(first, second)
    assert dict(first_log.files["klines"]) == {"parsed": 3, "checksum_missing": 3}
    assert dict(second_log.files["klines"]) == {"from_cache": 3}
    assert second_log.rows_read == first_log.rows_read
    assert len(first) == 744 + 672 + 738


def test_adding_a_month_parses_only_that_file_and_equals_a_cold_read(real, tmp_path):
    vision = tmp_path / "vision"
    copy_real_months(real, vision, ["2019-01", "2019-02"])
    cache = ParsedFileCache(tmp_path / "cache")
    read_folder(vision, cache)
    copy_real_months(real, vision, ["2019-03"])
    warm, warm_log = read_folder(vision, cache)
    assert warm_log.files["klines"]["parsed"] == 1 and warm_log.files["klines"]["from_cache"] == 2
    cold, cold_log = read_folder(vision, ParsedFileCache(None))
    pd.testing.assert_frame_equal(warm, cold)
    assert warm_log.to_dict()["rows_read"] == cold_log.to_dict()["rows_read"]


def test_removed_file_drops_out_of_the_result_and_the_rest_comes_from_the_cache(tmp_path):
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5))
    february = write_klines(vision, "BTCUSDT-1h-2024-02.csv", range(744, 750))
    assert len(read_folder(vision, cache)[0]) == 11
    february.unlink()
    frame, log = read_folder(vision, cache)
    assert len(frame) == 5 and dict(log.files["klines"]) == {"from_cache": 1}


def test_touched_file_is_parsed_again_and_the_others_come_from_the_cache(tmp_path):
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5))
    february = write_klines(vision, "BTCUSDT-1h-2024-02.csv", range(744, 750))
    before, _ = read_folder(vision, cache)
    february.write_bytes(february.read_bytes())  # rewritten, same bytes
    bump_mtime(february)  # make the new modification time certain on coarse clocks
    after, log = read_folder(vision, cache)
    assert dict(log.files["klines"]) == {"from_cache": 1, "parsed": 1, "checksum_missing": 1}
    pd.testing.assert_frame_equal(before, after)


def test_rewritten_file_of_the_same_size_gives_its_new_values(tmp_path):
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    path = write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5), close=100.5)
    assert read_folder(vision, cache)[0]["close"].eq(100.5).all()
    write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5), close=100.7)  # same length
    bump_mtime(path)
    frame, log = read_folder(vision, cache)
    assert frame["close"].eq(100.7).all() and log.files["klines"]["parsed"] == 1


def test_without_a_cache_folder_every_read_parses_every_file(tmp_path):
    write_klines(tmp_path, "BTCUSDT-1h-2024-01.csv", range(5))
    write_klines(tmp_path, "BTCUSDT-1h-2024-02.csv", range(744, 750))
    for _ in range(2):
        _, log = read_folder(tmp_path, ParsedFileCache(None))
        assert log.files["klines"]["parsed"] == 2 and "from_cache" not in log.files["klines"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # nothing written beside the files
        "BTCUSDT-1h-2024-01.csv", "BTCUSDT-1h-2024-02.csv"]


def test_cached_repairs_are_reported_again_on_a_warm_read(tmp_path):
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    path = write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5))
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",2.0,", ",-2.0,", 1)
    path.write_text("\n".join(lines) + "\n")
    policy = RepairPolicy(drop_negative_volume_rows=True)
    cold, cold_log = read_folder(vision, cache, policy)
    warm, warm_log = read_folder(vision, cache, policy)
    pd.testing.assert_frame_equal(cold, warm)
    assert warm_log.files["klines"]["from_cache"] == 1
    assert warm_log.repairs == cold_log.repairs and warm_log.repairs[0]["rows"] == 1
    assert len(warm) == warm_log.rows_read["klines"] - 1


def test_switching_a_repair_off_reparses_and_refuses_the_cached_bad_file(tmp_path):
    vision, cache = tmp_path / "vision", ParsedFileCache(tmp_path / "cache")
    path = write_klines(vision, "BTCUSDT-1h-2024-01.csv", range(5))
    path.write_text(path.read_text().replace(",2.0,", ",-2.0,", 1))
    read_folder(vision, cache, RepairPolicy(drop_negative_volume_rows=True))
    with pytest.raises(MarketDataError, match="volume must be zero or positive"):
        read_folder(vision, cache, RepairPolicy())


def test_later_file_wins_a_repaired_conflict_on_warm_reads_as_on_cold_reads(tmp_path):
    month = write_klines(tmp_path, "BTCUSDT-1h-2024-01.csv", range(48))
    day = tmp_path / "BTCUSDT-1h-2024-01-02.csv"
    day.write_text("\n".join(kline_row(h, close=100.7 if h == 30 else 100.5)
                             for h in range(24, 48)) + "\n")
    inventory = Inventory({"klines": [parse_archive_name(month), parse_archive_name(day)]}, [], 0)
    policy, cache = RepairPolicy(drop_conflicting_duplicates=True), ParsedFileCache(tmp_path / "c")
    cold = read_klines(inventory, "1h", policy, QualityLog(), ParsedFileCache(None))
    read_klines(inventory, "1h", policy, QualityLog(), cache)
    bump_mtime(month)
    warm = read_klines(inventory, "1h", policy, QualityLog(), cache)
    pd.testing.assert_frame_equal(warm, cold)


def test_klines_csv_with_windows_line_endings_and_a_header_is_read(tmp_path):
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_bytes(("\r\n".join([KLINE_HEADER, kline_row(0), kline_row(1)]) + "\r\n").encode())
    frame, _ = read_one(path)
    assert len(frame) == 2
