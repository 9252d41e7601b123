"""The universe table: markets merged over the project's ingestion block, every governor
deflated by the trials of all markets as well as its own, and bad settings refused."""

from __future__ import annotations

import numpy as np
import pytest

from ares_kedro.validation.universe import (
    UniverseParams,
    deflated_over,
    market_id,
    market_ingestion,
    summarise_markets,
    universe_markdown,
)

INGESTION = {"exchange": "BINANCE", "market": "spot", "symbol": "BTCUSDT", "timeframe": "1h",
             "synthetic": {"seed": 1, "days": 180}}
PARAMS = {"markets": [{"symbol": "ETHUSDT"}], "reference_symbol": None, "env": "blank", "run_params": {},
          "scheduler": None, "workers": 0, "root": "x", "alpha": 0.05}


def _result(market: str, trials: int, edge: float, seed: int) -> dict:
    returns = np.random.default_rng(seed).normal(edge, 0.01, 2000)
    return {"market": market, "test_first_bar": "2024-01-01", "test_last_bar": "2024-03-01",
            "governor_acts": True, "trials": trials,
            "deflated_sharpe": {"p_value": 0.01, "trial_sharpe_variance": 1e-4},
            "governor_returns": returns.tolist(),
            "strategies": {"governor": {"sharpe": 3.0, "total_return": 0.2, "trades": 50},
                           "buy_and_hold": {"sharpe": 0.5},
                           "single_lightgbm": {"sharpe": 2.0},
                           "ensemble_GLOBAL": {"sharpe": 2.5}}}


def test_a_market_overrides_the_ingestion_block_key_by_key():
    block = market_ingestion(INGESTION, {"symbol": "ETHUSDT", "synthetic": {"seed": 2}})
    assert block["symbol"] == "ETHUSDT" and block["synthetic"] == {"seed": 2, "days": 180}
    assert INGESTION["synthetic"]["seed"] == 1  # the project's block is left as it was
    assert market_id(block) == "BINANCE-spot-ETHUSDT-1h"


def test_more_trials_across_the_universe_deflate_each_governor_more():
    results = [_result("A", 40, 0.0004, 1), _result("B", 60, 0.0004, 2)]
    summary = summarise_markets(results, alpha=0.05)
    assert summary["trials_counted"] == 100
    for row, result in zip(summary["markets"], results, strict=True):
        assert row["own_trials"] == result["trials"]
        assert row["best_baseline"] == "ensemble_GLOBAL" and row["best_baseline_sharpe"] == 2.5
        returns = np.asarray(result["governor_returns"])
        universe = deflated_over(returns, 100, 1e-4, 0.05)["p_value"]
        assert row["dsr_p_universe_trials"] == pytest.approx(universe)
        # the same returns are less significant after the universe's 100 trials than own
        assert universe > deflated_over(returns, result["trials"], 1e-4, 0.05)["p_value"]
    report = universe_markdown(summary)
    assert "| A |" in report and "100 trials of every market together" in report


@pytest.mark.parametrize("change, message", [
    ({"markets": []}, "non-empty list"),
    ({"markets": [{"timeframe": "1h"}]}, "each with a symbol"),
    ({"workers": -1}, "workers must be"),
    ({"alpha": 0.7}, "alpha must be"),
    ({"extra": 1}, "extra"),
])
def test_bad_universe_settings_are_refused_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        UniverseParams.from_params({**PARAMS, **change})
