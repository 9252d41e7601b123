"""Analyst nodes: validate parameters, call ``ares_kedro.analyst``, return tables."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ares_kedro.analyst.features import compute_features
from ares_kedro.analyst.labels import BarrierParams, triple_barrier_labels
from ares_kedro.analyst.splits import TimeSplitParams, split_timeline


def make_time_splits(market_bars: pd.DataFrame, time_splits: dict[str, Any],
                     labels: dict[str, Any]) -> dict[str, Any]:
    """The train / validation / test periods of this market (``time_splits_report``)."""
    barriers = BarrierParams.from_params(labels)
    splits = split_timeline(market_bars.index, TimeSplitParams.from_params(time_splits),
                            int(barriers.holding_bars))
    return {period: {"first_bar": row.first_bar.isoformat(), "last_bar": row.last_bar.isoformat(),
                     "bars": int(row.bars)} for period, row in splits.iterrows()}


def label_bars(market_bars: pd.DataFrame, labels: dict[str, Any]) -> pd.DataFrame:
    """Triple-barrier ``analyst_labels`` for every bar."""
    return triple_barrier_labels(market_bars, BarrierParams.from_params(labels))


def build_features(market_bars: pd.DataFrame, features: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``analyst_features`` (every registered feature, or ``analyst.features.names``) and a
    report of skipped features and NaN left after warm-up."""
    return compute_features(market_bars, features.get("names"))
