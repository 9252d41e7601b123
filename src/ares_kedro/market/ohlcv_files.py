"""Generic OHLCV files (CSV, Parquet or Feather) from any exchange or tool.

A file needs a time column (``timestamp``, ``open_time``, ``date``, ``datetime`` or
``time``) and ``open``, ``high``, ``low``, ``close``, ``volume``; names are matched
case-insensitively and other columns are kept (lower-cased). Times may be ISO strings,
datetimes or epoch numbers (s, ms, µs or ns). Naive times are taken as UTC; aware times
are converted to UTC. A ``symbol`` column, if present, must hold only the configured
symbol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ares_kedro.market.csv_tables import epoch_to_ns
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.quality import (
    SOURCE_LINE,
    QualityLog,
    RepairPolicy,
    check_bars,
    order_and_dedupe,
)

TIME_COLUMN_NAMES = ("timestamp", "open_time", "date", "datetime", "time")
REQUIRED = ("open", "high", "low", "close", "volume")
SUFFIXES = (".csv", ".parquet", ".feather")
OTHER_SEPARATORS = {";": "';' (semicolons)", "\t": "tabs", "|": "'|' (pipes)"}


def list_ohlcv_files(path: str | Path) -> list[Path]:
    """The OHLCV files at ``path``: the file itself, or every supported file in a folder."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if files:
            return files
    raise FileNotFoundError(
        f"No OHLCV file at {path}: set ingestion.paths.ohlcv_files to a .csv/.parquet/.feather "
        "file or to a folder of them"
    )


def _load(path: Path) -> tuple[pd.DataFrame, int]:
    """The raw table and the number of header lines before its first row."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, engine="pyarrow"), 1
        if suffix == ".parquet":
            return pd.read_parquet(path), 0
        if suffix == ".feather":
            return pd.read_feather(path), 0
    except (ValueError, OSError) as error:
        raise MarketDataError(path, f"unreadable {suffix} file ({error})",
                              "check the file is a valid CSV/Parquet/Feather table") from error
    raise MarketDataError(path, f"unsupported file type {suffix}", f"use one of {', '.join(SUFFIXES)}")


def _times_ns(column: pd.Series, path: Path, name: str, header_lines: int) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column):
        return epoch_to_ns(column.to_numpy(dtype=np.int64), path, name, header_lines)
    try:
        parsed = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(column, utc=True, errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        row = int(bad[0]) if bad.size else 0
        raise MarketDataError(path, "not a date/time", "use ISO 8601 times or epoch numbers",
                              row=row + header_lines + 1, column=name, value=column.iat[row]) from None
    return parsed.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()


def read_ohlcv_file(path: Path, symbol: str, policy: RepairPolicy, log: QualityLog) -> pd.DataFrame:
    """One generic OHLCV file as an ``open_time`` (int64 ns) column plus OHLCV, extras and
    ``source_line`` (each row's line in the file)."""
    raw, header_lines = _load(path)
    if raw.empty:
        raise MarketDataError(path, "empty file: no bars", "remove the file or export it again")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    time_name = next((c for c in TIME_COLUMN_NAMES if c in raw.columns), None)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if (time_name is None or missing) and len(raw.columns) == 1:
        separator = next((s for s in OTHER_SEPARATORS if s in raw.columns[0]), None)
        if separator is not None:
            raise MarketDataError(
                path, f"the columns are separated by {OTHER_SEPARATORS[separator]}, not commas "
                f"(header {raw.columns[0]!r})", "export the file with comma separators and "
                "'.' as the decimal point (a ';' file often writes decimals with ',')", row=1)
    if time_name is None or missing:
        need = ([f"a time column ({'/'.join(TIME_COLUMN_NAMES)})"] if time_name is None else []) + missing
        raise MarketDataError(path, f"missing column(s): {', '.join(need)}; columns are {list(raw.columns)}",
                              "rename the columns (names are case-insensitive)")
    for column in REQUIRED:
        if not pd.api.types.is_numeric_dtype(raw[column]):
            numbers = pd.to_numeric(raw[column], errors="coerce")
            bad = np.flatnonzero(numbers.isna().to_numpy() & raw[column].notna().to_numpy())
            if bad.size:
                raise MarketDataError(path, "not a number", "correct or delete this row",
                                      row=int(bad[0]) + header_lines + 1, column=column,
                                      value=raw[column].iat[bad[0]])
            raw[column] = numbers
    if "symbol" in raw.columns:
        other = np.flatnonzero(raw["symbol"].astype(str).str.replace(r"[/_:-]", "", regex=True)
                               .str.upper().to_numpy() != symbol.upper())
        if other.size:
            raise MarketDataError(path, f"mixed symbols: expected only {symbol}",
                                  "keep one symbol per file, or set ingestion.symbol",
                                  row=int(other[0]) + header_lines + 1, column="symbol",
                                  value=raw["symbol"].iat[other[0]])
        raw = raw.drop(columns=["symbol"])
    log.rows_read["klines"] += len(raw)
    frame = raw.rename(columns={time_name: "open_time"})
    frame["open_time"] = _times_ns(raw[time_name], path, time_name, header_lines)
    extras = [c for c in frame.columns if c not in ("open_time", *REQUIRED)]
    frame = frame[["open_time", *REQUIRED, *extras]]
    line_of = lambda rows: np.asarray(rows, dtype=np.int64) + header_lines + 1  # noqa: E731
    frame = check_bars(frame, path, line_of, policy, log)
    frame = order_and_dedupe(frame, "open_time", path, line_of, policy, log, "klines")
    return frame.assign(**{SOURCE_LINE: line_of(frame.index)}).reset_index(drop=True)


def infer_interval_ns(open_times_ns: np.ndarray, path: str | Path) -> int:
    """The bar interval of a table: the most common step between consecutive bars."""
    steps = np.diff(np.unique(open_times_ns))
    if steps.size == 0:
        raise MarketDataError(path, "a single bar: cannot tell the bar interval",
                              "provide at least two consecutive bars")
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])
