"""The team set-up on a real PostgreSQL server (docs/scale.md): two processes tuning one
Optuna study lose and duplicate no trial, and an `mlflow server` backed by PostgreSQL
records the runs two processes log to it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

pytestmark = pytest.mark.slow

TUNING_WORKER = """
import json, os, sys, time
import optuna
from ares_kedro.studies import run_resumable_study
storage, n_trials = sys.argv[1], int(sys.argv[2])
study = optuna.create_study(study_name="team", storage=storage, load_if_exists=True,
                            direction="minimize")
ran = []  # this process's own record of the trials it ran
def objective(trial):
    ran.append(trial.number)
    trial.set_user_attr("pid", os.getpid())
    time.sleep(0.05)
    return (trial.suggest_float("x", -3, 3) - 1) ** 2
run_resumable_study(study, objective, n_trials, show_progress_bar=False)
print(json.dumps({"pid": os.getpid(), "ran": ran}))
"""

MLFLOW_WORKER = """
import sys
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("team")
with mlflow.start_run(run_name=sys.argv[2]):
    mlflow.log_param("worker", sys.argv[2])
    for step in range(3):
        mlflow.log_metric("sharpe", 1.0 + step, step=step)
"""


def test_two_tuning_processes_on_postgresql_lose_and_duplicate_no_trial(postgres_url):
    storage = f"{postgres_url}/optuna"
    optuna.create_study(study_name="team", storage=storage, direction="minimize")
    processes = [subprocess.Popen([sys.executable, "-c", TUNING_WORKER, storage, "24"],
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    reports = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    trials = optuna.load_study(study_name="team", storage=storage).get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(len(trials)))  # one trial per number
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert 24 <= len(trials) <= 25  # the study's count, one in-flight trial more at most
    ran = [set(r["ran"]) for r in reports]
    assert all(ran) and not ran[0] & ran[1]  # both worked, never on the same trial
    assert ran[0] | ran[1] == {t.number for t in trials}  # every trial run is stored
    for report, numbers in zip(reports, ran, strict=True):  # and stored as its runner's
        assert {t.number for t in trials if t.user_attrs["pid"] == report["pid"]} == numbers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_mlflow_server_on_postgresql_records_the_runs_of_two_processes(postgres_url,
                                                                         tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"{postgres_url}/mlflow", "--artifacts-destination", str(tmp_path / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=(tmp_path / "server.log").open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not answer in 180 s"
            time.sleep(1)
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=uri)
        client.create_experiment("team")  # once, as a team lead would: no creation race
        workers = [subprocess.Popen([sys.executable, "-c", MLFLOW_WORKER, uri, name])
                   for name in ("machine-a", "machine-b")]
        assert [w.wait(timeout=300) for w in workers] == [0, 0]
        experiment = client.get_experiment_by_name("team")
        runs = client.search_runs([experiment.experiment_id])
        assert sorted(r.data.params["worker"] for r in runs) == ["machine-a", "machine-b"]
        for run in runs:
            assert run.info.status == "FINISHED"
            history = client.get_metric_history(run.info.run_id, "sharpe")
            assert [m.value for m in sorted(history, key=lambda m: m.step)] == [1.0, 2.0, 3.0]
        stored = subprocess.run(
            ["psql", f"{postgres_url}/mlflow", "-tAc", "select count(*) from runs"],
            capture_output=True, text=True, check=True)
        assert stored.stdout.strip() == "2"  # in PostgreSQL, not in a local file
    finally:
        server.terminate()
        server.wait(timeout=60)
