"""Row-level checks of market data and the safe repairs conf may switch on.

Every check either passes, raises a MarketDataError naming file, line and fix, or (when
its repair is enabled) repairs the rows, logs them and counts them in the report.
Nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market.errors import MarketDataError

logger = logging.getLogger(__name__)

SOURCE_FILE = "source_file"  # which file a row came from (while merging files)
SOURCE_LINE = "source_line"  # its line number in that file, as an editor shows it
PRICE_COLUMNS = ("open", "high", "low", "close")
VOLUME_COLUMNS = ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume")


@dataclass(frozen=True)
class RepairPolicy:
    """Which safe repairs to make instead of stopping (``ingestion.repairs`` in conf)."""

    swap_inverted_high_low: bool = False  # high < low: swap them
    widen_high_low_to_open_close: bool = False  # open/close outside [low, high]: widen
    drop_negative_volume_rows: bool = False  # a volume below zero: drop the bar
    sort_unordered_rows: bool = False  # rows out of time order within a file: sort
    drop_conflicting_duplicates: bool = False  # same time, other values: keep the later file's
    snap_off_grid_times: bool = False  # kline open time off the interval grid: floor it
    drop_implausible_bars: bool = False  # a price spike (market/plausibility.py): drop the bar

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> RepairPolicy:
        params = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(
                f"Unknown key(s) in ingestion.repairs: {sorted(unknown)}; known: {sorted(known)}"
            )
        for key, value in params.items():
            if not isinstance(value, bool):
                raise ValueError(f"ingestion.repairs.{key} must be true or false, got {value!r}")
        return cls(**params)


@dataclass
class QualityLog:
    """Counts of what ingestion read, dropped and repaired, per data kind."""

    rows_read: Counter = field(default_factory=Counter)
    duplicates_dropped: Counter = field(default_factory=Counter)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Counter] = field(default_factory=dict)

    def count_file(self, kind: str, what: str, n: int = 1) -> None:
        self.files.setdefault(kind, Counter())[what] += n

    def repaired(self, kind: str, source: Path | str, rule: str, lines: np.ndarray) -> None:
        lines = np.asarray(lines)
        shown = ", ".join(str(int(x)) for x in lines[:5]) + (" ..." if lines.size > 5 else "")
        logger.warning("Repaired %d %s row(s) of %s by %s (lines %s)", lines.size, kind, source, rule, shown)
        self.repairs.append(
            {"kind": kind, "file": str(source), "rule": rule, "rows": int(lines.size),
             "first_lines": [int(x) for x in lines[:20]]}
        )

    def merge(self, other: QualityLog) -> None:
        self.rows_read.update(other.rows_read)
        self.duplicates_dropped.update(other.duplicates_dropped)
        self.repairs.extend(other.repairs)
        for kind, counts in other.files.items():
            self.files.setdefault(kind, Counter()).update(counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": dict(self.rows_read),
            "duplicates_dropped": dict(self.duplicates_dropped),
            "repairs": list(self.repairs),
            "repaired_rows": int(sum(r["rows"] for r in self.repairs)),
            "files": {kind: dict(c) for kind, c in self.files.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityLog:
        log = cls()
        log.rows_read.update(data.get("rows_read", {}))
        log.duplicates_dropped.update(data.get("duplicates_dropped", {}))
        log.repairs.extend(data.get("repairs", []))
        for kind, counts in data.get("files", {}).items():
            log.files[kind] = Counter(counts)
        return log


def check_bars(
    frame: pd.DataFrame,
    source: Path | str,
    line_of: Callable[[np.ndarray], np.ndarray],
    policy: RepairPolicy,
    log: QualityLog,
    kind: str = "klines",
) -> pd.DataFrame:
    """Validate one file's OHLCV rows; return them (repaired if allowed), row order kept.

    ``frame`` has a RangeIndex of file rows and the columns open, high, low, close and
    whichever VOLUME_COLUMNS the file has. ``line_of`` maps row positions to the
    1-based line numbers a text editor shows.
    """
    frame = frame.copy()
    prices = frame[list(PRICE_COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(prices) | (prices <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise MarketDataError(
            source, "price must be a positive finite number",
            "correct or delete this line, or re-download the file",
            row=int(line_of(np.array([row]))[0]), column=PRICE_COLUMNS[col], value=prices[row, col],
        )

    inverted = np.flatnonzero(frame["high"].to_numpy() < frame["low"].to_numpy())
    if inverted.size:
        if not policy.swap_inverted_high_low:
            row = inverted[0]
            raise MarketDataError(
                source, f"high below low ({frame['high'].iat[row]} < {frame['low'].iat[row]})",
                "correct the line, or set ingestion.repairs.swap_inverted_high_low: true",
                row=int(line_of(inverted[:1])[0]), column="high",
            )
        high = frame["high"].to_numpy().copy()
        low = frame["low"].to_numpy().copy()
        high[inverted], low[inverted] = low[inverted], high[inverted]
        frame["high"], frame["low"] = high, low
        log.repaired(kind, source, "swap_inverted_high_low", line_of(inverted))

    body_high = np.maximum(frame["open"].to_numpy(), frame["close"].to_numpy())
    body_low = np.minimum(frame["open"].to_numpy(), frame["close"].to_numpy())
    outside = np.flatnonzero((frame["high"].to_numpy() < body_high) | (frame["low"].to_numpy() > body_low))
    if outside.size:
        if not policy.widen_high_low_to_open_close:
            row = outside[0]
            raise MarketDataError(
                source, "open or close lies outside [low, high]",
                "correct the line, or set ingestion.repairs.widen_high_low_to_open_close: true",
                row=int(line_of(outside[:1])[0]), column="high",
            )
        frame["high"] = np.maximum(frame["high"].to_numpy(), body_high)
        frame["low"] = np.minimum(frame["low"].to_numpy(), body_low)
        log.repaired(kind, source, "widen_high_low_to_open_close", line_of(outside))

    volume_columns = [c for c in VOLUME_COLUMNS if c in frame]
    if volume_columns:
        volumes = frame[volume_columns].to_numpy(dtype=float)
        negative = (volumes < 0) | ~np.isfinite(volumes)
        rows = np.flatnonzero(negative.any(axis=1))
        if rows.size:
            if not policy.drop_negative_volume_rows:
                row = rows[0]
                col = volume_columns[int(np.flatnonzero(negative[row])[0])]
                raise MarketDataError(
                    source, "volume must be zero or positive",
                    "correct or delete the line, or set ingestion.repairs.drop_negative_volume_rows: true",
                    row=int(line_of(rows[:1])[0]), column=col, value=frame[col].iat[row],
                )
            log.repaired(kind, source, "drop_negative_volume_rows", line_of(rows))
            frame = frame.drop(index=frame.index[rows])
    return frame


def order_and_dedupe(
    frame: pd.DataFrame,
    time_column: str,
    source: Path | str,
    line_of: Callable[[np.ndarray], np.ndarray],
    policy: RepairPolicy,
    log: QualityLog,
    kind: str,
) -> pd.DataFrame:
    """Rows of one file in strictly increasing time: exact duplicates dropped and counted,
    rows out of order or conflicting duplicates an error unless their repair is on.

    ``frame``'s index holds each row's 0-based position in the file (kept through earlier
    repairs), which ``line_of`` turns into line numbers."""
    times = frame[time_column].to_numpy()
    steps = np.diff(times)
    if (steps > 0).all():  # the usual case: strictly increasing, no duplicates possible
        return frame
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        if not policy.sort_unordered_rows:
            raise MarketDataError(
                source, f"rows out of time order ({time_column} goes backwards)",
                "sort the file, or set ingestion.repairs.sort_unordered_rows: true",
                row=int(line_of(frame.index[backwards[:1] + 1])[0]), column=time_column,
            )
        log.repaired(kind, source, "sort_unordered_rows", line_of(frame.index[backwards + 1]))
        frame = frame.iloc[np.argsort(times, kind="stable")]
    exact = frame.duplicated(keep="first").to_numpy()
    if exact.any():
        log.duplicates_dropped[kind] += int(exact.sum())
        frame = frame.loc[~exact]
    dropped = frame[time_column].duplicated(keep="last").to_numpy()
    if dropped.any():
        if not policy.drop_conflicting_duplicates:
            first = int(np.flatnonzero(dropped)[0])
            when = frame[time_column].iloc[first]
            lines = line_of(frame.index[(frame[time_column] == when).to_numpy()])
            raise MarketDataError(
                source,
                f"lines {', '.join(str(int(x)) for x in lines)} have the same time "
                f"{_as_time(when)} with different values",
                "remove the wrong row, or set ingestion.repairs.drop_conflicting_duplicates: "
                "true (the later row wins)",
                row=int(lines[0]), column=time_column,
            )
        log.repaired(kind, source, "drop_conflicting_duplicates", line_of(frame.index[dropped]))
        frame = frame.loc[~dropped]
    return frame


def merge_across_files(
    merged: pd.DataFrame,
    time_column: str,
    policy: RepairPolicy,
    log: QualityLog,
    kind: str,
    file_order: list[str],
) -> pd.DataFrame:
    """Rows of several files in one time order, each time once.

    ``merged`` has ``source_file`` and ``source_line`` columns. A row that another file
    repeats exactly is dropped and counted; rows of different files disagreeing about a
    time are an error naming each file and line, unless drop_conflicting_duplicates is on
    (then the file later in ``file_order`` wins, and the dropped rows are logged against
    their own files). Returns the rows without the two source columns, sorted by time.
    """
    position = {name: i for i, name in enumerate(file_order)}
    merged = merged.assign(_file=merged[SOURCE_FILE].map(position))
    merged = merged.sort_values([time_column, "_file"], kind="stable", ignore_index=True)
    values = merged.drop(columns=[SOURCE_FILE, SOURCE_LINE, "_file"])
    times = values[time_column].to_numpy()
    if (np.diff(times) > 0).all():
        return values
    exact = values.duplicated(keep="first").to_numpy()
    if exact.any():
        log.duplicates_dropped[kind] += int(exact.sum())
    keep = ~exact
    dropped = np.zeros(len(values), dtype=bool)
    kept_positions = np.flatnonzero(keep)
    dropped[kept_positions] = values[time_column].iloc[kept_positions].duplicated(keep="last").to_numpy()
    if dropped.any():
        if not policy.drop_conflicting_duplicates:
            when = times[np.flatnonzero(dropped)[0]]
            clash = merged.loc[keep & (times == when)]
            where = "; ".join(f"{f} line {int(n)}" for f, n in
                              zip(clash[SOURCE_FILE], clash[SOURCE_LINE], strict=True))
            raise MarketDataError(
                " and ".join(dict.fromkeys(clash[SOURCE_FILE])),
                f"the files disagree about {kind} at {_as_time(when)} ({where})",
                "remove the wrong file, or set ingestion.repairs.drop_conflicting_duplicates: "
                "true (the later file wins)",
                row=int(clash[SOURCE_LINE].iloc[0]), column=time_column,
            )
        for name, rows in merged.loc[dropped].groupby(SOURCE_FILE, sort=False):
            log.repaired(kind, name, "drop_conflicting_duplicates", rows[SOURCE_LINE].to_numpy())
    return values.loc[keep & ~dropped].reset_index(drop=True)


def _as_time(value: Any) -> pd.Timestamp:
    """A time column value (int64 epoch ns or a timestamp) as a UTC Timestamp."""
    if isinstance(value, int | np.integer):
        return pd.Timestamp(int(value), unit="ns", tz="UTC")
    return pd.Timestamp(value)
