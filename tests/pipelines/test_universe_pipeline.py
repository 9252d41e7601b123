"""A universe of two markets through Kedro: each trained and validated by its own run in
its own folder, as Dask tasks on a two-worker LocalCluster, one table across them with the
trials of both counted, and a second run that reuses both markets."""

from __future__ import annotations

import pytest

from ares_kedro.params import merged
from tests.pipelines.conftest import MECHANICS_BUDGET, run_pipelines

pytestmark = pytest.mark.slow

UNIVERSE = {"universe": {
    "markets": [{"symbol": "BTCUSDT", "synthetic": {"seed": 1}},
                {"symbol": "ETHUSDT", "synthetic": {"seed": 2}}],
    "reference_symbol": "SOLUSDT", "workers": 2, "run_params": merged(MECHANICS_BUDGET, {"governor": {"final_optimisation": {"min_trades": 1}}})}}
SMALL_MARKET = {"days": 60, "edges": {"order_flow": {"strength": 1.0}}}


def test_two_markets_train_side_by_side_into_one_table_and_resume(project):
    outputs = {"summary": "universe_summary", "table": "universe_table"}
    out = run_pipelines(project, ["universe"], outputs, env="blank", params=UNIVERSE,
                        lookback_days=60, synthetic=SMALL_MARKET)
    summary, table = out["summary"], out["table"]
    markets = [row["market"] for row in summary["markets"]]
    assert [m.split("-")[2] for m in markets] == ["BTCUSDT", "ETHUSDT"]
    assert list(table["market"]) == markets
    for name in markets:  # each market kept its own data, MLflow database and studies
        root = project / "data" / "10_universe" / name
        assert list((root / "03_primary" / name).glob("market_bars.parquet/*/*"))
        reference = name.replace(name.split("-")[2], "SOLUSDT")  # ingested beside it
        assert list((root / "03_primary" / reference).glob("market_bars.parquet/*/*"))
        assert (root / "mlflow.db").exists() and (root / "market_result.json").exists()
    assert all(row["cross_asset_features"] > 0 for row in summary["markets"])
    own = [row["own_trials"] for row in summary["markets"]]
    assert all(n > 0 for n in own) and summary["trials_counted"] == sum(own)
    for row in summary["markets"]:  # deflated by both markets' trials: never more significant
        assert row["dsr_p_universe_trials"] >= row["dsr_p_own_trials"] - 1e-9
    tasks = summary["engine"]["tasks"]
    assert sorted(tasks) == sorted(markets) and len({t["worker"] for t in tasks.values()}) == 2

    again = run_pipelines(project, ["universe"], outputs, env="blank", params=UNIVERSE,
                          lookback_days=60, synthetic=SMALL_MARKET)
    assert again["summary"]["engine"]["tasks"] == {}  # both markets reused
    assert again["summary"]["markets"] == summary["markets"]
