"""Validation benchmark (issue #8): a cost-aware backtest of 525,600 bars and 1,000 Monte
Carlo simulations.

1. Backtest: 525,600 one-minute random-walk bars with a decision at every bar (random side,
   size 0.5), one position at a time, the labels' barrier exits, taker entries, maker
   take-profits, range-and-volume slippage, funding every 8 hours and the daily loss limit
   (the passes it needs included); then every headline metric. The barrier outcomes
   (``barrier_trades``, shared with the labels and timed in the Labels section) are computed
   before the clock starts and timed on their own here too.
2. Monte Carlo: 1,000 stationary block-bootstrap paths (mean block 24 bars) plus 1,000
   trade resamplings of a year of hourly net returns (8,760 bars), the default validation
   setting; and the same 1,000 paths over all 525,600 bars, to show how it scales.

Goals: backtest under 1 s; 1,000 simulations under 10 s. Median of 3 runs each.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.validation.backtest import ScoredPeriod, backtest_decisions, funding_by_bar
from ares_kedro.validation.costs import CostModel
from ares_kedro.validation.metrics import performance
from ares_kedro.validation.monte_carlo import (
    MonteCarloParams,
    bootstrap_bar_returns,
    resample_trades,
)
from benchmarks.regimes import random_walk_bars

N_BARS, YEAR_OF_HOURS = 525_600, 8_760
BACKTEST_GOAL_S, MONTE_CARLO_GOAL_S = 1.0, 10.0
BARRIERS = BarrierParams(take_profit=0.004, stop_loss=0.003, holding_bars=60,
                         round_trip_fee=0.0014)
COSTS = CostModel(maker_fee=0.0002, taker_fee=0.0005, entry_order="taker",
                  take_profit_order="maker", slippage_model="range_volume", slippage_bps=1.0,
                  range_impact=0.1, max_slippage_bps=50.0, capital=100_000.0, funding=True)
MC = MonteCarloParams(simulations=1000, mean_block_bars=24, seed=42, var_levels=[0.95, 0.99],
                      chunk_bars=5_000_000)


def _median_time(work, repeats: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), result


def section(quick: bool) -> list[str]:
    n = 20_000 if quick else N_BARS
    bars = random_walk_bars(n, "1m")
    bars["quote_volume"] = bars["volume"] * bars["close"]
    rng = np.random.default_rng(1)
    side = np.where(rng.random(n) < 0.5, 1, -1)
    size = np.full(n, 0.5)
    rows = np.arange(n)
    started = time.perf_counter()
    trades, _ = barrier_trades(bars, BARRIERS)
    barrier_s = time.perf_counter() - started
    funding_times = pd.date_range(bars.index[0].ceil("8h"), bars.index[-1], freq="8h")
    funding = funding_by_bar(bars.index, pd.Timedelta(minutes=1), pd.DataFrame({
        "funding_time": funding_times, "funding_rate": rng.normal(1e-4, 2e-4,
                                                                   len(funding_times))}))
    bars_per_year = 365 * 24 * 60

    def backtest():
        result = backtest_decisions(bars, rows, side, size, trades, BARRIERS, COSTS, funding,
                                    ScoredPeriod(0, n - 1, bars_per_year), max_daily_loss=0.05)
        return result, performance(result)

    backtest_decisions(bars, rows[:2000], side[:2000], size[:2000], trades, BARRIERS, COSTS,
                       funding, ScoredPeriod(0, 1999, bars_per_year))  # compile numba once
    backtest_s, (result, metrics) = _median_time(backtest)
    hourly = result.bar_returns.to_numpy()[:YEAR_OF_HOURS] * 4  # a year of 1h-like returns
    mc_s, _ = _median_time(lambda: (bootstrap_bar_returns(hourly, YEAR_OF_HOURS, MC),
                                    resample_trades(result.trades["net_return"].to_numpy()[:500],
                                                    1.0, MC)))
    big_s, _ = _median_time(lambda: bootstrap_bar_returns(result.bar_returns.to_numpy(),
                                                          bars_per_year, MC),
                            repeats=1 if not quick else 3)
    return [
        "## Validation: backtest and Monte Carlo", "",
        f"`validation.backtest.backtest_decisions` + `validation.metrics.performance` on {n:,} "
        f"one-minute random-walk bars with a decision at every bar ({metrics['trades']:,} trades "
        "taken one at a time; taker entries, maker take-profits, range-and-volume slippage, "
        "funding every 8 h, the 5 % daily loss limit); barrier outcomes computed before the "
        f"clock ({barrier_s:.2f} s on their own). Monte Carlo: `bootstrap_bar_returns` "
        "(stationary block bootstrap, mean block 24 bars) plus `resample_trades`, 1,000 "
        "simulations each. Median of 3 runs.", "",
        "| case | time | goal | met |", "| --- | ---: | --- | --- |",
        f"| backtest, {n:,} bars | {backtest_s:.2f} s | < {BACKTEST_GOAL_S:g} s | "
        f"{'yes' if backtest_s < BACKTEST_GOAL_S else '**no**'} |",
        f"| Monte Carlo, 1,000 + 1,000 simulations, {YEAR_OF_HOURS:,} hourly bars | "
        f"{mc_s:.2f} s | < {MONTE_CARLO_GOAL_S:g} s | "
        f"{'yes' if mc_s < MONTE_CARLO_GOAL_S else '**no**'} |",
        f"| Monte Carlo, 1,000 block-bootstrap paths of {n:,} bars | {big_s:.1f} s | "
        "(scaling, no goal) | |", ""]


if __name__ == "__main__":
    import sys
    sys.stdout.write("\n".join(section("--quick" in sys.argv)) + "\n")
