"""The registry and the one function that computes features, in training and live.

A feature is a causal function of the bar table (value at bar t from bars up to t):
``function(bars) -> Series`` aligned with ``bars``. ``warmup_bars`` says how many bars it
needs before its value is meaningful; ``inputs`` lists the ``market_bars`` columns it reads,
so a feature whose inputs are missing (no trades, no funding on spot) is skipped with a log
line instead of failing. The registry-wide truncation test covers every entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feature:
    name: str
    category: str
    function: Callable[[pd.DataFrame], pd.Series]
    warmup_bars: int
    inputs: tuple[str, ...]
    description: str


REGISTRY: dict[str, Feature] = {}


def register(name: str, category: str, warmup_bars: int, inputs: Iterable[str]):
    """Decorator adding a feature function to the registry (its docstring describes it)."""

    def add(function: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.Series]:
        if name in REGISTRY:
            raise ValueError(f"feature {name!r} is registered twice")
        REGISTRY[name] = Feature(name, category, function, int(warmup_bars), tuple(inputs),
                                 (function.__doc__ or "").strip())
        return function

    return add


def compute_features(bars: pd.DataFrame, names: Iterable[str] | None = None
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features of ``bars`` (all registered ones, or ``names``) and a report of what was
    skipped and how many NaN or inf values remain after each feature's warm-up."""
    wanted = list(REGISTRY) if names is None else list(names)
    unknown = sorted(set(wanted) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; registered: {sorted(REGISTRY)}")
    columns: dict[str, pd.Series] = {}
    skipped: dict[str, list[str]] = {}
    bad_after_warmup: dict[str, int] = {}
    for name in wanted:
        feature = REGISTRY[name]
        missing = [c for c in feature.inputs if c not in bars or bars[c].isna().all()]
        if missing:
            skipped[name] = missing
            continue
        values = feature.function(bars).astype(float)
        columns[name] = values
        tail = values.iloc[feature.warmup_bars:].to_numpy()
        bad = int((~np.isfinite(tail)).sum())
        if bad:
            bad_after_warmup[name] = bad
    if skipped:
        logger.info("Skipped %d features whose inputs are missing: %s", len(skipped),
                    ", ".join(f"{n} ({', '.join(c)})" for n, c in skipped.items()))
    if bad_after_warmup:
        logger.warning("NaN or inf after warm-up: %s", bad_after_warmup)
    table = pd.DataFrame(columns, index=bars.index)
    return table, {"computed": list(columns), "skipped": skipped,
                   "nan_or_inf_after_warmup": bad_after_warmup}


def features_markdown() -> str:
    """docs/features.md, generated from the registry (``python -m ares_kedro.analyst.features``)."""
    lines = ["# Features", "",
             "Generated from the registry by `python -m ares_kedro.analyst.features > "
             "docs/features.md`; a test fails when this file and the registry disagree.", "",
             "Every feature is causal: its value at bar t uses bars up to t only "
             "(`tests/analyst/test_features.py` cuts the series at several points for every "
             "entry). Warm-up is in bars; inputs are `market_bars` columns (a feature whose "
             "inputs are missing is skipped with a log line).", "",
             "| feature | category | warm-up | inputs | definition |",
             "| --- | --- | ---: | --- | --- |"]
    for feature in sorted(REGISTRY.values(), key=lambda f: (f.category, f.name)):
        inputs = ", ".join(feature.inputs) or "bar time"
        lines.append(f"| `{feature.name}` | {feature.category} | {feature.warmup_bars} | "
                     f"{inputs} | {feature.description} |")
    return "\n".join(lines) + "\n"
