"""`kedro run --load-versions` reproduces a past run's inputs: a later run on an older
`market_bars` version gives that version's results again, and says so in its tags and
manifest."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from kedro.framework.session import KedroSession

from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow

SMALL = {"lookback_days": 60, "synthetic": {"days": 60}}  # versions, not volume, are tested


def _regimes_on(project, version: str | None) -> pd.DataFrame:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    runtime = {"data_root": str(project / "data"), "mlflow_tracking_uri": uri}
    with KedroSession.create(project_path=project, env="blank",
                             runtime_params=runtime) as session:
        session.run(pipeline_names=["regimes"],
                    load_versions={"market_bars": version} if version else None)
        labels = session.load_context().catalog.load("regime_labels")
    while mlflow.active_run() is not None:
        mlflow.end_run()
    return labels


def test_an_older_market_bars_version_reproduces_its_regimes(project):
    run_pipelines(project, ["ingestion"], {}, env="blank", **SMALL)
    first = sorted(p.name for p in (project / "data" / "03_primary").glob(
        "*/market_bars.parquet/*"))
    run_pipelines(project, ["ingestion"], {}, env="blank", lookback_days=SMALL["lookback_days"],
                  synthetic={**SMALL["synthetic"], "seed": 8})
    versions = sorted(p.name for p in (project / "data" / "03_primary").glob(
        "*/market_bars.parquet/*"))
    assert len(first) == 1 and len(versions) == 2
    old = first[0]

    latest = _regimes_on(project, None)  # the newest bars (seed 8)
    replayed = _regimes_on(project, old)
    again = _regimes_on(project, old)
    assert not replayed["regime"].equals(latest["regime"])
    pd.testing.assert_frame_equal(replayed, again)

    manifests = sorted((project / "data" / "08_reporting").glob("*/run_manifests/*.json"))
    assert json.loads(manifests[-1].read_text())["data_version"] == old
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["ares"], order_by=["start_time DESC"])
    assert runs.iloc[0]["tags.data_version"] == old
