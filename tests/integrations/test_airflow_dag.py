"""The Airflow route: `kedro airflow create` with the project's template makes one DAG of
the six stages in run order, Airflow's own DAG parser loads it without an error, and its
first task, run as Airflow runs it, is a real `kedro run` of ingestion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.pipelines.conftest import make_project

pytestmark = pytest.mark.slow

STAGES = ["ingestion", "regimes", "analyst", "tactician", "governor", "validation"]
PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": {k: {"schedule": str(d.schedule),
                               "tasks": {t.task_id: sorted(t.upstream_task_ids)
                                         for t in d.tasks}}
                           for k, d in bag.dags.items()}}))
"""
RUN_FIRST_TASK = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dag", sys.argv[1])
dag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dag)
dag.run_stage(dag.STAGES[0])
"""


@pytest.fixture(scope="module")
def dags(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """The DAG generated once for both tests, in a project copy of its own."""
    pytest.importorskip("airflow", reason="apache-airflow is in the test set (requirements.lock)")
    tmp_path = tmp_path_factory.mktemp("airflow")
    with pytest.MonkeyPatch.context() as monkeypatch:
        project = make_project(tmp_path, monkeypatch)
    out = tmp_path / "dags"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "AIRFLOW_HOME": str(tmp_path / "air"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "ARES_PROJECT_PATH": str(project)}
    subprocess.run([sys.executable, "-m", "kedro", "airflow", "create", "--pipelines",
                    "__default__", "--env", "blank", "-j",
                    str(PROJECT_ROOT / "integrations" / "airflow" / "dag_template.j2"),
                    "-t", str(out)], cwd=project, env=env, check=True, capture_output=True)
    return project, out, env


def test_the_dag_chains_the_six_stages_and_airflow_parses_it(dags):
    project, out, env = dags
    assert [p.name for p in out.glob("*.py")] == ["ares_kedro_blank_dag.py"]
    parsed = subprocess.run([sys.executable, "-c", PARSE, str(out)], env=env, check=True,
                            capture_output=True, text=True)
    bag = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    assert list(bag["dags"]) == ["ares-kedro-blank"]
    dag = bag["dags"]["ares-kedro-blank"]
    assert dag["schedule"] == "@daily"  # conf/base/airflow.yml
    assert dag["tasks"] == {stage: ([] if k == 0 else [STAGES[k - 1]])
                            for k, stage in enumerate(STAGES)}


def test_the_first_task_is_a_real_kedro_run_of_ingestion(dags):
    project, out, env = dags
    subprocess.run([sys.executable, "-c", RUN_FIRST_TASK, str(out / "ares_kedro_blank_dag.py")],
                   cwd=project, env=env, check=True, capture_output=True)
    bars = list((project / "data" / "03_primary").glob("*/market_bars.parquet/*/*"))
    assert len(bars) == 1 and bars[0].stat().st_size > 0
