"""Multi-timeframe features: key features on 4h and 1d bars, aligned causally.

The higher-timeframe bars are built from ``bars`` (UTC periods from the epoch, so days
start at 00:00 UTC). Only *complete* higher bars count, and completeness is a matter of
time, not of bar count: the data must cover the whole period (the first bar opens at or
before its start and the last bar closes at or after its end; missing bars inside are
tolerated). A higher bar's value becomes known at the base bar that closes when it closes
(with 1h bars, a day's value appears on the bar opening 23:00) and stays until the next one
closes. So a truncated history, whose last higher bar is incomplete, gives the same values.

The base interval is inferred from the index (:func:`~ares_kedro.analyst.features.inputs.
bar_interval`); a timeframe that is not higher than it gives NaN. The registry's warm-ups
are fixed bar counts: here they are stated in 1h bars (the default interval) for a series
that starts on a period boundary (Binance data starts at 00:00 UTC); on other intervals
the warm-up in time is the same, e.g. 14 days for ``rsi_14_1d``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import column, divide, wilder_rsi
from ares_kedro.market.timeframes import bar_interval
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.windows import ewm_mean, shift

HIGHER_TIMEFRAMES: dict[str, pd.Timedelta] = {"4h": pd.Timedelta(hours=4),
                                               "1d": pd.Timedelta(days=1)}


def _higher_columns(bars: pd.DataFrame, period: pd.Timedelta, base: pd.Timedelta
                    ) -> dict[str, np.ndarray]:
    """:func:`complete_higher_bars` as arrays: ``open_time`` and ``known_at`` (UTC epoch ns),
    and the OHLC columns present."""
    opens = bars.index.as_unit("ns").asi8
    period_ns = period.as_unit("ns").value
    bucket = opens // period_ns
    first = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))  # first bar of each period
    start = bucket[first] * period_ns
    end = start + period_ns
    covered = (start >= opens[0]) & (end <= opens[-1] + base.as_unit("ns").value)
    last = np.append(first[1:], opens.size) - 1
    columns = {"open_time": start}  # and the OHLC columns present (NaN-skipping high, low)
    if "open" in bars:
        columns["open"] = column(bars, "open")[first]
    if "high" in bars:
        columns["high"] = np.fmax.reduceat(column(bars, "high"), first)
    if "low" in bars:
        columns["low"] = np.fmin.reduceat(column(bars, "low"), first)
    columns["close"] = column(bars, "close")[last]
    columns["known_at"] = end
    return {name: values[covered] for name, values in columns.items()}


def complete_higher_bars(bars: pd.DataFrame, period: pd.Timedelta,
                         base: pd.Timedelta | None = None) -> pd.DataFrame:
    """Complete higher-timeframe OHLC bars of ``period`` from ``bars`` (open times).

    Index: the period's open time; columns open, high, low, close and ``known_at`` (the
    period's close time, when its values become known). ``base`` is the bar interval
    (inferred from the index when not given).
    """
    base = bar_interval(bars.index) if base is None else base
    return _as_table(_higher_columns(bars, period, base))


def _as_table(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Higher-bar arrays (:func:`_higher_columns`) as :func:`complete_higher_bars`' table."""
    table = {name: values for name, values in columns.items() if name != "open_time"}
    table["known_at"] = pd.to_datetime(columns["known_at"], unit="ns", utc=True)
    return pd.DataFrame(table, index=pd.to_datetime(columns["open_time"], unit="ns", utc=True))


