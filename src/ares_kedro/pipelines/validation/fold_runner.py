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
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ares_kedro.studies import fingerprint
from ares_kedro.validation.walk_forward import WalkForwardParams

FOLD_PIPELINES = ["ingestion", "regimes", "analyst", "tactician", "governor", "validation"]
logger = logging.getLogger(__name__)
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


def _fold_runtime(ingestion: dict[str, Any], fold: dict[str, Any], root: Path,
                  time_splits: dict[str, Any]) -> dict[str, Any]:
    window_end = pd.Timestamp(fold["window_end"]).tz_convert(None)
    return {"data_root": str(root), "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "ingestion": {**ingestion, "end": str(window_end),
                          "lookback_days": fold["lookback_days"]},
            "time_splits": {**time_splits, "train_fraction": fold["train_fraction"],
                            "validation_fraction": fold["validation_fraction"]}}


def prepare_folds(folds: list[dict[str, Any]], ingestion: dict[str, Any],
                  time_splits: dict[str, Any], params: WalkForwardParams, project: Path
                  ) -> tuple[list[tuple[int, Path]], dict[int, dict[str, Any]]]:
    """Each fold's data folder under ``params.root`` and its ``fold_spec.json``: the folds
    still to run (number, folder) and the results of those already done with the same
    settings (reused, so an interrupted walk-forward resumes)."""
    market_id = "-".join(str(ingestion[k]) for k in ("exchange", "market", "symbol",
                                                       "timeframe"))
    base = Path(params.root) / market_id / params.scheme
    pending, results = [], {}
    for fold in folds:
        root = (base / f"fold_{fold['fold']}").resolve()
        runtime = _fold_runtime(ingestion, fold, root, time_splits)
        spec_hash = fingerprint(runtime["ingestion"], runtime["time_splits"], params.env,
                                RESULT_VERSION)
        done = root / RESULT_FILE
        if done.exists() and json.loads(done.read_text()).get("spec_hash") == spec_hash:
            results[fold["fold"]] = json.loads(done.read_text())
            logger.info("Walk-forward fold %d: reused (same settings) from %s", fold["fold"], root)
            continue
        root.mkdir(parents=True, exist_ok=True)
        spec = {"project": str(project), "env": params.env, "fold": fold["fold"],
                "spec_hash": spec_hash, "window": fold, "runtime_params": runtime,
                "psi_bins": params.psi_bins}
        (root / "fold_spec.json").write_text(json.dumps(spec, indent=2, default=str))
        pending.append((fold["fold"], root))
    return pending, results


def run_fold_processes(pending: list[tuple[int, Path]], at_once: int, project: Path,
                       on_done: Callable[[int, dict[str, Any]], None]) -> dict[int, dict[str, Any]]:
    """Run each pending fold (its number and data folder, which holds ``fold_spec.json``)
    as its own ``python -m ares_kedro.pipelines.validation.fold_runner`` process, at most
    ``at_once`` together; ``on_done(number, result)`` after each. A failed fold stops the
    others and raises with the path of its log."""
    results: dict[int, dict[str, Any]] = {}
    pending = list(pending)
    running: list[tuple[int, Path, subprocess.Popen, Any]] = []
    while pending or running:
        while pending and len(running) < at_once:
            number, root = pending.pop(0)
            log = (root / "run.log").open("w")
            process = subprocess.Popen(
                [sys.executable, "-m", "ares_kedro.pipelines.validation.fold_runner",
                 str(root / "fold_spec.json")], cwd=project, stdout=log, stderr=subprocess.STDOUT)
            running.append((number, root, process, log))
        number, root, process, log = running.pop(0)
        code = process.wait()
        log.close()
        if code != 0:
            for _, _, other, other_log in running:
                other.kill()
                other_log.close()
            raise RuntimeError(f"walk-forward fold {number} failed (exit {code}); its log: "
                               f"{root / 'run.log'}")
        results[number] = json.loads((root / RESULT_FILE).read_text())
        on_done(number, results[number])
    return results


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1])
    spec = json.loads(spec_path.read_text())
    result = run_fold(spec)
    (spec_path.parent / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
