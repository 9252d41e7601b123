"""Governor pipeline wiring: inputs, meta-learner, final parameters, decisions."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.pipelines.governor import nodes

__all__ = ["create_inference_pipeline", "create_pipeline"]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.assemble_governor_inputs,
                 ["analyst_predictions", "analyst_oof_predictions", "analyst_calibrators",
                  "analyst_labels", "regime_labels", "tactician_signals",
                  "params:analyst.calibration"],
                 "governor_inputs", name="assemble_governor_inputs"),
            node(nodes.train_governor,
                 ["governor_inputs", "analyst_labels", "params:governor.model", "time_splits"],
                 ["governor_model", "governor_oof_probabilities", "governor_training_report"],
                 name="train_governor"),
            node(nodes.train_baseline_lightgbm,
                 ["analyst_features", "analyst_labels", "pruned_features", "time_splits",
                  "params:analyst.baseline_model", "params:governor.model"],
                 "governor_baseline_lightgbm", name="train_baseline_lightgbm"),
            node(nodes.tune_final_parameters,
                 ["governor_inputs", "governor_oof_probabilities", "market_bars",
                  "analyst_features", "optimal_target_params", "tactician_sizing",
                  "params:governor.final_optimisation", "params:optuna"],
                 "governor_final_params", name="tune_final_parameters"),
            node(nodes.decide_and_compare,
                 ["governor_model", "governor_inputs", "governor_oof_probabilities",
                  "governor_final_params", "governor_baseline_lightgbm", "analyst_features",
                  "analyst_labels", "pruned_features", "market_bars", "optimal_target_params",
                  "tactician_sizing"],
                 ["governor_decisions", "governor_metrics"], name="decide_and_compare"),
            node(nodes.package_decision_system,
                 {"regime_model": "regime_model", "feature_report": "feature_report",
                  "analyst_metrics": "analyst_metrics",
                  "analyst_calibrators": "analyst_calibrators",
                  "tactician_models": "tactician_models", "tactician_sizing": "tactician_sizing",
                  "governor_model": "governor_model",
                  "governor_final_params": "governor_final_params",
                  "optimal_target_params": "optimal_target_params",
                  "ingestion": "params:ingestion", "serving": "params:governor.serving",
                  **{f"analyst_ensemble_{name}": f"analyst_ensemble_{name}"
                     for name in ENSEMBLES}},
                 "governor_decision_system", name="package_decision_system"),
            node(nodes.copy_for_serving, "governor_decision_system", "governor_serving_system",
                 name="copy_for_serving"),
        ],
        tags="governor",
    )


def create_inference_pipeline() -> Pipeline:
    """What the MLflow model runs: trailing bars in (``recent_bars``), one decision out."""
    return pipeline([node(nodes.serve_decision, ["governor_serving_system", "recent_bars"],
                          "governor_served_decision", name="serve_decision")],
                    tags="serving")
