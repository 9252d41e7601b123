"""Ingestion as plain functions: configuration, sources, and the consolidated bar table.

The Kedro nodes in ``pipelines/ingestion`` are thin wrappers around these, and the live
predictor can call the same functions on recent files.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market import archives
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.consolidation import build_market_bars
from ares_kedro.market.errors import MarketDataError, MissingMarketDataError
from ares_kedro.market.ohlcv_files import infer_interval_ns, list_ohlcv_files, read_ohlcv_file
from ares_kedro.market.plausibility import PlausibilityParams, checked_prices
from ares_kedro.market.quality import SOURCE_LINE, QualityLog, RepairPolicy, merge_across_files
from ares_kedro.market.synthetic import SyntheticMarketSpec, ensure_synthetic_archives
from ares_kedro.market.timeframes import INTERVAL_US, SUPPORTED_TIMEFRAMES, interval_us
from ares_kedro.market.trade_flow import TRADE_FLOW_COLUMNS, LargeTradeRule
from ares_kedro.market.vision_ingest import (
    read_funding_rates,
    read_klines,
    read_open_interest,
    read_trade_flow,
)

logger = logging.getLogger(__name__)

SOURCES = ("synthetic", "binance_vision", "ohlcv_files")
MARKETS = ("spot", "um_futures")


@dataclass(frozen=True)
class IngestionConfig:
    """``params:ingestion``, validated once."""

    symbol: str
    exchange: str
    market: str
    timeframe: str
    source: str
    source_interval: str | None
    lookback_days: int | None
    end: pd.Timestamp | None
    fill_gaps: bool
    verify_checksums: bool
    download: bool
    download_options: dict[str, Any]
    paths: dict[str, Path]
    large_trade: LargeTradeRule
    trade_block_bytes: int
    trade_parse_threads: int
    repairs: RepairPolicy
    plausibility: PlausibilityParams
    synthetic: SyntheticMarketSpec | None = field(default=None)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> IngestionConfig:
        def need(key: str) -> Any:
            if key not in params:
                raise ValueError(f"ingestion.{key} is missing; see conf/base/parameters_ingestion.yml")
            return params[key]

        symbol = str(need("symbol")).upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9._-]*", symbol):
            raise ValueError(f"ingestion.symbol {symbol!r}: a symbol names files and folders, "
                             "so it holds letters, digits, '.', '_' or '-' only; write "
                             f"{re.sub(r'[^A-Z0-9._-]', '', symbol)!r} as the exchange does")
        market, timeframe, source = need("market"), need("timeframe"), need("source")
        if market not in MARKETS:
            raise ValueError(f"ingestion.market must be one of {MARKETS}, got {market!r}")
        if timeframe not in SUPPORTED_TIMEFRAMES:
            raise ValueError(f"ingestion.timeframe must be one of {SUPPORTED_TIMEFRAMES}, got {timeframe!r}")
        if source not in SOURCES:
            raise ValueError(f"ingestion.source must be one of {SOURCES}, got {source!r}")
        source_interval = params.get("source_interval") or None
        if source_interval is not None and source_interval not in INTERVAL_US:
            raise ValueError(f"ingestion.source_interval {source_interval!r} is not a Binance interval")
        lookback = params.get("lookback_days")
        if lookback is not None and int(lookback) < 1:
            raise ValueError("ingestion.lookback_days must be >= 1 or null (all data)")
        end = params.get("end")
        trades = need("trades")
        missing = sorted({"block_bytes", "parse_threads", "large_trade"} - set(trades))
        if missing:
            raise ValueError(f"ingestion.trades is missing {missing}; see "
                             "conf/base/parameters_ingestion.yml")
        synthetic = None
        if source == "synthetic":
            synthetic_params = dict(need("synthetic"))
            synthetic_params.setdefault("interval", timeframe)
            synthetic = SyntheticMarketSpec.from_params(synthetic_params)
            if synthetic.interval != timeframe:
                raise ValueError("ingestion.synthetic.interval must equal ingestion.timeframe")
        return cls(
            symbol=symbol,
            exchange=str(need("exchange")).upper(),
            market=market,
            timeframe=timeframe,
            source=source,
            source_interval=source_interval,
            lookback_days=int(lookback) if lookback is not None else None,
            end=pd.Timestamp(end, tz="UTC") if end else None,
            fill_gaps=bool(need("fill_gaps")),
            verify_checksums=bool(need("verify_checksums")),
            download=bool(params.get("download", False)),
            download_options=dict(params.get("download_options") or {}),
            paths={k: Path(v) for k, v in need("paths").items()},
            large_trade=LargeTradeRule(**trades["large_trade"]),
            trade_block_bytes=int(trades["block_bytes"]),
            trade_parse_threads=int(trades["parse_threads"]),
            repairs=RepairPolicy.from_params(params.get("repairs")),
            plausibility=PlausibilityParams.from_params(need("plausibility")),
            synthetic=synthetic,
        )

    @property
    def timeframe_ns(self) -> int:
        return interval_us(self.timeframe) * 1_000

    @property
    def market_id(self) -> str:
        """``<EXCHANGE>-<market>-<SYMBOL>-<timeframe>``, as in the catalog's paths."""
        return f"{self.exchange}-{self.market}-{self.symbol}-{self.timeframe}"

    @property
    def archive_root(self) -> Path:
        """Where the raw archives are: each synthetic market has a folder of its own, so
        generating one (say 4h bars) never touches another (1h)."""
        if self.source == "synthetic":
            return self.paths["synthetic"] / self.market_id
        return self.paths["binance_vision"]

    @property
    def cache(self) -> ParsedFileCache:
        return ParsedFileCache(self.paths["cache"] / self.source / self.market_id)


