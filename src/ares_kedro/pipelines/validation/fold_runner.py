"""One walk-forward fold, or one market of a universe, run as its own process: ``python -m
ares_kedro.pipelines.validation.fold_runner <spec.json>``; and such runs as Dask tasks
(:func:`run_fold_tasks`), on a LocalCluster or on a cluster's scheduler.

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

from ares_kedro.params import merged
from ares_kedro.studies import fingerprint
from ares_kedro.validation.walk_forward import WalkForwardParams

FOLD_PIPELINES = ["ingestion", "regimes", "analyst", "tactician", "governor", "validation"]
logger = logging.getLogger(__name__)
RESULT_FILE = "fold_result.json"
MARKET_SPEC, MARKET_RESULT = "market_spec.json", "market_result.json"
RESULT_VERSION = 2  # bump when fold_result.json changes shape: older folds are then rerun


def run_session(spec: dict[str, Any], runtime_params: dict[str, Any], pipelines: list[str],
                datasets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``pipelines`` of the project in ``spec`` (conf env ``spec["env"]``) through a
    KedroSession with ``runtime_params``; load ``datasets`` afterwards. The session's MLflow
    run is ended here (kedro-mlflow leaves it on the process's run stack)."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = Path(spec["project"])
    bootstrap_project(project)
    try:
        with KedroSession.create(project_path=project, env=spec["env"],
                                 runtime_params=runtime_params) as session:
            session.run(pipeline_names=pipelines)
            catalog = session.load_context().catalog
            return {name: catalog.load(name) for name in datasets}
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()


def run_fold(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the fold's pipelines through a KedroSession and collect its result."""
    from ares_kedro.validation.walk_forward import feature_drift

    loaded = run_session(spec, spec["runtime_params"], FOLD_PIPELINES,
                         ("validation_backtest", "time_splits", "analyst_features",
                          "pruned_features", "governor_final_params"))
    backtest, splits = loaded["validation_backtest"], loaded["time_splits"]
    features, pruned = loaded["analyst_features"], loaded["pruned_features"]
    final = loaded["governor_final_params"]
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
                  time_splits: dict[str, Any], run_params: dict[str, Any]) -> dict[str, Any]:
    """A fold's runtime parameters: ``run_params`` (the walk-forward's overrides of every
    fold's run), then the fold's own data root, window and splits."""
    window_end = pd.Timestamp(fold["window_end"]).tz_convert(None)
    return merged(run_params, {
        "data_root": str(root), "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "ingestion": {**ingestion, "end": str(window_end),
                      "lookback_days": fold["lookback_days"]},
        "time_splits": {**time_splits, "train_fraction": fold["train_fraction"],
                        "validation_fraction": fold["validation_fraction"]}})


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
        runtime = _fold_runtime(ingestion, fold, root, time_splits, params.run_params)
        others = {k: v for k, v in runtime.items()
                  if k not in ("data_root", "mlflow_tracking_uri", "ingestion", "time_splits")}
        spec_hash = fingerprint(runtime["ingestion"], runtime["time_splits"], params.env,
                                RESULT_VERSION, *([others] if others else []))
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


def result_name(spec_name: str) -> str:
    """Where a run writes its result, beside its spec: a market's ``market_result.json``, a
    fold's ``fold_result.json``."""
    return MARKET_RESULT if spec_name == MARKET_SPEC else RESULT_FILE


def spec_file(root: Path) -> Path:
    """The spec in a run's folder: a market's, else a fold's."""
    return root / MARKET_SPEC if (root / MARKET_SPEC).exists() else root / "fold_spec.json"


