"""The registry and the one function that computes features, in training and live.

A feature is a causal function of the bar table (value at bar t from bars up to t):
``function(bars) -> Series`` aligned with ``bars``. ``warmup`` says how much history it
needs before its value is meaningful, in bars (int) or in time (a ``pd.Timedelta``, for
features on higher timeframes, whose warm-up in bars depends on the bar interval); ``inputs`` lists the ``market_bars`` columns it reads,
so a feature whose inputs are missing (no trades, no funding on spot) is skipped with a log
line instead of failing. The registry-wide truncation test covers every entry.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.inputs import bar_interval

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feature:
    name: str
    category: str
    function: Callable[[pd.DataFrame], pd.Series]
    warmup: int | pd.Timedelta  # bars, or time
    inputs: tuple[str, ...]
    description: str

    def warmup_bars(self, interval: pd.Timedelta) -> int:
        """Warm-up in bars of ``interval``."""
        if isinstance(self.warmup, pd.Timedelta):
            return int(np.ceil(self.warmup / interval))
        return self.warmup

    @property
    def warmup_text(self) -> str:
        if isinstance(self.warmup, pd.Timedelta):
            days = self.warmup / pd.Timedelta(days=1)
            return f"{days:g} days" if days >= 1 else str(self.warmup)
        return str(self.warmup)


REGISTRY: dict[str, Feature] = {}


def register(name: str, category: str, warmup: int | pd.Timedelta, inputs: Iterable[str]):
    """Decorator adding a feature function to the registry (its docstring describes it);
    ``warmup`` in bars (int) or in time (``pd.Timedelta``)."""

    def add(function: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.Series]:
        if name in REGISTRY:
            raise ValueError(f"feature {name!r} is registered twice")
        if not isinstance(warmup, pd.Timedelta):
            warmup_value: int | pd.Timedelta = int(warmup)
        else:
            warmup_value = warmup
        REGISTRY[name] = Feature(name, category, function, warmup_value, tuple(inputs),
                                 " ".join((function.__doc__ or "").split()))
        return function

    return add


def compute_features(bars: pd.DataFrame, names: Iterable[str] | None = None,
                     skip_empty_inputs: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features of ``bars`` (all registered ones, or ``names``) and a report of what was
    skipped and how many NaN or inf values remain after each feature's warm-up.

    A feature is skipped when an input column is absent, or (``skip_empty_inputs``) entirely
    NaN: a data source the market does not have. Live prediction passes False: there an
    empty input in a short window (no support zone known yet) is a NaN value, not a
    missing source."""
    wanted = list(REGISTRY) if names is None else list(names)
    unknown = sorted(set(wanted) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; registered: {sorted(REGISTRY)}")
    interval = bar_interval(bars.index) if len(bars) > 1 else pd.Timedelta(0)
    columns: dict[str, np.ndarray] = {}
    skipped: dict[str, list[str]] = {}
    bad_after_warmup: dict[str, int] = {}
    present = set(bars.columns)
    empty = ({c for c in present if bars[c].isna().all()} if skip_empty_inputs else set())
    for name in wanted:
        feature = REGISTRY[name]
        missing = [c for c in feature.inputs if c not in present or c in empty]
        if missing:
            skipped[name] = missing
            continue
        values = np.asarray(feature.function(bars), dtype=float)
        if values.shape != (len(bars),):
            raise ValueError(f"feature {name} returned shape {values.shape} for "
                             f"{len(bars)} bars: a feature gives one value per bar")
        columns[name] = values
        bad = int((~np.isfinite(values[feature_warmup(feature, interval):])).sum())
        if bad:
            bad_after_warmup[name] = bad
    if skipped:
        logger.info("Skipped %d features whose inputs are missing: %s", len(skipped),
                    ", ".join(f"{n} ({', '.join(c)})" for n, c in skipped.items()))
    if bad_after_warmup:
        logger.warning("NaN or inf after warm-up: %s", bad_after_warmup)
    table = pd.DataFrame(np.column_stack(list(columns.values())) if columns
                         else np.empty((len(bars), 0)), index=bars.index,
                         columns=list(columns))
    return table, {"computed": list(columns), "skipped": skipped,
                   "nan_or_inf_after_warmup": bad_after_warmup}


_MEMO: dict[str, tuple[bytes, Any]] = {}


def memoised(family: str, bars: pd.DataFrame, columns: Iterable[str],
             compute: Callable[[], Any]) -> Any:
    """``compute()``, reused while ``bars``' index and ``columns`` hold the same values:
    what several features share (or the columns of one computation) costs one pass, not
    one each. One entry per family keeps memory bounded; callers must not modify what it
    returns."""
    index = bars.index
    if isinstance(index, pd.DatetimeIndex):
        index_values = index.as_unit("ns").asi8
    elif pd.api.types.is_numeric_dtype(index.dtype):
        index_values = np.asarray(index, dtype=float)
    else:
        index_values = pd.util.hash_pandas_object(index, index=False).to_numpy()
    digest = hashlib.blake2b(digest_size=20)
    for values in (index_values, *(bars[c].to_numpy(dtype=float) for c in columns)):
        values = np.ascontiguousarray(values)
        digest.update(str(values.shape).encode())
        digest.update(memoryview(values).cast("B"))
    key = digest.digest()
    cached = _MEMO.get(family)
    if cached is not None and cached[0] == key:
        return cached[1]
    result = compute()
    _MEMO[family] = (key, result)
    return result


def forget_memoised() -> None:
    """Drop every memoised computation (a timed run then pays for them as a first run on
    new bars would)."""
    _MEMO.clear()


def feature_warmup(feature: Feature, interval: pd.Timedelta) -> int:
    """Warm-up of ``feature`` in bars of ``interval`` (0 bars when it cannot be known)."""
    if isinstance(feature.warmup, pd.Timedelta) and interval <= pd.Timedelta(0):
        return 0
    return feature.warmup_bars(interval)


def warmup_bars(names: Iterable[str], interval: pd.Timedelta) -> int:
    """The longest warm-up, in bars of ``interval``, among registered ``names``."""
    return max((feature_warmup(REGISTRY[n], interval) for n in names if n in REGISTRY),
               default=0)


def features_markdown() -> str:
    """docs/features.md, generated from the registry (``python -m ares_kedro.analyst.features``)."""
    lines = ["# Features", "",
             "Generated from the registry by `python -m ares_kedro.analyst.features > "
             "docs/features.md`; a test fails when this file and the registry disagree.", "",
             "Every feature is causal: its value at bar t uses bars up to t only "
             "(`tests/analyst/test_features.py` cuts the series at several points for every "
             "entry). Warm-up is in bars, or in days for higher-timeframe features; inputs are `market_bars` columns (a feature whose "
             "inputs are missing is skipped with a log line).", "",
             "| feature | category | warm-up | inputs | definition |",
             "| --- | --- | ---: | --- | --- |"]
    for feature in sorted(REGISTRY.values(), key=lambda f: (f.category, f.name)):
        inputs = ", ".join(feature.inputs) or "bar time"
        lines.append(f"| `{feature.name}` | {feature.category} | {feature.warmup_text} | "
                     f"{inputs} | {feature.description} |")
    return "\n".join(lines) + "\n"
