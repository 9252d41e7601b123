"""The registry and the one function that computes features, in training and live.

A feature is a causal function of the bar table (value at bar t from bars up to t):
``function(bars) -> Series`` aligned with ``bars``. ``warmup`` says how much history it
needs before its value is meaningful, in bars (int) or in time (a ``pd.Timedelta``, for
features on higher timeframes, whose warm-up in bars depends on the bar interval); ``inputs`` lists the ``market_bars`` columns it reads,
so a feature whose inputs are missing (no trades, no funding on spot) is skipped with a log
line instead of failing. The registry-wide truncation test covers every entry.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.market.timeframes import bar_interval

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
                     skip_empty_inputs: bool = True, quiet: bool = False
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features of ``bars`` (all registered ones, or ``names``) and a report of what was
    skipped and how many NaN or inf values remain after each feature's warm-up.

    A feature is skipped when an input column is absent, or (``skip_empty_inputs``) entirely
    NaN: a data source the market does not have. Live prediction passes False: there an
    empty input in a short window (no support zone known yet) is a NaN value, not a
    missing source, and ``quiet`` logs the NaN counts at debug level only: on every
    decision they are the same by-design NaNs (no zone on a side) the training run
    reported."""
    wanted = list(REGISTRY) if names is None else list(names)
    unknown = sorted(set(wanted) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; registered: {sorted(REGISTRY)}")
    interval = bar_interval(bars.index) if len(bars) > 1 else pd.Timedelta(0)
    computed: list[str] = []
    skipped: dict[str, list[str]] = {}
    bad_after_warmup: dict[str, int] = {}
    present = set(bars.columns)
    empty = ({c for c in present if bars[c].isna().all()} if skip_empty_inputs else set())
    # one (features, bars) block, each feature written into its row as it is computed (no
    # second copy of the table), handed to pandas without a copy
    block = np.empty((len(wanted), len(bars)))
    with shared_computations():
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
            block[len(computed)] = values
            computed.append(name)
            bad = int((~np.isfinite(values[feature_warmup(feature, interval):])).sum())
            if bad:
                bad_after_warmup[name] = bad
    if skipped:
        logger.info("Skipped %d features whose inputs are missing: %s", len(skipped),
                    ", ".join(f"{n} ({', '.join(c)})" for n, c in skipped.items()))
    if bad_after_warmup:
        logger.log(logging.DEBUG if quiet else logging.WARNING, "NaN or inf after warm-up: %s",
                   bad_after_warmup)
    table = pd.DataFrame(block[:len(computed)].T, index=bars.index, columns=computed,
                         copy=False)
    return table, {"computed": computed, "skipped": skipped,
                   "nan_or_inf_after_warmup": bad_after_warmup}


_CALL_MEMO: contextvars.ContextVar[dict[tuple[str, int], tuple[Any, Any]] | None] = (
    contextvars.ContextVar("ares_feature_memo", default=None))


@contextmanager
def shared_computations() -> Iterator[None]:
    """A scope in which :func:`memoised` computations are made once per table and family
    (:func:`compute_features` opens one per call)."""
    token = _CALL_MEMO.set({})
    try:
        yield
    finally:
        _CALL_MEMO.reset(token)


def memoised(family: str, bars: pd.DataFrame, compute: Callable[[], Any]) -> Any:
    """``compute()`` on ``bars``, made once per :func:`shared_computations` scope (one per
    :func:`compute_features` call): what several features share (or the columns of one
    computation) costs one pass, not one each. Outside a scope (a feature function called
    alone) it just computes.
    The memo lives for the call only, holds the table it was computed on (so a table seen
    later in the call cannot take its place) and is never keyed on values; an array it
    returns is read-only."""
    memo = _CALL_MEMO.get()
    if memo is None:
        return compute()
    key = (family, id(bars))
    cached = memo.get(key)
    if cached is not None and cached[0] is bars:
        return cached[1]
    result = compute()
    if isinstance(result, np.ndarray):
        result.flags.writeable = False  # shared between features: a write would be a bug
    memo[key] = (bars, result)
    return result


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
