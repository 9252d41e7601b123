"""One split of the timeline, and purged, embargoed cross-validation inside it.

Time series never shuffle. The timeline is cut into train, validation and test periods in
that order, separated by a gap of ``purge_bars`` (at least the longest label horizon, so
no training label looks into the validation period) plus ``embargo_bars``. Inside the
training period, :class:`PurgedKFold` gives contiguous test folds and drops from training
every bar whose label window overlaps a test bar's, and the ``embargo_bars`` after each test
fold (serial correlation leaks through features too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys

PERIODS = ("train", "validation", "test")


@dataclass(frozen=True)
class TimeSplitParams:
    """``time_splits`` in conf: shares of the timeline and the gaps between periods."""

    train_fraction: float
    validation_fraction: float  # the test period is the rest
    purge_bars: int  # >= the longest label horizon (holding_bars)
    embargo_bars: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TimeSplitParams:
        spec = cls(**checked_keys(cls, params, "time_splits"))
        if not (0 < spec.train_fraction < 1 and 0 < spec.validation_fraction < 1
                and spec.train_fraction + spec.validation_fraction < 1):
            raise ValueError("time_splits: train_fraction and validation_fraction must be in (0, 1) "
                             "and leave a test period (their sum < 1)")
        if spec.purge_bars < 0 or spec.embargo_bars < 0:
            raise ValueError("time_splits.purge_bars and embargo_bars must be >= 0")
        return spec


def split_timeline(index: pd.DatetimeIndex, params: TimeSplitParams,
                   label_horizon_bars: int) -> pd.DataFrame:
    """First and last bar of each period, and its bar count.

    The gap between periods is ``max(purge_bars, label_horizon_bars) + embargo_bars``
    bars. Raises ValueError when a period would be empty.
    """
    n = len(index)
    gap = max(params.purge_bars, label_horizon_bars) + params.embargo_bars
    train_end = int(n * params.train_fraction)
    validation_start = train_end + gap
    validation_end = int(n * (params.train_fraction + params.validation_fraction))
    test_start = validation_end + gap
    bounds = {"train": (0, train_end), "validation": (validation_start, validation_end),
              "test": (test_start, n)}
    rows = []
    for period in PERIODS:
        start, end = bounds[period]
        if end - start < 1:
            raise ValueError(
                f"time_splits leave the {period} period empty ({n} bars, gap {gap} bars between "
                "periods): use more data or change the fractions, purge_bars or embargo_bars")
        rows.append({"period": period, "first_bar": index[start], "last_bar": index[end - 1],
                     "bars": end - start})
    return pd.DataFrame(rows).set_index("period")


def period_mask(index: pd.DatetimeIndex, splits: pd.DataFrame, period: str) -> np.ndarray:
    """Boolean mask of the bars of ``index`` inside ``period``."""
    first, last = splits.loc[period, "first_bar"], splits.loc[period, "last_bar"]
    return np.asarray((index >= first) & (index <= last))


@dataclass(frozen=True)
class TimeSplits:
    """This market's train / validation / test periods (the ``time_splits`` dataset, made
    once by the analyst's ``make_time_splits`` and read by every later node) and the
    embargo the cross-validation inside them keeps."""

    periods: pd.DataFrame  # split_timeline's table: first_bar, last_bar, bars per period
    embargo_bars: int

    @classmethod
    def from_params(cls, index: pd.DatetimeIndex, params: TimeSplitParams,
                    label_horizon_bars: int) -> TimeSplits:
        return cls(split_timeline(index, params, label_horizon_bars), int(params.embargo_bars))

    def mask(self, index: pd.DatetimeIndex, period: str) -> np.ndarray:
        """Boolean mask of the bars of ``index`` inside ``period``."""
        return period_mask(index, self.periods, period)

    def period_names(self, index: pd.DatetimeIndex) -> pd.Series:
        """The period of every bar of ``index`` ("" in the gaps between periods)."""
        names = np.full(len(index), "", dtype=object)
        for period in self.periods.index:
            names[self.mask(index, period)] = period
        return pd.Series(names, index=index)

    def record(self) -> dict[str, Any]:
        """JSON: per period its first and last bar (ISO 8601) and bar count; the embargo."""
        return {**{period: {"first_bar": row.first_bar.isoformat(),
                            "last_bar": row.last_bar.isoformat(), "bars": int(row.bars)}
                   for period, row in self.periods.iterrows()},
                "embargo_bars": self.embargo_bars}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TimeSplits:
        missing = [p for p in (*PERIODS, "embargo_bars") if p not in record]
        if missing:
            raise ValueError(f"time_splits dataset lacks {missing}; re-run "
                             "`kedro run --pipelines=analyst` to write it again")
        rows = [{"period": p, "first_bar": pd.Timestamp(record[p]["first_bar"]),
                 "last_bar": pd.Timestamp(record[p]["last_bar"]), "bars": int(record[p]["bars"])}
                for p in PERIODS]
        return cls(pd.DataFrame(rows).set_index("period"), int(record["embargo_bars"]))


class PurgedKFold:
    """K contiguous folds over time with purging and an embargo (scikit-learn splitter).

    Args:
        n_splits: number of folds (>= 2).
        label_end: for each sample (same order as X), the position (0-based row) of the last
            bar its label depends on; a sample's label window is [its row, label_end].
        embargo_bars: training samples starting within this many rows after the end of the
            test fold's label windows are dropped too.
    """

    def __init__(self, n_splits: int, label_end: np.ndarray, embargo_bars: int = 0):
        if n_splits < 2:
            raise ValueError("PurgedKFold needs n_splits >= 2")
        self.n_splits = n_splits
        self.label_end = np.asarray(label_end, dtype=np.int64)
        self.embargo_bars = embargo_bars

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803 (sklearn API)
        return self.n_splits

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        n = len(X)
        if n != self.label_end.size:
            raise ValueError(f"PurgedKFold: X has {n} rows, label_end {self.label_end.size}")
        start = np.arange(n)
        end = np.maximum(self.label_end, start)
        for test in np.array_split(start, self.n_splits):
            first = test[0]
            test_window_end = end[test].max()
            overlaps = (start <= test_window_end) & (end >= first)  # windows intersect
            embargoed = (start > test_window_end) & (start <= test_window_end + self.embargo_bars)
            train = np.flatnonzero(~overlaps & ~embargoed)
            yield train, test
