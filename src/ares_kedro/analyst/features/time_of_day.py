"""Calendar features, cyclically encoded (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register


def _cycle(bars: pd.DataFrame, position: np.ndarray, period: int, wave) -> pd.Series:
    return pd.Series(wave(2 * np.pi * np.asarray(position) / period), index=bars.index)


@register("hour_sin", "time", 0, [])
def hour_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi hour / 24) of the bar's open time."""
    return _cycle(bars, bars.index.hour, 24, np.sin)


@register("hour_cos", "time", 0, [])
def hour_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi hour / 24) of the bar's open time."""
    return _cycle(bars, bars.index.hour, 24, np.cos)


@register("weekday_sin", "time", 0, [])
def weekday_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi weekday / 7), Monday = 0."""
    return _cycle(bars, bars.index.day_of_week, 7, np.sin)


@register("weekday_cos", "time", 0, [])
def weekday_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi weekday / 7), Monday = 0."""
    return _cycle(bars, bars.index.day_of_week, 7, np.cos)
