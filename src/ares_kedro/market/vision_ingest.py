"""Read a folder of Binance Vision archives into tidy tables, file by file, with a cache.

Each function returns one table sorted by time, duplicates across files dropped and
counted, and fills a QualityLog. Files whose parse is cached (same name, size and
modification time) are not read again, so adding a month reads only that month.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import numpy as np
import pandas as pd

from ares_kedro.market.archives import (
    AGG_TRADES,
    FUNDING_RATE,
    KLINES,
    METRICS,
    ArchiveFile,
    Inventory,
    verify_checksum,
)
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.quality import QualityLog, RepairPolicy, merge_across_files
from ares_kedro.market.trade_flow import (
    TRADE_FLOW_COLUMNS,
    LargeTradeRule,
    aggregate_trade_file,
    combine_bar_chunks,
    expected_thresholds,
    same_thresholds,
)
from ares_kedro.market.vision_readers import read_funding_file, read_klines_file, read_metrics_file

logger = logging.getLogger(__name__)


def _verify(archive: ArchiveFile, kind: str, log: QualityLog, verify: bool) -> None:
    if not verify:
        return
    status = verify_checksum(archive.path)
    log.count_file(kind, "checksum_verified" if status else "checksum_missing")


def _read_table_files(
    files: list[ArchiveFile],
    kind: str,
    time_column: str,
    reader,
    policy: RepairPolicy,
    log: QualityLog,
    cache: ParsedFileCache,
    verify_checksums: bool,
) -> pd.DataFrame:
    """Read small-kind files (klines, funding, metrics) through the cache and merge them."""
    stored = cache.kind(kind)
    stored.keep_only({a.name for a in files})
    for archive in files:
        key = cache.key(archive.path, kind=kind, policy=asdict(policy))
        meta = stored.meta(archive.name, key)
        if meta is not None:
            log.merge(QualityLog.from_dict(meta["quality"]))
            log.count_file(kind, "from_cache")
        else:
            _verify(archive, kind, log, verify_checksums)
            file_log = QualityLog()
            frame = reader(archive, policy, file_log)
            stored.put(archive.name, key, frame, {"quality": file_log.to_dict()})
            log.merge(file_log)
            log.count_file(kind, "parsed")
    merged = stored.rows([a.name for a in files])
    stored.save()
    if merged.empty:
        return pd.DataFrame()
    return merge_across_files(merged, time_column, policy, log, kind, [a.name for a in files])


def read_klines(
    inventory: Inventory, interval: str, policy: RepairPolicy, log: QualityLog,
    cache: ParsedFileCache, verify_checksums: bool = True,
) -> pd.DataFrame:
    """All klines of ``interval``: ``open_time`` (int64 ns) plus OHLCV columns, sorted."""
    files = inventory.of(KLINES, interval)
    if not files:
        found = ", ".join(inventory.kline_intervals()) or "none"
        raise MarketDataError(
            "the market data folder", f"no {interval} kline files (intervals found: {found})",
            "set ingestion.source_interval to an interval you have, or download the files",
        )
    started = time.perf_counter()
    frame = _read_table_files(files, "klines", "open_time", read_klines_file, policy, log, cache,
                              verify_checksums)
    logger.info("Read %d %s kline rows from %d files in %.2f s", len(frame), interval, len(files),
                time.perf_counter() - started)
    return frame


def read_funding_rates(
    inventory: Inventory, policy: RepairPolicy, log: QualityLog, cache: ParsedFileCache,
    verify_checksums: bool = True,
) -> pd.DataFrame:
    """Funding rates: ``funding_time`` (int64 ns), ``funding_rate`` (fraction per interval)."""
    return _read_table_files(inventory.of(FUNDING_RATE), "funding_rates", "funding_time",
                             read_funding_file, policy, log, cache, verify_checksums)


def read_open_interest(
    inventory: Inventory, symbol: str, policy: RepairPolicy, log: QualityLog,
    cache: ParsedFileCache, verify_checksums: bool = True,
) -> pd.DataFrame:
    """Open interest snapshots: ``metric_time`` (int64 ns), open_interest, open_interest_value."""

    def reader(archive, policy_, file_log):
        return read_metrics_file(archive, symbol, policy_, file_log)

    return _read_table_files(inventory.of(METRICS), "open_interest", "metric_time", reader,
                             policy, log, cache, verify_checksums)


def read_trade_flow(
    inventory: Inventory, bar_ns: int, rule: LargeTradeRule, log: QualityLog,
    cache: ParsedFileCache, verify_checksums: bool = True, block_bytes: int = 8 << 20,
    parse_threads: int = 2,
) -> pd.DataFrame:
    """Per-bar order flow from every aggTrades file (index ``bar_time``, int64 ns).

    Files stream in time order. A cached file is reused when the large-trade thresholds
    its days would get now equal those it was computed with (always true when files are
    only appended later in time); otherwise it is read again.
    """
    files = inventory.of(AGG_TRADES)
    if not files:
        return combine_bar_chunks([])
    started = time.perf_counter()
    history: dict[int, np.ndarray] = {}
    rows = parsed_rows = 0
    stored = cache.kind("agg_trades")
    stored.keep_only({a.name for a in files})
    for archive in files:
        key = cache.key(archive.path, kind="agg_trades", bar_ns=bar_ns, rule=rule)
        meta = stored.meta(archive.name, key)
        reuse = False
        if meta is not None:
            arrays = stored.arrays.get(archive.name, {})
            own = {int(d): h for d, h in zip(arrays.get("days", []), arrays.get("histograms", []),
                                             strict=True)}
            used = {int(k): float(v) for k, v in meta["thresholds"].items()}
            reuse = same_thresholds(used, expected_thresholds(sorted(own), own, history, rule))
        if reuse:
            log.count_file("agg_trades", "from_cache")
            file_rows, duplicates = int(meta["rows"]), int(meta["duplicates"])
        else:
            _verify(archive, "agg_trades", log, verify_checksums)
            result = aggregate_trade_file(archive, bar_ns, rule, history, block_bytes,
                                          parse_threads)
            own = result.histograms
            file_rows, duplicates = result.rows, result.duplicates
            parsed_rows += file_rows
            log.count_file("agg_trades", "parsed")
            days = np.array(sorted(own), dtype=np.int64)
            stored.put(archive.name, key, result.bars,
                       {"rows": file_rows, "duplicates": duplicates,
                        "thresholds": {str(k): v for k, v in result.thresholds.items()}},
                       {"days": days,
                        "histograms": np.array([own[d] for d in days]).reshape(len(days), -1)})
        log.rows_read["agg_trades"] += file_rows
        log.duplicates_dropped["agg_trades"] += duplicates
        rows += file_rows
        history.update(own)
    per_file = [stored.rows([a.name for a in files]).drop(columns=["source_file"])]
    stored.save()
    flow = combine_bar_chunks(per_file)
    elapsed = time.perf_counter() - started
    logger.info("Order flow of %d trades (%d parsed now, the rest cached) from %d files into %d "
                "bars in %.2f s", rows, parsed_rows, len(files), len(flow), elapsed)
    return flow[TRADE_FLOW_COLUMNS]
