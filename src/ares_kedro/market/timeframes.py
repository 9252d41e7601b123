"""Bar intervals: Binance spellings, durations and pandas frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Binance Vision interval spellings and their length in microseconds.
_MINUTE_US = 60_000_000
INTERVAL_US: dict[str, int] = {
    "1s": 1_000_000,
    "1m": _MINUTE_US,
    "3m": 3 * _MINUTE_US,
    "5m": 5 * _MINUTE_US,
    "15m": 15 * _MINUTE_US,
    "30m": 30 * _MINUTE_US,
    "1h": 60 * _MINUTE_US,
    "2h": 120 * _MINUTE_US,
    "4h": 240 * _MINUTE_US,
    "6h": 360 * _MINUTE_US,
    "8h": 480 * _MINUTE_US,
    "12h": 720 * _MINUTE_US,
    "1d": 1440 * _MINUTE_US,
}

SUPPORTED_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


def interval_us(interval: str) -> int:
    """Length of a Binance interval (``"1h"``) in microseconds."""
    try:
        return INTERVAL_US[interval]
    except KeyError:
        raise ValueError(
            f"Unknown bar interval {interval!r}; use one of {', '.join(INTERVAL_US)}"
        ) from None


def to_timedelta(interval: str) -> pd.Timedelta:
    """Length of a Binance interval as a pandas Timedelta."""
    return pd.Timedelta(microseconds=interval_us(interval))


def bars_per_day(interval: str) -> float:
    """Number of bars of this interval in 24 hours."""
    return 86_400_000_000 / interval_us(interval)


YEAR = pd.Timedelta(days=365)  # the annualisation year (crypto trades every day)


def bar_interval(index: pd.Index) -> pd.Timedelta:
    """The bar interval of a bar table's index: its most common step.

    The index must be a sorted, unique ``DatetimeIndex`` whose every step is a whole
    multiple of that interval (missing bars are fine, a bar off the grid is not).
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"bars need a DatetimeIndex of bar open times, got {type(index).__name__}")
    if len(index) < 2:
        raise ValueError(f"cannot infer the bar interval from {len(index)} bar(s); "
                         "pass at least two bars")
    steps = np.diff(index.as_unit("ns").asi8)
    if steps[0] > 0 and (steps == steps[0]).all():  # the usual case, without sorting
        return pd.Timedelta(int(steps[0]), unit="ns")
    if (steps <= 0).any():
        position = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(f"bar index is not sorted and unique: {index[position + 1]} follows "
                         f"{index[position]} (sort the bars and drop duplicate open times)")
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    off_grid = steps % step != 0
    if off_grid.any():
        position = int(np.flatnonzero(off_grid)[0])
        raise ValueError(
            f"bar index is irregular: the bar at {index[position + 1]} is "
            f"{pd.Timedelta(int(steps[position]), unit='ns')} after the previous one, not a "
            f"multiple of the usual interval {pd.Timedelta(step, unit='ns')} (resample the bars "
            "to a regular interval first)")
    return pd.Timedelta(step, unit="ns")


def bars_per_year(interval: pd.Timedelta | pd.Index) -> float:
    """Bars in :data:`YEAR` at ``interval`` (or at a bar index's :func:`bar_interval`): the
    annualisation factor of every Sharpe ratio and volatility."""
    step = interval if isinstance(interval, pd.Timedelta) else bar_interval(interval)
    return YEAR / step
