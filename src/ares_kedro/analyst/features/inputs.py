"""Context columns that features read besides the bars themselves, in training and live.

Features are functions of one table. What they need from other tables (support/resistance
levels of the regimes pipeline, a reference market) is joined onto ``market_bars`` here,
causally, by :func:`feature_inputs`; the registry then skips a feature whose context column
is absent. The same function serves training and live prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SR_LEVEL_COLUMNS = ("level", "confirmed_at", "zone_half_width")


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


def nearest_zone_edges(bar_close_ns: np.ndarray, close: np.ndarray, sr_levels: pd.DataFrame
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest support and resistance prices at each bar's close (see :func:`feature_inputs`).

    ``bar_close_ns``: close time of each bar (UTC epoch ns, sorted); ``close``: close price.
    Vectorised per interval between two confirmations, not per bar.
    """
    support = np.full(close.size, np.nan)
    resistance = np.full(close.size, np.nan)
    sr_levels = sr_levels.dropna(subset=list(SR_LEVEL_COLUMNS))
    if sr_levels.empty:
        return support, resistance
    confirmed = pd.DatetimeIndex(sr_levels["confirmed_at"]).as_unit("ns").asi8
    order = np.argsort(confirmed, kind="stable")
    confirmed = confirmed[order]
    level = sr_levels["level"].to_numpy(float)[order]
    half_width = sr_levels["zone_half_width"].to_numpy(float)[order]
    lower_all, upper_all = level - half_width, level + half_width
    known_count = np.searchsorted(confirmed, bar_close_ns, side="right")
    change = np.flatnonzero(np.diff(known_count, prepend=-1))
    ends = np.append(change[1:], close.size)
    for start, end in zip(change, ends, strict=True):  # one pass per set of known levels
        k = known_count[start]
        if k == 0:
            continue
        price = close[start:end]
        # support: zones not entirely above the close (lower edge <= close); the highest upper
        # edge among them, capped at the close (0 distance inside a zone)
        by_lower = np.argsort(lower_all[:k], kind="stable")
        lower_sorted = lower_all[:k][by_lower]
        upper_running_max = np.maximum.accumulate(upper_all[:k][by_lower])
        below = np.searchsorted(lower_sorted, price, side="right")
        edge = upper_running_max[np.clip(below - 1, 0, None)]
        support[start:end] = np.where(below > 0, np.minimum(edge, price), np.nan)
        # resistance: zones not entirely below the close (upper edge >= close); the lowest
        # lower edge among them, floored at the close
        by_upper = np.argsort(upper_all[:k], kind="stable")
        upper_sorted = upper_all[:k][by_upper]
        lower_running_min = np.minimum.accumulate(lower_all[:k][by_upper][::-1])[::-1]
        above = np.searchsorted(upper_sorted, price, side="left")
        edge = lower_running_min[np.clip(above, None, k - 1)]
        resistance[start:end] = np.where(above < k, np.maximum(edge, price), np.nan)
    # a NaN close has no nearest zone
    missing = np.isnan(close)
    support[missing] = np.nan
    resistance[missing] = np.nan
    return support, resistance


def _reference_close(market_bars: pd.DataFrame, reference_bars: pd.DataFrame | pd.Series
                     ) -> pd.Series:
    close = reference_bars["close"] if isinstance(reference_bars, pd.DataFrame) else reference_bars
    if not isinstance(close.index, pd.DatetimeIndex):
        raise ValueError("reference_bars need a DatetimeIndex of bar open times, got "
                         f"{type(close.index).__name__}")
    if (close.index.tz is None) != (market_bars.index.tz is None):
        raise ValueError(f"reference_bars index time zone ({close.index.tz}) does not match "
                         f"market_bars ({market_bars.index.tz}); both must be UTC")
    if not close.index.is_unique:
        duplicated = close.index[close.index.duplicated()][0]
        raise ValueError(f"reference_bars has several bars opening at {duplicated}; "
                         "drop duplicate open times first")
    return close.astype(float).reindex(market_bars.index).rename("reference_close")


def feature_inputs(market_bars: pd.DataFrame, sr_levels: pd.DataFrame | None = None,
                   reference_bars: pd.DataFrame | pd.Series | None = None) -> pd.DataFrame:
    """A copy of ``market_bars`` with the context columns that features read.

    ``market_bars``: UTC ``DatetimeIndex`` of bar open times, sorted, unique, regular (the
    bar interval is inferred: see :func:`bar_interval`); a bar closes one interval after it
    opens. The input is not modified. Columns added:

    * with ``sr_levels`` (the regimes pipeline's table; columns ``level``, ``confirmed_at``,
      ``zone_half_width``, prices and UTC times): ``nearest_support`` and
      ``nearest_resistance``, prices. Only levels confirmed at or before the bar's close
      (``confirmed_at <= open + interval``) count, so a later confirmation never changes an
      earlier bar. A level's zone is ``level +/- zone_half_width``. ``nearest_support`` is the
      highest upper edge of a zone not entirely above the close (lower edge <= close),
      capped at the close; ``nearest_resistance`` the lowest lower edge of a zone not
      entirely below it (upper edge >= close), floored at the close. So both equal the close
      when it is inside a zone, and each is NaN when no such zone is known yet.

      Broken levels: a zone's ``kind`` is ignored on purpose. A level is a price where the
      market turned; once confirmed it acts as support while price is above it and as
      resistance while price is below it, whatever side it was found on (a broken support
      becomes resistance, and a reclaimed one support again). Levels do not expire: an old,
      far level is simply not the nearest one (the regimes' zone strength models ageing).
    * with ``reference_bars`` (a reference market's ``market_bars``, or its close as a
      Series, same UTC open times): ``reference_close``, its close at exactly the same open
      time; a bar the reference lacks is NaN (never filled from another bar).
    """
    table = market_bars.copy()
    if sr_levels is not None:
        missing = [c for c in SR_LEVEL_COLUMNS if c not in sr_levels.columns]
        if missing:
            raise ValueError(f"sr_levels lacks column(s) {missing}; it needs "
                             f"{list(SR_LEVEL_COLUMNS)} (the regimes pipeline's sr_levels table)")
        bar_close = table.index + bar_interval(table.index)
        support, resistance = nearest_zone_edges(bar_close.as_unit("ns").asi8,
                                                 table["close"].to_numpy(float), sr_levels)
        table["nearest_support"] = support
        table["nearest_resistance"] = resistance
    if reference_bars is not None:
        table["reference_close"] = _reference_close(table, reference_bars)
    return table
