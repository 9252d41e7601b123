"""Where the time of the aggTrades path goes, stage by stage.

``python -m benchmarks.profile_trades ROOT [--cprofile FILE]`` times, on the same files
as the trades case and in this order: SHA-256 checksums alone, zip inflate alone
(``archives.open_archive``: ISA-L, with its CRC-32), Arrow CSV parsing alone on one thread
(of CSV already in memory), and the whole ``read_trade_flow``.
During the whole call it also times the main thread's time in ``_consume`` (numpy
reduction of each parsed block to per-bar sums) and in ``combine_bar_chunks`` (pandas
concat/groupby), by wrapping them (no change to src/). Each stage also records CPU
seconds of all threads. It writes one JSON line; with ``--cprofile`` also a cProfile
listing of the whole call (slower: do not compare).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from pyarrow import csv as pa_csv

from ares_kedro.market import trade_flow, vision_ingest
from ares_kedro.market.archives import (
    AGG_TRADES,
    first_line,
    inventory_archives,
    open_archive,
    verify_checksum,
)
from ares_kedro.market.csv_tables import header_line_count
from ares_kedro.market.trade_flow import AGG_TRADE_LAYOUT
from benchmarks.ingestion import run_trades

BLOCK = 8 << 20  # aggregate_trade_file's default block_bytes


def _timed(seconds: dict[str, float], name: str, function: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - started

    return wrapper


def _inflate(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with open_archive(path) as stream:
            while block := stream.read(BLOCK):
                total += len(block)
    return total


def _reader(source, header: int) -> pa_csv.CSVStreamingReader:
    """Arrow's streaming CSV reader with the options of ``aggregate_trade_file``."""
    return pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=list(AGG_TRADE_LAYOUT.columns[:7]), skip_rows=header, block_size=BLOCK
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=AGG_TRADE_LAYOUT.types,
            include_columns=list(AGG_TRADE_LAYOUT.types),
        ),
    )


def _header(path: Path) -> int:
    with open_archive(path) as probe:
        return header_line_count(first_line(probe.read(4096)), AGG_TRADE_LAYOUT, path)


def _parse_only(paths: list[Path]) -> tuple[float, float, int]:
    """Wall and CPU seconds of parsing each file's CSV already inflated in memory."""
    wall = cpu = 0.0
    rows = 0
    for path in paths:
        with open_archive(path) as stream:
            data = stream.read()
        started, before = time.perf_counter(), os.times()
        rows += sum(batch.num_rows for batch in _reader(pa.BufferReader(data), _header(path)))
        after = os.times()
        wall += time.perf_counter() - started
        cpu += after.user - before.user + after.system - before.system
        del data
    return wall, cpu, rows


def _stage(out: dict[str, float | int], name: str, function: Callable[[], object]) -> object:
    """Run one stage; record its wall and CPU seconds (all threads) as ``name_s``/``name_cpu_s``."""
    started, cpu = time.perf_counter(), os.times()
    result = function()
    ended = os.times()
    out[f"{name}_s"] = time.perf_counter() - started
    out[f"{name}_cpu_s"] = ended.user - cpu.user + ended.system - cpu.system
    return result


def breakdown(root: Path, cprofile_out: Path | None = None) -> dict[str, float | int]:
    """Seconds per stage of the trades path on the aggTrades files below ``root``."""
    paths = [f.path for f in inventory_archives(root, "BTCUSDT").of(AGG_TRADES)]
    out: dict[str, float | int] = {"files": len(paths)}
    _stage(out, "checksum", lambda: [verify_checksum(path) for path in paths])
    out["csv_bytes"] = _stage(out, "inflate", lambda: _inflate(paths))
    out["parse_s"], out["parse_cpu_s"], out["rows"] = _parse_only(paths)

    seconds: dict[str, float] = defaultdict(float)
    consume, combine = trade_flow._consume, trade_flow.combine_bar_chunks
    trade_flow._consume = _timed(seconds, "consume_s", consume)
    trade_flow.combine_bar_chunks = _timed(seconds, "combine_s", combine)
    vision_ingest.combine_bar_chunks = trade_flow.combine_bar_chunks
    profiler = cProfile.Profile() if cprofile_out else None
    try:
        if profiler:
            profiler.enable()
        _stage(out, "total", lambda: run_trades(root))
        if profiler:
            profiler.disable()
    finally:
        trade_flow._consume = consume
        trade_flow.combine_bar_chunks = vision_ingest.combine_bar_chunks = combine
    out.update(seconds)
    if profiler and cprofile_out:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
        cprofile_out.write_text(text.getvalue())
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--cprofile", type=Path, default=None, help="write a cProfile listing")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(breakdown(args.root, args.cprofile)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
