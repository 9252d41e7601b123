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
import ta

from ares_kedro.analyst.features.inputs import bar_interval
from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.regimes.indicators import average_true_range

HIGHER_TIMEFRAMES: dict[str, pd.Timedelta] = {"4h": pd.Timedelta(hours=4),
                                               "1d": pd.Timedelta(days=1)}


def complete_higher_bars(bars: pd.DataFrame, period: pd.Timedelta,
                         base: pd.Timedelta | None = None) -> pd.DataFrame:
    """Complete higher-timeframe OHLC bars of ``period`` from ``bars`` (open times).

    Index: the period's open time; columns open, high, low, close and ``known_at`` (the
    period's close time, when its values become known). ``base`` is the bar interval
    (inferred from the index when not given).
    """
    base = bar_interval(bars.index) if base is None else base
    opens = bars.index.as_unit("ns").asi8
    period_ns = period.as_unit("ns").value
    bucket = opens // period_ns
    first = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))  # first bar of each period
    start = bucket[first] * period_ns
    end = start + period_ns
    covered = (start >= opens[0]) & (end <= opens[-1] + base.as_unit("ns").value)
    last = np.append(first[1:], opens.size) - 1
    columns = {}  # the OHLC columns present (NaN-skipping high and low)
    if "open" in bars:
        columns["open"] = bars["open"].to_numpy(float)[first]
    if "high" in bars:
        columns["high"] = np.fmax.reduceat(bars["high"].to_numpy(float), first)
    if "low" in bars:
        columns["low"] = np.fmin.reduceat(bars["low"].to_numpy(float), first)
    columns["close"] = bars["close"].to_numpy(float)[last]
    columns["known_at"] = pd.to_datetime(end, unit="ns", utc=True)
    table = pd.DataFrame(columns, index=pd.to_datetime(start, unit="ns", utc=True))
    return table.loc[covered]


def on_higher_timeframe(bars: pd.DataFrame, timeframe: str,
                        indicator: Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
    """``indicator`` of the complete ``timeframe`` bars, known at each base bar's close:
    the value of the last higher bar that closed at or before it (NaN before the first,
    and everywhere when ``timeframe`` is not higher than the bar interval)."""
    period, base = HIGHER_TIMEFRAMES[timeframe], bar_interval(bars.index)
    out = np.full(len(bars), np.nan)
    if period <= base:
        return pd.Series(out, index=bars.index)
    higher, position = _higher_bars_known_at_bars(bars, period, base)
    if not higher.empty:
        values = indicator(higher).to_numpy(float)
        out = np.where(position >= 0, values[np.clip(position, 0, None)], np.nan)
    return pd.Series(out, index=bars.index)


def _higher_bars_known_at_bars(bars: pd.DataFrame, period: pd.Timedelta, base: pd.Timedelta
                               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The complete higher bars of ``period`` and, per base bar, the position of the last
    one closed by its close (-1 before the first); built once per ``compute_features``
    call for every feature of that timeframe."""

    def build() -> tuple[pd.DataFrame, np.ndarray]:
        higher = complete_higher_bars(bars, period, base)
        known_at = pd.DatetimeIndex(higher["known_at"]).as_unit("ns").asi8
        bar_close = (bars.index + base).as_unit("ns").asi8
        return higher, np.searchsorted(known_at, bar_close, side="right") - 1

    return memoised(f"higher_bars_{period}", bars, build)


def _rsi_14(higher: pd.DataFrame) -> pd.Series:
    return ta.momentum.RSIIndicator(higher["close"], window=14).rsi()


def _atr_14_pct(higher: pd.DataFrame) -> pd.Series:
    return average_true_range(higher["high"], higher["low"], higher["close"], 14) / higher["close"]


def _ema_distance_20(higher: pd.DataFrame) -> pd.Series:
    ema = higher["close"].ewm(span=20, adjust=False, min_periods=20).mean()
    atr = average_true_range(higher["high"], higher["low"], higher["close"], 14)
    return (higher["close"] - ema) / atr


def _roc_6(higher: pd.DataFrame) -> pd.Series:
    return higher["close"] / higher["close"].shift(6) - 1


# name, indicator, higher bars up to its first value, inputs, definition
_INDICATORS = (
    ("rsi_14", _rsi_14, 14, ("close",), "Wilder's RSI over 14 bars, 0..100 (`ta`)"),
    ("atr_14_pct", _atr_14_pct, 14, ("high", "low", "close"),
     "ATR (14 bars) / close, fraction"),
    ("ema_distance_20", _ema_distance_20, 20, ("high", "low", "close"),
     "(close - EMA 20) in ATRs (14)"),
    ("roc_6", _roc_6, 7, ("close",), "Return over the last 6 bars, fraction"),
)


def _register(timeframe: str, name: str, indicator: Callable[[pd.DataFrame], pd.Series],
              higher_bars: int, inputs: tuple[str, ...], definition: str) -> None:
    def feature(bars: pd.DataFrame) -> pd.Series:
        return on_higher_timeframe(bars, timeframe, indicator)

    feature.__name__ = feature.__qualname__ = f"{name}_{timeframe}"
    feature.__doc__ = (f"{definition}, on complete {timeframe} bars (known from the bar "
                       f"closing with the {timeframe} bar; NaN unless bars are shorter).")
    # the first complete higher bar may start up to one higher period after the data does
    register(f"{name}_{timeframe}", "multi_timeframe",
             (higher_bars + 1) * HIGHER_TIMEFRAMES[timeframe], inputs)(feature)


for _timeframe in HIGHER_TIMEFRAMES:
    for _name, _indicator, _higher_bars, _inputs, _definition in _INDICATORS:
        _register(_timeframe, _name, _indicator, _higher_bars, _inputs, _definition)
