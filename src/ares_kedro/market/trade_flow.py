"""Order flow per bar from Binance aggregated trades, streamed in chunks.

A day of BTCUSDT aggTrades holds millions of rows, so files are never loaded whole and
never become one Python object per trade: Arrow parses blocks of CSV, numpy reduces
each block to per-bar sums, and only per-bar rows are kept.

Per bar (``bar_time`` = bar open, int64 epoch ns):
  buy_volume / sell_volume            base volume of trades whose taker bought / sold
  buy_quote_volume / sell_quote_volume the same in quote currency
  agg_trade_count                      number of aggregated trades
  large_trade_count                    trades whose notional (price x quantity) is at
  large_buy_volume / large_sell_volume or above the large-trade threshold, and their volume

The large-trade threshold of a UTC day is the ``quantile`` of trade notionals over the
``lookback_days`` days before it, never the day itself or later: no lookahead. Until that
history holds ``min_history_trades`` trades, the large-trade columns are NaN (warm-up).
Notionals are kept as a histogram per day (log10 bins of width ``BIN_WIDTH_DECADES``), so
the threshold resolution is about 4.7 % of notional.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv

from ares_kedro.market.archives import BYTE_ORDER_MARK, ArchiveFile, first_line, open_archive
from ares_kedro.market.csv_tables import (
    CsvLayout,
    diagnose_bad_line,
    epoch_to_ns,
    epoch_unit,
    header_line_count,
    raise_wrong_width,
)
from ares_kedro.market.errors import MarketDataError

AGG_TRADE_LAYOUT = CsvLayout(
    kind="aggTrades",
    columns=(
        "agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
        "transact_time", "is_buyer_maker", "is_best_match",
    ),
    types={
        "agg_trade_id": pa.int64(), "price": pa.float64(), "quantity": pa.float64(),
        "transact_time": pa.int64(), "is_buyer_maker": pa.bool_(),
    },
    optional_tail=1,
)

TRADE_FLOW_COLUMNS = [
    "buy_volume", "sell_volume", "buy_quote_volume", "sell_quote_volume", "agg_trade_count",
    "large_trade_count", "large_buy_volume", "large_sell_volume",
]
_SUM_COLUMNS = TRADE_FLOW_COLUMNS  # every column adds up across chunks

DAY_NS = 86_400 * 10**9
BIN_LOW_DECADES = -4.0  # notional 0.0001 quote units
BIN_WIDTH_DECADES = 0.02
N_BINS = 750  # up to 10**11 quote units
_FIX = "re-download the file (ingestion.download: true) or remove it"


@dataclass(frozen=True)
class LargeTradeRule:
    """How a trade counts as large (``ingestion.trades.large_trade`` in conf)."""

    quantile: float
    lookback_days: int
    min_history_trades: int

    def __post_init__(self) -> None:
        if not 0.5 <= self.quantile < 1:
            raise ValueError(f"large_trade.quantile must be in [0.5, 1), got {self.quantile}")
        if self.lookback_days < 1 or self.min_history_trades < 1:
            raise ValueError("large_trade.lookback_days and min_history_trades must be >= 1")


def notional_bins(notional: np.ndarray) -> np.ndarray:
    """Histogram bin of each notional (log10 scale, clipped to the grid)."""
    with np.errstate(divide="ignore"):
        position = (np.log10(notional) - BIN_LOW_DECADES) / BIN_WIDTH_DECADES
    return np.clip(position.astype(np.int64), 0, N_BINS - 1)


def threshold_from_history(
    day: int, histograms: dict[int, np.ndarray], rule: LargeTradeRule
) -> float:
    """Large-trade notional threshold for UTC day ``day`` (days since epoch) from the
    histograms of the ``rule.lookback_days`` days before it; NaN if too little history."""
    pooled = np.zeros(N_BINS, dtype=np.int64)
    for past in range(day - rule.lookback_days, day):
        hist = histograms.get(past)
        if hist is not None:
            pooled += hist
    total = int(pooled.sum())
    if total < rule.min_history_trades:
        return float("nan")
    first_bin_at_quantile = int(np.searchsorted(np.cumsum(pooled), rule.quantile * total))
    return float(10 ** (BIN_LOW_DECADES + first_bin_at_quantile * BIN_WIDTH_DECADES))


@dataclass
class TradeFileResult:
    """Per-bar order flow of one aggTrades file and what is needed to reuse it."""

    bars: pd.DataFrame  # index bar_time (int64 ns), TRADE_FLOW_COLUMNS
    histograms: dict[int, np.ndarray]  # notional histogram per UTC day in the file
    thresholds: dict[int, float]  # large-trade threshold used per UTC day
    rows: int
    duplicates: int


class _FileState:
    """Running state while one file streams through."""

    def __init__(self, archive: ArchiveFile, header_lines: int, prior: dict[int, np.ndarray]):
        self.archive = archive
        self.header_lines = header_lines
        self.prior = prior
        self.histograms: dict[int, np.ndarray] = {}
        self.thresholds: dict[int, float] = {}
        self.rows = 0
        self.duplicates = 0
        self.last_time = np.iinfo(np.int64).min
        self.last_id = np.iinfo(np.int64).min
        self.unit: tuple[float, str, int] | None = None
        self.chunks: list[pd.DataFrame] = []

    def history(self) -> dict[int, np.ndarray]:
        return {**self.prior, **self.histograms}


def aggregate_trade_file(
    archive: ArchiveFile,
    bar_ns: int,
    rule: LargeTradeRule,
    prior_histograms: dict[int, np.ndarray],
    block_bytes: int = 8 << 20,
    parse_threads: int = 2,
) -> TradeFileResult:
    """Stream one aggTrades file (zipped or not) into per-bar order flow.

    ``prior_histograms`` holds the notional histograms of earlier days (other files),
    for the large-trade threshold. The file is cut into blocks of about ``block_bytes``
    of CSV at line ends, parsed by ``parse_threads`` threads; memory stays at a few blocks
    whatever the file size. Raises MarketDataError on bad rows, naming the line.
    """
    with open_archive(archive.path) as probe:
        head = probe.read(4096)
    if not head.strip():
        raise MarketDataError(archive.path, "empty file: an aggTrades file must hold trades", _FIX,
                              row=1)
    header_lines = header_line_count(first_line(head), AGG_TRADE_LAYOUT, archive.path)
    if head.startswith(BYTE_ORDER_MARK.encode()) and not header_lines:
        raise MarketDataError(archive.path, "a UTF-8 byte-order mark before the first trade",
                              "save the file without it, or download it again", row=1)
    lines = head.split(b"\n")
    sample = lines[header_lines].decode("utf-8", errors="replace").strip() if len(lines) > header_lines else ""
    if not sample:
        raise MarketDataError(archive.path, "the file has a header but no trades", _FIX, row=1)
    width = len(sample.split(","))
    if width not in AGG_TRADE_LAYOUT.accepted_widths:
        raise_wrong_width(archive.path, header_lines + 1, width, AGG_TRADE_LAYOUT)
    names = list(AGG_TRADE_LAYOUT.columns[:width])
    state = _FileState(archive, header_lines, prior_histograms)
    read_options = pa_csv.ReadOptions(column_names=names, use_threads=False)
    convert_options = pa_csv.ConvertOptions(
        column_types=AGG_TRADE_LAYOUT.types, include_columns=list(AGG_TRADE_LAYOUT.types)
    )

    def parse(block: bytes) -> pa.Table:
        return pa_csv.read_csv(io.BytesIO(block), read_options=read_options,
                               convert_options=convert_options)

    # Blocks are inflated here and parsed on a thread pool (Arrow and ISA-L release the
    # GIL), then consumed strictly in file order, so results do not depend on threading.
    with open_archive(archive.path) as stream, ThreadPoolExecutor(parse_threads) as pool:
        in_flight: deque = deque()
        try:
            for block in _line_blocks(stream, block_bytes, skip_lines=header_lines):
                in_flight.append(pool.submit(parse, block))
                if len(in_flight) > 2 * parse_threads:
                    _consume_table(in_flight.popleft().result(), state, bar_ns, rule)
            while in_flight:
                _consume_table(in_flight.popleft().result(), state, bar_ns, rule)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            for future in in_flight:
                future.cancel()
            _diagnose_stream(archive, header_lines, width)
            raise MarketDataError(archive.path, f"cannot be parsed as aggTrades ({error})",
                                  _FIX) from error
    if state.rows == 0:
        raise MarketDataError(archive.path, "empty file: an aggTrades file must hold trades", _FIX,
                              row=1)
    bars = combine_bar_chunks(state.chunks)
    return TradeFileResult(
        bars=bars, histograms=state.histograms, thresholds=state.thresholds,
        rows=state.rows, duplicates=state.duplicates,
    )


def _line_blocks(stream, block_bytes: int, skip_lines: int) -> Iterator[bytes]:
    """Successive pieces of a CSV stream of about ``block_bytes``, each ending at a line end,
    without the first ``skip_lines`` lines."""
    rest = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = rest + data if rest else data
        for _ in range(skip_lines):
            data = data[data.find(b"\n") + 1 :]
        skip_lines = 0
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]
    if rest.strip():
        yield rest


def _consume_table(table: pa.Table, state: _FileState, bar_ns: int, rule: LargeTradeRule) -> None:
    for batch in table.to_batches():
        _consume(batch, state, bar_ns, rule)


def _diagnose_stream(archive: ArchiveFile, header_lines: int, width: int) -> None:
    with open_archive(archive.path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
        diagnose_bad_line((line.rstrip("\n") for line in text), archive.path, AGG_TRADE_LAYOUT,
                          header_lines, width)


def _block_is_clean(state: _FileState, raw_time: np.ndarray, ids: np.ndarray, price: np.ndarray,
                    quantity: np.ndarray) -> bool:
    """Cheap whole-block checks (reductions and one comparison of shifted views)."""
    lower, _, factor = state.unit
    start, end = state.archive.period_start.value, state.archive.period_end.value
    return bool(
        lower <= raw_time.min() and raw_time.max() < lower * 1000
        and raw_time[0] * factor >= max(start, state.last_time)
        and raw_time[-1] * factor < end
        and not (raw_time[1:] < raw_time[:-1]).any()
        and ids[0] >= state.last_id and not (ids[1:] < ids[:-1]).any()
        and price.min() > 0 and np.isfinite(price.max())
        and quantity.min() > 0 and np.isfinite(quantity.max())
    )


def _raise_first_bad_row(state: _FileState, raw_time: np.ndarray, ids: np.ndarray,
                         price: np.ndarray, quantity: np.ndarray) -> None:
    """Find the first bad row of a block that failed the cheap checks and raise its error."""
    source, offset = state.archive.path, state.rows
    time_ns = epoch_to_ns(raw_time, source, "transact_time", state.header_lines, state.unit, offset)

    def line(rows: np.ndarray) -> int:
        return offset + int(rows[0]) + state.header_lines + 1

    bad = np.flatnonzero(~(price > 0) | ~np.isfinite(price))
    if bad.size:
        raise MarketDataError(source, "price must be positive", _FIX, row=line(bad), column="price",
                              value=float(price[bad[0]]))
    bad = np.flatnonzero(~(quantity > 0) | ~np.isfinite(quantity))
    if bad.size:
        raise MarketDataError(source, "quantity must be positive", _FIX, row=line(bad),
                              column="quantity", value=float(quantity[bad[0]]))
    start, end = state.archive.period_start.value, state.archive.period_end.value
    bad = np.flatnonzero((time_ns < start) | (time_ns >= end))
    if bad.size:
        raise MarketDataError(
            source, f"trade time {pd.Timestamp(int(time_ns[bad[0]]), tz='UTC')} outside the file's "
            f"period {state.archive.period_start:%Y-%m-%d}..{state.archive.period_end:%Y-%m-%d}",
            "each Vision file holds only its own month or day: rename or re-download it",
            row=line(bad), column="transact_time",
        )
    bad = np.flatnonzero(time_ns < np.concatenate(([state.last_time], time_ns[:-1])))
    if bad.size:
        raise MarketDataError(source, "trades out of time order", "sort the file by transact_time "
                              "or re-download it", row=line(bad), column="transact_time")
    bad = np.flatnonzero(ids < np.concatenate(([state.last_id], ids[:-1])))
    if bad.size:
        raise MarketDataError(source, "agg_trade_id goes backwards", "re-download the file",
                              row=line(bad), column="agg_trade_id")
    raise AssertionError("a block failed the cheap checks but no bad row was found")


def _consume(batch: pa.RecordBatch, state: _FileState, bar_ns: int, rule: LargeTradeRule) -> None:
    """Check one block of trades and add its per-bar order flow to ``state``."""
    n = batch.num_rows
    if n == 0:
        return
    raw_time = batch.column("transact_time").to_numpy()
    if state.unit is None:
        state.unit = epoch_unit(raw_time[0], state.archive.path, "transact_time",
                                state.header_lines + 1)
    ids = batch.column("agg_trade_id").to_numpy()
    price = batch.column("price").to_numpy()
    quantity = batch.column("quantity").to_numpy()
    seller_is_taker = batch.column("is_buyer_maker").to_numpy(zero_copy_only=False)
    if not _block_is_clean(state, raw_time, ids, price, quantity):
        _raise_first_bad_row(state, raw_time, ids, price, quantity)
    time_ns = raw_time * state.unit[2]
    repeat_first = ids[0] == state.last_id
    state.last_time, state.last_id = int(time_ns[-1]), int(ids[-1])
    state.rows += n
    repeat_inside = ids[1:] == ids[:-1]
    if repeat_first or repeat_inside.any():  # one aggregated trade twice: count it once
        keep = np.concatenate(([not repeat_first], ~repeat_inside))
        state.duplicates += int(n - keep.sum())
        time_ns, price, quantity, seller_is_taker = (
            time_ns[keep], price[keep], quantity[keep], seller_is_taker[keep]
        )
        if time_ns.size == 0:
            return

    notional = price * quantity
    bins = notional_bins(notional)
    bar = time_ns // bar_ns
    offset = bar - bar[0]  # bar position within the block
    n_bars = int(offset[-1]) + 1
    is_large = np.zeros(time_ns.size, dtype=bool)
    large_unknown = np.zeros(n_bars, dtype=bool)
    first_day, last_day = int(time_ns[0] // DAY_NS), int(time_ns[-1] // DAY_NS)
    for this_day in range(first_day, last_day + 1):  # one or two days per block
        lo, hi = np.searchsorted(time_ns, [this_day * DAY_NS, (this_day + 1) * DAY_NS])
        if lo == hi:
            continue
        if this_day not in state.thresholds:
            state.thresholds[this_day] = threshold_from_history(this_day, state.history(), rule)
        threshold = state.thresholds[this_day]
        if np.isnan(threshold):
            large_unknown[offset[lo] : offset[hi - 1] + 1] = True
        else:
            is_large[lo:hi] = notional[lo:hi] >= threshold
        hist = state.histograms.setdefault(this_day, np.zeros(N_BINS, dtype=np.int64))
        hist += np.bincount(bins[lo:hi], minlength=N_BINS)

    # one bincount per quantity: slot 2*bar is the taker-buy side, 2*bar + 1 the taker-sell side
    slot = 2 * offset + seller_is_taker
    volume = np.bincount(slot, weights=quantity, minlength=2 * n_bars).reshape(n_bars, 2)
    quote = np.bincount(slot, weights=notional, minlength=2 * n_bars).reshape(n_bars, 2)
    trades = np.bincount(offset, minlength=n_bars).astype(np.float64)
    large_volume = np.bincount(slot[is_large], weights=quantity[is_large],
                               minlength=2 * n_bars).reshape(n_bars, 2)
    large_trades = np.bincount(offset[is_large], minlength=n_bars).astype(np.float64)
    has_trades = trades > 0

    def large(values: np.ndarray) -> np.ndarray:
        return np.where(large_unknown, np.nan, values)[has_trades]

    state.chunks.append(pd.DataFrame(
        {
            "buy_volume": volume[has_trades, 0], "sell_volume": volume[has_trades, 1],
            "buy_quote_volume": quote[has_trades, 0], "sell_quote_volume": quote[has_trades, 1],
            "agg_trade_count": trades[has_trades],
            "large_trade_count": large(large_trades),
            "large_buy_volume": large(large_volume[:, 0]),
            "large_sell_volume": large(large_volume[:, 1]),
        },
        index=pd.Index((bar[0] + np.flatnonzero(has_trades)) * bar_ns, name="bar_time"),
    ))


def combine_bar_chunks(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum per-bar rows that several chunks (or files) share; NaN stays NaN (warm-up)."""
    if not chunks:
        return pd.DataFrame(columns=TRADE_FLOW_COLUMNS, index=pd.Index([], name="bar_time", dtype=np.int64))
    frame = pd.concat(chunks)
    if frame.index.has_duplicates:
        frame = frame.groupby(level=0, sort=True).sum(min_count=1)
    return frame.sort_index()


def expected_thresholds(
    days: list[int], own: dict[int, np.ndarray], prior: dict[int, np.ndarray], rule: LargeTradeRule
) -> dict[int, float]:
    """The thresholds a file's days would get now: used to tell whether a cached file's
    large-trade columns are still valid after earlier files changed."""
    history = {**prior, **own}
    return {day: threshold_from_history(day, history, rule) for day in days}


def same_thresholds(a: dict[Any, float], b: dict[Any, float]) -> bool:
    if set(map(int, a)) != set(map(int, b)):
        return False
    left = np.array([a[k] for k in sorted(a, key=int)], dtype=float)
    right = np.array([b[k] for k in sorted(b, key=int)], dtype=float)
    return bool(np.array_equal(left, right, equal_nan=True))
