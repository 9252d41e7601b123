"""Fast, strict CSV parsing of market files with exact error locations.

The fast path is Arrow's multi-threaded CSV reader with fixed column types. When Arrow
refuses a file, a slow line-by-line diagnosis finds the first bad line so the error can
name it: a wrong column count, a non-numeric price, an unknown boolean.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv

from ares_kedro.market.archives import BYTE_ORDER_MARK, first_line, is_number
from ares_kedro.market.errors import MarketDataError

_BOOL_TEXT = {"true", "false", "1", "0"}
_TIME_UNITS = (  # (lower bound of magnitude, unit name, nanoseconds per unit)
    (1e17, "ns", 1),
    (1e14, "us", 1_000),
    (1e11, "ms", 1_000_000),
    (1e8, "s", 1_000_000_000),
)


@dataclass(frozen=True)
class CsvLayout:
    """Column names and Arrow types of one kind of market file.

    ``optional_tail`` columns may be absent at the end of a row (e.g. the
    ``is_best_match`` column that only spot aggTrades have).
    """

    kind: str
    columns: tuple[str, ...]
    types: dict[str, pa.DataType]
    optional_tail: int = 0

    @property
    def accepted_widths(self) -> tuple[int, ...]:
        n = len(self.columns)
        return tuple(range(n - self.optional_tail, n + 1))


@dataclass
class ParsedCsv:
    table: pa.Table
    header_lines: int  # 0 or 1: add ``header_lines + 1`` to a 0-based row for its line number
    width: int

    def line_of(self, row: int | np.integer) -> int:
        return int(row) + self.header_lines + 1


def header_line_count(line: str, layout: CsvLayout, source: Path | str) -> int:
    """1 when the first ``line`` is ``layout``'s header, 0 when it is a row.

    A header is recognised by its column name (Binance's headers start with the layout's
    first column, ``open_time``, ``agg_trade_id``, ``calc_time``, ``create_time``), a row
    by a number in its first field; a UTF-8 byte-order mark before either is ignored.
    Anything else (a damaged first row, another file's header) is refused, naming the
    file and line 1: taking it for a header would drop a row without a word."""
    first = line.lstrip(BYTE_ORDER_MARK).split(",", 1)[0].strip().strip('"').lower()
    if is_number(first):
        return 0
    if first == layout.columns[0]:
        return 1
    raise MarketDataError(
        source, f"line 1 is neither the {layout.kind} header (its first column is "
        f"{layout.columns[0]!r}) nor a row (a number first): {line[:80]!r}",
        "repair or delete the line, or download the file again", row=1)


def parse_market_csv(data: bytes, source: Path | str, layout: CsvLayout) -> ParsedCsv:
    """Parse one market CSV (bytes) strictly into an Arrow table of ``layout``'s types."""
    if not data.strip():
        raise MarketDataError(
            source, f"empty file: a {layout.kind} file must hold at least one row",
            "delete it and download it again, or remove it from the folder", row=1,
        )
    if data.startswith(BYTE_ORDER_MARK.encode()):
        data = data[len(BYTE_ORDER_MARK.encode()):]  # an encoding mark, not data
    head = first_line(data)
    header_lines = header_line_count(head, layout, source)
    sample = first_line(data[data.find(b"\n") + 1 :]) if header_lines and b"\n" in data else ""
    sample = sample if header_lines else head
    if header_lines and not sample:
        raise MarketDataError(
            source, f"the file has a header but no {layout.kind} rows",
            "delete it and download it again, or remove it from the folder", row=1,
        )
    width = len(sample.split(","))
    if width not in layout.accepted_widths:
        raise_wrong_width(source, header_lines + 1, width, layout)
    names = list(layout.columns[:width])
    types = {name: layout.types[name] for name in names if name in layout.types}
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=header_lines),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                include_columns=list(types),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        lines = data.decode("utf-8", errors="replace").splitlines()
        diagnose_bad_line(lines, source, layout, header_lines, width)
        raise MarketDataError(
            source, f"cannot be parsed as a {layout.kind} file ({error})",
            "check the file against the Binance Vision layout in docs/data.md",
        ) from error
    return ParsedCsv(table=table, header_lines=header_lines, width=width)


def diagnose_bad_line(
    lines: Iterable[str], source: Path | str, layout: CsvLayout, header_lines: int, width: int
) -> None:
    """Find the first line Arrow refused and raise a MarketDataError naming it."""
    names = layout.columns[:width]
    for line_no, line in enumerate(lines, start=1):
        if line_no <= header_lines or not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise_wrong_width(source, line_no, len(fields), layout, expected=width)
        for name, value in zip(names, fields, strict=True):
            kind = layout.types.get(name)
            if kind is None:
                continue
            text = value.strip()
            if pa.types.is_boolean(kind):
                if text.lower() not in _BOOL_TEXT:
                    raise MarketDataError(
                        source, "not a boolean", "the value must be True/False or true/false",
                        row=line_no, column=name, value=text,
                    )
            elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
                try:
                    number = float(text)
                except ValueError:
                    number = None
                if number is None or (pa.types.is_integer(kind) and not text.lstrip("-").isdigit()):
                    raise MarketDataError(
                        source, "not a number", "correct or delete this line, or re-download the file",
                        row=line_no, column=name, value=text,
                    )


def raise_wrong_width(source, line_no: int, width: int, layout: CsvLayout, expected=None) -> None:
    accepted = " or ".join(str(w) for w in ((expected,) if expected else layout.accepted_widths))
    raise MarketDataError(
        source,
        f"wrong column count for a {layout.kind} file: {width} columns, expected {accepted} "
        f"({', '.join(layout.columns)})",
        "check that the file is the kind its name says, or re-download it",
        row=line_no,
    )


def epoch_unit(first_value: int, source: Path | str, column: str, line: int) -> tuple[float, str, int]:
    """(lower magnitude bound, unit name, ns per unit) of an epoch timestamp, by its size."""
    for lower, unit, factor in _TIME_UNITS:
        if abs(int(first_value)) >= lower:
            return lower, unit, factor
    raise MarketDataError(
        source, "not an epoch timestamp", "timestamps must be Unix epoch s/ms/µs/ns",
        row=line, column=column, value=int(first_value),
    )


def epoch_to_ns(
    values: np.ndarray,
    source: Path | str,
    column: str,
    header_lines: int,
    unit: tuple[float, str, int] | None = None,
    row_offset: int = 0,
) -> np.ndarray:
    """Epoch integers in s, ms, µs or ns (told apart by magnitude) to int64 nanoseconds.

    Binance moved spot files from milliseconds to microseconds in 2025; each file uses
    one unit throughout, and a file that mixes units is an error. ``unit`` fixes the unit
    (for later chunks of a streamed file); ``row_offset`` is the chunk's first row.
    """
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return values
    lower, name, factor = unit or epoch_unit(
        values[0], source, column, row_offset + header_lines + 1
    )
    bad = np.flatnonzero((np.abs(values) < lower) | (np.abs(values) >= lower * 1000))
    if bad.size:
        raise MarketDataError(
            source,
            f"timestamps change unit within the file (the first is in {name})",
            "a file must use one time unit; re-download it",
            row=row_offset + int(bad[0]) + header_lines + 1, column=column,
            value=int(values[bad[0]]),
        )
    return values * factor


def to_utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 epoch nanoseconds to a UTC DatetimeIndex."""
    return pd.DatetimeIndex(np.asarray(ns, dtype="datetime64[ns]")).tz_localize("UTC")
