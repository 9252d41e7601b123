"""Ingestion benchmark cases, each run alone in a fresh process.

``python -m benchmarks.ingestion CASE ROOT`` runs one case on the Vision folder ROOT and
writes one JSON line: wall time of the call (``time.perf_counter``) and the process's
peak resident memory (``ru_maxrss``) before and after it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from ares_kedro.market.archives import inventory_archives
from ares_kedro.market.cache import ParsedFileCache
from ares_kedro.market.quality import QualityLog, RepairPolicy
from ares_kedro.market.trade_flow import LargeTradeRule
from ares_kedro.market.vision_ingest import read_klines, read_trade_flow

SYMBOL = "BTCUSDT"
BAR_NS = 60 * 10**9
RULE = LargeTradeRule(quantile=0.99, lookback_days=7, min_history_trades=1000)
REPO = Path(__file__).resolve().parents[1]


def run_klines(root: Path) -> dict[str, int]:
    """Every 1m kline of the folder, checksums verified, no parse cache."""
    frame = read_klines(
        inventory_archives(root, SYMBOL),
        "1m",
        RepairPolicy(),
        QualityLog(),
        ParsedFileCache(None),
        verify_checksums=True,
    )
    return {"rows": len(frame), "bars": len(frame)}


def run_trades(root: Path) -> dict[str, int]:
    """Per-minute order flow of every aggTrades file, checksums verified, no parse cache."""
    log = QualityLog()
    flow = read_trade_flow(
        inventory_archives(root, SYMBOL),
        BAR_NS,
        RULE,
        log,
        ParsedFileCache(None),
        verify_checksums=True,
    )
    return {"rows": int(log.rows_read["agg_trades"]), "bars": len(flow)}


CASES = {"klines": run_klines, "trades": run_trades}


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(case: str, root: Path) -> dict[str, float | int | str]:
    """Run one case in this process and return its figures."""
    baseline = peak_rss_bytes()
    started = time.perf_counter()
    counts = CASES[case](root)
    wall = time.perf_counter() - started
    return {
        "case": case,
        "wall_s": wall,
        "peak_rss_bytes": peak_rss_bytes(),
        "baseline_rss_bytes": baseline,
        "vm_hwm_bytes": vm_hwm_bytes(),
        **counts,
    }


def vm_hwm_bytes() -> int:
    """Peak resident memory of this process image (``VmHWM``, reset by exec), a cross-check."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def run_module_in_child(module: str, *args: str) -> dict[str, float | int | str]:
    """Run ``python -m <module> <args>`` in a fresh interpreter and parse its last JSON line.

    Linux carries the parent's resident size into a child's ``ru_maxrss`` across fork and
    exec, so the child is started from a small ``sh`` that forks it: its peak is its own.
    """
    script = '"$0" -m "$1" "${@:2}"; exit $?'
    done = subprocess.run(
        ["/bin/bash", "-c", script, sys.executable, module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {module} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_in_child(case: str, root: Path) -> dict[str, float | int | str]:
    """Run one ingestion case in a fresh interpreter, so that its peak memory is its own."""
    return run_module_in_child("benchmarks.ingestion", case, str(root))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in CASES:
        sys.stderr.write(f"usage: python -m benchmarks.ingestion {{{','.join(CASES)}}} ROOT\n")
        return 2
    sys.stdout.write(json.dumps(measure(argv[0], Path(argv[1]))) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
