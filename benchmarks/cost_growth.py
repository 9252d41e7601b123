"""Cost growth (issue #10, item 4): time and peak memory of each stage at 1x, 4x and 16x
data, to show how cost grows with the data.

1x is :data:`BASE_DAYS` days of the built-in 1h market (conf/blank otherwise); 4x and 16x
are the same generator over 4 and 16 times as many days. At each size, in a fresh
temporary copy of the project, each stage is its own ``kedro run --env=blank`` process
(its inputs persisted by the stages before), so its peak memory is its own:

- ingestion: the ingestion nodes after the synthetic archives are written (reading,
  order-flow aggregation, consolidation, quality checks);
- regimes: ``--pipelines=regimes``; features: ``--nodes=build_features``;
- one blank training: ``--pipelines=analyst,tactician,governor`` (features and labels
  included);
- labels: ``--nodes=label_bars`` (with the targets the training chose);
- backtest: ``--nodes=backtest_test_period`` (the governor and every baseline on the test
  period, a fifth of the bars); Monte Carlo: ``--nodes=run_monte_carlo``;
- live decision: ``Governor.decide`` on trailing windows, in a fresh Python process.

Time is the nodes' time from the run's log (each node from the end of the one before, so
loads and saves count; the first from its start; not interpreter start or Kedro's set-up);
the live row is the median latency of one decision. Peak memory is the process's peak
resident set, imports included (the baseline row: a process that only imports Kedro and
the project's pipelines).

Child: ``python -m benchmarks.cost_growth live DATA_ROOT CALLS`` and ``... baseline``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.analyst_run import kedro_run, say, temporary_project

BASE_DAYS = 120
SCALES = (1, 4, 16)
QUICK_BASE_DAYS, QUICK_SCALES = 60, (1, 2)
LIVE_CALLS = 30
MIB = 1 << 20
INGESTION_NODES = "aggregate_trades,read_futures_data,read_klines,build_market_bars"
STAGES = [  # (row, kedro run arguments)
    ("ingestion", ["--pipelines=ingestion", f"--nodes={INGESTION_NODES}"]),
    ("regimes", ["--pipelines=regimes"]),
    ("features", ["--pipelines=analyst", "--nodes=build_features"]),
    ("one blank training (analyst, tactician, governor)",
     ["--pipelines=analyst,tactician,governor"]),
    ("labels", ["--pipelines=analyst", "--nodes=label_bars"]),
    ("backtest (governor and baselines, test period)",
     ["--pipelines=validation", "--nodes=backtest_test_period"]),
    ("Monte Carlo (1,000 + 1,000 paths)", ["--pipelines=validation", "--nodes=run_monte_carlo"]),
]


# ---- children

def _peak() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def live_child(data_root: Path, calls: int) -> dict[str, Any]:
    """Median and p99 latency of ``Governor.decide`` on ``calls`` trailing windows."""
    import logging

    import numpy as np
    import pandas as pd

    from ares_kedro.governor.live import Governor
    from benchmarks.analyst_run import use_signing_key_of
    from benchmarks.governor import latest, live_latencies

    logging.disable(logging.WARNING)
    use_signing_key_of(data_root.parent / "project")  # its project: see cost_growth.section
    system = latest(f"{data_root}/06_models/*/governor_decision_system.pkl")
    bars = pd.read_parquet(latest(f"{data_root}/03_primary/*/market_bars.parquet/*/*"))
    governor = Governor.load(system)
    window, latencies = live_latencies(governor, bars, calls)
    return {"bars": len(bars), "window": window, "p50_ms": statistics.median(latencies),
            "p99_ms": float(np.percentile(latencies, 99)), "peak_rss_bytes": _peak()}


def baseline_child() -> dict[str, Any]:
    """Peak memory of a process that imports Kedro and the project's pipelines."""
    from ares_kedro.pipeline_registry import register_pipelines

    register_pipelines()
    return {"peak_rss_bytes": _peak()}


# ---- parent

