"""The universe pipeline's wiring (on demand: ``kedro run --pipelines=universe``)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from ares_kedro.pipelines.universe import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [node(nodes.train_universe, ["params:ingestion", "params:universe"],
              ["universe_summary", "universe_table", "universe_report"],
              name="train_universe")],
        tags=["universe"])
