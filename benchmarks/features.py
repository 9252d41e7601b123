"""Feature benchmark (issue #4): the full feature set on 525,600 one-minute bars.

Goals: ``feature_inputs`` + ``compute_features`` of every registered feature under 20 s,
and a fresh process doing it under 4 GiB peak memory.

The market is a seeded one-minute random walk (``regimes.random_walk_bars``) given every
column a registered feature reads: kline extras, per-minute order flow, funding rate
(one value per 8 h, forward-filled), open interest (5-minute snapshots, forward-filled),
the ``sr_levels`` table the regimes code finds on its daily bars, and a correlated
reference market. ``python -m benchmarks.features N`` computes the features of N bars once
in this process and writes one JSON line (wall time, peak resident memory): run it through
``run_module_in_child`` so that the peak is the process's own.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ares_kedro.analyst.features import REGISTRY, compute_features, registry
from ares_kedro.analyst.features.inputs import feature_inputs
from ares_kedro.regimes.support_resistance import (
    SupportResistanceParams,
    find_pivots,
    higher_timeframe_bars,
    sr_levels_table,
)
from benchmarks.ingestion import peak_rss_bytes, run_module_in_child
from benchmarks.regimes import _params, random_walk_bars

N_BARS = 525_600
QUICK_BARS = 86_400  # 60 days: the regimes code finds a few levels (none in 2 weeks)
GOAL_S = 20.0
GOAL_PEAK_BYTES = 4 << 30
RUNS = 3
FUNDING_INTERVAL = pd.Timedelta(hours=8)
OPEN_INTEREST_BARS = 5  # Binance publishes open interest every 5 minutes


def futures_market(n: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``market_bars`` of a USDT-M perpetual with every column a feature reads, its
    ``sr_levels`` (regimes code, conf/base parameters) and a reference market's bars."""
    bars = random_walk_bars(n, "1m", seed)
    rng = np.random.default_rng(seed + 1)
    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    typical = (bars["high"].to_numpy() + bars["low"].to_numpy() + close) / 3
    taker_buy = volume * np.clip(rng.normal(0.5, 0.08, n), 0.02, 0.98)
    buy = taker_buy * rng.uniform(0.97, 1.03, n)  # aggTrades agree with the klines, roughly
    sell = np.maximum(volume - buy, 0.0)
    agg_trades = rng.poisson(volume * 15).astype(float) + 1
    large_count = rng.binomial(agg_trades.astype(np.int64), 0.01).astype(float)
    large_share = np.where(large_count > 0, rng.uniform(0.02, 0.3, n), 0.0)
    funding_periods = bars.index.as_unit("ns").asi8 // FUNDING_INTERVAL.value
    funding = np.cumsum(rng.normal(0, 2e-5, funding_periods[-1] - funding_periods[0] + 1)) + 1e-4
    snapshots = np.exp(np.cumsum(rng.normal(0, 0.002, n // OPEN_INTEREST_BARS + 1)))
    open_interest = 8e4 * np.repeat(snapshots, OPEN_INTEREST_BARS)[:n]
    market = bars.assign(
        quote_volume=volume * typical,
        trade_count=agg_trades * rng.uniform(2, 4, n).round(),
        taker_buy_volume=taker_buy,
        taker_buy_quote_volume=taker_buy * typical,
        buy_volume=buy,
        sell_volume=sell,
        buy_quote_volume=buy * typical,
        sell_quote_volume=sell * typical,
        agg_trade_count=agg_trades,
        large_trade_count=large_count,
        large_buy_volume=buy * large_share,
        large_sell_volume=sell * large_share,
        funding_rate=funding[funding_periods - funding_periods[0]],
        open_interest=open_interest,
        open_interest_value=open_interest * close,
    )
    sr = SupportResistanceParams.from_params(_params()["support_resistance"])
    sr_levels = sr_levels_table(
        find_pivots(higher_timeframe_bars(bars, sr.timeframe, "1m"), sr), sr
    )
    returns = np.diff(np.log(close), prepend=np.log(close[0]))
    reference_close = 2_000 * np.exp(np.cumsum(0.7 * returns + rng.normal(0, 0.0006, n)))
    reference = pd.DataFrame({"close": reference_close}, index=bars.index)
    return market, sr_levels, reference


def all_features(
    market: pd.DataFrame, sr_levels: pd.DataFrame, reference: pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """What the analyst pipeline does: context columns, then every registered feature."""
    return compute_features(feature_inputs(market, sr_levels=sr_levels, reference_bars=reference))


@contextmanager
def registry_warnings_quiet() -> Iterator[None]:
    """Repeated runs repeat the registry's NaN-after-warm-up warning: show it once."""
    logger = logging.getLogger("ares_kedro.analyst.features.registry")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run(n: int) -> dict[str, float | int]:
    """Features of ``n`` bars once in this process: wall time and peak memory."""
    market, sr_levels, reference = futures_market(n)
    baseline = peak_rss_bytes()
    started = time.perf_counter()
    table, report = all_features(market, sr_levels, reference)
    wall = time.perf_counter() - started
    return {
        "bars": n,
        "features": table.shape[1],
        "skipped": len(report["skipped"]),
        "wall_s": wall,
        "peak_rss_bytes": peak_rss_bytes(),
        "baseline_rss_bytes": baseline,
    }


def per_feature_seconds(table: pd.DataFrame) -> dict[str, float]:
    """Each feature's function timed alone, once, on the bars with their context columns;
    in one scope of shared computations, as in ``compute_features``: the first feature of a
    family pays for the family's pass."""
    seconds = {}
    with registry.shared_computations():
        for name, feature in REGISTRY.items():
            started = time.perf_counter()
            feature.function(table).astype(float)
            seconds[name] = time.perf_counter() - started
    return seconds


def section(quick: bool) -> list[str]:
    """The Markdown section of the feature benchmark."""
    n = QUICK_BARS if quick else N_BARS
    market, sr_levels, reference = futures_market(n)
    _, report = all_features(market, sr_levels, reference)  # warm-up: numba compiles or loads
    if report["skipped"]:
        raise RuntimeError(
            f"features skipped for missing inputs: {report['skipped']}; the "
            "benchmark market must hold every column a feature reads"
        )
    context_runs, total_runs = [], []
    with registry_warnings_quiet():
        for _ in range(RUNS):
            started = time.perf_counter()
            table = feature_inputs(market, sr_levels=sr_levels, reference_bars=reference)
            context_runs.append(time.perf_counter() - started)
            features, _ = compute_features(table)
            total_runs.append(time.perf_counter() - started)
        seconds = per_feature_seconds(table)
    total = statistics.median(total_runs)
    child = run_module_in_child("benchmarks.features", str(n))
    peak = int(child["peak_rss_bytes"])
    by_category: dict[str, list[str]] = defaultdict(list)
    for name, feature in REGISTRY.items():
        by_category[feature.category].append(name)
    category_seconds = {c: sum(seconds[f] for f in names) for c, names in by_category.items()}
    summed = sum(category_seconds.values())
    slowest = sorted(seconds, key=seconds.get, reverse=True)[:5]
    time_met, peak_met = total < GOAL_S, peak < GOAL_PEAK_BYTES
    bad = report["nan_or_inf_after_warmup"]
    missed = (
        "**Goal missed: "
        + ", ".join(
            what for what, met in (("time", time_met), ("peak memory", peak_met)) if not met
        )
        + ".**"
    )
    lines = [
        "## Features",
        "",
        f"Every registered feature ({len(REGISTRY)}, {features.shape[1]} computed, none "
        f"skipped) of {n:,} one-minute bars: `feature_inputs(market_bars, sr_levels, "
        "reference_bars)` then `compute_features` over the whole registry, as the analyst "
        "pipeline does. The market (`benchmarks/features.py`) is a seeded random walk with "
        "every column a feature reads: kline extras, per-minute order flow with large "
        "trades, a funding rate forward-filled per 8 h, open interest per 5 minutes, the "
        f"`sr_levels` the regimes code finds on its daily bars ({len(sr_levels)} levels) and "
        "a correlated reference market.",
        "",
        f"Time: median of {RUNS} runs in one process after a warm-up run, so numba "
        "compilation (or loading from its disk cache) is excluded; what features share "
        "(the statistical and spectral families, ATR, higher-timeframe bars) is kept for one "
        "`compute_features` call only, so each run computes it afresh. Peak memory: a fresh process building the market and computing the "
        f"features once (about {child['baseline_rss_bytes'] / 2**20:,.0f} MiB before the "
        "call, market included).",
        "",
        "| case | bars | result | goal | met |",
        "| --- | ---: | ---: | --- | --- |",
        f"| `feature_inputs` + `compute_features`, median of {RUNS} | {n:,} | {total:.2f} s "
        f"({min(total_runs):.2f}–{max(total_runs):.2f}) | < {GOAL_S:g} s at {N_BARS:,} bars | "
        f"{'yes' if time_met else '**no**'} |",
        f"| peak memory, fresh process, one call ({child['wall_s']:.2f} s there, numba "
        f"from its disk cache) | {n:,} | {peak / 2**20:,.0f} MiB | "
        f"< {GOAL_PEAK_BYTES >> 30} GiB at {N_BARS:,} bars | {'yes' if peak_met else '**no**'} |",
        "",
        "Every feature goal is met." if time_met and peak_met else missed,
        "",
        "Time per category: each feature's function timed alone, once, after the runs above "
        "(a family sharing one computation, such as the four FFT shares, pays for it on its "
        "first feature); the context columns are the median of `feature_inputs` in the runs "
        "above.",
        "",
        "| category | features | time | share of the sum |",
        "| --- | ---: | ---: | ---: |",
        f"| context columns (`feature_inputs`) | — | {statistics.median(context_runs):.2f} s | — |",
    ]
    for category in sorted(category_seconds, key=category_seconds.get, reverse=True):
        lines.append(
            f"| {category} | {len(by_category[category])} | "
            f"{category_seconds[category]:.2f} s | {category_seconds[category] / summed:.0%} |"
        )
    lines += [
        f"| sum of the features alone | {len(REGISTRY)} | {summed:.2f} s | 100% |",
        "",
        "Slowest features: " + ", ".join(f"`{f}` {seconds[f]:.2f} s" for f in slowest) + ".",
        "",
    ]
    if bad:
        lines += [
            "NaN or inf left after the warm-up on this market (bars): "
            + ", ".join(f"`{f}` {count:,}" for f, count in sorted(bad.items()))
            + ". The distances to support and resistance are NaN while no zone is known on "
            "that side (by design); any other entry here is a defect to look at.",
            "",
        ]
    return lines


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(int(sys.argv[1]))) + "\n")
