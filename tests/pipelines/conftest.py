"""Fixtures for whole-pipeline tests: a temporary Kedro project and a runner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

MECHANICS_BUDGET = {
    "analyst": {"target_search": {"n_trials": 2}, "coarse_search": {"n_trials": 2},
                "tuning": {"n_trials": 1}},
    "governor": {"final_optimisation": {"n_trials": 8}},
}
"""Study budgets below blank's, for tests of an engine (runners, Dask tasks, resumption)
that check how runs are carried out, never what they find: what a blank run finds is
tested on blank's own budget (``test_analyst_pipeline.py``, the null market)."""


def make_project(root: Path, monkeypatch) -> Path:
    """A copy of the project's metadata and conf under ``root/project`` (data and MLflow go
    under it), made the current directory and bootstrapped."""
    root = root / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copy(PROJECT_ROOT / ".telemetry", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # ares_kedro itself is imported from the installed checkout
    monkeypatch.chdir(root)
    bootstrap_project(root)
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the project's metadata and conf; data and MLflow go under it."""
    return make_project(tmp_path, monkeypatch)


def run_pipelines(project: Path, names: list[str], outputs: dict[str, str], env: str = "base",
                  params: dict[str, Any] | None = None, **ingestion: Any) -> dict[str, Any]:
    """Run pipelines through a KedroSession on ``project`` in conf ``env``; load ``outputs``
    (key: dataset). ``ingestion`` and ``params`` (other top-level blocks) override conf like
    ``kedro run --params``."""
    runtime = {"data_root": str(project / "data"),
               "mlflow_tracking_uri": f"sqlite:///{project / 'mlflow.db'}",
               "ingestion": ingestion, **(params or {})}
    try:
        with KedroSession.create(project_path=project, env=env,
                                 runtime_params=runtime) as session:
            session.run(pipeline_names=names)
            catalog = session.load_context().catalog
            out = {key: catalog.load(name) for key, name in outputs.items()}
    finally:
        # kedro-mlflow marks its run FINISHED in the database but leaves it on MLflow's
        # in-process run stack; a second session in the same process would log into it
        # (and a failed one would leave its run open for the next test). One `kedro run`
        # is one process, so only in-process callers (tests, notebooks) need this.
        while mlflow.active_run() is not None:
            mlflow.end_run()
    return out
