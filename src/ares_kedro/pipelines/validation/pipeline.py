"""Validation pipeline wiring: backtest, Monte Carlo, overfitting statistics, A/B, report."""

from kedro.pipeline import Pipeline, node, pipeline

from ares_kedro.pipelines.validation import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.backtest_test_period,
                 ["governor_decisions", "governor_inputs", "governor_final_params",
                  "governor_baseline_lightgbm", "analyst_features", "pruned_features",
                  "market_bars", "funding_rates", "optimal_target_params", "tactician_sizing",
                  "params:validation.costs", "params:ingestion"],
                 ["validation_returns", "validation_trades", "validation_backtest"],
                 name="backtest_test_period"),
            node(nodes.run_monte_carlo,
                 ["validation_returns", "validation_trades", "params:validation.monte_carlo"],
                 ["validation_monte_carlo", "validation_monte_carlo_samples"],
                 name="run_monte_carlo"),
            node(nodes.overfitting_statistics,
                 ["validation_returns", "governor_decisions", "governor_final_params",
                  "analyst_features", "market_bars", "funding_rates", "optimal_target_params",
                  "tactician_sizing", "params:validation.costs", "params:ingestion",
                  "params:validation.overfitting", "params:optuna"],
                 "validation_overfitting", name="overfitting_statistics"),
            node(nodes.ab_test_against_control,
                 ["validation_returns", "market_bars", "funding_rates",
                  "governor_serving_system", "params:validation.ab_test",
                  "params:validation.costs", "params:ingestion"], "validation_ab_test",
                 name="ab_test_against_control"),
            node(nodes.write_report,
                 ["validation_backtest", "validation_returns", "validation_monte_carlo",
                  "validation_monte_carlo_samples", "validation_overfitting",
                  "validation_ab_test", "params:validation.report", "params:ingestion"],
                 ["validation_report", "validation_report_html", "validation_equity_chart",
                  "validation_monte_carlo_chart", "validation_calibration_chart",
                  "validation_mlflow_metrics"],
                 name="write_validation_report"),
        ],
        tags="validation",
    )


def create_walk_forward_pipeline(**kwargs) -> Pipeline:
    """Walk-forward: every fold a full retraining and test (its own ``kedro run`` process)."""
    return pipeline(
        [node(nodes.walk_forward,
              ["market_bars", "params:ingestion", "params:time_splits",
               "params:validation.walk_forward"],
              ["walk_forward_summary", "walk_forward_folds", "walk_forward_report",
               "walk_forward_chart", "walk_forward_mlflow_metrics"],
              name="walk_forward")],
        tags=["validation", "walk_forward"],
    )
