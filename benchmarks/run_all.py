"""Run every benchmark and write docs/benchmarks.md (``make bench``).

``python -m benchmarks.run_all`` generates the inputs (cached in ``$ARES_BENCH_DIR``,
default /tmp/ares_bench), runs each case ``--repeats`` times in a fresh process, times
the stages of the trades path, prints the report and writes it to docs/benchmarks.md.
``--quick`` uses small inputs for a smoke test and only prints.

Every finished section is saved under ``$ARES_BENCH_DIR/sections``: ``--resume`` reuses
the sections measured earlier the same day (UTC) and says so in the report, so an
interrupted run continues where it stopped; ``--sections a,b`` runs only those sections
and prints them (for instance ``--sections planted,null,real``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks import (
    analyst_run,
    cost_growth,
    end_to_end,
    features,
    governor,
    labels,
    proof,
    regimes,
    scale,
    validation,
)
from benchmarks.generate import Dataset, KlineSpec, TradeSpec, bench_dir, ensure
from benchmarks.ingestion import REPO, measure_in_child, run_module_in_child

GIB = 1 << 30
MIB = 1 << 20
KLINES_GOAL_S = 5.0
TRADES_GOAL_PER_S = 2_000_000
TRADES_GOAL_PEAK = 4 * GIB
FULL = {"klines": KlineSpec(), "trades": TradeSpec()}
QUICK = {"klines": KlineSpec(months=1), "trades": TradeSpec(days=2, trades_per_day=200_000)}


def say(text: str) -> None:
    """Progress on stderr (stdout carries the report)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@dataclass
class CaseResult:
    """Figures of one case over its repeats."""

    case: str
    data: Dataset
    runs: list[dict]

    @property
    def walls(self) -> list[float]:
        return [r["wall_s"] for r in self.runs]

    @property
    def median_s(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak_bytes(self) -> int:
        return max(r["peak_rss_bytes"] for r in self.runs)

    @property
    def baseline_bytes(self) -> int:
        return max(r["baseline_rss_bytes"] for r in self.runs)

    @property
    def per_second(self) -> float:
        return self.runs[0]["rows"] / self.median_s

    def goal(self) -> tuple[str, bool]:
        if self.case == "klines":
            return f"< {KLINES_GOAL_S:g} s", self.median_s < KLINES_GOAL_S
        met = self.per_second >= TRADES_GOAL_PER_S and self.peak_bytes < TRADES_GOAL_PEAK
        return (
            f"≥ {TRADES_GOAL_PER_S / 1e6:g} M trades/s, peak < {TRADES_GOAL_PEAK // GIB} GiB",
            met,
        )


def run_case(case: str, data: Dataset, repeats: int) -> CaseResult:
    runs = []
    for i in range(repeats):
        run = measure_in_child(case, data.root)
        if run["rows"] != data.rows:
            raise RuntimeError(f"{case}: read {run['rows']} rows, the input holds {data.rows}")
        say(
            f"  {case} run {i + 1}/{repeats}: {run['wall_s']:.2f} s, "
            f"peak {run['peak_rss_bytes'] / MIB:.0f} MiB"
        )
        runs.append(run)
    return CaseResult(case, data, runs)


def run_breakdown(root: Path, runs: int = 2) -> dict[str, float]:
    """Stage times of the trades path: the best of ``runs`` fresh processes, per stage."""
    best: dict[str, float] = {}
    for _ in range(runs):
        figures = run_module_in_child("benchmarks.profile_trades", str(root))
        best = {k: min(v, best.get(k, v)) for k, v in figures.items()}
    return best


def machine() -> dict[str, str]:
    """CPU, cores, memory and library versions of this machine."""
    cpu = platform.processor() or "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        total_kib = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal"))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": cpu,
        "Cores": f"{os.cpu_count()} logical ({len(os.sched_getaffinity(0))} usable)",
        "RAM": f"{total_kib / (1 << 20):.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "numpy / pandas / pyarrow": f"{np.__version__} / {pd.__version__} / {pa.__version__}",
        "Load average at start (1, 5, 15 min)": load,
    }


