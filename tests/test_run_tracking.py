"""Run tracking helpers: the git commit a run records, and one timing line per node."""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

from ares_kedro.run_tracking import NodeTimings, git_commit
from tests.conftest import PROJECT_ROOT


def test_the_git_commit_is_the_checkout_head_or_unknown_outside_git(tmp_path):
    commit = git_commit(PROJECT_ROOT)
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit) or commit == "unknown"
    assert git_commit(tmp_path) == "unknown"


def test_every_node_gets_one_log_line_with_its_wall_time(caplog):
    timings, node = NodeTimings(), SimpleNamespace(name="train_governor")
    with caplog.at_level(logging.INFO, logger="ares_kedro.run_tracking"):
        timings.before_node_run(node)
        timings.after_node_run(node)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and re.fullmatch(r"Node train_governor took \d+\.\d s", lines[0])


def test_every_number_of_a_report_becomes_a_dotted_metric_and_nothing_else():
    from ares_kedro.run_tracking import numeric_leaves

    report = {"periods": {"test": {"sharpe": 1.5, "trades": 3, "acts": True, "note": "x",
                                   "nan": float("nan")}}, "bars": 10}
    assert numeric_leaves(report, "governor") == {"governor.periods.test.sharpe": 1.5,
                                                  "governor.periods.test.trades": 3.0,
                                                  "governor.bars": 10.0}
