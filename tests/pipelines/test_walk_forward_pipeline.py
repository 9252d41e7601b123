"""Walk-forward through Kedro: every fold a full retraining in its own process, run as Dask
tasks on a two-worker LocalCluster side by side, test periods in time order, and a second
run that reuses the finished folds."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.pipelines.conftest import MECHANICS_BUDGET, run_pipelines

pytestmark = pytest.mark.slow

SMALL = {"validation": {"walk_forward": {"folds": 2, "test_days": 15, "workers": 2,
                                         "run_params": MECHANICS_BUDGET}}}


def test_walk_forward_retrains_per_fold_tests_in_time_order_and_resumes(project):
    outputs = {"report": "walk_forward_summary", "folds": "walk_forward_folds"}
    out = run_pipelines(project, ["ingestion", "walk_forward"], outputs, env="blank",
                        params=SMALL, lookback_days=150,
                        synthetic={"days": 150, "edges": {"order_flow": {"strength": 1.0}}})
    report, folds = out["report"], out["folds"]
    assert len(report["folds"]) == 2 and list(folds["fold"]) == [0, 1]
    first, last = (pd.to_datetime(folds[c]) for c in ("test_first_bar", "test_last_bar"))
    assert (first < last).all() and last.iloc[0] < first.iloc[1]  # successive, no overlap
    for name in ("governor", "buy_and_hold", "single_lightgbm"):
        interval = report["summary"][f"{name}_sharpe"]
        assert interval["folds"] == 2 and interval["ci_low"] <= interval["mean"] <= interval[
            "ci_high"]
    assert all(row["max_feature_psi"] >= 0 for row in report["folds"])
    engine = report["engine"]  # two folds, two LocalCluster workers, at the same time
    assert engine["scheduler"] == "LocalCluster" and engine["workers"] == 2
    tasks = [engine["tasks"][k] for k in ("0", "1")]
    assert len({t["worker"] for t in tasks}) == 2
    assert all(t["worker"].startswith("tcp://127.0.0.1:") for t in tasks)
    assert max(t["started"] for t in tasks) < min(t["finished"] for t in tasks)  # overlapped
    results = sorted((project / "data" / "09_walk_forward").rglob("fold_result.json"))
    assert len(results) == 2
    for result in results:  # each fold kept its own data and MLflow database
        assert (result.parent / "mlflow.db").exists() and (result.parent / "03_primary").is_dir()
    assert (next((project / "data" / "08_reporting").glob("*/validation"))
            / "walk_forward.png").exists()

    finished = {path: path.stat().st_mtime_ns for path in results}
    again = run_pipelines(project, ["walk_forward"], outputs, env="blank", params=SMALL,
                          lookback_days=150,
                          synthetic={"days": 150, "edges": {"order_flow": {"strength": 1.0}}})
    assert {path: path.stat().st_mtime_ns for path in results} == finished  # folds reused
    assert again["report"]["folds"] == report["folds"]
    assert again["report"]["engine"]["tasks"] == {}  # nothing sent to the cluster
