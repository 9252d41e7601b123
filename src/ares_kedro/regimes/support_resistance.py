"""Support and resistance levels from swing pivots on a higher timeframe, causally.

A swing high on the higher timeframe (daily by default) is a bar whose high tops the
``pivot_left_bars`` bars before it and is not exceeded by the ``pivot_right_bars`` bars
after it; a swing low likewise. It is only *known* once those right-hand bars have
closed: its ``confirmed_at`` is the close of the last of them, and nothing before that
time may use it. A level's zone is +/- ``zone_atr_multiple`` higher-timeframe ATRs.

Strength of the zone around a price at time t: the sum over pivots confirmed by t whose
level lies inside the zone, each weighted by the volume traded on its pivot bar (relative
to the trailing median, capped) and by its age (half-life ``strength_half_life_days``).
So a level gains strength with touches and volume and fades with age.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from ares_kedro.market.timeframes import interval_us, to_timedelta
from ares_kedro.params import checked_keys
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.windows import rolling_max, rolling_median, rolling_min, shift

SUPPORT, RESISTANCE = "support", "resistance"
_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class SupportResistanceParams:
    """``regimes.support_resistance`` in conf."""

    timeframe: str  # higher timeframe of the pivots, e.g. "1d"
    pivot_left_bars: int
    pivot_right_bars: int
    atr_window: int  # higher-timeframe bars
    zone_atr_multiple: float  # zone half width, in higher-timeframe ATRs
    strength_half_life_days: float
    volume_window: int  # higher-timeframe bars for the median volume
    max_volume_ratio: float  # cap of a pivot's volume weight

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SupportResistanceParams:
        spec = cls(**checked_keys(cls, params, "regimes.support_resistance"))
        interval_us(spec.timeframe)  # raises on an unknown interval
        for name in ("pivot_left_bars", "pivot_right_bars", "atr_window", "volume_window"):
            if int(getattr(spec, name)) < 1:
                raise ValueError(f"regimes.support_resistance.{name} must be >= 1, got "
                                 f"{getattr(spec, name)}")
        for name in ("zone_atr_multiple", "strength_half_life_days", "max_volume_ratio"):
            if not getattr(spec, name) > 0:
                raise ValueError(f"regimes.support_resistance.{name} must be > 0, got "
                                 f"{getattr(spec, name)}")
        return spec


@numba.njit(cache=True, nogil=True)
def _period_bars(period_of_bar, open_, high, low, close, volume):  # pragma: no cover
    """OHLCV of each run of equal ``period_of_bar`` values (sorted): first and last non-NaN
    open and close, NaN-skipping high, low and volume sum (resample's aggregations)."""
    n = period_of_bar.size
    groups = 0
    for i in range(n):
        if i == 0 or period_of_bar[i] != period_of_bar[i - 1]:
            groups += 1
    period = np.empty(groups, np.int64)
    out = np.full((groups, 5), np.nan)
    g = -1
    for i in range(n):
        if i == 0 or period_of_bar[i] != period_of_bar[i - 1]:
            g += 1
            period[g] = period_of_bar[i]
            out[g, 4] = 0.0
        if np.isnan(out[g, 0]):
            out[g, 0] = open_[i]
        if not np.isnan(high[i]) and not high[i] <= out[g, 1]:
            out[g, 1] = high[i]
        if not np.isnan(low[i]) and not low[i] >= out[g, 2]:
            out[g, 2] = low[i]
        if not np.isnan(close[i]):
            out[g, 3] = close[i]
        if not np.isnan(volume[i]):
            out[g, 4] += volume[i]
    return period, out


@dataclass(frozen=True)
class HigherBars:
    """Complete higher-timeframe bars as arrays (the table's columns, times in UTC epoch ns)."""

    open_time: np.ndarray  # (n,) int64 ns
    known_at: np.ndarray  # (n,) int64 ns: the period's close, when its values are known
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_table(cls, htf: pd.DataFrame) -> HigherBars:
        """From a :func:`higher_timeframe_bars` table."""
        return cls(htf.index.as_unit("ns").asi8,
                   pd.DatetimeIndex(htf["known_at"]).as_unit("ns").asi8,
                   *(htf[c].to_numpy(dtype=np.float64)
                     for c in ("open", "high", "low", "close", "volume")))

    def table(self) -> pd.DataFrame:
        """As :func:`higher_timeframe_bars` returns it."""
        index = pd.DatetimeIndex(pd.to_datetime(self.open_time, unit="ns", utc=True))
        return pd.DataFrame({"open": self.open, "high": self.high, "low": self.low,
                             "close": self.close, "volume": self.volume,
                             "known_at": pd.to_datetime(self.known_at, unit="ns", utc=True)},
                            index=index)


def higher_bars(bars: pd.DataFrame, timeframe: str, bar_timeframe: str) -> HigherBars:
    """:func:`higher_timeframe_bars` as arrays."""
    period_ns = to_timedelta(timeframe).value
    opens = bars.index.as_unit("ns").asi8
    columns = [bars[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close",
                                                              "volume")]
    period, values = _period_bars(opens // period_ns, *columns)
    data_end = (opens[-1] if opens.size else 0) + to_timedelta(bar_timeframe).value
    start = period * period_ns
    keep = ~np.isnan(values[:, 3]) & (start + period_ns <= data_end)
    kept = values[keep]
    return HigherBars(start[keep], start[keep] + period_ns,
                      *(np.ascontiguousarray(kept[:, k]) for k in range(5)))


def higher_timeframe_bars(bars: pd.DataFrame, timeframe: str, bar_timeframe: str) -> pd.DataFrame:
    """Complete higher-timeframe OHLCV bars from ``bars`` (UTC-indexed by open time).

    Periods start at the epoch; a period is kept only if the data reaches its end, so the
    table of a truncated history is a prefix of the full one. Adds ``known_at``: the
    period's close time.
    """
    return higher_bars(bars, timeframe, bar_timeframe).table()


def _as_higher_bars(htf: pd.DataFrame | HigherBars) -> HigherBars:
    return htf if isinstance(htf, HigherBars) else HigherBars.from_table(htf)


def find_pivots(htf: pd.DataFrame | HigherBars, params: SupportResistanceParams
                ) -> pd.DataFrame:
    """Swing highs and lows with the time each becomes known.

    ``htf``: :func:`higher_timeframe_bars` (or its arrays, :func:`higher_bars`).
    Columns: pivot_time, kind, level, confirmed_at, zone_half_width (price), volume_ratio.
    """
    htf = _as_higher_bars(htf)
    left, right = params.pivot_left_bars, params.pivot_right_bars
    highs, lows, volume = htf.high, htf.low, htf.volume
    atr = average_true_range(highs, lows, htf.close, params.atr_window)
    median_volume = rolling_median(volume, params.volume_window, min_periods=1)
    known_at = htf.known_at
    # close of the last right-hand bar, and the ATR known then
    has_confirmation = np.arange(known_at.size) + right < known_at.size
    confirm_at = np.where(has_confirmation, np.roll(known_at, -right), 0)
    zone = shift(params.zone_atr_multiple * atr, -right)
    volume_ratio = np.minimum(volume / shift(median_volume, -right), params.max_volume_ratio)

    def following(values: np.ndarray, extreme) -> np.ndarray:  # over the right-hand bars
        return shift(extreme(values, right), -right)

    with np.errstate(invalid="ignore"):
        is_high = (highs > shift(rolling_max(highs, left), 1)) & (
            highs >= following(highs, rolling_max))
        is_low = (lows < shift(rolling_min(lows, left), 1)) & (
            lows <= following(lows, rolling_min))
    known = has_confirmation & ~np.isnan(zone)
    kind = np.array([RESISTANCE, SUPPORT], dtype=object)
    rows = [np.flatnonzero(is_high & known), np.flatnonzero(is_low & known)]
    row = np.concatenate(rows)
    which = np.repeat([0, 1], [rows[0].size, rows[1].size])
    level = np.concatenate([highs[rows[0]], lows[rows[1]]])
    order = np.lexsort((level, confirm_at[row]))  # stable: by confirmation, then level
    row, which, level = row[order], which[order], level[order]
    return pd.DataFrame({
        "pivot_time": pd.to_datetime(htf.open_time[row], unit="ns", utc=True), "kind": pd.array(kind[which], dtype="str"),
        "level": level,
        "confirmed_at": pd.to_datetime(confirm_at[row], unit="ns", utc=True),
        "zone_half_width": zone[row], "volume_ratio": volume_ratio[row],
    })


def _decay_rate_per_ns(params: SupportResistanceParams) -> float:
    return np.log(2) / (params.strength_half_life_days * _DAY_NS)


def sr_levels_table(pivots: pd.DataFrame, params: SupportResistanceParams) -> pd.DataFrame:
    """``sr_levels``: every level with its zone and its strength and touches when confirmed.

    ``touches`` counts pivots confirmed by then inside the level's zone (itself included);
    ``strength`` weighs them by volume and age as in :func:`zone_strength`.
    """
    if pivots.empty:
        return pivots.assign(touches=pd.Series(dtype=int), strength=pd.Series(dtype=float))
    level = pivots["level"].to_numpy()
    confirmed = pd.DatetimeIndex(pivots["confirmed_at"]).as_unit("ns").asi8
    width = pivots["zone_half_width"].to_numpy()
    # pairs (j, k): pivot k counts for level j when known by j's confirmation and in its zone
    known = confirmed[None, :] <= confirmed[:, None]
    inside = np.abs(level[None, :] - level[:, None]) <= width[:, None]
    age = (confirmed[:, None] - confirmed[None, :]).clip(min=0)
    weight = np.exp(-_decay_rate_per_ns(params) * age) * pivots["volume_ratio"].to_numpy()[None, :]
    counts = known & inside
    return pivots.assign(touches=counts.sum(axis=1), strength=(weight * counts).sum(axis=1))


def zone_strength(bar_close_ns: np.ndarray, price: np.ndarray, zone_half_width: np.ndarray,
                  pivots: pd.DataFrame, params: SupportResistanceParams) -> np.ndarray:
    """Strength of the support/resistance zone around ``price`` at each bar's close.

    Only pivots confirmed at or before the bar's close count. Vectorised per interval
    between two confirmations (tens to hundreds of them), not per bar.
    """
    out = np.zeros(bar_close_ns.size)
    if pivots.empty:
        return out
    confirmed = pd.DatetimeIndex(pivots["confirmed_at"]).as_unit("ns").asi8
    order = np.argsort(confirmed, kind="stable")
    confirmed, level = confirmed[order], pivots["level"].to_numpy()[order]
    volume = pivots["volume_ratio"].to_numpy()[order]
    rate = _decay_rate_per_ns(params)
    known_count = np.searchsorted(confirmed, bar_close_ns, side="right")
    change = np.flatnonzero(np.diff(known_count, prepend=-1))
    ends = np.append(change[1:], bar_close_ns.size)
    for start, end in zip(change, ends, strict=True):  # one pass per set of known pivots
        k = known_count[start]
        if k == 0:
            continue
        # weight of pivot i at time t: volume_i * exp(-rate (t - c_i)), split as
        # [volume_i * exp(-rate (t0 - c_i))] * exp(-rate (t - t0)), both factors <= 1 * volume
        t0 = bar_close_ns[start]
        weight = volume[:k] * np.exp(-rate * (t0 - confirmed[:k]).astype(float))
        by_price = np.argsort(level[:k], kind="stable")
        sorted_level = level[:k][by_price]
        cumulative = np.concatenate(([0.0], np.cumsum(weight[by_price])))
        lo = np.searchsorted(sorted_level, price[start:end] - zone_half_width[start:end], "left")
        hi = np.searchsorted(sorted_level, price[start:end] + zone_half_width[start:end], "right")
        decay = np.exp(-rate * (bar_close_ns[start:end] - t0).astype(float))
        out[start:end] = (cumulative[hi] - cumulative[lo]) * decay
    return out


def zone_width_at_bars(htf: pd.DataFrame | HigherBars, bar_close: pd.DatetimeIndex,
                       params: SupportResistanceParams) -> np.ndarray:
    """Zone half width (price) known at each bar's close: from the last complete
    higher-timeframe bar's ATR. NaN before the first one."""
    htf = _as_higher_bars(htf)
    atr = average_true_range(htf.high, htf.low, htf.close, params.atr_window)
    position = np.searchsorted(htf.known_at, bar_close.as_unit("ns").asi8, side="right") - 1
    values = params.zone_atr_multiple * atr
    if values.size == 0:
        return np.full(position.size, np.nan)
    return np.where(position >= 0, values[np.clip(position, 0, None)], np.nan)