def on_higher_timeframe(bars: pd.DataFrame, timeframe: str,
                        indicator: Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
    """``indicator`` of the complete ``timeframe`` bars, known at each base bar's close:
    the value of the last higher bar that closed at or before it (NaN before the first,
    and everywhere when ``timeframe`` is not higher than the bar interval)."""
    return pd.Series(_known_at_bars(bars, timeframe, lambda higher: indicator(_as_table(higher))),
                     index=bars.index)


def _known_at_bars(bars: pd.DataFrame, timeframe: str,
                   indicator: Callable[[dict[str, np.ndarray]], np.ndarray]) -> np.ndarray:
    """:func:`on_higher_timeframe` as an array, for an ``indicator`` of the higher bars'
    arrays (:func:`_higher_columns`) returning one value per higher bar."""
    period, base = HIGHER_TIMEFRAMES[timeframe], _bar_interval(bars)
    out = np.full(len(bars), np.nan)
    if period <= base:
        return out
    higher, position = _higher_bars_known_at_bars(bars, period, base)
    if higher["close"].size:
        values = np.asarray(indicator(higher), dtype=float)
        out = np.where(position >= 0, values[np.maximum(position, 0)], np.nan)
    return out


def _bar_interval(bars: pd.DataFrame) -> pd.Timedelta:
    """The bars' interval, inferred once per call."""
    return memoised("bar_interval_timedelta", bars, lambda: bar_interval(bars.index))


def _higher_bars_known_at_bars(bars: pd.DataFrame, period: pd.Timedelta, base: pd.Timedelta
                               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The complete higher bars of ``period`` (arrays: :func:`_higher_columns`) and, per base
    bar, the position of the last one closed by its close (-1 before the first); built once
    per ``compute_features`` call for every feature of that timeframe (do not modify them)."""

    def build() -> tuple[dict[str, np.ndarray], np.ndarray]:
        higher = _higher_columns(bars, period, base)
        bar_close = bars.index.as_unit("ns").asi8 + base.as_unit("ns").value
        return higher, np.searchsorted(higher["known_at"], bar_close, side="right") - 1

    return memoised(f"higher_bars_{period}", bars, build)


def _rsi_14(higher: dict[str, np.ndarray]) -> np.ndarray:
    return wilder_rsi(higher["close"], 14)


def _atr_14_pct(higher: dict[str, np.ndarray]) -> np.ndarray:
    return divide(average_true_range(higher["high"], higher["low"], higher["close"], 14),
                  higher["close"])


def _ema_distance_20(higher: dict[str, np.ndarray]) -> np.ndarray:
    ema = ewm_mean(higher["close"], span=20, min_periods=20)
    atr = average_true_range(higher["high"], higher["low"], higher["close"], 14)
    return divide(higher["close"] - ema, atr)


def _roc_6(higher: dict[str, np.ndarray]) -> np.ndarray:
    return divide(higher["close"], shift(higher["close"], 6)) - 1


# name, indicator, higher bars up to its first value, inputs, definition
_INDICATORS = (
    ("rsi_14", _rsi_14, 14, ("close",), "Wilder's RSI over 14 bars, 0..100 (`ta`)"),
    ("atr_14_pct", _atr_14_pct, 14, ("high", "low", "close"),
     "ATR (14 bars) / close, fraction"),
    ("ema_distance_20", _ema_distance_20, 20, ("high", "low", "close"),
     "(close - EMA 20) in ATRs (14)"),
    ("roc_6", _roc_6, 7, ("close",), "Return over the last 6 bars, fraction"),
)


def _register(timeframe: str, name: str,
              indicator: Callable[[dict[str, np.ndarray]], np.ndarray],
              higher_bars: int, inputs: tuple[str, ...], definition: str) -> None:
    def feature(bars: pd.DataFrame) -> pd.Series:
        return pd.Series(_known_at_bars(bars, timeframe, indicator), index=bars.index)

    feature.__name__ = feature.__qualname__ = f"{name}_{timeframe}"
    feature.__doc__ = (f"{definition}, on complete {timeframe} bars (known from the bar "
                       f"closing with the {timeframe} bar; NaN unless bars are shorter).")
    # the first complete higher bar may start up to one higher period after the data does
    register(f"{name}_{timeframe}", "multi_timeframe",
             (higher_bars + 1) * HIGHER_TIMEFRAMES[timeframe], inputs)(feature)


for _timeframe in HIGHER_TIMEFRAMES:
    for _name, _indicator, _higher_bars, _inputs, _definition in _INDICATORS:
        _register(_timeframe, _name, _indicator, _higher_bars, _inputs, _definition)
