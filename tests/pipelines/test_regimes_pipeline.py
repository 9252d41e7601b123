"""The regimes pipeline run through Kedro after ingestion."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from ares_kedro.regimes import REGIMES
from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow


def test_regimes_after_ingestion_label_every_bar_and_log_the_chart(project):
    out = run_pipelines(project, ["ingestion", "regimes"],
                        {"bars": "market_bars", "labels": "regime_labels", "levels": "sr_levels",
                         "report": "regime_report", "splits": "regime_split_summary"},
                        lookback_days=120, synthetic={"days": 120})
    assert out["labels"].index.equals(out["bars"].index)
    assert set(out["labels"]["regime"].astype(str)) <= set(REGIMES)
    shares = [r["share"] for r in out["report"]["regimes"].values()]
    assert sum(shares) == pytest.approx(1.0)
    assert set(out["splits"]["regimes"]) == set(REGIMES)
    assert {"level", "zone_half_width", "strength", "confirmed_at"} <= set(out["levels"].columns)
    sets = {p.stem: p for p in (project / "data/05_model_input").rglob("*.parquet")}
    assert set(sets) <= set(REGIMES) and sets
    counts = {name: len(pd.read_parquet(path)) for name, path in sets.items()}
    assert counts == {name: split["bars"] for name, split in out["splits"]["regimes"].items()
                      if split["bars"]}
    chart = next((project / "data/08_reporting").rglob("regime_chart.png"))
    assert chart.stat().st_size > 10_000
    with sqlite3.connect(project / "mlflow.db") as db:
        logged = db.execute("select count(*) from runs").fetchone()[0]
    assert logged == 1
    assert list((project / "mlruns").rglob("regimes/regime_chart.png"))
