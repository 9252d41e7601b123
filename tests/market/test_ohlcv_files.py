"""Generic OHLCV files (CSV, Parquet, Feather): column names, time formats and zones, extra
columns, the real freqtrade feather file, and several files merged by ingestion."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.ingest import IngestionConfig, read_source_klines
from ares_kedro.market.ohlcv_files import list_ohlcv_files, read_ohlcv_file
from ares_kedro.market.quality import QualityLog, RepairPolicy

HOUR_NS = 3600 * 10**9
T0 = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture
def feather(real_data: Path) -> Path:
    """Real files from ../shared/data/real (skipped with a reason when it is absent)."""
    return real_data / "freqtrade_binance_futures" / "XRP_USDT_USDT-1h-futures.feather"


# ------------------------------------------------------------------------------- helpers


def read(path: Path, symbol: str = "BTCUSDT", policy: RepairPolicy | None = None
         ) -> tuple[pd.DataFrame, QualityLog]:
    log = QualityLog()
    return read_ohlcv_file(path, symbol, policy or RepairPolicy(), log), log


def utc_times(frame: pd.DataFrame) -> list[pd.Timestamp]:
    return list(pd.to_datetime(frame["open_time"].to_numpy(), utc=True))


def hourly(n: int = 3) -> list[pd.Timestamp]:
    return list(pd.date_range(T0, periods=n, freq="h"))


def bars_frame(time_values, **extra) -> pd.DataFrame:
    n = len(time_values)
    return pd.DataFrame({"timestamp": time_values, "open": np.full(n, 10.0),
                         "high": np.full(n, 11.0), "low": np.full(n, 9.0),
                         "close": np.linspace(10.0, 10.5, n), "volume": np.arange(1.0, n + 1),
                         **extra})


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


# ------------------------------------------------------------------------------------ CSV


def test_csv_with_mixed_case_names_and_naive_iso_times_is_read_as_utc(tmp_path):
    path = write_csv(tmp_path / "export.csv", "Date,OPEN,High,low,Close,VOLUME,Trades,VWAP", [
        "2024-01-01T00:00:00,10,11,9,10.5,100,7,10.2",
        "2024-01-01T01:00:00,10.5,12,10,11,200,9,11.1",
    ])
    frame, log = read(path)
    assert utc_times(frame) == hourly(2)
    assert list(frame.columns) == ["open_time", "open", "high", "low", "close", "volume",
                                   "trades", "vwap", "source_line"]  # extras kept, lower-cased
    assert frame["source_line"].tolist() == [2, 3]  # lines as an editor numbers them
    assert frame["trades"].tolist() == [7, 9] and frame["vwap"].tolist() == [10.2, 11.1]
    assert frame["close"].tolist() == [10.5, 11.0] and log.rows_read["klines"] == 2
    assert frame["open_time"].dtype == np.int64


def test_csv_times_with_offsets_or_z_are_converted_to_utc(tmp_path):
    path = write_csv(tmp_path / "export.csv", "datetime,open,high,low,close,volume", [
        "2024-01-01T02:00:00+02:00,10,11,9,10.5,1",
        "2024-01-01T01:00:00Z,10,11,9,10.5,1",
        "2023-12-31T21:00:00-05:00,10,11,9,10.5,1",
    ])
    frame, _ = read(path)
    assert utc_times(frame) == hourly(3)


def test_csv_with_epoch_millisecond_times_is_read(tmp_path):
    rows = [f"{t.value // 10**6},10,11,9,10.5,1" for t in hourly(3)]
    frame, _ = read(write_csv(tmp_path / "ms.csv", "open_time,open,high,low,close,volume", rows))
    assert utc_times(frame) == hourly(3)


# ---------------------------------------------------------------------- Parquet, Feather


@pytest.mark.parametrize("unit,divisor", [("s", 10**9), ("ms", 10**6), ("us", 10**3)])
def test_parquet_with_epoch_numbers_in_any_unit_gives_the_same_times(tmp_path, unit, divisor):
    epochs = np.array([t.value // divisor for t in hourly(3)], dtype=np.int64)
    path = tmp_path / f"bars_{unit}.parquet"
    bars_frame(epochs, funding=[0.1, 0.2, 0.3]).to_parquet(path)
    frame, _ = read(path)
    assert utc_times(frame) == hourly(3)
    assert frame["funding"].tolist() == [0.1, 0.2, 0.3]  # extra column kept
    assert frame["volume"].tolist() == [1.0, 2.0, 3.0]


def test_parquet_naive_datetimes_are_taken_as_utc(tmp_path):
    path = tmp_path / "naive.parquet"
    bars_frame(pd.date_range("2024-01-01", periods=3, freq="h")).to_parquet(path)
    assert utc_times(read(path)[0]) == hourly(3)


def test_parquet_datetimes_in_another_zone_are_converted_to_utc(tmp_path):
    path = tmp_path / "berlin.parquet"
    berlin = pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="Europe/Berlin")
    bars_frame(berlin).to_parquet(path)
    assert utc_times(read(path)[0]) == hourly(3)  # 01:00 CET = 00:00 UTC


def test_freqtrade_feather_file_gives_its_100_hourly_bars(feather):
    frame, log = read(feather, "XRPUSDT")
    raw = pd.read_feather(feather)
    assert len(frame) == 100 == log.rows_read["klines"]
    assert utc_times(frame)[0] == pd.Timestamp("2021-11-17 01:00", tz="UTC")
    assert utc_times(frame)[-1] == pd.Timestamp("2021-11-21 04:00", tz="UTC")
    assert np.all(np.diff(frame["open_time"].to_numpy()) == HOUR_NS)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(frame[column].to_numpy(), raw[column].to_numpy())
    assert frame["open"].iloc[0] == 1.0801
    assert log.repairs == [] and not log.duplicates_dropped["klines"]


def test_datetime_times_are_read_without_warnings(tmp_path):
    path = tmp_path / "aware.parquet"
    bars_frame(pd.date_range(T0, periods=3, freq="h")).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, _ = read(path)
    assert utc_times(frame) == hourly(3)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("header", "missing"), [
    ("time,open,high,low,close", "volume"),
    ("Timestamp,Open,Low,Volume", "high, close"),
    ("when,open,high,low,close,volume", "a time column (timestamp/open_time/date/datetime/time)"),
], ids=["volume", "high_and_close", "time"])
def test_missing_columns_are_named_in_the_error(tmp_path, header, missing):
    fields = len(header.split(","))
    path = write_csv(tmp_path / "bad.csv", header, [",".join(["1"] * fields)])
    with pytest.raises(MarketDataError) as caught:
        read(path)
    assert caught.value.problem.startswith(f"missing column(s): {missing};")
    assert "bad.csv" in str(caught.value) and "rename the columns" in caught.value.fix


def test_non_numeric_ohlcv_value_is_refused_at_its_line_and_column(tmp_path):
    path = write_csv(tmp_path / "bad.csv", "date,open,high,low,close,volume", [
        "2024-01-01T00:00:00Z,10,11,9,10.5,1",
        "2024-01-01T01:00:00Z,10,11,9,n/a?,1",
    ])
    with pytest.raises(MarketDataError, match="not a number") as caught:
        read(path)
    assert caught.value.row == 3 and caught.value.column == "close"
    assert "bad.csv, line 3" in str(caught.value)


def test_unordered_ohlcv_rows_are_refused_or_sorted_with_the_repair(tmp_path):
    path = write_csv(tmp_path / "bars.csv", "date,open,high,low,close,volume", [
        "2024-01-01T00:00:00Z,10,11,9,10.5,1",
        "2024-01-01T02:00:00Z,10,11,9,10.5,1",
        "2024-01-01T01:00:00Z,10,11,9,10.5,1",
    ])
    with pytest.raises(MarketDataError, match="out of time order") as caught:
        read(path)
    assert caught.value.row == 4 and "sort_unordered_rows" in caught.value.fix
    frame, log = read(path, policy=RepairPolicy(sort_unordered_rows=True))
    assert utc_times(frame) == hourly(3)
    assert log.repairs[0]["rule"] == "sort_unordered_rows" and log.repairs[0]["rows"] == 1


def test_unreadable_parquet_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(MarketDataError, match="unreadable .parquet file") as caught:
        read(path)
    assert "broken.parquet" in str(caught.value)


# ------------------------------------------------------------- several files, ingestion


def ohlcv_config(folder: Path, **repairs: bool) -> IngestionConfig:
    return IngestionConfig.from_params({
        "symbol": "btcusdt", "exchange": "binance", "market": "spot", "timeframe": "1h",
        "source": "ohlcv_files", "fill_gaps": False, "verify_checksums": True,
        "paths": {"ohlcv_files": str(folder), "cache": str(folder.parent / "cache")},
        "trades": {"large_trade": {"quantile": 0.99, "lookback_days": 7,
                                   "min_history_trades": 1000},
                   "block_bytes": 1 << 20, "parse_threads": 1},
        "repairs": repairs,
        "plausibility": {"window_bars": 168, "max_jump_sigmas": 100, "min_jump_log_return": 0.2},
    })


def two_overlapping_files(folder: Path, second_close: str = "10.5") -> None:
    header = "date,open,high,low,close,volume"
    write_csv(folder / "a.csv", header, ["2024-01-01T00:00:00Z,10,11,9,10.5,1",
                                         "2024-01-01T01:00:00Z,10,11,9,10.5,1"])
    write_csv(folder / "b.csv", header, [f"2024-01-01T01:00:00Z,10,11,9,{second_close},1",
                                         "2024-01-01T02:00:00Z,10,11,9,10.5,1"])


def test_overlapping_ohlcv_files_keep_a_repeated_bar_once_and_count_it(tmp_path):
    folder = tmp_path / "ohlcv"
    two_overlapping_files(folder)
    assert [p.name for p in list_ohlcv_files(folder)] == ["a.csv", "b.csv"]
    log = QualityLog()
    klines, source_ns = read_source_klines(ohlcv_config(folder), log)
    assert utc_times(klines) == hourly(3) and source_ns == HOUR_NS
    assert log.rows_read["klines"] == 4 and log.duplicates_dropped["klines"] == 1
    assert log.files["klines"]["parsed"] == 2


def test_overlapping_ohlcv_files_that_disagree_are_refused(tmp_path):
    folder = tmp_path / "ohlcv"
    two_overlapping_files(folder, second_close="10.7")
    with pytest.raises(MarketDataError, match="disagree about klines at 2024-01-01 01:00:00"):
        read_source_klines(ohlcv_config(folder), QualityLog())
    log = QualityLog()
    klines, _ = read_source_klines(ohlcv_config(folder, drop_conflicting_duplicates=True), log)
    assert klines["close"].tolist() == [10.5, 10.7, 10.5]  # the later file wins
    assert log.repairs[0]["rule"] == "drop_conflicting_duplicates"


def test_overlapping_ohlcv_files_that_disagree_are_named_in_the_error(tmp_path):
    folder = tmp_path / "ohlcv"
    two_overlapping_files(folder, second_close="10.7")
    with pytest.raises(MarketDataError) as caught:
        read_source_klines(ohlcv_config(folder), QualityLog())
    assert "a.csv" in str(caught.value) and "b.csv" in str(caught.value)


def test_ohlcv_bars_off_the_hour_grid_are_refused_naming_the_file_and_line(tmp_path):
    folder = tmp_path / "ohlcv"
    folder.mkdir()
    rows = "".join(f"2024-01-01T{h:02d}:53:00Z,1,2,0.5,1.5,10\n" for h in range(6))
    (folder / "a.csv").write_text("timestamp,open,high,low,close,volume\n" + rows)
    with pytest.raises(MarketDataError, match="open time 2024-01-01 00:53:00.*not on the "
                                              "0 days 01:00:00 grid") as caught:
        read_source_klines(ohlcv_config(folder, snap_off_grid_times=False), QualityLog())
    assert caught.value.row == 2 and "a.csv" in str(caught.value)
    assert "snap_off_grid_times: true" in caught.value.fix


def test_ohlcv_bars_off_the_grid_move_forward_to_the_next_grid_time_with_the_repair(tmp_path):
    """Forward, never back: the 00:53 bar's data is complete by 01:53, before the 01:00
    bar it becomes closes (moved back to 00:00 it would be known 53 minutes early)."""
    folder = tmp_path / "ohlcv"
    folder.mkdir()
    rows = "".join(f"2024-01-01T{h:02d}:53:00Z,1,2,0.5,1.5,10\n" for h in range(6))
    (folder / "a.csv").write_text("timestamp,open,high,low,close,volume\n" + rows)
    log = QualityLog()
    klines, source_ns = read_source_klines(ohlcv_config(folder, snap_off_grid_times=True), log)
    times = pd.to_datetime(klines["open_time"], utc=True)
    assert list(times.dt.hour) == [1, 2, 3, 4, 5, 6] and (times.dt.minute == 0).all()
    assert source_ns == 3600 * 10**9
    assert log.repairs == [{"kind": "klines", "file": str(folder / "a.csv"),
                            "rule": "snap_off_grid_times (forward)", "rows": 6,
                            "first_lines": [2, 3, 4, 5, 6, 7]}]
