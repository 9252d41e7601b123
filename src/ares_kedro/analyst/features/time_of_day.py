"""Calendar features, cyclically encoded (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register

HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def _steps_since_epoch(index: pd.Index, hours: int) -> np.ndarray | None:
    """Whole ``hours``-hour steps from the epoch to each open time, from the index's integer
    times (pandas' calendar fields cost more than the features); None unless a UTC or naive
    ``DatetimeIndex`` without NaT."""
    if (not isinstance(index, pd.DatetimeIndex) or index.hasnans
            or (index.tz is not None and str(index.tz) != "UTC")):
        return None
    return index.asi8 // (np.timedelta64(hours, "h") // np.timedelta64(1, index.unit))


def _hour(index: pd.Index) -> np.ndarray:
    steps = _steps_since_epoch(index, 1)
    return np.asarray(index.hour) if steps is None else steps % HOURS_PER_DAY


def _weekday(index: pd.Index) -> np.ndarray:
    steps = _steps_since_epoch(index, HOURS_PER_DAY)
    return (np.asarray(index.day_of_week) if steps is None
            else (steps + EPOCH_WEEKDAY) % DAYS_PER_WEEK)


def _cycle(bars: pd.DataFrame, position: np.ndarray, period: int, wave) -> pd.Series:
    return pd.Series(wave(2 * np.pi * np.asarray(position) / period), index=bars.index)


@register("hour_sin", "time", 0, [])
def hour_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi hour / 24) of the bar's open time."""
    return _cycle(bars, _hour(bars.index), HOURS_PER_DAY, np.sin)


@register("hour_cos", "time", 0, [])
def hour_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi hour / 24) of the bar's open time."""
    return _cycle(bars, _hour(bars.index), HOURS_PER_DAY, np.cos)


@register("weekday_sin", "time", 0, [])
def weekday_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi weekday / 7), Monday = 0."""
    return _cycle(bars, _weekday(bars.index), DAYS_PER_WEEK, np.sin)


@register("weekday_cos", "time", 0, [])
def weekday_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi weekday / 7), Monday = 0."""
    return _cycle(bars, _weekday(bars.index), DAYS_PER_WEEK, np.cos)
