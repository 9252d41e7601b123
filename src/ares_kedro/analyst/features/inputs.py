"""Context columns that features read besides the bars themselves, in training and live.

Features are functions of one table. What they need from other tables (support/resistance
levels of the regimes pipeline, a reference market) is joined onto ``market_bars`` here,
causally, by :func:`feature_inputs`; the registry then skips a feature whose context column
is absent. The same function serves training and live prediction.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from ares_kedro.market.timeframes import bar_interval

SR_LEVEL_COLUMNS = ("level", "confirmed_at", "zone_half_width")


NOT_A_TIME = np.iinfo(np.int64).min  # NaT as an integer time


def _times_ns(column: pd.Series) -> np.ndarray:
    """UTC epoch nanoseconds of a column of times (NaT as NOT_A_TIME)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):  # datetimes: no parsing needed
        return column.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return pd.DatetimeIndex(column).as_unit("ns").asi8


def _floats(column: pd.Series) -> np.ndarray:
    if column.dtype == np.float64:
        return column.to_numpy()
    return column.to_numpy(dtype=float, na_value=np.nan)


def _known_levels(sr_levels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confirmation times (epoch ns), lower and upper zone edges of the levels whose
    ``SR_LEVEL_COLUMNS`` are all known, in order of confirmation."""
    level, confirmed_at, half_width = (sr_levels[c] for c in SR_LEVEL_COLUMNS)
    level, half_width, confirmed = _floats(level), _floats(half_width), _times_ns(confirmed_at)
    known = ~(np.isnan(level) | np.isnan(half_width) | (confirmed == NOT_A_TIME))
    confirmed, level, half_width = confirmed[known], level[known], half_width[known]
    order = np.argsort(confirmed, kind="stable")
    level, half_width = level[order], half_width[order]
    return confirmed[order], level - half_width, level + half_width


@numba.njit(cache=True, nogil=True)
def _nearest_edges(known_count, close, lower, upper):  # pragma: no cover (compiled)
    """Support and resistance of each bar (see :func:`nearest_zone_edges`) from the zones
    ``lower[:known_count[t]]`` .. ``upper[:known_count[t]]`` known at bar t: the zones are
    sorted once per set of known zones, each bar is two binary searches."""
    n = close.size
    support = np.full(n, np.nan)
    resistance = np.full(n, np.nan)
    start = 0
    while start < n:
        k = known_count[start]
        end = start
        while end < n and known_count[end] == k:
            end += 1
        if k > 0:
            # support: zones not entirely above the close (lower edge <= close); the highest
            # upper edge among them, capped at the close (0 distance inside a zone)
            by_lower = np.argsort(lower[:k], kind="mergesort")
            lower_sorted = lower[:k][by_lower]
            upper_running_max = upper[:k][by_lower]
            for i in range(1, k):
                upper_running_max[i] = max(upper_running_max[i], upper_running_max[i - 1])
            # resistance: zones not entirely below the close (upper edge >= close); the
            # lowest lower edge among them, floored at the close
            by_upper = np.argsort(upper[:k], kind="mergesort")
            upper_sorted = upper[:k][by_upper]
            lower_running_min = lower[:k][by_upper]
            for i in range(k - 2, -1, -1):
                lower_running_min[i] = min(lower_running_min[i], lower_running_min[i + 1])
            for t in range(start, end):
                price = close[t]
                if np.isnan(price):  # a NaN close has no nearest zone
                    continue
                below = np.searchsorted(lower_sorted, price, side="right")
                if below > 0:
                    support[t] = min(upper_running_max[below - 1], price)
                above = np.searchsorted(upper_sorted, price, side="left")
                if above < k:
                    resistance[t] = max(lower_running_min[above], price)
        start = end
    return support, resistance


def nearest_zone_edges(bar_close_ns: np.ndarray, close: np.ndarray, sr_levels: pd.DataFrame
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest support and resistance prices at each bar's close (see :func:`feature_inputs`).

    ``bar_close_ns``: close time of each bar (UTC epoch ns, sorted); ``close``: close price.
    Compiled, one sort of the zones per interval between two confirmations, not per bar.
    """
    confirmed, lower, upper = _known_levels(sr_levels)
    known_count = np.searchsorted(confirmed, np.asarray(bar_close_ns), side="right")
    return _nearest_edges(known_count, np.ascontiguousarray(close, dtype=np.float64),
                          lower, upper)


def _reference_close(market_bars: pd.DataFrame, reference_bars: pd.DataFrame | pd.Series
                     ) -> np.ndarray:
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
    values = _floats(close)
    if close.index.equals(market_bars.index):  # the same open times: nothing to align
        return values
    if len(close) and close.index.is_monotonic_increasing:  # the usual case, without hashing
        reference_ns = close.index.as_unit("ns").asi8
        bar_ns = market_bars.index.as_unit("ns").asi8
        position = np.minimum(np.searchsorted(reference_ns, bar_ns), len(close) - 1)
        return np.where(reference_ns[position] == bar_ns, values[position], np.nan)
    return close.astype(float).reindex(market_bars.index).to_numpy()


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
    context: dict[str, np.ndarray] = {}
    if sr_levels is not None:
        missing = [c for c in SR_LEVEL_COLUMNS if c not in sr_levels.columns]
        if missing:
            raise ValueError(f"sr_levels lacks column(s) {missing}; it needs "
                             f"{list(SR_LEVEL_COLUMNS)} (the regimes pipeline's sr_levels table)")
        bar_close_ns = (market_bars.index.as_unit("ns").asi8
                        + bar_interval(market_bars.index).value)
        support, resistance = nearest_zone_edges(
            bar_close_ns, market_bars["close"].to_numpy(dtype=float), sr_levels)
        context["nearest_support"] = support
        context["nearest_resistance"] = resistance
    if reference_bars is not None:
        context["reference_close"] = _reference_close(market_bars, reference_bars)
    if not context or any(name in market_bars.columns for name in context):
        table = market_bars.copy()  # (context columns already there are replaced)
        for name, values in context.items():
            table[name] = values
        return table
    # one concatenation (adding columns one by one costs pandas far more on short tables)
    columns = pd.Index(list(context), dtype=market_bars.columns.dtype,
                       name=market_bars.columns.name)
    added = pd.DataFrame(np.column_stack(list(context.values())), index=market_bars.index,
                         columns=columns)
    return pd.concat([market_bars, added], axis=1)
