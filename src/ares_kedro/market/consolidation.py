"""From parsed tables to one tidy bar table: resample, gaps, order flow, futures data.

Time convention (no lookahead): a bar is labelled by its open time and its values are
known at its close, ``open_time + timeframe``. Anything with a timestamp (a funding
rate, an open-interest snapshot) is attached to a bar only when its timestamp is
strictly before that bar's close, i.e. a value first appears on the bar during which it
became known, never earlier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market.csv_tables import to_utc_index
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.trade_flow import TRADE_FLOW_COLUMNS

logger = logging.getLogger(__name__)

OHLCV_COLUMNS = ["open", "high", "low", "close", "volume"]
KLINE_EXTRA_COLUMNS = ["quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume"]
FUTURES_COLUMNS = ["funding_rate", "open_interest", "open_interest_value"]
MAX_GAPS_LISTED = 50


@dataclass
class Gap:
    """Missing bars between two bars that exist: [first_missing, last_missing]."""

    first_missing: pd.Timestamp
    last_missing: pd.Timestamp
    bars: int

    def to_dict(self) -> dict[str, Any]:
        return {"first_missing": self.first_missing.isoformat(),
                "last_missing": self.last_missing.isoformat(), "bars": self.bars}


def resample_bars(bars: pd.DataFrame, source_ns: int, target_ns: int) -> tuple[pd.DataFrame, int]:
    """Aggregate sorted bars (``open_time`` int64 ns column) to a coarser interval.

    Open is the first sub-bar's, close the last's, high the maximum, low the minimum,
    volumes and counts add up. Returns the bars (``open_time`` column) and how many
    target bars have fewer sub-bars than a full bar (partial, e.g. across an outage).
    """
    if target_ns % source_ns:
        raise ValueError(
            f"cannot build {target_ns // 10**9} s bars from {source_ns // 10**9} s bars: "
            "the timeframe must be a multiple of the source interval"
        )
    if target_ns == source_ns or bars.empty:
        return bars.reset_index(drop=True), 0
    bucket = bars["open_time"].to_numpy() // target_ns
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))
    ends = np.append(starts[1:], len(bars)) - 1
    out = {"open_time": bucket[starts] * target_ns,
           "open": bars["open"].to_numpy()[starts],
           "high": np.maximum.reduceat(bars["high"].to_numpy(), starts),
           "low": np.minimum.reduceat(bars["low"].to_numpy(), starts),
           "close": bars["close"].to_numpy()[ends]}
    for column in bars.columns.difference(["open_time", *out]):
        if pd.api.types.is_numeric_dtype(bars[column]):
            out[column] = np.add.reduceat(bars[column].to_numpy(), starts)
    sub_bars = np.diff(np.append(starts, len(bars)))
    partial = int((sub_bars < target_ns // source_ns).sum())
    return pd.DataFrame(out), partial


def find_gaps(open_times_ns: np.ndarray, step_ns: int) -> list[Gap]:
    """Runs of missing bars in a sorted, unique bar grid."""
    steps = np.diff(open_times_ns)
    where = np.flatnonzero(steps > step_ns)
    return [
        Gap(first_missing=pd.Timestamp(int(open_times_ns[i] + step_ns), tz="UTC"),
            last_missing=pd.Timestamp(int(open_times_ns[i + 1] - step_ns), tz="UTC"),
            bars=int(steps[i] // step_ns - 1))
        for i in where
    ]


def fill_gaps(bars: pd.DataFrame, step_ns: int) -> pd.DataFrame:
    """Insert the missing bars of a DatetimeIndexed table as flat bars at the last close
    with zero volume; ``is_filled`` marks them. Only when ``ingestion.fill_gaps`` says so."""
    full = pd.date_range(bars.index[0], bars.index[-1], freq=pd.Timedelta(step_ns, "ns"))
    filled = bars.reindex(full)
    missing = filled["close"].isna().to_numpy()
    close = filled["close"].ffill()
    for column in ("open", "high", "low", "close"):
        filled[column] = filled[column].fillna(close)
    volume_like = [c for c in filled.columns if c in KLINE_EXTRA_COLUMNS + TRADE_FLOW_COLUMNS + ["volume"]]
    filled.loc[missing, volume_like] = 0.0
    for column in FUTURES_COLUMNS:
        if column in filled:
            filled[column] = filled[column].ffill()
    filled["is_filled"] = missing
    filled.index.name = bars.index.name
    return filled


def align_as_of(bar_open_ns: np.ndarray, step_ns: int, event_ns: np.ndarray,
                values: np.ndarray) -> np.ndarray:
    """For each bar, the last event value with time strictly before the bar's close.

    ``event_ns`` is sorted. Bars before the first event get NaN.
    """
    if event_ns.size == 0:
        return np.full(bar_open_ns.size, np.nan)
    close_ns = bar_open_ns + step_ns
    position = np.searchsorted(event_ns, close_ns, side="left") - 1
    out = np.where(position >= 0, values[np.clip(position, 0, None)], np.nan)
    return out.astype(float)


def build_market_bars(
    klines: pd.DataFrame,
    source_ns: int,
    timeframe_ns: int,
    trade_flow: pd.DataFrame | None,
    funding: pd.DataFrame | None,
    open_interest: pd.DataFrame | None,
    fill_missing_bars: bool,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One UTC-indexed bar table and the consolidation part of the quality report.

    Args:
        klines: sorted, unique bars of ``source_ns`` with an ``open_time`` int64 ns column.
        trade_flow: per-bar order flow indexed by ``bar_time`` (int64 ns) at the
            timeframe, or None.
        funding: ``funding_time`` (ns) and ``funding_rate`` rows, or None.
        open_interest: ``metric_time`` (ns), open_interest, open_interest_value, or None.
        fill_missing_bars: insert flat zero-volume bars for gaps (marked ``is_filled``).

    Returns:
        bars indexed by ``open_time`` (UTC, sorted, unique) and a report dict.
    """
    if klines.empty:
        raise MarketDataError("the market data", "no bars were read", "check ingestion.source and paths")
    bars, partial = resample_bars(klines, source_ns, timeframe_ns)
    open_ns = bars["open_time"].to_numpy()
    gaps = find_gaps(open_ns, timeframe_ns)
    table = bars.drop(columns=["open_time"]).set_index(to_utc_index(open_ns))
    table.index.name = "open_time"

    if trade_flow is not None and len(trade_flow):
        flow = trade_flow.reindex(open_ns)
        flow.index = table.index
        table = table.join(flow)
        no_trades = int(flow["agg_trade_count"].isna().sum())
        # A bar inside the trade files' span without trades had zero trades; bars
        # outside the span are unknown (NaN).
        inside = (open_ns >= trade_flow.index.min()) & (open_ns <= trade_flow.index.max())
        zero_fill = [c for c in TRADE_FLOW_COLUMNS if not c.startswith("large_")]
        table.loc[inside & flow["agg_trade_count"].isna().to_numpy(), zero_fill] = 0.0
    else:
        no_trades = len(table)
    if funding is not None and len(funding):
        table["funding_rate"] = align_as_of(open_ns, timeframe_ns, funding["funding_time"].to_numpy(),
                                            funding["funding_rate"].to_numpy())
    if open_interest is not None and len(open_interest):
        for column in ("open_interest", "open_interest_value"):
            table[column] = align_as_of(open_ns, timeframe_ns, open_interest["metric_time"].to_numpy(),
                                        open_interest[column].to_numpy())
    table["is_filled"] = False
    filled = 0
    if fill_missing_bars and gaps:
        table = fill_gaps(table, timeframe_ns)
        filled = int(table["is_filled"].sum())
    report = {
        "bars": len(table),
        "first_bar": table.index[0].isoformat(),
        "last_bar": table.index[-1].isoformat(),
        "partial_bars": partial,
        "bars_without_trade_data": no_trades,
        "gaps": {
            "count": len(gaps),
            "missing_bars": int(sum(g.bars for g in gaps)),
            "filled_bars": filled,
            "largest": [g.to_dict() for g in sorted(gaps, key=lambda g: -g.bars)[:MAX_GAPS_LISTED]],
        },
    }
    if gaps:
        logger.warning("%d gaps, %d missing bars of %s (%s)", len(gaps), report["gaps"]["missing_bars"],
                       pd.tseries.frequencies.to_offset(pd.Timedelta(timeframe_ns, "ns")).freqstr,
                       "filled" if filled else "left as gaps")
    return table, report
