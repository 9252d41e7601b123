"""Bar intervals: Binance spellings, durations and pandas frequencies."""

from __future__ import annotations

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
