"""Scale-out: walk-forward folds serial against a two-worker LocalCluster, and a universe.

``python -m benchmarks.scale`` (``run_all --sections scale``) runs, each in a fresh project
copy on the blank conf: the walk-forward of ``FOLDS`` folds with one Dask worker (serial)
and with two (a LocalCluster of two worker processes, one fold each), and the universe of
conf/base (three markets) with two workers. It prints one Markdown section: the wall time
of each, the speed-up of two workers over one in the same run, and the universe's table.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.analyst_run import kedro_run, say, temporary_project

FOLDS = 4
QUICK = {"ingestion.synthetic.days": 90, "ingestion.lookback_days": 90,
         "governor.final_optimisation.min_trades": 1}


def _walk_forward(workers: int, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"ares_scale_wf{workers}_") as tmp:
        root = Path(tmp)
        project, data_root = temporary_project(root), root / "data"
        params = {**(QUICK if quick else {}), "validation.walk_forward.folds": FOLDS,
                  "validation.walk_forward.workers": workers}
        kedro_run(project, data_root, ["--env=blank", "--pipelines=ingestion"], params,
                  "ingestion")
        run = kedro_run(project, data_root, ["--env=blank", "--pipelines=walk_forward"],
                        params, f"walk_forward_{workers}")
        summary = json.loads(next(data_root.glob(
            "08_reporting/*/validation/walk_forward_summary.json")).read_text())
    say(f"  walk-forward, {workers} worker(s): {run['wall_s']:.0f} s")
    return {"wall_s": run["wall_s"], "engine": summary["engine"],
            "governor_sharpe": summary["summary"]["governor_sharpe"]}


def _universe(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ares_scale_universe_") as tmp:
        root = Path(tmp)
        project, data_root = temporary_project(root), root / "data"
        params: dict[str, Any] = {"universe.workers": 2}
        if quick:  # the markets' ingestion comes from params:ingestion, the rest from run_params
            params.update({"ingestion.synthetic.days": 90, "ingestion.lookback_days": 90,
                           "universe.run_params.governor.final_optimisation.min_trades": 1})
        run = kedro_run(project, data_root, ["--env=blank", "--pipelines=universe"], params,
                        "universe")
        report = (data_root / "08_reporting" / "universe" / "universe_report.md").read_text()
    say(f"  universe: {run['wall_s']:.0f} s")
    return {"wall_s": run["wall_s"], "report": report}


def section(quick: bool) -> list[str]:
    serial, parallel = _walk_forward(1, quick), _walk_forward(2, quick)
    universe = _universe(quick)
    table = universe["report"].split("\n\n")[2]  # the report's table
    return [
        "## Scale-out: walk-forward folds and a universe on Dask", "",
        f"`python -m benchmarks.scale`: the walk-forward of {FOLDS} folds on the blank conf "
        "(each fold a full `kedro run` in its own process), with one Dask worker and with a "
        "two-worker LocalCluster, one after the other on the same machine; then the "
        "universe of conf/base's three markets with two workers. Wall time of the whole "
        "`kedro run --pipelines=...`, ingestion excluded for the walk-forward.", "",
        "| run | workers | wall |", "|---|---:|---:|",
        f"| walk-forward, {FOLDS} folds | 1 | {serial['wall_s']:.0f} s |",
        f"| walk-forward, {FOLDS} folds | 2 | {parallel['wall_s']:.0f} s |",
        f"| universe, 3 markets | 2 | {universe['wall_s']:.0f} s |", "",
        f"Two workers against one: **{serial['wall_s'] / parallel['wall_s']:.2f}x** faster "
        f"(ideal 2x on two cores; folds differ in length and the scheduling process shares "
        f"the cores). The governor's mean test Sharpe over the folds: "
        f"{serial['governor_sharpe']['mean']:.2f} (one worker) and "
        f"{parallel['governor_sharpe']['mean']:.2f} (two): the same folds, the same models.",
        "", "The universe's table:", "", table, ""]


if __name__ == "__main__":
    sys.stdout.write("\n".join(section("--quick" in sys.argv)) + "\n")
