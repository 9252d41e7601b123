"""Regime benchmark cases (issue #3), each run alone in a fresh process.

``python -m benchmarks.regimes CASE N`` times one case on N generated bars and writes one
JSON line (wall time of the call, peak resident memory):
  rules  the rule classifier on N one-minute bars (goal: 525,600 bars under 5 s)
  gmm    the Gaussian-mixture classifier, fit and labelling, on N one-minute bars (same goal)
  sr     support/resistance analysis of N daily bars (goal: 3,650 bars, ten years, under 1 s)
Bars are a seeded random walk (vectorised numpy); parameters come from conf/base.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.ingestion import peak_rss_bytes, run_module_in_child

REPO = Path(__file__).resolve().parents[1]
GOALS = {"rules": (525_600, 5.0), "gmm": (525_600, 5.0), "sr": (3_650, 1.0)}  # bars, seconds


def random_walk_bars(n: int, freq: str, seed: int = 3) -> pd.DataFrame:
    """OHLCV bars of a fat-tailed random walk with clustered volume."""
    rng = np.random.default_rng(seed)
    step = 0.004 if freq == "1d" else 0.0008
    close = 30_000 * np.exp(np.cumsum(rng.standard_t(4, n) * step))
    open_ = np.concatenate(([30_000.0], close[:-1]))
    wiggle = np.abs(rng.normal(0, step, n))
    index = pd.date_range("2016-01-01", periods=n, freq="1min" if freq == "1m" else "1D", tz="UTC")
    return pd.DataFrame({
        "open": open_, "high": np.maximum(open_, close) * (1 + wiggle),
        "low": np.minimum(open_, close) * (1 - wiggle), "close": close,
        "volume": np.exp(rng.normal(0, 0.5, n)) * 10,
    }, index=index)


def _params() -> dict:
    from ares_kedro.params import project_parameters

    return project_parameters(REPO / "conf", data_root="data")["regimes"]


def run(case: str, n: int) -> dict[str, float | int | str]:
    from ares_kedro.pipelines.regimes.nodes import classify_regimes
    from ares_kedro.regimes.support_resistance import (
        SupportResistanceParams,
        find_pivots,
        higher_timeframe_bars,
        sr_levels_table,
    )

    params = _params()
    if case == "sr":
        bars = random_walk_bars(n, "1d")
        sr = SupportResistanceParams.from_params(params["support_resistance"])
        started = time.perf_counter()
        levels = sr_levels_table(find_pivots(higher_timeframe_bars(bars, "1d", "1d"), sr), sr)
        wall, rows = time.perf_counter() - started, len(levels)
    else:
        bars = random_walk_bars(n, "1m")
        params.update(method=case, timeframe="1m")
        started = time.perf_counter()
        labels, _, _ = classify_regimes(bars, params)
        wall, rows = time.perf_counter() - started, len(labels)
    return {"case": case, "bars": n, "wall_s": wall, "rows": rows, "peak_rss_bytes": peak_rss_bytes()}


def measure_in_child(case: str, n: int) -> dict[str, float | int | str]:
    return run_module_in_child("benchmarks.regimes", case, str(n))


def section(repeats: int, quick: bool) -> list[str]:
    """The Markdown section of the regime cases (median of ``repeats`` fresh processes)."""
    lines = ["## Regimes", "",
             "Each case on generated bars (a seeded fat-tailed random walk, `benchmarks/regimes.py`) "
             "with the parameters of `conf/base/parameters_regimes.yml`; median wall time of "
             f"{repeats} fresh processes, largest peak memory.", "",
             "| case | bars | median wall time | peak memory | goal | met |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    missed = []
    for case, (n, goal_s) in GOALS.items():
        bars = max(n // 50, 2_000) if quick else n
        runs = [measure_in_child(case, bars) for _ in range(repeats)]
        wall = float(np.median([r["wall_s"] for r in runs]))
        peak = max(r["peak_rss_bytes"] for r in runs) / 2**20
        met = wall < goal_s
        if not met:
            missed.append(case)
        what = {"rules": "rule classifier, 1m bars", "gmm": "mixture fit + labels, 1m bars",
                "sr": "support/resistance, daily bars"}[case]
        lines.append(f"| {case}: {what} | {bars:,} | {wall:.2f} s | {peak:.0f} MiB | "
                     f"< {goal_s:g} s at {n:,} bars | {'yes' if met else '**no**'} |")
    lines += ["", "Every regime goal is met." if not missed else
              f"**Goal missed: {', '.join(missed)}.**", ""]
    return lines


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(sys.argv[1], int(sys.argv[2]))) + "\n")
