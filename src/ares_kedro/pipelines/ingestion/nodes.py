"""Ingestion nodes: unpack parameters, call ``ares_kedro.market.ingest``, return tables."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ares_kedro.market import ingest
from ares_kedro.market.errors import MissingMarketDataError
from ares_kedro.market.quality import QualityLog


def prepare_raw_archives(params: dict[str, Any]) -> dict[str, Any]:
    """Generate the synthetic market or download missing archives; list the raw files."""
    return ingest.prepare_raw_archives(ingest.IngestionConfig.from_params(params))


def read_klines(raw_archive_manifest: dict[str, Any], params: dict[str, Any]
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Klines at the source interval, validated, and their quality counts (with the
    source interval in ``source_interval_ns``)."""
    config = ingest.IngestionConfig.from_params(params)
    log = QualityLog()
    klines, source_ns = ingest.read_source_klines(config, log)
    return klines, {**log.to_dict(), "source_interval_ns": source_ns}


def aggregate_trades(raw_archive_manifest: dict[str, Any], params: dict[str, Any]
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-bar order flow from aggregated trades, and its quality counts."""
    config = ingest.IngestionConfig.from_params(params)
    log = QualityLog()
    return ingest.read_source_trade_flow(config, log), log.to_dict()


def read_futures_data(raw_archive_manifest: dict[str, Any], params: dict[str, Any],
                      costs: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Funding rates and open interest (empty for spot), and their quality counts. A
    futures market whose costs charge funding (``validation.costs.funding``) and has no
    funding rate stops here, not after the whole training at validation."""
    config = ingest.IngestionConfig.from_params(params)
    log = QualityLog()
    funding, open_interest = ingest.read_source_futures(config, log)
    if config.market != "spot" and bool(costs.get("funding")) and funding.empty:
        raise MissingMarketDataError(
            f"No funding rates for {config.symbol} {config.market} in {config.archive_root}, "
            "and validation.costs.funding is true: put the fundingRate files there (or set "
            "ingestion.download: true with fundingRate in download_options.kinds), or set "
            "validation.costs.funding: false (the backtests then leave funding out)")
    return funding, open_interest, log.to_dict()


def build_market_bars(
    klines_raw: pd.DataFrame,
    trade_flow_bars: pd.DataFrame,
    funding_rates: pd.DataFrame,
    open_interest: pd.DataFrame,
    klines_quality: dict[str, Any],
    trades_quality: dict[str, Any],
    futures_quality: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Consolidate everything into ``market_bars`` and the data-quality report."""
    config = ingest.IngestionConfig.from_params(params)
    return ingest.consolidate(
        config, klines_raw, int(klines_quality["source_interval_ns"]), trade_flow_bars,
        funding_rates, open_interest, [klines_quality, trades_quality, futures_quality],
    )
