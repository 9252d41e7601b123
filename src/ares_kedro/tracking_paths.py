"""A copied project reads its own MLflow artifacts.

MLflow's SQLite tracking store records every artifact location as an absolute path
(``/home/me/ares/mlruns/1/<run>/artifacts``), resolved when the experiment or run was
created. A project copied or moved elsewhere would still read, and write, the artifacts of
the original folder (or find none once it is gone). At start-up (``after_context_created``)
the project's own tracking database is checked: locations recorded under another folder's
``mlruns`` are rewritten to this project's ``mlruns``, logged and counted, when that copy's
``mlruns`` is here. Nothing is rewritten for a tracking server or a database outside the
project.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

ARTIFACT_FOLDER = "mlruns"
# (table, column) pairs of MLflow's SQL schema holding artifact locations
LOCATIONS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
             ("model_versions", "storage_location"), ("model_versions", "source"),
             ("logged_models", "artifact_location"))


def recorded_root(db: Path) -> str | None:
    """The folder that held ``mlruns`` when the experiments were created (the part of an
    experiment's artifact location before ``/mlruns/``), or None."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT artifact_location FROM experiments").fetchall()
    for (location,) in rows:
        path = str(location or "").removeprefix("file://")
        marker = f"/{ARTIFACT_FOLDER}/"
        if marker in path:
            return path[:path.index(marker)]
    return None


def relocate_artifacts(db: Path, project: Path) -> int:
    """Rewrite the artifact locations ``db`` records under another folder's ``mlruns`` to
    ``project``'s; the number of values rewritten (0 when they already point here, or the
    copy's ``mlruns`` is not in ``project``)."""
    old = recorded_root(db)
    new = str(project.resolve())
    if old is None or old == new or not (project / ARTIFACT_FOLDER).is_dir():
        return 0
    with sqlite3.connect(db) as connection:
        recorded = [str(u).removeprefix("file://") for (u,) in connection.execute(
            "SELECT artifact_uri FROM runs").fetchall()]
    recorded = [u for u in recorded if u.startswith(f"{old}/{ARTIFACT_FOLDER}/")]
    # only where this copy holds those artifacts (a store kept elsewhere on purpose stays)
    if not any(Path(new + u[len(old):]).exists() for u in recorded):
        return 0
    changed = 0
    with sqlite3.connect(db) as connection:
        tables = {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in LOCATIONS:
            if table not in tables:
                continue
            for prefix, replacement in ((f"file://{old}/", f"file://{new}/"),
                                        (f"{old}/", f"{new}/")):
                cursor = connection.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608
                    f"WHERE substr({column}, 1, ?) = ?",
                    (replacement, len(prefix) + 1, len(prefix), prefix))
                changed += cursor.rowcount
    return changed


def project_database(tracking_uri: str, project: Path) -> Path | None:
    """The SQLite file of ``tracking_uri`` when it lies inside ``project``, else None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = Path(tracking_uri.removeprefix("sqlite:///"))
    path = path if path.is_absolute() else project / path
    try:
        path.resolve().relative_to(project.resolve())
    except ValueError:
        return None
    return path if path.is_file() else None


class CopiedProjectArtifacts:
    """Kedro hook: a copied project's MLflow database points at its own ``mlruns``."""

    @hook_impl
    def after_context_created(self, context) -> None:
        project = Path(context.project_path)
        uri = _configured_uri(context)
        db = project_database(uri, project) if uri else None
        if db is None:
            return
        old = recorded_root(db)
        changed = relocate_artifacts(db, project)
        if changed:
            logger.warning("MLflow recorded artifacts under %s (this project was copied "
                           "from there): %d locations now point to %s/%s", old, changed,
                           project, ARTIFACT_FOLDER)


def _configured_uri(context) -> str:
    try:
        return str(context.config_loader["mlflow"]["server"]["mlflow_tracking_uri"])
    except (KeyError, TypeError, ValueError):
        return ""
