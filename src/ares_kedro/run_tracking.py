"""What every run leaves behind for later: MLflow tags, node timings, a run manifest
(the seeds' step 16) and the governor's model registry entry.

Kedro hooks (registered in ``settings.py``), beside kedro-mlflow's, which opens the MLflow
run before ours see it and logs the governor's MLflow model at the end:

* :class:`RunTags`: tags the MLflow run with symbol, exchange, market, timeframe, mode
  (the conf env), git commit and data version (the ``market_bars`` version read);
* :class:`WorkerRun`: in a ParallelRunner worker process (``ares_kedro.runner``), resumes
  the run's MLflow run
  before any node hook logs, so parameters, metrics and artifacts logged there land in it
  (a spawned worker starts with no active run, and MLflow would open a stray new one);
* :class:`NodeTimings`: one log line per node with its wall time;
* :class:`PipelineMetrics`: every number of each pipeline's report (ingestion quality,
  regimes, analyst, tactician, governor) as MLflow metrics, e.g.
  ``governor.test.governor.trading.sharpe`` (validation logs its own);
* :class:`RunManifest`: after the run, ``run_manifests/<run id>.json`` under
  08_reporting (and in the MLflow run): data version, parameters hash, git commit, the
  run's headline metrics and the SHA-256 of every versioned file it saved;
* :class:`ModelRegistry`: tags the registered governor model version logged by this run
  with its market and decision system's SHA-256, and sets the market's champion alias
  (``champion-<exchange>-<market>-<symbol>-<timeframe>``) on the version whose decision
  system an A/B test of this run says to promote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from ares_kedro.registry import (  # noqa: F401 (re-exported)
    CHAMPION,
    MARKET_KEYS,
    REGISTERED_MODEL,
    SHA_TAG,
)

logger = logging.getLogger(__name__)
PARENT_RUN_ENV = "ARES_MLFLOW_PARENT_RUN_ID"  # the run's MLflow run, for worker processes
PARENT_URI_ENV = "ARES_MLFLOW_PARENT_TRACKING_URI"


def git_commit(project: Path) -> str:
    """``<commit>`` of the project's checkout, ``+dirty`` when it has uncommitted changes,
    ``unknown`` outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=project, capture_output=True, text=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _dataset(catalog, name: str):
    try:
        return catalog.get(name) if hasattr(catalog, "get") else catalog._get_dataset(name)
    except Exception:  # noqa: BLE001 - a dataset the catalog cannot build has no version
        return None


def data_version(catalog, produced_here: bool, run_id: str) -> str:
    """The ``market_bars`` version the run reads: this run's when it makes them."""
    if produced_here:
        return run_id
    dataset = _dataset(catalog, "market_bars")
    resolve = getattr(dataset, "resolve_load_version", None)
    try:
        return str(resolve()) if resolve else "unversioned"
    except Exception:  # noqa: BLE001 - no version saved yet
        return "none"


def _market(params: dict[str, Any]) -> dict[str, str]:
    ingestion = params.get("ingestion", {})
    return {k: str(ingestion.get(k, "")) for k in MARKET_KEYS}


def _parameters(catalog) -> dict[str, Any]:
    try:
        return catalog.load("parameters")
    except Exception:  # noqa: BLE001 - a catalog without the parameters entry
        return {}


def _active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run else None


def run_name(tags: dict[str, str]) -> str:
    """What a run did, as its MLflow name: ``all pipelines | BTCUSDT 1h um_futures | blank``
    (``governor | ...`` for ``kedro run --pipelines=governor``)."""
    pipelines = tags.get("pipelines", "")
    did = "all pipelines" if pipelines in ("", "__default__") else pipelines.replace(",", "+")
    market = " ".join(v for v in (tags.get("symbol"), tags.get("timeframe"),
                                  tags.get("market")) if v)
    return f"{did} | {market} | {tags.get('mode', 'base')}"


