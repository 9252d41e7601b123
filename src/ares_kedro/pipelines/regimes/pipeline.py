"""Regimes pipeline wiring."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.pipelines.regimes import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.classify_regimes, ["market_bars", "params:regimes"],
                 ["regime_labels", "sr_levels", "regime_model"], name="classify_regimes"),
            node(nodes.split_by_regime, ["market_bars", "regime_labels"],
                 "regime_training_sets", name="split_by_regime"),
            node(nodes.report_regimes,
                 ["market_bars", "regime_labels", "sr_levels", "params:regimes"],
                 ["regime_report", "regime_split_summary", "regime_chart"], name="report_regimes"),
        ],
        tags="regimes",
    )
