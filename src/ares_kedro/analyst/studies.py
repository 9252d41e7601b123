"""Optuna studies that resume: open by name in shared storage, run only what is missing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def storage_url(optuna_params: dict[str, Any]) -> str:
    """The studies' storage URL (``params:optuna``), creating a SQLite file's folder."""
    url = make_url(optuna_params["storage"])
    if url.drivername.startswith("sqlite") and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return str(optuna_params["storage"])


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


def trials_in_storage(storage: str) -> dict[str, int]:
    """How many studies, and trials (any state), the storage holds: every configuration the
    project has tried, the count the deflated Sharpe ratio needs."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return {"studies": len(summaries), "trials": int(sum(s.n_trials for s in summaries))}