class RunTags:
    """MLflow tags that say what a run was trained on and with which code."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.mlflow_run_id: str | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        params = _parameters(catalog)
        project = Path(run_params.get("project_path") or ".")
        self.tags = {**_market(params), "mode": str(run_params.get("env") or "base"),
                     "git_commit": git_commit(project),
                     "data_version": data_version(catalog, "market_bars" in
                                                  pipeline.all_outputs(), run_params["run_id"]),
                     "kedro_run_id": run_params["run_id"],
                     "pipelines": ",".join(run_params.get("pipeline_names") or ["__default__"])}
        self.mlflow_run_id = _active_run_id()
        if self.mlflow_run_id:
            import mlflow

            mlflow.set_tags({**self.tags, "mlflow.runName": run_name(self.tags)})
            # inherited by ParallelRunner's spawned workers (see WorkerRun)
            os.environ[PARENT_RUN_ENV] = self.mlflow_run_id
            os.environ[PARENT_URI_ENV] = mlflow.get_tracking_uri()

    @hook_impl
    def after_pipeline_run(self) -> None:
        _forget_parent_run()

    @hook_impl
    def on_pipeline_error(self) -> None:
        _forget_parent_run()


def _forget_parent_run() -> None:
    os.environ.pop(PARENT_RUN_ENV, None)
    os.environ.pop(PARENT_URI_ENV, None)


class WorkerRun:
    """Resume the run's MLflow run in a ParallelRunner worker before any node hook.

    Spawned workers start without an active MLflow run; kedro-mlflow's node hook (node
    parameters), :class:`PipelineMetrics` and the logged datasets would otherwise log into
    a stray run that MLflow opens on the first call. The parent names its run in the
    environment the workers inherit (:class:`RunTags`). Worker processes leave through
    ``os._exit``, so the resumed run is never ended by them."""

    @hook_impl(tryfirst=True)
    def before_node_run(self) -> None:
        run_id = os.environ.get(PARENT_RUN_ENV)
        if run_id is None or multiprocessing.parent_process() is None:
            return
        import mlflow

        if mlflow.active_run() is None:
            mlflow.set_tracking_uri(os.environ[PARENT_URI_ENV])
            mlflow.start_run(run_id=run_id)


class NodeTimings:
    """One log line per node: its name and wall time."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        started = self._started.pop(node.name, None)
        if started is not None:
            logger.info("Node %s took %.1f s", node.name, time.perf_counter() - started)


REPORTS = {  # dataset -> metric prefix: every numeric leaf becomes an MLflow metric
    "ingestion_quality_report": "ingestion", "regime_report": "regimes",
    "analyst_metrics": "analyst", "tactician_metrics": "tactician",
    "governor_metrics": "governor",
}


def numeric_leaves(data: Any, prefix: str) -> dict[str, float]:
    """{dotted key: value} of every int or float (not bool) inside nested dicts."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(numeric_leaves(value, f"{prefix}.{key}"))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        if data == data and abs(data) != float("inf"):  # MLflow refuses NaN and infinity
            out[prefix] = float(data)
    return out


class PipelineMetrics:
    """Each pipeline's report, saved during the run, also as MLflow metrics."""

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        prefix = REPORTS.get(dataset_name)
        if prefix is None or _active_run_id() is None:
            return
        import re

        import mlflow

        metrics = {re.sub(r"[^\w\-. /]", "_", k): v
                   for k, v in numeric_leaves(data, prefix).items()}
        mlflow.log_metrics(metrics)


HEADLINES = {  # dataset -> how to pick the manifest's metrics from it
    "validation_backtest": lambda d: {f"test.{name}.{k}": v[k] for name, v in
                                      d["strategies"].items() if name in ("governor",
                                                                          "buy_and_hold")
                                      for k in ("sharpe", "total_return", "max_drawdown",
                                                "trades")},
    "validation_overfitting": lambda d: {"deflated_sharpe": d["deflated_sharpe"][
        "deflated_sharpe"], "pbo": d["pbo"].get("pbo")},
    "validation_ab_test": lambda d: {"ab_decision": d["decision"]},
    "governor_final_params": lambda d: {"governor_acts": d["acts"],
                                        "expected_return_margin": d[
                                            "expected_return_margin"]},
}