def prepare_raw_archives(config: IngestionConfig) -> dict[str, Any]:
    """Make the raw files exist: generate the synthetic market, or download missing
    Vision archives when asked. Returns a manifest of what is on disk."""
    manifest: dict[str, Any] = {"source": config.source, "symbol": config.symbol,
                                "market": config.market, "timeframe": config.timeframe}
    if config.source == "ohlcv_files":
        manifest["files"] = [str(p) for p in list_ohlcv_files(config.paths["ohlcv_files"])]
        return manifest
    root = config.archive_root
    if config.source == "synthetic":
        assert config.synthetic is not None
        manifest["synthetic"] = ensure_synthetic_archives(config.synthetic, config.symbol,
                                                          config.market, root)
    elif config.download:
        manifest["download"] = _download(config)
    else:
        _check_offline_coverage(config)
    inventory = archives.inventory_archives(root, config.symbol)
    manifest["root"] = str(root)
    manifest["files"] = {kind: [f.name for f in files] for kind, files in inventory.files.items()}
    manifest["superseded_daily_files"] = [f.name for f in inventory.superseded]
    manifest["duplicate_files"] = inventory.duplicates  # identical copies, read once
    manifest["other_symbol_files"] = inventory.other_symbols
    return manifest


def _download_plan(config: IngestionConfig):
    from ares_kedro.market import download

    options = config.download_options
    end = config.end or pd.Timestamp.now(tz="UTC").floor("D")
    days = config.lookback_days or int(options.get("default_days", 365))
    start = end - pd.Timedelta(days=days)
    kinds = options.get("kinds", [archives.KLINES, archives.AGG_TRADES, archives.FUNDING_RATE,
                                  archives.METRICS])
    interval = config.source_interval or config.timeframe
    specs = download.plan_archives(config.symbol, config.market, kinds, interval, start, end,
                                   pd.Timestamp.now(tz="UTC"))
    return download, specs


