"""One walk-forward fold, run as its own process: ``python -m
ares_kedro.pipelines.validation.fold_runner <fold_spec.json>``.

A fold is a complete ``kedro run`` of ingestion to validation on the fold's window (its
``ingestion.end`` and ``lookback_days``, and split fractions that make its test period the
window's last days), in the fold's own data folder and MLflow database, so folds can run in
parallel and never share files. At the end it writes ``fold_result.json`` beside its data:
the test-period metrics of every strategy and the features' drift, what the walk-forward
summary reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

FOLD_PIPELINES = ["ingestion", "regimes", "analyst", "tactician", "governor", "validation"]
RESULT_FILE = "fold_result.json"
RESULT_VERSION = 2  # bump when fold_result.json changes shape: older folds are then rerun


def run_fold(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the fold's pipelines through a KedroSession and collect its result."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from ares_kedro.validation.walk_forward import feature_drift

    project = Path(spec["project"])
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=spec["env"],
                             runtime_params=spec["runtime_params"]) as session:
        session.run(pipeline_names=FOLD_PIPELINES)
        catalog = session.load_context().catalog
        backtest = catalog.load("validation_backtest")
        splits = catalog.load("time_splits")
        features = catalog.load("analyst_features")
        pruned = catalog.load("pruned_features")
        final = catalog.load("governor_final_params")
    while mlflow.active_run() is not None:
        mlflow.end_run()
    chosen = final.get("chosen_metrics") or {}
    return {
        "fold": spec["fold"], "spec_hash": spec["spec_hash"],
        "window": spec["window"],
        "test_first_bar": splits["test"]["first_bar"], "test_last_bar": splits["test"]["last_bar"],
        "test_bars": splits["test"]["bars"],
        "governor_acts": backtest["governor_acts"],
        "validation_sharpe": chosen.get("sharpe"),
        "strategies": backtest["strategies"],  # the governor and every baseline
        "feature_psi": feature_drift(features, pd.Timestamp(splits["train"]["last_bar"]),
                                     pd.Timestamp(splits["test"]["first_bar"]),
                                     list(pruned["features"]), int(spec["psi_bins"])),
    }


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1])
    spec = json.loads(spec_path.read_text())
    result = run_fold(spec)
    (spec_path.parent / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