def _input(result: CaseResult) -> str:
    d = result.data
    what = "bars" if result.case == "klines" else "trades"
    per = "monthly" if result.case == "klines" else "daily"
    return (
        f"{d.rows:,} {what}, {d.files} {per} zip{'s' if d.files > 1 else ''}, {d.zip_bytes / 1e6:.1f} MB "
        f"({d.csv_bytes / 1e6:.0f} MB CSV)"
    )


def _row(result: CaseResult) -> str:
    walls = result.walls
    what = "bars/s" if result.case == "klines" else "trades/s"
    mb_s = result.data.csv_bytes / 1e6 / result.median_s
    goal, met = result.goal()
    cells = [
        result.case,
        _input(result),
        f"{result.median_s:.2f} s ({min(walls):.2f}–{max(walls):.2f})",
        f"{result.per_second / 1e6:.2f} M {what}, {mb_s:.0f} MB/s of CSV",
        f"{result.peak_bytes / MIB:,.0f} MiB",
        goal,
        "yes" if met else "**no**",
    ]
    return "| " + " | ".join(cells) + " |"


def _breakdown_table(b: dict[str, float]) -> list[str]:
    total = b["total_s"]
    stages = [
        ("SHA-256 of the zips (`verify_checksum`)", b["checksum_s"], b["checksum_cpu_s"]),
        ("zip inflate + CRC-32 (ISA-L, `archives.open_archive`)", b["inflate_s"],
         b["inflate_cpu_s"]),
        ("Arrow CSV parse alone (one thread, CSV in memory)", b["parse_s"], b["parse_cpu_s"]),
        ("numpy per-block reduction (`_consume`, main thread)", b["consume_s"], None),
        ("pandas concat/groupby (`combine_bar_chunks`)", b["combine_s"], None),
    ]
    lines = [
        "| stage | wall | CPU (all threads) | wall / whole call |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, wall, cpu in stages:
        cpu_text = f"{cpu:.2f} s" if cpu is not None else "—"
        lines.append(f"| {name} | {wall:.2f} s | {cpu_text} | {wall / total:.0%} |")
    lines.append(f"| whole `read_trade_flow` | {total:.2f} s | {b['total_cpu_s']:.2f} s | 100% |")
    return lines


def render(
    results: list[CaseResult],
    breakdown: dict[str, float],
    info: dict[str, str],
    when: dt.datetime,
    repeats: int,
    quick: bool,
) -> str:
    """The Markdown report."""
    missed = [r for r in results if not r.goal()[1]]
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {when:%Y-%m-%d %H:%M} UTC with `make bench` "
        "(`.venv/bin/python -m benchmarks.run_all`)"
        + (
            " **in quick mode: small inputs, figures not comparable to the goals**."
            if quick
            else "."
        ),
        "",
        "Ingestion of generated Binance Vision archives through the project's own readers, "
        "checksums verified, no parse cache:",
        "",
        '- **klines**: `vision_ingest.read_klines(inventory, "1m", RepairPolicy(), '
        "QualityLog(), ParsedFileCache(None), verify_checksums=True)` on spot 1m klines "
        "of 2023 (the goal's size is one year, 525,600 bars).",
        "- **trades**: `vision_ingest.read_trade_flow(inventory, bar_ns=60 s, "
        "LargeTradeRule(0.99, lookback_days=7, min_history_trades=1000), ...)` on USDT-M "
        "daily aggTrades, reduced to per-minute order flow.",
        "",
        "## Results",
        "",
        f"Each case ran {repeats} times, each time in a fresh Python process: wall time is "
        "the median (min–max in brackets) of the call alone, without interpreter start and "
        "imports; peak memory is the largest peak resident set (`ru_maxrss`) of the process, "
        f"imports included (about {results[0].baseline_bytes / MIB:.0f} MiB before the call). "
        "Each process is forked from a small `sh`: Linux carries the parent's resident "
        "size into a child's `ru_maxrss` across fork and exec.",
        "",
        "| case | input | median wall time | throughput | peak memory | goal | met |",
        "| --- | --- | ---: | --- | ---: | --- | --- |",
        *[_row(r) for r in results],
        "",
    ]
    if missed:
        for r in missed:
            goal = r.goal()[0]
            if r.case == "trades":
                lines.append(
                    f"**Goal missed: trades ran at {r.per_second / 1e6:.2f} M trades/s, below the "
                    f"{TRADES_GOAL_PER_S / 1e6:g} M trades/s goal** (peak memory "
                    f"{r.peak_bytes / MIB:,.0f} MiB, "
                    f"{'within' if r.peak_bytes < TRADES_GOAL_PEAK else 'over'} the 4 GiB limit)."
                )
            else:
                lines.append(f"**Goal missed: {r.case} took {r.median_s:.2f} s, goal {goal}.**")
        lines.append("")
    else:
        lines += ["Every goal is met.", ""]
    lines += [
        "## Where the trades time goes",
        "",
        "Each stage timed alone over the same files in a fresh process, the best of two "
        "such runs per stage "
        "(`python -m benchmarks.profile_trades ROOT`; add `--cprofile FILE` for a cProfile "
        "listing). The `_consume` and `combine_bar_chunks` rows are their time on the main "
        "thread during the whole call. The main thread inflates and reduces while blocks of "
        "CSV are parsed on a two-thread pool, so stages overlap and do not add up to the whole "
        "call; CPU above wall means two cores worked.",
        "",
        *_breakdown_table(breakdown),
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
        "This is a shared 2-core virtual machine: other work on the host made runs of the "
        "same code vary up to twofold within an hour; compare medians of runs made close "
        "together, and re-run before drawing conclusions.",
        "",
        "## Method",
        "",
        "- Inputs are generated with vectorised numpy in the real Vision layout "
        "(`benchmarks/generate.py`): spot 1m klines as 12 monthly zips "
        "(`data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2023-MM.zip`, no header, ms "
        "timestamps, 12 columns, valid OHLC) and USDT-M aggTrades as daily zips "
        "(`data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-03-DD.zip`, with "
        "header, ms timestamps, sorted times, increasing ids, 0.1 price ticks near 30,000, "
        "lognormal quantities), each with its `.CHECKSUM`.",
        "- They are cached in `$ARES_BENCH_DIR` (default `/tmp/ares_bench`) under a digest of "
        "their parameters, so later runs skip generation. Files are read from the page cache "
        "(warm), as they are when ingestion re-runs.",
        "- `python -m benchmarks.run_all --quick` is a smoke test on small inputs; it prints "
        "the report and does not write this file.",
        "- The sections after the trades breakdown each come from one module of "
        "`benchmarks/` (`run_all --sections NAME` runs one alone). Every finished "
        "section is saved under `$ARES_BENCH_DIR/sections`; `run_all --resume` reuses the "
        "sections measured earlier the same day and names them after the last one, so an "
        "interrupted "
        "`make bench` continues instead of restarting (the whole suite takes about two hours "
        "on 2 cores, most of it whole `kedro run`s).",
        "- The planted-signal, null-market and real-data sections (`benchmarks/proof.py`) "
        "measure results, not time: their runs go side by side, one per core.",
        "",
    ]
    return "\n".join(lines) + "\n"


