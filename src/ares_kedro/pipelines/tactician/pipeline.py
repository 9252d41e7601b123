"""Tactician pipeline wiring: label signals, train the specialists, decide and size."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.pipelines.tactician import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.label_signals,
                 ["market_bars", "analyst_oof_predictions", "analyst_predictions",
                  "regime_labels", "optimal_target_params", "params:tactician.labels"],
                 ["tactician_labels", "tactician_review_labels"], name="label_signals"),
            node(nodes.train_tactician,
                 ["analyst_features", "tactician_labels", "tactician_review_labels",
                  "pruned_features", "params:tactician.models", "params:tactician.context",
                  "time_splits"],
                 ["tactician_models", "tactician_oof_probabilities",
                  "tactician_training_report"], name="train_tactician"),
            node(nodes.decide_signals,
                 ["market_bars", "analyst_features", "tactician_labels",
                  "tactician_review_labels", "tactician_models",
                  "tactician_oof_probabilities", "optimal_target_params",
                  "params:tactician.labels", "params:tactician.context",
                  "params:tactician.decisions", "params:tactician.sizing"],
                 ["tactician_signals", "tactician_reviews", "tactician_sizing",
                  "tactician_metrics"], name="decide_signals"),
        ],
        tags="tactician",
    )