def measure_scale(days: int) -> dict[str, Any]:
    """Every stage at ``days`` days of 1h bars."""
    from benchmarks.ingestion import run_module_in_child

    params = {"ingestion.synthetic.days": days, "ingestion.lookback_days": days}
    out: dict[str, Any] = {"days": days, "stages": {}}
    with tempfile.TemporaryDirectory(prefix=f"ares_growth_{days}_") as tmp:
        root = Path(tmp)
        project = temporary_project(root)
        data_root = root / "data"
        setup = kedro_run(project, data_root, ["--env=blank", "--pipelines=ingestion",
                                               "--nodes=prepare_raw_archives"],
                          params, "generate")
        out["generate_s"] = setup["pipeline_s"]
        for row, args in STAGES:
            run = kedro_run(project, data_root, ["--env=blank", *args], params,
                            row.split()[0].lower())
            out["stages"][row] = {"time_s": sum(run["nodes"].values()), "wall_s": run["wall_s"],
                                  "peak_rss_bytes": run["peak_rss_bytes"]}
            say(f"    {days} days, {row}: {out['stages'][row]['time_s']:.2f} s, "
                f"{run['peak_rss_bytes'] / MIB:.0f} MiB")
        live = run_module_in_child("benchmarks.cost_growth", "live", str(data_root),
                                   str(LIVE_CALLS))
        out["bars"], out["live"] = live["bars"], live
    return out


def _cell_time(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def section(quick: bool) -> list[str]:
    base, scales = (QUICK_BASE_DAYS, QUICK_SCALES) if quick else (BASE_DAYS, SCALES)
    results = []
    for scale in scales:
        say(f"  cost growth: {scale}x ({base * scale} days)")
        results.append(measure_scale(base * scale))
    from benchmarks.ingestion import run_module_in_child
    baseline = run_module_in_child("benchmarks.cost_growth", "baseline")["peak_rss_bytes"]
    heads = [f"{s}x: {r['bars']:,} bars" for s, r in zip(scales, results, strict=True)]
    last = f"{scales[-1]}x / 1x"
    lines = [
        "## Cost growth with data",
        "",
        f"The built-in 1h market at 1x = {base} days, and {', '.join(f'{s}x' for s in scales[1:])} "
        "as many days (`python -m benchmarks.cost_growth`); each stage a fresh `kedro run "
        "--env=blank` process in a temporary project copy, inputs persisted by the stages "
        "before it. Time: the nodes' time from the run's log (each from the end of the node "
        "before, so loads and saves count; not interpreter start or Kedro's set-up); live "
        f"decision: median of {LIVE_CALLS} `Governor.decide` calls on a trailing window. Peak: "
        "the process's peak resident memory, imports included (a process that only imports "
        f"Kedro and the project's pipelines peaks at {baseline / MIB:.0f} MiB).",
        "",
        "| stage | " + " | ".join(f"time, {h}" for h in heads) + f" | time {last} | "
        + " | ".join(f"peak, {s}x" for s in scales) + f" | peak {last} |",
        "| --- | " + " | ".join("---:" for _ in scales) + " | ---: | "
        + " | ".join("---:" for _ in scales) + " | ---: |",
    ]
    for row, _ in STAGES:
        times = [r["stages"][row]["time_s"] for r in results]
        peaks = [r["stages"][row]["peak_rss_bytes"] for r in results]
        lines.append(f"| {row} | " + " | ".join(_cell_time(t) for t in times)
                     + f" | {times[-1] / times[0]:.1f}x | "
                     + " | ".join(f"{p / MIB:,.0f} MiB" for p in peaks)
                     + f" | {peaks[-1] / peaks[0]:.1f}x |")
    p50 = [r["live"]["p50_ms"] for r in results]
    live_peaks = [r["live"]["peak_rss_bytes"] for r in results]
    lines.append("| live decision (p50 of one call) | " + " | ".join(f"{t:.0f} ms" for t in p50)
                 + f" | {p50[-1] / p50[0]:.1f}x | "
                 + " | ".join(f"{p / MIB:,.0f} MiB" for p in live_peaks)
                 + f" | {live_peaks[-1] / live_peaks[0]:.1f}x |")
    p99 = ", ".join(f"{s}x {r['live']['p99_ms']:.0f} ms" for s, r in zip(scales, results,
                                                                           strict=True))
    gen = ", ".join(f"{s}x {r['generate_s']:.1f} s" for s, r in zip(scales, results,
                                                                      strict=True))
    lines += [
        "",
        f"- Live decision p99: {p99}. Its window is {results[0]['live']['window']} bars "
        "whatever the history, so what grows its cost is the decision system trained on more "
        "data, not its input.",
        f"- Writing the synthetic archives (not part of any stage): {gen}.",
        "",
    ]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "live":
        sys.stdout.write(json.dumps(live_child(Path(argv[1]), int(argv[2]))) + "\n")
    elif argv == ["baseline"]:
        sys.stdout.write(json.dumps(baseline_child()) + "\n")
    elif not argv or argv == ["--quick"]:
        sys.stdout.write("\n".join(section(argv == ["--quick"])) + "\n")
    else:
        sys.stderr.write("usage: python -m benchmarks.cost_growth [--quick] | live DATA_ROOT "
                         "CALLS | baseline\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