def _download(config: IngestionConfig) -> dict[str, Any]:
    download, specs = _download_plan(config)
    options = {k: v for k, v in config.download_options.items()
               if k in ("base_url", "max_workers", "retries", "backoff_seconds", "timeout_seconds")}
    report = download.download_archives(specs, config.archive_root,
                                        verify_checksums=config.verify_checksums, **options)
    if report.failed:
        logger.error("Failed downloads: %s", report.failed)
    return {"downloaded": len(report.downloaded), "already_present": len(report.already_present),
            "not_published": report.not_published, "failed": report.failed,
            "bytes": report.bytes_downloaded}


def _check_offline_coverage(config: IngestionConfig) -> None:
    """Without download, say which files would be needed when the folder has none."""
    root = config.archive_root
    has_any = root.is_dir() and any(
        archives.parse_archive_name(p) is not None for p in root.rglob(f"{config.symbol}-*"))
    if has_any:
        return
    download, specs = _download_plan(config)
    klines_only = [s for s in specs if s.kind == archives.KLINES]
    message = download.missing_data_message(klines_only, root,
                                            config.download_options.get("base_url", ""))
    raise MissingMarketDataError(f"No Binance Vision files for {config.symbol} in {root}. {message}")


def _empty(columns: list[str], time_column: str) -> pd.DataFrame:
    return pd.DataFrame({time_column: pd.Series(dtype=np.int64),
                         **{c: pd.Series(dtype=float) for c in columns}})


