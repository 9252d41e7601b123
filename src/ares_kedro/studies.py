"""Optuna studies that resume: open by name in shared storage, run only what is missing."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
# The trials that count as tried: each evaluated a configuration and returned (complete) or
# reported (pruned) a result the search could act on. A failed trial raised before it had
# a result; a running one in a resumed storage is a zombie of a killed process (failed on
# resume, docs/validation.md).
EVALUATED = FINISHED


def storage_url(optuna_params: dict[str, Any]) -> str:
    """The studies' storage URL (``params:optuna``), creating a SQLite file's folder."""
    url = make_url(optuna_params["storage"])
    if url.drivername.startswith("sqlite") and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return str(optuna_params["storage"])


def fingerprint(*parts: Any) -> str:
    """Short hash of tables, arrays and JSON-able values: names an Optuna study after its
    inputs, so changed data or settings start a new study instead of resuming a stale one."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame | pd.Series):
            digest.update(pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes())
            digest.update(json.dumps(list(map(str, getattr(part, "columns", [])))).encode())
        elif isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class StudySettings:
    """Where a node's Optuna studies live and whether they draw a progress bar
    (``params:optuna``, parsed once per node)."""

    storage: Any  # optuna.storages.RDBStorage
    show_progress_bar: bool

    @classmethod
    def from_params(cls, optuna_params: dict[str, Any]) -> StudySettings:
        return cls(study_storage(optuna_params), bool(optuna_params["show_progress_bar"]))


def study_storage(optuna_params: dict[str, Any]) -> optuna.storages.RDBStorage:
    """The studies' storage (``params:optuna``) with heartbeats: a running trial beats
    every ``heartbeat_seconds``; one silent for ``stale_after_seconds`` (its process was
    killed) is marked failed when a study in the storage resumes."""
    heartbeat, stale = int(optuna_params["heartbeat_seconds"]), int(
        optuna_params["stale_after_seconds"])
    if not 0 < heartbeat < stale:
        raise ValueError("optuna: need 0 < heartbeat_seconds < stale_after_seconds")
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 4: we test them
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(storage_url(optuna_params),
                                          heartbeat_interval=heartbeat, grace_period=stale)


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Mark the study's trials whose heartbeat stopped as failed (a SIGKILL mid-trial leaves
    one running forever); returns their numbers. Storages without heartbeats: none."""
    running = (optuna.trial.TrialState.RUNNING,)
    before = {t.number for t in study.get_trials(deepcopy=False, states=running)}
    if not before:
        return []
    with warnings.catch_warnings():  # "experimental" in Optuna 4: we test it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # no-op without heartbeats
    stale = sorted(before - {t.number for t in study.get_trials(deepcopy=False,
                                                                states=running)})
    if stale:
        logger.warning("Study %s: trials %s had stopped (their process was killed): marked "
                       "failed, not counted, run again", study.study_name, stale)
    return stale


def run_resumable_study(study: optuna.Study, objective: Callable[[optuna.Trial], object],
                        n_trials: int, show_progress_bar: bool, n_jobs: int = 1,
                        timeout_seconds: float | None = None) -> int:
    """Run the trials ``study`` still lacks to have ``n_trials`` complete or pruned ones
    (a trial interrupted mid-way is not counted and is run again), in ``n_jobs`` threads,
    stopping early after ``timeout_seconds`` (None: no time limit; a later run resumes).
    Returns how many trials this call started.

    Several processes (machines, with a shared PostgreSQL storage; docs/tracking.md) may
    run the same study at once: each stops once the study as a whole has ``n_trials``
    finished trials (at most one in-flight trial per extra worker more).

    With a progress bar, Optuna's per-trial log lines are silenced while it runs.
    """
    fail_stale_trials(study)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    remaining = max(n_trials - done, 0)
    logger.info("Study %s: %d trials done, %d to run", study.study_name, done, remaining)
    if not remaining:
        return 0
    verbosity = optuna.logging.get_verbosity()
    if show_progress_bar:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    before = len(study.get_trials(deepcopy=False))
    try:
        study.optimize(objective, n_trials=remaining, timeout=timeout_seconds, n_jobs=n_jobs,
                       show_progress_bar=show_progress_bar,
                       callbacks=[MaxTrialsCallback(n_trials, states=FINISHED)])
    finally:
        optuna.logging.set_verbosity(verbosity)
    return len(study.get_trials(deepcopy=False)) - before


def trials_in_storage(storage: str | optuna.storages.BaseStorage) -> dict[str, int]:
    """How many studies the storage holds and how many trials they evaluated
    (:data:`EVALUATED`: complete or pruned): every configuration the project has tried,
    the count the deflated Sharpe ratio needs. Failed and zombie trials are counted apart
    (``not_evaluated``) and do not deflate."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    evaluated = 0
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        evaluated += len(study.get_trials(deepcopy=False, states=EVALUATED))
    total = int(sum(s.n_trials for s in summaries))
    return {"studies": len(summaries), "trials": evaluated, "not_evaluated": total - evaluated}
