"""Kedro's ParallelRunner trains the per-regime ensembles side by side with the project's
datasets: every node and dataset crosses to the spawned worker processes, and the
artifacts and metrics they save still reach the run's MLflow record. Run after other
pipeline tests in the same process (as the suite does), which once made forked workers
hang and spawned ones log into stray runs."""

from __future__ import annotations

import mlflow
import pytest
from kedro.framework.session import KedroSession

from ares_kedro.regimes import REGIMES
from ares_kedro.runner import ParallelRunner
from tests.pipelines.conftest import MECHANICS_BUDGET, run_pipelines

pytestmark = pytest.mark.slow


def test_the_analyst_runs_on_the_parallel_runner_and_logs_from_its_workers(project):
    run_pipelines(project, ["ingestion", "regimes"], {}, env="blank")
    uri = f"sqlite:///{project / 'mlflow.db'}"
    runtime = {"data_root": str(project / "data"), "mlflow_tracking_uri": uri,
               **MECHANICS_BUDGET}
    with KedroSession.create(project_path=project, env="blank",
                             runtime_params=runtime) as session:
        session.run(pipeline_names=["analyst"], runner=ParallelRunner(max_workers=2))
        catalog = session.load_context().catalog
        reports = {r: catalog.load(f"analyst_ensemble_report_{r}") for r in REGIMES}
        metrics = catalog.load("analyst_metrics")
    while mlflow.active_run() is not None:
        mlflow.end_run()
    assert {r["model"] for r in reports.values()} <= {"specialist", "global_fallback"}
    assert any(r["model"] == "specialist" for r in reports.values())
    assert set(metrics) >= {"GLOBAL", *REGIMES}
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["ares"], order_by=["start_time DESC"])
    # one MLflow run per `kedro run`: the spawned workers log into the analyst's run and
    # open no stray runs of their own
    assert len(runs) == 2, runs[["run_id", "tags.mlflow.runName"]]
    run = runs.iloc[0]
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id, "analyst")}
    assert "analyst/analyst_metrics.json" in logged  # saved in a worker, logged to the run
    assert any(path.startswith("analyst/reliability") for path in logged)
    assert any(name.startswith("analyst.") for name in mlflow.get_run(run.run_id).data.metrics)