class RunManifest:
    """The seeds' step 16: a record of what produced the run's models and results."""

    def __init__(self, tags: RunTags) -> None:
        self.tags = tags

    @hook_impl(tryfirst=True)  # before kedro-mlflow closes the MLflow run
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from ares_kedro.datasets import sha256_of  # lazy: settings load on every command

        params = _parameters(catalog)
        project = Path(run_params.get("project_path") or ".")
        runtime = run_params.get("runtime_params") or {}
        data_root = Path(runtime.get("data_root") or project / "data")
        run_id = run_params["run_id"]
        saved = sorted(p for p in data_root.rglob("*") if p.is_file() and run_id in p.parts)
        metrics: dict[str, Any] = {}
        for name, pick in HEADLINES.items():
            if name in pipeline.all_outputs():
                try:
                    metrics.update(pick(catalog.load(name)))
                except Exception as error:  # noqa: BLE001 - the manifest must not fail a run
                    logger.warning("Run manifest: could not read %s (%s)", name, error)
        manifest = {
            "kedro_run_id": run_id, "mlflow_run_id": self.tags.mlflow_run_id,
            "env": run_params.get("env"), "pipelines": run_params.get("pipeline_names"),
            "git_commit": self.tags.tags.get("git_commit") or git_commit(project),
            "data_version": self.tags.tags.get("data_version"),
            "parameters_sha256": hashlib.sha256(json.dumps(
                params, sort_keys=True, default=str).encode()).hexdigest(),
            "market": _market(params), "metrics": metrics,
            "artifacts": {str(p.relative_to(data_root)): sha256_of(p) for p in saved},
        }
        market_id = "-".join(manifest["market"][k] for k in ("exchange", "market", "symbol",
                                                             "timeframe"))
        folder = data_root / "08_reporting" / market_id / "run_manifests"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{run_id}.json"
        path.write_text(json.dumps(manifest, indent=2, default=str))
        logger.info("Run manifest: %s (%d files hashed)", path, len(saved))
        if _active_run_id():
            import mlflow

            mlflow.log_artifact(str(path), artifact_path="manifest")


class ModelRegistry:
    """The registered governor model: its versions carry their market and decision
    system's hash; an A/B promotion moves that market's champion alias
    (:mod:`ares_kedro.registry`)."""

    def __init__(self, tags: RunTags) -> None:
        self.tags = tags

    @hook_impl(trylast=True)  # after kedro-mlflow has logged and registered the model
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not self.tags.mlflow_run_id:
            return
        from mlflow import MlflowClient

        from ares_kedro.registry import champion_alias, champions, promote, tag_version

        client = MlflowClient()
        serving = _serving_sha256(catalog)
        market = {k: self.tags.tags.get(k, "") for k in MARKET_KEYS}
        if serving:
            tag_version(client, self.tags.mlflow_run_id, market, serving,
                        {k: self.tags.tags.get(k, "") for k in ("mode", "git_commit",
                                                                 "data_version")})
        if "validation_ab_test" not in pipeline.all_outputs():
            return
        decision = catalog.load("validation_ab_test")["decision"]
        alias = champion_alias(market)
        if decision != "promote":
            if alias in champions(client):
                logger.info("A/B decision %s: the champion (@%s) stays", decision, alias)
            else:
                logger.info("A/B decision %s: no champion yet for %s (a promote makes "
                            "one)", decision, alias.removeprefix("champion-"))
            return
        version = promote(client, market, serving) if serving else None
        if version is None:
            logger.warning("A/B says promote, but no registered %s version of this market "
                           "holds this decision system (sha256 %s); run `kedro run` (or the "
                           "governor pipeline) to register it, then validate again",
                           REGISTERED_MODEL, serving)
            return
        logger.info("A/B says promote: %s version %s is now @%s", REGISTERED_MODEL,
                    version, alias)


class RunSummary:
    """A run that validates ends with its result: a few plain lines on standard output
    (:func:`~ares_kedro.validation.report.run_summary`), after Kedro's own log lines."""

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if "validation_report" not in pipeline.all_outputs():
            return
        from ares_kedro.validation.report import run_summary

        report = _dataset(catalog, "validation_report")
        inner = getattr(report, "_dataset", report)
        path = getattr(inner, "_filepath", None)
        summary = run_summary(catalog.load("validation_backtest"),
                              catalog.load("validation_overfitting"),
                              catalog.load("validation_ab_test"),
                              _relative(str(path), run_params) if path else None)
        sys.stdout.write(f"\n{summary}\n")
        sys.stdout.flush()


def _relative(path: str, run_params: dict[str, Any]) -> str:
    """``path`` relative to the project folder when it lies inside it."""
    project = Path(run_params.get("project_path") or ".").resolve()
    try:
        return str(Path(path).resolve().relative_to(project))
    except ValueError:
        return path


def _serving_sha256(catalog) -> str | None:
    """SHA-256 of the latest governor decision system prepared for serving."""
    dataset = _dataset(catalog, "governor_serving_system")
    folder = getattr(dataset, "_filepath", None)
    record = Path(str(folder)) / "model.pkl.sha256.json" if folder else None
    if record is None or not record.is_file():
        return None
    return json.loads(record.read_text())["sha256"]
