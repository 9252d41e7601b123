"""On a market with no edge at all (a random walk), validation must not find one."""

from __future__ import annotations

import logging

import pytest

from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow


def test_on_the_null_market_no_strategy_has_a_significant_edge_and_ab_is_inconclusive(
        project, caplog):
    caplog.set_level(logging.INFO, logger="ares_kedro.run_tracking")
    out = run_pipelines(project, ["ingestion", "regimes", "analyst", "tactician", "governor",
                                  "validation"],
                        {"overfitting": "validation_overfitting", "ab": "validation_ab_test",
                         "backtest": "validation_backtest"},
                        env="blank", synthetic={"mode": "random_walk"})
    overfitting = out["overfitting"]
    assert overfitting["trials_counted"]["trials"] >= 15
    strategies = out["backtest"]["strategies"]
    assert sum(s["trades"] for name, s in strategies.items() if name != "buy_and_hold") > 0, \
        "no model traded: the significance check below would be vacuous"
    per_strategy = overfitting["deflated_sharpe_per_strategy"]
    assert set(per_strategy) == set(out["backtest"]["strategies"])
    for name, result in per_strategy.items():
        assert not result["significant"], f"{name} claims an edge on a random walk: {result}"
    assert out["ab"]["decision"] == "inconclusive", out["ab"]
    assert out["ab"]["rollout"]["stages"] == []
    # the first run of a market: nothing was promoted, and the run does not pretend a
    # champion stays
    said = [r.getMessage() for r in caplog.records if r.name == "ares_kedro.run_tracking"]
    assert any("A/B decision inconclusive: no champion yet for binance-um_futures-btcusdt-1h"
               in m for m in said), said
    assert not any("the champion" in m and "stays" in m for m in said)