SECTIONS: list[tuple[str, str, Callable[[argparse.Namespace], list[str]]]] = [
    ("regimes", "timing the regime classifiers", lambda a: regimes.section(a.repeats, a.quick)),
    ("labels", "timing the labels", lambda a: labels.section(a.quick)),
    ("features", "timing the features", lambda a: features.section(a.quick)),
    ("analyst", "timing the analyst pipeline", lambda a: analyst_run.section(a.quick)),
    ("governor", "governor: live decisions and batch scoring", lambda a: governor.section(a.quick)),
    ("validation", "validation: backtest and Monte Carlo", lambda a: validation.section(a.quick)),
    ("end_to_end", "end to end: kedro run --env=blank and kedro run",
     lambda a: end_to_end.section(a.quick)),
    ("cost_growth", "cost growth at 1x, 4x and 16x data", lambda a: cost_growth.section(a.quick)),
    ("planted", "planted signal against the oracle", lambda a: proof.planted_section(a.quick)),
    ("null", "null market: false discoveries", lambda a: proof.null_section(a.quick)),
    ("real", "real data: BTCUSDT 1h", lambda a: proof.real_section(a.quick)),
    ("scale", "scale-out on Dask: walk-forward and a universe", lambda a: scale.section(a.quick)),
]


def _cache_path(name: str, quick: bool) -> Path:
    return bench_dir() / "sections" / f"{name}{'-quick' if quick else ''}.json"


