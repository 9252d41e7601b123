"""Every benchmark module imports against the current code: `make bench` must not fail
on a name a refactor removed (benchmarks run rarely, so nothing else would notice)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py")
                    if p.stem != "__init__")


def test_there_are_benchmarks_to_import():
    assert {"governor", "proof", "run_all", "profile_trades"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_module_imports(name):
    importlib.import_module(f"benchmarks.{name}")
