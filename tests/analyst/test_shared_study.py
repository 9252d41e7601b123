"""Two worker processes tune one Optuna study in a shared storage, together running the
number of trials asked for (how several machines share a study; docs/tracking.md)."""

from __future__ import annotations

import subprocess
import sys

import optuna

WORKER = """
import os, sys, time
import optuna
from ares_kedro.studies import run_resumable_study
storage, n_trials = sys.argv[1], int(sys.argv[2])
study = optuna.create_study(study_name="shared", storage=storage, load_if_exists=True,
                            direction="minimize")
def objective(trial):
    trial.set_user_attr("worker", os.getpid())
    time.sleep(0.05)
    return (trial.suggest_float("x", -3, 3) - 1) ** 2
run_resumable_study(study, objective, n_trials, show_progress_bar=False)
"""


def test_two_workers_share_one_study_and_stop_at_its_trial_count(tmp_path):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(study_name="shared", storage=storage, direction="minimize")
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, storage, "24"])
               for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,))
    assert 24 <= len(trials) <= 25  # one in-flight trial of the other worker at most
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both did part of the work


KILLED_WORKER = """
import sys, time
import optuna
from ares_kedro.studies import run_resumable_study, study_storage
storage = study_storage({"storage": sys.argv[1], "heartbeat_seconds": 1,
                         "stale_after_seconds": 2})
study = optuna.create_study(study_name="killed", storage=storage, load_if_exists=True)
def objective(trial):
    x = trial.suggest_float("x", -3, 3)
    if trial.number == 2:
        time.sleep(1.5)  # its heartbeat thread has beaten at least once, even under load
        print("hanging", flush=True)
        time.sleep(600)  # killed here, mid-trial
    return x ** 2
run_resumable_study(study, objective, 10, show_progress_bar=False)
"""


def test_a_trial_killed_mid_way_is_failed_on_resume_and_never_counted(tmp_path):
    """SIGKILL during a trial leaves it RUNNING in the storage; the next run marks it
    failed once its heartbeat is stale, runs the study to its count, and the deflated
    Sharpe's trial count holds only the evaluated (complete and pruned) trials."""
    import time

    from ares_kedro.studies import (
        run_resumable_study,
        study_storage,
        trials_in_storage,
    )

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, url],
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "hanging"
    worker.kill()
    worker.wait(timeout=30)
    states = [t.state for t in optuna.load_study(study_name="killed", storage=url).trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.RUNNING]
    assert trials_in_storage(url) == {"studies": 1, "trials": 2, "not_evaluated": 1}

    time.sleep(3)  # the zombie's heartbeat is now older than stale_after_seconds
    storage = study_storage({"storage": url, "heartbeat_seconds": 1, "stale_after_seconds": 2})
    study = optuna.load_study(study_name="killed", storage=storage)
    run_resumable_study(study, lambda trial: trial.suggest_float("x", -3, 3) ** 2, 10,
                        show_progress_bar=False)
    states = [t.state for t in study.trials]
    assert states[2] == optuna.trial.TrialState.FAIL
    assert states.count(optuna.trial.TrialState.COMPLETE) == 10
    assert optuna.trial.TrialState.RUNNING not in states
    assert trials_in_storage(url) == {"studies": 1, "trials": 10, "not_evaluated": 1}
