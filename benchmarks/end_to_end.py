"""End-to-end benchmark (issue #10, item 5): ``kedro run --env=blank`` and the full
``kedro run`` on the built-in default market, each in a fresh process in a temporary copy of
the project: wall time, peak memory and the slowest nodes.

Goal: the blank run under 3 minutes on 2 cores. The full run has no goal; it is reported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.analyst_run import kedro_run, say, temporary_project

BLANK_GOAL_S = 180.0
MIB = 1 << 20


def section(quick: bool) -> list[str]:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="ares_end_to_end_") as tmp:
        root = Path(tmp)
        project = temporary_project(root)
        quick_params = {"ingestion.synthetic.days": 60, "ingestion.lookback_days": 60,
                        "governor.final_optimisation.min_trades": 1}
        say("  end to end: kedro run --env=blank")
        runs["`kedro run --env=blank`"] = kedro_run(project, root / "blank" / "data",
                                                     ["--env=blank"],
                                                     quick_params if quick else {}, "blank")
        if not quick:
            say("  end to end: kedro run (conf/base, about a quarter of an hour)")
            runs["`kedro run`"] = kedro_run(project, root / "base" / "data", [], {}, "base")
    lines = ["## End to end", "",
             "Every pipeline but the on-demand walk-forward (ingestion, regimes, analyst, "
             "tactician, governor, validation) on the built-in default market, in a fresh "
             "process (`benchmarks/end_to_end.py`).", "",
             "| run | wall time | peak memory | goal | met | slowest nodes |",
             "| --- | ---: | ---: | --- | --- | --- |"]
    for name, run in runs.items():
        slowest = ", ".join(f"{n} {s:.0f} s" for n, s in sorted(
            run["nodes"].items(), key=lambda kv: -kv[1])[:3])
        blank = "blank" in name
        met = run["wall_s"] < BLANK_GOAL_S
        lines.append(f"| {name} | {run['wall_s'] / 60:.1f} min ({run['wall_s']:.0f} s) | "
                     f"{run['peak_rss_bytes'] / MIB:,.0f} MiB | "
                     f"{'< 3 min' if blank else '(none)'} | "
                     f"{('yes' if met else '**no**') if blank else ''} | {slowest} |")
    return lines + [""]


if __name__ == "__main__":
    import sys
    sys.stdout.write("\n".join(section("--quick" in sys.argv)) + "\n")
