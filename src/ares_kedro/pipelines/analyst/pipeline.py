"""Analyst pipeline wiring."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.pipelines.analyst import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.make_time_splits,
                 ["market_bars", "params:time_splits", "params:analyst.labels"],
                 "time_splits_report", name="make_time_splits"),
            node(nodes.build_features, ["market_bars", "params:analyst.features"],
                 ["analyst_features", "feature_report"], name="build_features"),
            node(nodes.label_bars, ["market_bars", "params:analyst.labels"], "analyst_labels",
                 name="label_bars"),
        ],
        tags="analyst",
    )