def run_section(name: str, title: str, work: Callable[[argparse.Namespace], list[str]],
                args: argparse.Namespace, today: dt.date) -> tuple[list[str], str | None]:
    """A section's lines, and when it was measured if reused from earlier today.

    Every finished section is saved under ``$ARES_BENCH_DIR/sections``; with ``--resume``
    a section saved today (UTC) in the same mode is reused instead of measured again, so
    an interrupted ``make bench`` picks up where it stopped."""
    path = _cache_path(name, args.quick)
    if args.resume and path.exists():
        saved = json.loads(path.read_text())
        measured = dt.datetime.fromisoformat(saved["measured_at"])
        if measured.date() == today:
            say(f"{title}: reused from {measured:%H:%M} UTC ({path})")
            return saved["lines"], f"{measured:%H:%M}"
    say(title)
    lines = work(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"measured_at": dt.datetime.now(dt.UTC).isoformat(),
                                "quick": args.quick, "lines": lines}))
    return lines, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs; print only")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--resume", action="store_true",
                        help="reuse sections already measured today (UTC) in this mode")
    parser.add_argument("--sections", default="",
                        help="comma-separated sections to run alone (print only): "
                             + ",".join(name for name, _, _ in SECTIONS))
    args = parser.parse_args(argv)
    when = dt.datetime.now(dt.UTC)
    if args.sections:
        chosen = args.sections.split(",")
        unknown = set(chosen) - {name for name, _, _ in SECTIONS}
        if unknown:
            parser.error(f"unknown sections {sorted(unknown)}")
        for name, title, work in SECTIONS:
            if name in chosen:
                lines, _ = run_section(name, title, work, args, when.date())
                sys.stdout.write("\n".join(lines) + "\n")
        return 0
    info = machine()
    specs = QUICK if args.quick else FULL
    data = {}
    for case, spec in specs.items():
        started = time.perf_counter()
        data[case], generated = ensure(spec)
        state = f"generated in {time.perf_counter() - started:.1f} s" if generated else "cached"
        say(f"{case} input: {data[case].root} ({state})")
    results = [run_case(case, data[case], args.repeats) for case in specs]
    say("timing the stages of the trades path")
    breakdown = run_breakdown(data["trades"].root)
    report = render(results, breakdown, info, when, args.repeats, args.quick)
    extra, reused = [], []
    for name, title, work in SECTIONS:
        lines, measured = run_section(name, title, work, args, when.date())
        extra += lines
        if measured:
            reused.append(f"{name} ({measured} UTC)")
    if reused:
        extra += ["Sections reused from earlier runs today (`run_all --resume`), with the "
                  f"time they were measured: {', '.join(reused)}.", ""]
    report = report.replace("\n## Machine\n", "\n" + "\n".join(extra) + "\n## Machine\n", 1)
    sys.stdout.write(report)
    if not args.quick:
        args.output.write_text(report)
        say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
