"""Bad market files: each is refused with a MarketDataError naming the file, the line and a
fix, or (when its repair is switched on) repaired, logged and counted, never silently."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market import archives
from ares_kedro.market.archives import (
    Inventory,
    parse_archive_name,
    stable_zip_bytes,
    verify_checksum,
    write_checksum,
)
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.errors import ChecksumMismatchError, MarketDataError
from ares_kedro.market.ohlcv_files import read_ohlcv_file
from ares_kedro.market.quality import QualityLog, RepairPolicy
from ares_kedro.market.trade_flow import LargeTradeRule, aggregate_trade_file
from ares_kedro.market.vision_ingest import read_klines
from ares_kedro.market.vision_readers import read_klines_file, read_metrics_file

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HOUR_MS = 3_600_000
MONTH = "BTCUSDT-1h-2024-01.csv"
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
AGG_DAY = "BTCUSDT-aggTrades-2024-01-01.csv"
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,"
    "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,"
    "sum_taker_long_short_vol_ratio"
)
RULE = LargeTradeRule(quantile=0.9, lookback_days=1, min_history_trades=1)
MINUTE_NS = 60 * 10**9


# ------------------------------------------------------------------------------- helpers


def kline_row(
    hour: int, *, open_=100.0, high=101.0, low=99.0, close=100.5, volume=2.0, time=None
) -> str:
    """One Vision kline line (12 fields) for hour ``hour`` of January 2024 (ms timestamps)."""
    t = T0_MS + hour * HOUR_MS if time is None else time
    return (f"{t},{open_},{high},{low},{close},{volume},{t + HOUR_MS - 1},{volume * 100},7,"
            f"{volume / 2},{volume * 50},0")


def write_lines(folder: Path, name: str, lines: list[str], header: str | None = None) -> Path:
    path = folder / name
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")
    return path


def hours(n: int, **changed: dict) -> list[str]:
    """``n`` good kline lines; ``changed`` maps a 0-based hour (as 'h<k>') to field overrides."""
    return [kline_row(h, **changed.get(f"h{h}", {})) for h in range(n)]


def read_file(path: Path, policy: RepairPolicy | None = None) -> tuple[pd.DataFrame, QualityLog]:
    log = QualityLog()
    frame = read_klines_file(parse_archive_name(path), policy or RepairPolicy(), log)
    return frame, log


def trade_row(trade_id: int, time_ms: int, price=100.0, qty=1.0, maker="true") -> str:
    return f"{trade_id},{price},{qty},{trade_id},{trade_id},{time_ms},{maker}"


def aggregate(path: Path, block_bytes: int = 32 << 20):
    return aggregate_trade_file(parse_archive_name(path), MINUTE_NS, RULE, {},
                                block_bytes=block_bytes)


def assert_located(error: MarketDataError, path: Path, line: int | None, fix_mentions: str):
    """The error names the file, the 1-based line (None: a whole-file problem) and a fix."""
    assert path.name in str(error)
    assert error.row == line
    if line is not None:
        assert f"line {line}" in str(error)
    assert fix_mentions in error.fix
    assert f"Fix: {error.fix}" in str(error)


def only_repair(log: QualityLog) -> dict:
    assert len(log.repairs) == 1, log.repairs
    return log.repairs[0]


# --------------------------------------------------------------------------- archives


def good_zip_bytes(n_hours: int = 200) -> bytes:
    return stable_zip_bytes(MONTH, ("\n".join(hours(n_hours)) + "\n").encode())


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_zip_is_refused_as_unreadable_naming_the_file_and_redownload(tmp_path, damage):
    data = bytearray(good_zip_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # flip bytes inside the deflate stream (the local header is 30 + 22 bytes)
        for k in range(60, 120):
            data[k] ^= 0xFF
    path = tmp_path / MONTH.replace(".csv", ".zip")
    path.write_bytes(bytes(data))
    with pytest.raises(MarketDataError, match="unreadable zip archive") as caught:
        read_file(path)
    assert_located(caught.value, path, None, "download it again")  # no line in a broken zip


def test_zip_holding_two_members_is_refused_and_lists_them(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("first.csv", kline_row(0))
        archive.writestr("second.csv", kline_row(1))
    path = tmp_path / MONTH.replace(".csv", ".zip")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(MarketDataError, match="exactly one CSV") as caught:
        read_file(path)
    assert "first.csv, second.csv" in str(caught.value)
    assert_located(caught.value, path, None, "download it again")


# ------------------------------------------------------------------------- bad lines


@pytest.mark.parametrize("header", [None, KLINE_HEADER], ids=["no_header", "header"])
def test_kline_row_with_11_fields_in_the_middle_is_refused_at_its_line(tmp_path, header):
    lines = hours(5)
    lines[2] = lines[2].rsplit(",", 1)[0]  # drop the last field of the third row
    path = write_lines(tmp_path, MONTH, lines, header)
    with pytest.raises(MarketDataError, match="11 columns, expected 12") as caught:
        read_file(path)
    assert_located(caught.value, path, 3 + (header is not None), "re-download")


def test_non_numeric_price_is_refused_at_its_line_and_column(tmp_path):
    lines = hours(4)
    lines[1] = lines[1].replace(",100.5,", ",1OO.5,")  # letters O instead of zeros in close
    path = write_lines(tmp_path, MONTH, lines)
    with pytest.raises(MarketDataError, match="not a number") as caught:
        read_file(path)
    assert_located(caught.value, path, 2, "correct or delete this line")
    assert caught.value.column == "close" and caught.value.value == "1OO.5"


def test_high_below_low_is_refused_at_its_line(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(4, h2={"high": 98.0, "low": 102.0}))
    with pytest.raises(MarketDataError, match="high below low") as caught:
        read_file(path)
    assert_located(caught.value, path, 3, "swap_inverted_high_low")


def test_high_below_low_is_swapped_and_logged_when_the_repair_is_on(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(4, h2={"high": 98.0, "low": 102.0}))
    frame, log = read_file(path, RepairPolicy(swap_inverted_high_low=True))
    assert (frame.at[2, "high"], frame.at[2, "low"]) == (102.0, 98.0)
    assert len(frame) == log.rows_read["klines"] == 4
    repair = only_repair(log)
    assert repair["rule"] == "swap_inverted_high_low" and repair["file"] == str(path)
    assert repair["rows"] == 1 and repair["first_lines"] == [3]


def test_open_or_close_outside_high_low_is_refused_or_widened_and_logged(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(3, h1={"close": 103.0}))  # above high 101
    with pytest.raises(MarketDataError, match=r"outside \[low, high\]") as caught:
        read_file(path)
    assert_located(caught.value, path, 2, "widen_high_low_to_open_close")
    frame, log = read_file(path, RepairPolicy(widen_high_low_to_open_close=True))
    assert frame.at[1, "high"] == 103.0 and frame.at[1, "low"] == 99.0
    repair = only_repair(log)
    assert (repair["rule"], repair["file"], repair["rows"]) == (
        "widen_high_low_to_open_close", str(path), 1)


def test_negative_volume_is_refused_at_its_line(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(5, h3={"volume": -2.0}))
    with pytest.raises(MarketDataError, match="volume must be zero or positive") as caught:
        read_file(path)
    assert_located(caught.value, path, 4, "drop_negative_volume_rows")
    assert caught.value.column == "volume"


def test_negative_volume_rows_are_dropped_and_counted_when_the_repair_is_on(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(5, h1={"volume": -2.0}, h3={"volume": -1.0}))
    frame, log = read_file(path, RepairPolicy(drop_negative_volume_rows=True))
    repair = only_repair(log)
    assert (repair["rule"], repair["file"], repair["rows"]) == (
        "drop_negative_volume_rows", str(path), 2)
    assert repair["first_lines"] == [2, 4]
    assert log.rows_read["klines"] - repair["rows"] == len(frame) == 3  # nothing silent
    assert (frame["open_time"] // (HOUR_MS * 10**6) - T0_MS // HOUR_MS).tolist() == [0, 2, 4]


@pytest.mark.parametrize("content", ["", "\n", KLINE_HEADER + "\n"],
                         ids=["empty", "blank_line", "header_only"])
def test_klines_file_without_rows_is_refused_naming_the_file_and_a_fix(tmp_path, content):
    path = tmp_path / MONTH
    path.write_text(content)
    with pytest.raises(MarketDataError, match="empty file|header but no klines rows") as caught:
        read_file(path)
    assert path.name in str(caught.value)
    assert "download it again" in caught.value.fix


@pytest.mark.parametrize("content", ["", KLINE_HEADER + "\n"], ids=["empty", "header_only"])
def test_klines_file_without_rows_names_line_1(tmp_path, content):
    path = tmp_path / MONTH
    path.write_text(content)
    with pytest.raises(MarketDataError) as caught:
        read_file(path)
    assert caught.value.row == 1


@pytest.mark.parametrize("content", ["", AGG_HEADER + "\n"], ids=["empty", "header_only"])
def test_agg_trades_file_without_trades_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / AGG_DAY
    path.write_text(content)
    with pytest.raises(MarketDataError, match="empty file|header but no trades") as caught:
        aggregate(path)
    assert path.name in str(caught.value) and "re-download" in caught.value.fix


# ------------------------------------------------------------------ order and periods


def test_rows_out_of_time_order_in_a_file_are_refused_at_the_first_backward_line(tmp_path):
    lines = hours(5)
    lines[2], lines[3] = lines[3], lines[2]
    path = write_lines(tmp_path, MONTH, lines, KLINE_HEADER)
    with pytest.raises(MarketDataError, match="out of time order") as caught:
        read_file(path)
    assert_located(caught.value, path, 5, "sort_unordered_rows")  # header + 4th row


def test_rows_out_of_order_are_sorted_and_logged_when_the_repair_is_on(tmp_path):
    lines = hours(5)
    lines[2], lines[3] = lines[3], lines[2]
    path = write_lines(tmp_path, MONTH, lines)
    frame, log = read_file(path, RepairPolicy(sort_unordered_rows=True))
    assert np.all(np.diff(frame["open_time"].to_numpy()) > 0) and len(frame) == 5
    repair = only_repair(log)
    assert (repair["rule"], repair["file"], repair["rows"]) == (
        "sort_unordered_rows", str(path), 1)
    (tmp_path / "in_order").mkdir()
    expected, _ = read_file(write_lines(tmp_path / "in_order", MONTH, hours(5)))
    assert frame["source_line"].tolist() == [1, 2, 4, 3, 5]  # each row keeps its own line
    pd.testing.assert_frame_equal(frame.drop(columns="source_line"),
                                  expected.drop(columns="source_line"))


def test_rows_outside_the_month_in_the_file_name_are_refused_at_the_first_such_line(tmp_path):
    february = T0_MS + 31 * 24 * HOUR_MS
    lines = [kline_row(0, time=february), kline_row(0, time=february + HOUR_MS),
             kline_row(5)]  # a January bar inside the February file: files out of order
    path = write_lines(tmp_path, "BTCUSDT-1h-2024-02.csv", lines)
    with pytest.raises(MarketDataError, match="outside the file's period") as caught:
        read_file(path)
    assert_located(caught.value, path, 3, "rename the file")
    assert "2024-01-01 05:00:00" in str(caught.value)


def test_timestamps_mixing_ms_and_us_in_one_klines_file_are_refused_at_the_changed_line(tmp_path):
    lines = hours(4)
    lines[2] = kline_row(0, time=(T0_MS + 2 * HOUR_MS) * 1000)
    path = write_lines(tmp_path, MONTH, lines)
    with pytest.raises(MarketDataError, match="change unit within the file") as caught:
        read_file(path)
    assert_located(caught.value, path, 3, "one time unit")
    assert "the first is in ms" in str(caught.value)


# -------------------------------------------------------------------------- duplicates


def test_conflicting_rows_for_one_time_in_a_file_are_refused(tmp_path):
    path = write_lines(tmp_path, MONTH, [kline_row(0), kline_row(1), kline_row(1, close=100.7)])
    with pytest.raises(MarketDataError, match="same time 2024-01-01 01:00:00") as caught:
        read_file(path)
    assert path.name in str(caught.value)
    assert "drop_conflicting_duplicates" in caught.value.fix


def test_conflicting_rows_for_one_time_in_a_file_name_the_line(tmp_path):
    path = write_lines(tmp_path, MONTH, [kline_row(0), kline_row(1), kline_row(1, close=100.7)])
    with pytest.raises(MarketDataError) as caught:
        read_file(path)
    assert caught.value.row in (2, 3)


def test_conflicting_rows_in_a_file_keep_the_later_row_and_are_counted_with_the_repair(tmp_path):
    lines = [kline_row(0), kline_row(1), kline_row(1, close=100.7), kline_row(2)]
    path = write_lines(tmp_path, MONTH, lines)
    frame, log = read_file(path, RepairPolicy(drop_conflicting_duplicates=True))
    assert frame["close"].tolist() == [100.5, 100.7, 100.5]
    repair = only_repair(log)
    assert (repair["rule"], repair["file"], repair["rows"]) == (
        "drop_conflicting_duplicates", str(path), 1)
    assert log.rows_read["klines"] - repair["rows"] == len(frame)


def monthly_and_daily(tmp_path: Path, daily_lines: list[str]) -> Inventory:
    """An inventory listing a January file and an overlapping 2 January file (the daily is
    not superseded here, as when a caller builds its own list of files)."""
    month = write_lines(tmp_path, MONTH, hours(48))
    day = write_lines(tmp_path, "BTCUSDT-1h-2024-01-02.csv", daily_lines)
    files = [parse_archive_name(month), parse_archive_name(day)]
    return Inventory(files={"klines": files}, superseded=[], other_symbols=0)


def disagreeing_day() -> list[str]:
    return [kline_row(h, close=100.7 if h == 30 else 100.5) for h in range(24, 48)]


def test_two_files_disagreeing_about_a_bar_are_refused_naming_both_files(tmp_path):
    inventory = monthly_and_daily(tmp_path, disagreeing_day())
    with pytest.raises(MarketDataError, match="disagree about klines at 2024-01-02 06:00") as err:
        read_klines(inventory, "1h", RepairPolicy(), QualityLog(), ParsedFileCache(None))
    assert MONTH in str(err.value) and "BTCUSDT-1h-2024-01-02.csv" in str(err.value)
    assert "drop_conflicting_duplicates" in err.value.fix


def test_two_files_disagreeing_about_a_bar_name_the_line_in_each_file(tmp_path):
    inventory = monthly_and_daily(tmp_path, disagreeing_day())
    with pytest.raises(MarketDataError) as caught:
        read_klines(inventory, "1h", RepairPolicy(), QualityLog(), ParsedFileCache(None))
    assert caught.value.row is not None
    assert "line 31" in str(caught.value) and "line 7" in str(caught.value)


def test_disagreeing_files_keep_the_later_files_bar_and_count_every_row_with_the_repair(tmp_path):
    inventory = monthly_and_daily(tmp_path, disagreeing_day())
    log = QualityLog()
    frame = read_klines(inventory, "1h", RepairPolicy(drop_conflicting_duplicates=True), log,
                        ParsedFileCache(None))
    at_six = (T0_MS + 30 * HOUR_MS) * 10**6
    assert frame.loc[frame["open_time"] == at_six, "close"].tolist() == [100.7]  # daily file
    assert len(frame) == 48 and log.rows_read["klines"] == 72
    repair = only_repair(log)
    assert repair["rule"] == "drop_conflicting_duplicates" and repair["rows"] == 1
    dropped = log.duplicates_dropped["klines"] + repair["rows"]
    assert log.rows_read["klines"] - dropped == len(frame)


def test_repaired_cross_file_conflict_is_logged_against_the_file_whose_bar_was_dropped(tmp_path):
    inventory = monthly_and_daily(tmp_path, disagreeing_day())
    log = QualityLog()
    read_klines(inventory, "1h", RepairPolicy(drop_conflicting_duplicates=True), log,
                ParsedFileCache(None))
    assert MONTH in only_repair(log)["file"]


def test_line_numbers_stay_right_after_a_repaired_row_was_dropped(tmp_path):
    lines = hours(5, h1={"volume": -1.0})
    lines[3], lines[4] = lines[4], lines[3]  # line 5 goes backwards
    path = write_lines(tmp_path, MONTH, lines)
    with pytest.raises(MarketDataError, match="out of time order") as caught:
        read_file(path, RepairPolicy(drop_negative_volume_rows=True))
    assert caught.value.row == 5


# ---------------------------------------------------------------------------- checksums


def test_checksum_mismatch_raises_checksum_mismatch_error_naming_the_file(tmp_path):
    path = tmp_path / MONTH.replace(".csv", ".zip")
    path.write_bytes(good_zip_bytes())
    write_checksum(path)
    assert verify_checksum(path) is True
    path.write_bytes(good_zip_bytes(199))  # a different (still readable) archive
    with pytest.raises(ChecksumMismatchError) as caught:
        verify_checksum(path)
    assert isinstance(caught.value, MarketDataError)
    assert_located(caught.value, path, None, "download it again")  # whole file, no line
    assert f"{path.name}.CHECKSUM" in str(caught.value)


def test_read_klines_checks_checksums_before_reading_and_can_be_told_not_to(tmp_path):
    path = tmp_path / MONTH.replace(".csv", ".zip")
    path.write_bytes(good_zip_bytes())
    write_checksum(path)
    path.write_bytes(good_zip_bytes(199))
    inventory = archives.inventory_archives(tmp_path, "BTCUSDT")
    with pytest.raises(ChecksumMismatchError):
        read_klines(inventory, "1h", RepairPolicy(), QualityLog(), ParsedFileCache(None))
    log = QualityLog()
    frame = read_klines(inventory, "1h", RepairPolicy(), log, ParsedFileCache(None),
                        verify_checksums=False)
    assert len(frame) == 199 and "checksum_verified" not in log.files["klines"]


def test_checksum_file_that_is_not_a_sha256_is_named_in_the_error(tmp_path):
    path = tmp_path / MONTH.replace(".csv", ".zip")
    path.write_bytes(good_zip_bytes())
    archives.checksum_path(path).write_text("<html>404 Not Found</html>")
    with pytest.raises(MarketDataError, match="not a Binance checksum file") as caught:
        verify_checksum(path)
    assert caught.value.file.endswith(".zip.CHECKSUM")


# --------------------------------------------------------------------------- symbols


def test_metrics_file_with_another_symbol_is_refused_at_its_line(tmp_path):
    lines = [f"2024-01-01 00:{m:02d}:00,{symbol},100.0,4000000.0,1.2,2.0,1.1,0.9"
             for m, symbol in ((0, "BTCUSDT"), (5, "BTCUSDT"), (10, "ETHUSDT"))]
    path = write_lines(tmp_path, "BTCUSDT-metrics-2024-01-01.csv", lines, METRICS_HEADER)
    with pytest.raises(MarketDataError, match="mixed symbols") as caught:
        read_metrics_file(parse_archive_name(path), "BTCUSDT", RepairPolicy(), QualityLog())
    assert_located(caught.value, path, 4, "one symbol per file")
    assert caught.value.value == "ETHUSDT"


def test_ohlcv_file_with_two_symbols_is_refused_at_the_first_other_symbol_line(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("timestamp,symbol,open,high,low,close,volume\n"
                    "2024-01-01T00:00:00Z,BTC/USDT,1,2,0.5,1.5,10\n"
                    "2024-01-01T01:00:00Z,BTCUSDT,1,2,0.5,1.5,10\n"
                    "2024-01-01T02:00:00Z,ETH/USDT,1,2,0.5,1.5,10\n")
    with pytest.raises(MarketDataError, match="mixed symbols") as caught:
        read_ohlcv_file(path, "BTCUSDT", RepairPolicy(), QualityLog())
    assert_located(caught.value, path, 4, "one symbol per file")
    assert caught.value.value == "ETH/USDT"


# --------------------------------------------------------------------------- aggTrades


@pytest.mark.parametrize("block_bytes", [256, 32 << 20], ids=["small_blocks", "one_block"])
@pytest.mark.parametrize("bad_row", [3, 7, 12])
def test_out_of_order_agg_trades_are_refused_at_their_line(tmp_path, block_bytes, bad_row):
    times = [T0_MS + 1000 * i for i in range(20)]
    times[bad_row] = times[bad_row - 1] - 1  # goes back one ms
    lines = [trade_row(i + 1, t) for i, t in enumerate(times)]
    path = write_lines(tmp_path, AGG_DAY, lines, AGG_HEADER)
    with pytest.raises(MarketDataError, match="trades out of time order") as caught:
        aggregate(path, block_bytes)
    assert_located(caught.value, path, bad_row + 2, "sort the file")


@pytest.mark.parametrize("block_bytes", [256, 32 << 20], ids=["small_blocks", "one_block"])
def test_agg_trades_mixing_ms_and_us_are_refused_at_the_changed_line(tmp_path, block_bytes):
    lines = [trade_row(i + 1, T0_MS + 1000 * i) for i in range(40)]
    lines[30] = trade_row(31, (T0_MS + 30_000) * 1000)
    path = write_lines(tmp_path, AGG_DAY, lines, AGG_HEADER)
    with pytest.raises(MarketDataError, match="change unit within the file") as caught:
        aggregate(path, block_bytes)
    assert_located(caught.value, path, 32, "one time unit")


@pytest.mark.parametrize(("field", "bad", "problem"), [
    (1, "abc", "not a number"), (6, "maybe", "not a boolean")], ids=["price", "is_buyer_maker"])
def test_bad_agg_trade_value_is_refused_at_its_line_and_column(tmp_path, field, bad, problem):
    lines = [trade_row(i + 1, T0_MS + 1000 * i) for i in range(10)]
    fields = lines[6].split(",")
    fields[field] = bad
    lines[6] = ",".join(fields)
    path = write_lines(tmp_path, AGG_DAY, lines)
    with pytest.raises(MarketDataError, match=problem) as caught:
        aggregate(path)
    assert caught.value.row == 7 and caught.value.value == bad
    assert path.name in str(caught.value)


def test_agg_trades_row_with_too_many_fields_mid_file_is_refused_at_its_line(tmp_path):
    lines = [trade_row(i + 1, T0_MS + 1000 * i) for i in range(30)]
    lines[20] += ",x,y"
    path = write_lines(tmp_path, AGG_DAY, lines, AGG_HEADER)
    with pytest.raises(MarketDataError, match="9 columns, expected 7") as caught:
        aggregate(path)
    assert_located(caught.value, path, 22, "re-download")


def test_agg_trades_first_row_with_wrong_width_in_a_headed_file_names_line_2(tmp_path):
    path = write_lines(tmp_path, AGG_DAY, [f"1,100.0,1.0,1,1,{T0_MS}"], AGG_HEADER)
    with pytest.raises(MarketDataError, match="wrong column count") as caught:
        aggregate(path)
    assert caught.value.row == 2
    assert "expected 7 or 8" in str(caught.value)


# ------------------------------------------------------------- headers (issue #21)


def test_a_headerless_klines_file_starting_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(5))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame, _ = read_file(path)
    assert len(frame) == 5 and frame["open_time"].iloc[0] == T0_MS * 10**6


def test_a_headed_klines_file_starting_with_a_byte_order_mark_reads_its_header(tmp_path):
    path = write_lines(tmp_path, MONTH, hours(5), KLINE_HEADER)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame, _ = read_file(path)
    assert len(frame) == 5


@pytest.mark.parametrize("damaged", ["17O4067200000", "#1704067200000", "time"])
def test_a_damaged_first_row_is_refused_at_line_1_not_taken_for_a_header(tmp_path, damaged):
    lines = hours(5)
    lines[0] = lines[0].replace(str(T0_MS), damaged, 1)
    path = write_lines(tmp_path, MONTH, lines)
    with pytest.raises(MarketDataError, match="line 1 is neither the klines header") as caught:
        read_file(path)
    assert_located(caught.value, path, 1, "download the file again")


def test_an_agg_trades_file_with_a_damaged_first_row_is_refused_at_line_1(tmp_path):
    lines = [trade_row(k, T0_MS + k * 1000) for k in range(5)]
    lines[0] = "x" + lines[0]
    path = write_lines(tmp_path, AGG_DAY, lines)
    with pytest.raises(MarketDataError, match="neither the aggTrades header") as caught:
        aggregate(path)
    assert_located(caught.value, path, 1, "download the file again")


@pytest.mark.parametrize("separator, named", [(";", "semicolons"), ("\t", "tabs")])
def test_an_ohlcv_csv_with_another_separator_is_refused_naming_the_separator(
        tmp_path, separator, named):
    path = tmp_path / "export.csv"
    rows = ["timestamp,open,high,low,close,volume", "2024-01-01T00:00:00Z,1,2,0.5,1.5,10"]
    path.write_text("\n".join(r.replace(",", separator) for r in rows) + "\n")
    with pytest.raises(MarketDataError, match=f"separated by .*{named}.*, not commas") as caught:
        read_ohlcv_file(path, "BTCUSDT", RepairPolicy(), QualityLog())
    assert_located(caught.value, path, 1, "comma separators")


# ------------------------------------------------------ two copies of a period (issue #21)


def test_identical_copies_of_a_period_are_read_once_and_counted(tmp_path):
    csv = write_lines(tmp_path, MONTH, hours(5))
    (tmp_path / MONTH.replace(".csv", ".zip")).write_bytes(
        stable_zip_bytes(MONTH, csv.read_bytes()))
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / MONTH).write_bytes(csv.read_bytes())
    inventory = archives.inventory_archives(tmp_path, "BTCUSDT")
    assert [f.path.name for f in inventory.of("klines")] == [MONTH.replace(".csv", ".zip")]
    assert len(inventory.duplicates) == 2
    assert {Path(d["dropped"]).parent.name for d in inventory.duplicates} == {
        tmp_path.name, "again"}


@pytest.mark.parametrize("where", ["zip_beside_csv", "other_folder"])
def test_copies_of_a_period_that_differ_are_refused_naming_both(tmp_path, where):
    csv = write_lines(tmp_path, MONTH, hours(5))
    other = hours(5, h3={"close": 100.7})
    if where == "zip_beside_csv":
        second = tmp_path / MONTH.replace(".csv", ".zip")
        second.write_bytes(stable_zip_bytes(MONTH, ("\n".join(other) + "\n").encode()))
    else:
        (tmp_path / "again").mkdir()
        second = write_lines(tmp_path / "again", MONTH, other)
    with pytest.raises(MarketDataError, match="two copies of the same period hold different"
                       ) as caught:
        archives.inventory_archives(tmp_path, "BTCUSDT")
    assert str(csv) in str(caught.value) and str(second) in str(caught.value)
    assert "remove the other" in caught.value.fix