def snap_generic_bars_to_grid(bars: pd.DataFrame, step_ns: int, policy: RepairPolicy,
                              log: QualityLog) -> None:
    """Generic OHLCV bars whose open time is off the UTC grid of their interval (hourly
    bars stamped at :53): refused, naming the first one's file and line, or, with
    ``repairs.snap_off_grid_times``, moved **forward** to the next grid time in place
    (a bar stamped 10:53 becomes the 11:00 bar: its data is complete by 11:53, before that
    bar closes, so nothing is known early; moving it back to 10:00 would), logged and
    counted per file."""
    times = bars["open_time"].to_numpy()
    off = np.flatnonzero(times % step_ns)
    if off.size == 0:
        return
    first = int(off[0])
    stamp = pd.Timestamp(int(times[first]), tz="UTC")
    if not policy.snap_off_grid_times:
        raise MarketDataError(
            bars["source_file"].iat[first], f"open time {stamp} is not on the "
            f"{pd.Timedelta(step_ns)} grid of the bars' interval",
            "stamp each bar with its open time on the UTC grid, or set "
            "ingestion.repairs.snap_off_grid_times: true (moves bars forward to the next grid "
            "time)", row=int(bars[SOURCE_LINE].iat[first]), column="open_time")
    bars["open_time"] = np.where(times % step_ns, (times // step_ns + 1) * step_ns, times)
    for name, rows in bars.iloc[off].groupby("source_file")[SOURCE_LINE]:
        log.repaired("klines", name, "snap_off_grid_times (forward)", rows.to_numpy())


def read_source_klines(config: IngestionConfig, log: QualityLog) -> tuple[pd.DataFrame, int]:
    """Klines at the source interval (``open_time`` int64 ns) and that interval in ns."""
    if config.source == "ohlcv_files":
        paths = list_ohlcv_files(config.paths["ohlcv_files"])
        frames = []
        for path in paths:
            frames.append(read_ohlcv_file(path, config.symbol, config.repairs, log)
                          .assign(source_file=str(path)))
            log.count_file("klines", "parsed")
        every = pd.concat(frames, ignore_index=True)
        source_ns = infer_interval_ns(every["open_time"].to_numpy(), config.paths["ohlcv_files"])
        snap_generic_bars_to_grid(every, source_ns, config.repairs, log)
        merged = merge_across_files(every, "open_time", config.repairs, log, "klines",
                                    [str(p) for p in paths])
        return merged, source_ns
    inventory = archives.inventory_archives(config.archive_root, config.symbol)
    interval = config.source_interval or config.timeframe
    klines = read_klines(inventory, interval, config.repairs, log, config.cache,
                         config.verify_checksums)
    return klines, interval_us(interval) * 1_000


def read_source_trade_flow(config: IngestionConfig, log: QualityLog) -> pd.DataFrame:
    """Per-bar order flow (index ``bar_time`` int64 ns); empty when there are no trades."""
    if config.source == "ohlcv_files":
        return _empty(TRADE_FLOW_COLUMNS, "bar_time").set_index("bar_time")
    inventory = archives.inventory_archives(config.archive_root, config.symbol)
    return read_trade_flow(inventory, config.timeframe_ns, config.large_trade, log, config.cache,
                           config.verify_checksums, config.trade_block_bytes,
                           config.trade_parse_threads)


def read_source_futures(config: IngestionConfig, log: QualityLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funding rates and open interest; empty tables for spot or generic files."""
    funding = _empty(["funding_rate", "funding_interval_hours"], "funding_time")
    interest = _empty(["open_interest", "open_interest_value"], "metric_time")
    if config.source == "ohlcv_files":
        return funding, interest
    inventory = archives.inventory_archives(config.archive_root, config.symbol)
    found_funding = read_funding_rates(inventory, config.repairs, log, config.cache,
                                       config.verify_checksums)
    found_interest = read_open_interest(inventory, config.symbol, config.repairs, log, config.cache,
                                        config.verify_checksums)
    return (found_funding if len(found_funding) else funding,
            found_interest if len(found_interest) else interest)


def consolidate(
    config: IngestionConfig,
    klines: pd.DataFrame,
    source_ns: int,
    trade_flow: pd.DataFrame,
    funding: pd.DataFrame,
    open_interest: pd.DataFrame,
    quality: list[dict[str, Any]],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``market_bars`` and the data-quality report."""
    log = QualityLog()
    for part in quality:
        log.merge(QualityLog.from_dict(part))
    bars, bar_report = build_market_bars(
        klines, source_ns, config.timeframe_ns,
        trade_flow if len(trade_flow) else None,
        funding if len(funding) else None,
        open_interest if len(open_interest) else None,
        config.fill_gaps,
    )
    outside = 0
    if config.lookback_days is not None:
        last_close = bars.index[-1] + pd.Timedelta(config.timeframe_ns, "ns")
        window_end = min(config.end, last_close) if config.end is not None else last_close
        window_start = window_end - pd.Timedelta(days=config.lookback_days)
        inside = (bars.index >= window_start) & (bars.index < window_end)
        outside = int((~inside).sum())
        bars = bars.loc[inside]
        if bars.empty:
            raise MarketDataError("the market data", f"no bars in the lookback window {window_start} "
                                  f"to {window_end}", "widen ingestion.lookback_days or change ingestion.end")
    try:
        bars, plausibility = checked_prices(bars, config.plausibility,
                                            config.repairs.drop_implausible_bars)
    except ValueError as error:
        raise MarketDataError(f"{config.symbol} {config.timeframe} bars", str(error),
                              "see docs/data.md, Plausibility") from None
    if plausibility["dropped_spikes"]:
        logger.warning("Dropped %d implausible price spike(s) at %s (drop_implausible_bars)",
                       len(plausibility["dropped_spikes"]), plausibility["dropped_spikes"][:5])
    report = {
        "symbol": config.symbol, "exchange": config.exchange, "market": config.market,
        "timeframe": config.timeframe, "source": config.source,
        "source_interval_seconds": source_ns // 10**9,
        **log.to_dict(), **bar_report,
        "bars": len(bars), "first_bar": bars.index[0].isoformat(), "last_bar": bars.index[-1].isoformat(),
        "bars_outside_lookback": outside, "price_plausibility": plausibility,
    }
    logger.info("market_bars: %d %s bars of %s %s from %s to %s (%d outside the lookback window, "
                "%d gaps)", len(bars), config.timeframe, config.symbol, config.market,
                report["first_bar"], report["last_bar"], outside, report["gaps"]["count"])
    return bars, report
