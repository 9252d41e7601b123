"""Analyst pipeline wiring (part 1: splits, features, targets, labels, pruning)."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.pipelines.analyst import nodes
from ares_kedro.regimes import REGIMES

SEARCH = "params:analyst.target_search"


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.make_time_splits, ["market_bars", "params:time_splits", SEARCH],
                 "time_splits", name="make_time_splits"),
            node(nodes.build_features,
                 ["market_bars", "sr_levels", "reference_market_bars", "params:analyst.features"],
                 ["analyst_features", "feature_report"], name="build_features"),
            node(nodes.optimise_targets,
                 ["market_bars", "analyst_features", "time_splits",
                  "params:analyst.costs", "params:ingestion.market", SEARCH, "params:analyst.baseline_model",
                  "params:optuna"],
                 "optimal_target_params", name="optimise_targets"),
            node(nodes.label_bars,
                 ["market_bars", "optimal_target_params", "klines_raw", "klines_quality"],
                 "analyst_labels",
                 name="label_bars"),
            node(nodes.select_features,
                 ["analyst_features", "analyst_labels", "time_splits",
                  "params:analyst.baseline_model", "params:analyst.feature_pruning"],
                 "pruned_features", name="select_features"),
            node(nodes.narrow_hyperparameter_ranges,
                 ["analyst_features", "analyst_labels", "pruned_features", "time_splits",
                  "params:analyst.baseline_model", "params:analyst.coarse_search",
                  "params:optuna"],
                 "hpo_ranges", name="narrow_hyperparameter_ranges"),
        ]
        + ensemble_nodes(),
        tags="analyst",
    )


def ensemble_nodes() -> list:
    """Part 2 (#5): the enhancement pass (the seeds' step 6), the global ensemble, then one
    specialist per regime (independent, so a parallel runner trains them side by side)."""
    common = ["analyst_features", "analyst_labels", "regime_labels", "pruned_features",
              "analyst_enhanced_features", "hpo_ranges", "market_bars",
              "optimal_target_params", "time_splits", "params:analyst.ensembles",
              "params:analyst.regularisation", "params:analyst.tuning", "params:optuna"]
    nodes_ = [node(nodes.enhance_regime_features,
                   ["analyst_features", "analyst_labels", "regime_labels", "pruned_features",
                    "time_splits", "params:analyst.ensembles", "params:analyst.enhancement",
                    "params:analyst.baseline_model"],
                   "analyst_enhanced_features", name="enhance_regime_features",
                   tags="ensembles"),
              node(nodes.regime_ensemble_trainer(GLOBAL), common,
                   ["analyst_ensemble_GLOBAL", "analyst_ensemble_report_GLOBAL"],
                   name="train_global_ensemble", tags="ensembles")]
    for regime in REGIMES:
        nodes_.append(node(nodes.regime_ensemble_trainer(regime),
                           [*common, "analyst_ensemble_GLOBAL"],
                           [f"analyst_ensemble_{regime}", f"analyst_ensemble_report_{regime}"],
                           name=f"train_{regime.lower()}_ensemble", tags="ensembles"))
    outputs = {f"analyst_ensemble_{n}": f"analyst_ensemble_{n}" for n in ("GLOBAL", *REGIMES)}
    outputs |= {f"analyst_ensemble_report_{n}": f"analyst_ensemble_report_{n}"
                for n in ("GLOBAL", *REGIMES)}
    nodes_.append(node(
        nodes.predict_and_calibrate,
        {"analyst_features": "analyst_features", "analyst_labels": "analyst_labels",
         "regime_labels": "regime_labels", "time_splits": "time_splits",
         "calibration": "params:analyst.calibration", **outputs},
        ["analyst_predictions", "analyst_oof_predictions", "analyst_calibrators",
         "analyst_metrics", "analyst_reliability_charts"],
        name="predict_and_calibrate", tags="ensembles"))
    return nodes_
