"""Ingestion pipeline wiring."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.pipelines.ingestion import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.prepare_raw_archives, "params:ingestion", "raw_archive_manifest",
                 name="prepare_raw_archives"),
            node(nodes.read_klines, ["raw_archive_manifest", "params:ingestion"],
                 ["klines_raw", "klines_quality"], name="read_klines"),
            node(nodes.aggregate_trades, ["raw_archive_manifest", "params:ingestion"],
                 ["trade_flow_bars", "trades_quality"], name="aggregate_trades"),
            node(nodes.read_futures_data, ["raw_archive_manifest", "params:ingestion",
                                           "params:validation.costs"],
                 ["funding_rates", "open_interest", "futures_quality"], name="read_futures_data"),
            node(
                nodes.build_market_bars,
                ["klines_raw", "trade_flow_bars", "funding_rates", "open_interest",
                 "klines_quality", "trades_quality", "futures_quality", "params:ingestion"],
                ["market_bars", "ingestion_quality_report"],
                name="build_market_bars",
            ),
        ],
        tags="ingestion",
    )
