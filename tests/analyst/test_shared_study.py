"""Two worker processes tune one Optuna study in a shared storage, together running the
number of trials asked for (how several machines share a study; docs/tracking.md)."""

from __future__ import annotations

import subprocess
import sys

import optuna

WORKER = """
import os, sys, time
import optuna
from ares_kedro.analyst.studies import run_resumable_study
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
