"""Readers of Binance Vision klines, funding-rate and metrics (open interest) files.

Each reader turns one archive into a validated DataFrame with an int64 epoch-nanosecond
time column and reports what it read, dropped and repaired. Layout variants handled:
spot files without header and USDT-M files with one; millisecond and (spot, 2025 on)
microsecond timestamps; zipped or plain CSV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ares_kedro.market.archives import ArchiveFile, read_archive_bytes
from ares_kedro.market.csv_tables import CsvLayout, epoch_to_ns, parse_market_csv
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.quality import (
    SOURCE_LINE,
    QualityLog,
    RepairPolicy,
    check_bars,
    order_and_dedupe,
)
from ares_kedro.market.timeframes import interval_us

KLINE_LAYOUT = CsvLayout(
    kind="klines",
    columns=(
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
        "trade_count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
    ),
    types={
        "open_time": pa.int64(), "open": pa.float64(), "high": pa.float64(), "low": pa.float64(),
        "close": pa.float64(), "volume": pa.float64(), "quote_volume": pa.float64(),
        "trade_count": pa.int64(), "taker_buy_volume": pa.float64(),
        "taker_buy_quote_volume": pa.float64(),
    },
)
FUNDING_LAYOUT = CsvLayout(
    kind="fundingRate",
    columns=("calc_time", "funding_interval_hours", "last_funding_rate"),
    types={"calc_time": pa.int64(), "funding_interval_hours": pa.float64(),
           "last_funding_rate": pa.float64()},
)
METRICS_LAYOUT = CsvLayout(
    kind="metrics",
    columns=(
        "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
        "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
        "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
    ),
    types={
        "create_time": pa.timestamp("s"), "symbol": pa.string(),
        "sum_open_interest": pa.float64(), "sum_open_interest_value": pa.float64(),
        "count_long_short_ratio": pa.float64(), "sum_taker_long_short_vol_ratio": pa.float64(),
    },
)

KLINE_COLUMNS = [c for c in KLINE_LAYOUT.columns if c in KLINE_LAYOUT.types]  # kept columns
_FIX_PERIOD = (
    "each Vision file holds only its own month or day: rename the file after its content "
    "or re-download it"
)


def _line_mapper(header_lines: int):
    return lambda rows: np.asarray(rows, dtype=np.int64) + header_lines + 1


def _with_lines(frame: pd.DataFrame, line_of) -> pd.DataFrame:
    """The rows with their file line numbers in ``source_line`` and a fresh RangeIndex."""
    return frame.assign(**{SOURCE_LINE: line_of(frame.index)}).reset_index(drop=True)


def _check_period(times_ns: np.ndarray, archive: ArchiveFile, line_of, column: str) -> None:
    """Every row of a Vision file lies inside the month or day its name says."""
    start, end = archive.period_start.value, archive.period_end.value
    outside = np.flatnonzero((times_ns < start) | (times_ns >= end))
    if outside.size:
        row = outside[0]
        raise MarketDataError(
            archive.path,
            f"time {pd.Timestamp(int(times_ns[row]), tz='UTC')} lies outside the file's period "
            f"{archive.period_start:%Y-%m-%d} to {archive.period_end:%Y-%m-%d} (files out of order "
            "or misnamed)",
            _FIX_PERIOD, row=int(line_of(outside[:1])[0]), column=column,
        )


def read_klines_file(archive: ArchiveFile, policy: RepairPolicy, log: QualityLog) -> pd.DataFrame:
    """Klines of one Vision file: open_time (int64 ns, UTC) and OHLCV columns, sorted."""
    parsed = parse_market_csv(read_archive_bytes(archive.path), archive.path, KLINE_LAYOUT)
    frame = parsed.table.to_pandas()
    line_of = _line_mapper(parsed.header_lines)
    log.rows_read["klines"] += len(frame)
    frame["open_time"] = epoch_to_ns(frame["open_time"].to_numpy(), archive.path, "open_time",
                                     parsed.header_lines)
    _check_period(frame["open_time"].to_numpy(), archive, line_of, "open_time")
    step_ns = interval_us(archive.interval) * 1_000
    off_grid = np.flatnonzero(frame["open_time"].to_numpy() % step_ns)
    if off_grid.size:
        if not policy.snap_off_grid_times:
            raise MarketDataError(
                archive.path, f"open_time is not on the {archive.interval} grid",
                "check that the file's interval matches its name, or set "
                "ingestion.repairs.snap_off_grid_times: true", row=int(line_of(off_grid[:1])[0]),
                column="open_time",
            )
        # Binance published some bars after outages with shifted open times (e.g. spot
        # 1h, 2018-02-09): label them with the grid slot they open in.
        frame["open_time"] = frame["open_time"].to_numpy() // step_ns * step_ns
        log.repaired("klines", archive.path, "snap_off_grid_times", line_of(off_grid))
    frame = check_bars(frame, archive.path, line_of, policy, log)
    frame = order_and_dedupe(frame, "open_time", archive.path, line_of, policy, log, "klines")
    return _with_lines(frame[KLINE_COLUMNS], line_of)


def read_funding_file(archive: ArchiveFile, policy: RepairPolicy, log: QualityLog) -> pd.DataFrame:
    """Funding rates of one USDT-M file: funding_time (int64 ns) and funding_rate (fraction)."""
    parsed = parse_market_csv(read_archive_bytes(archive.path), archive.path, FUNDING_LAYOUT)
    frame = parsed.table.to_pandas()
    line_of = _line_mapper(parsed.header_lines)
    log.rows_read["funding_rates"] += len(frame)
    frame = pd.DataFrame({
        "funding_time": epoch_to_ns(frame["calc_time"].to_numpy(), archive.path, "calc_time",
                                    parsed.header_lines),
        "funding_rate": frame["last_funding_rate"].to_numpy(dtype=float),
        "funding_interval_hours": frame["funding_interval_hours"].to_numpy(dtype=float),
    })
    _check_period(frame["funding_time"].to_numpy(), archive, line_of, "calc_time")
    rates = frame["funding_rate"].to_numpy()
    bad = np.flatnonzero(~np.isfinite(rates) | (np.abs(rates) >= 1))
    if bad.size:
        raise MarketDataError(
            archive.path, "a funding rate must be a finite fraction between -1 and 1",
            "funding rates are fractions per funding interval (0.0001 = 0.01 %); correct the line",
            row=int(line_of(bad[:1])[0]), column="last_funding_rate", value=float(rates[bad[0]]),
        )
    frame = order_and_dedupe(frame, "funding_time", archive.path, line_of, policy, log,
                             "funding_rates")
    return _with_lines(frame, line_of)


def read_metrics_file(
    archive: ArchiveFile, symbol: str, policy: RepairPolicy, log: QualityLog
) -> pd.DataFrame:
    """Open interest of one USDT-M metrics file: metric_time (int64 ns), open_interest
    (base units) and open_interest_value (quote units)."""
    parsed = parse_market_csv(read_archive_bytes(archive.path), archive.path, METRICS_LAYOUT)
    table = parsed.table
    line_of = _line_mapper(parsed.header_lines)
    log.rows_read["open_interest"] += table.num_rows
    symbols = table.column("symbol")
    if not pc.all(pc.equal(symbols, symbol)).as_py():
        other = np.flatnonzero(~pc.equal(symbols, symbol).to_numpy(zero_copy_only=False))
        raise MarketDataError(
            archive.path, f"mixed symbols: this file should hold only {symbol}",
            "keep one symbol per file and name the file after it",
            row=int(line_of(other[:1])[0]), column="symbol", value=symbols[int(other[0])].as_py(),
        )
    times = table.column("create_time").to_numpy().astype("datetime64[ns]").astype(np.int64)
    frame = pd.DataFrame({
        "metric_time": times,
        "open_interest": table.column("sum_open_interest").to_numpy(),
        "open_interest_value": table.column("sum_open_interest_value").to_numpy(),
    })
    _check_period(times, archive, line_of, "create_time")
    values = frame[["open_interest", "open_interest_value"]].to_numpy()
    bad = np.argwhere(~np.isfinite(values) | (values < 0))
    if bad.size:
        row, col = bad[0]
        raise MarketDataError(
            archive.path, "open interest must be zero or positive",
            "correct or delete the line, or re-download the file",
            row=int(line_of(np.array([row]))[0]), column=("sum_open_interest", "sum_open_interest_value")[col],
        )
    frame = order_and_dedupe(frame, "metric_time", archive.path, line_of, policy, log,
                             "open_interest")
    return _with_lines(frame, line_of)
