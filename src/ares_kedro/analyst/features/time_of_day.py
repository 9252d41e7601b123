"""Calendar features, cyclically encoded (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register


@register("hour_sin", "time", 0, [])
def hour_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi hour / 24) of the bar's open time."""
    return pd.Series(np.sin(2 * np.pi * bars.index.hour / 24), index=bars.index)


@register("hour_cos", "time", 0, [])
def hour_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi hour / 24) of the bar's open time."""
    return pd.Series(np.cos(2 * np.pi * bars.index.hour / 24), index=bars.index)


@register("weekday_sin", "time", 0, [])
def weekday_sin(bars: pd.DataFrame) -> pd.Series:
    """sin(2 pi weekday / 7), Monday = 0."""
    return pd.Series(np.sin(2 * np.pi * bars.index.day_of_week / 7), index=bars.index)


@register("weekday_cos", "time", 0, [])
def weekday_cos(bars: pd.DataFrame) -> pd.Series:
    """cos(2 pi weekday / 7), Monday = 0."""
    return pd.Series(np.cos(2 * np.pi * bars.index.day_of_week / 7), index=bars.index)