def run_fold_process(spec_path: str, project: str) -> dict[str, Any]:
    """Run one fold (``fold_spec.json`` at ``spec_path``) as its own ``python -m
    ares_kedro.pipelines.validation.fold_runner`` process from ``project``, its output in
    ``run.log`` beside the spec; its result, with the ``task``'s worker address and UTC
    start and finish. A Dask task: the worker that runs it, on this
    machine or another, starts the process (the project and the fold folder must be on a
    file system that worker sees)."""
    from dask.distributed import get_worker

    root = Path(spec_path).parent
    started = pd.Timestamp.now(tz="UTC")
    with (root / "run.log").open("w") as log:
        code = subprocess.run([sys.executable, "-m",
                               "ares_kedro.pipelines.validation.fold_runner", spec_path],
                              cwd=project, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"{root.name} failed (exit {code}); its log: {root / 'run.log'}")
    result_file = root / result_name(Path(spec_path).name)
    task = {"worker": get_worker().address, "started": started.isoformat(),
            "finished": pd.Timestamp.now(tz="UTC").isoformat()}
    return {**json.loads(result_file.read_text()), "task": task}


def fold_client(scheduler: str | None, workers: int):
    """A Dask client: of the scheduler at ``scheduler``, or of a LocalCluster here with
    ``workers`` single-threaded worker processes (a fold's process uses its core; no
    dashboard, nothing listens beyond 127.0.0.1)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, host="127.0.0.1")
    client = Client(cluster)
    return client


def run_fold_tasks(pending: list[tuple[int, Path]], scheduler: str | None, workers: int,
                   project: Path, on_done: Callable[[int, dict[str, Any]], None]
                   ) -> dict[int, dict[str, Any]]:
    """Run each pending fold (its number and data folder, which holds ``fold_spec.json``)
    as a Dask task (:func:`run_fold_process`), as many at once as the cluster has worker
    threads; ``on_done(number, result)`` as each finishes. A failed fold cancels the
    others and raises with the path of its log. Returns the results by fold."""
    from dask.distributed import as_completed

    results: dict[int, dict[str, Any]] = {}
    if not pending:
        return results
    client = fold_client(scheduler, workers)
    try:
        futures = {client.submit(run_fold_process, str(spec_file(root)), str(project),
                                 key=f"walk-forward-fold-{number}-{root.name}", pure=False,
                                 retries=0): number for number, root in pending}
        for future in as_completed(futures):
            number = futures[future]
            try:
                results[number] = future.result()
            except Exception:
                client.cancel(list(futures))
                raise
            on_done(number, results[number])
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()
    return results


def run_market(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one market's pipelines (ingestion to validation) through a KedroSession and
    collect what the universe table reads: its test-period strategies, the governor's net
    bar returns, its deflated Sharpe and the trials counted in its Optuna storage."""
    from ares_kedro.analyst.features import REGISTRY

    if spec.get("reference_runtime_params"):  # the cross-asset reference, into this folder
        run_session(spec, spec["reference_runtime_params"], ["ingestion"])
    loaded = run_session(spec, spec["runtime_params"], FOLD_PIPELINES,
                         ("feature_report", "validation_backtest", "validation_overfitting",
                          "validation_returns", "time_splits"))
    features, backtest = loaded["feature_report"], loaded["validation_backtest"]
    overfitting, returns = loaded["validation_overfitting"], loaded["validation_returns"]
    splits = loaded["time_splits"]
    return {"market": spec["market"], "spec_hash": spec["spec_hash"],
            "test_first_bar": splits["test"]["first_bar"],
            "test_last_bar": splits["test"]["last_bar"],
            "governor_acts": backtest["governor_acts"], "strategies": backtest["strategies"],
            "cross_asset_features": sorted(name for name in features["computed"]
                                           if REGISTRY[name].category == "cross_asset"),
            "deflated_sharpe": overfitting["deflated_sharpe"],
            "trials": int(overfitting["trials_counted"]["trials"]),
            "governor_returns": returns["governor"].astype(float).tolist()}


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1])
    spec = json.loads(spec_path.read_text())
    result = run_market(spec) if spec.get("kind") == "market" else run_fold(spec)
    (spec_path.parent / result_name(spec_path.name)).write_text(
        json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
