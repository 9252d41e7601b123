"""A copied project reads its own MLflow artifacts, not the original folder's."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import mlflow
from kedro.framework.session import KedroSession
from mlflow import MlflowClient

from ares_kedro.tracking_paths import project_database, recorded_root, relocate_artifacts
from tests.pipelines.conftest import make_project


def _tracked_run(folder: Path, monkeypatch) -> str:
    """An MLflow run of ``folder``'s own database, with one artifact under its mlruns."""
    monkeypatch.chdir(folder)  # MLflow's default artifact root: ./mlruns, made absolute
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("ares")
    run = client.create_run(experiment)
    (folder / "note.txt").write_text("the original run's artifact")
    client.log_artifact(run.info.run_id, str(folder / "note.txt"))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_a_copied_projects_database_is_pointed_at_its_own_artifacts(tmp_path, monkeypatch):
    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    run_id = _tracked_run(original, monkeypatch)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # the original is gone: only the copy's artifacts exist
    db = copy / "mlflow.db"
    assert recorded_root(db) == str(original)

    assert relocate_artifacts(db, copy) >= 2  # the experiment and its run at least
    assert recorded_root(db) == str(copy.resolve())
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    local = client.download_artifacts(run_id, "note.txt", str(tmp_path))
    assert Path(local).read_text() == "the original run's artifact"
    assert relocate_artifacts(db, copy) == 0  # already its own: nothing to do


def test_only_the_projects_own_sqlite_database_is_touched(tmp_path):
    (tmp_path / "mlflow.db").touch()
    assert project_database("sqlite:///mlflow.db", tmp_path) == tmp_path / "mlflow.db"
    assert project_database(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) is not None
    assert project_database("sqlite:////elsewhere/mlflow.db", tmp_path) is None
    assert project_database("http://mlflow.example:5000", tmp_path) is None
    assert project_database("postgresql://ares@127.0.0.1/mlflow", tmp_path) is None


def test_a_kedro_session_on_a_copied_project_repairs_its_records(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch)
    run_id = _tracked_run(project, monkeypatch)
    moved = tmp_path / "moved"
    shutil.copytree(project, moved)
    shutil.rmtree(project)
    monkeypatch.chdir(moved)
    with KedroSession.create(project_path=moved,
                             runtime_params={"data_root": str(moved / "data")}) as session:
        session.load_context()  # after_context_created: the hook
    while mlflow.active_run() is not None:
        mlflow.end_run()
    with sqlite3.connect(moved / "mlflow.db") as connection:
        (uri,) = connection.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?",
                                    (run_id,)).fetchone()
    assert uri.removeprefix("file://").startswith(str(moved.resolve()))


def test_artifacts_kept_outside_the_project_on_purpose_are_left_alone(tmp_path, monkeypatch):
    store, project = tmp_path / "store", tmp_path / "project"
    store.mkdir()
    _tracked_run(store, monkeypatch)  # artifacts under store/mlruns, database moved away
    project.mkdir()
    (project / "mlruns").mkdir()  # the project has a folder of that name, without them
    shutil.move(store / "mlflow.db", project / "mlflow.db")
    assert relocate_artifacts(project / "mlflow.db", project) == 0
    assert recorded_root(project / "mlflow.db") == str(store)
