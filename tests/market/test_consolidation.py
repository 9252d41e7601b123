"""Consolidation: resampling, gaps, order flow and futures data on bars, no lookahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.consolidation import (
    align_as_of,
    build_market_bars,
    find_gaps,
    resample_bars,
)

MINUTE = 60 * 10**9
HOUR = 60 * MINUTE
T0 = pd.Timestamp("2024-03-01", tz="UTC").value


def minute_bars(n: int, seed: int = 0, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    frame = pd.DataFrame({
        "open_time": T0 + np.arange(n) * MINUTE,
        "open": open_, "high": np.maximum(open_, close) * 1.0005,
        "low": np.minimum(open_, close) * 0.9995, "close": close,
        "volume": rng.uniform(1, 2, n), "quote_volume": rng.uniform(100, 200, n),
        "trade_count": rng.integers(1, 10, n), "taker_buy_volume": rng.uniform(0, 1, n),
        "taker_buy_quote_volume": rng.uniform(0, 100, n),
    })
    return frame.drop(index=list(drop)).reset_index(drop=True)


def test_resampling_minutes_to_hours_takes_first_open_last_close_extremes_and_sums():
    minutes = minute_bars(180)
    hours, partial = resample_bars(minutes, MINUTE, HOUR)
    assert len(hours) == 3 and partial == 0
    second = minutes.iloc[60:120]
    row = hours.iloc[1]
    assert row["open_time"] == T0 + HOUR
    assert row["open"] == second["open"].iloc[0] and row["close"] == second["close"].iloc[-1]
    assert row["high"] == second["high"].max() and row["low"] == second["low"].min()
    assert row["volume"] == pytest.approx(second["volume"].sum())
    assert row["trade_count"] == second["trade_count"].sum()


def test_hours_with_missing_minutes_are_counted_as_partial():
    _, partial = resample_bars(minute_bars(180, drop=(61, 62)), MINUTE, HOUR)
    assert partial == 1


def test_resampling_to_an_interval_that_is_not_a_multiple_is_refused():
    with pytest.raises(ValueError, match="multiple"):
        resample_bars(minute_bars(10), 3 * MINUTE, 5 * MINUTE)


def test_gaps_are_reported_with_their_first_and_last_missing_bar():
    times = T0 + np.array([0, 1, 2, 5, 6, 9]) * HOUR
    gaps = find_gaps(times, HOUR)
    assert [g.bars for g in gaps] == [2, 2]
    assert gaps[0].first_missing == pd.Timestamp(T0 + 3 * HOUR, tz="UTC")
    assert gaps[0].last_missing == pd.Timestamp(T0 + 4 * HOUR, tz="UTC")


def test_gaps_stay_gaps_unless_fill_gaps_is_on():
    hours, _ = resample_bars(minute_bars(300), MINUTE, HOUR)
    hours = hours.drop(index=[2]).reset_index(drop=True)
    bars, report = build_market_bars(hours, HOUR, HOUR, None, None, None, fill_missing_bars=False)
    assert len(bars) == 4 and report["gaps"]["missing_bars"] == 1
    assert not bars["is_filled"].any()
    filled, report = build_market_bars(hours, HOUR, HOUR, None, None, None, fill_missing_bars=True)
    assert len(filled) == 5 and report["gaps"]["filled_bars"] == 1
    invented = filled.iloc[2]
    assert invented["is_filled"] and invented["volume"] == 0
    assert invented["open"] == invented["close"] == filled.iloc[1]["close"]


def test_a_funding_rate_appears_on_the_bar_during_which_it_became_known():
    bars = T0 + np.arange(4) * HOUR  # 00:00 .. 03:00
    funding_time = np.array([T0 + HOUR + 17 * 10**6, T0 + 3 * HOUR])  # 01:00:00.017, 03:00:00.000
    values = align_as_of(bars, HOUR, funding_time, np.array([0.0001, 0.0002]))
    # the 00:00 bar closes at 01:00, before the first rate: unknown
    assert np.isnan(values[0])
    assert values[1] == 0.0001  # 01:00 bar closes 02:00, after 01:00:00.017
    assert values[2] == 0.0001  # 02:00 bar closes at 03:00:00.000 exactly: second rate not yet
    assert values[3] == 0.0002


def test_truncating_the_future_does_not_change_past_bars():
    minutes = minute_bars(24 * 60, seed=3)
    rng = np.random.default_rng(1)
    flow = pd.DataFrame(
        {"buy_volume": rng.uniform(0, 1, 24), "sell_volume": rng.uniform(0, 1, 24),
         "buy_quote_volume": 1.0, "sell_quote_volume": 1.0, "agg_trade_count": 5.0,
         "large_trade_count": 1.0, "large_buy_volume": 0.1, "large_sell_volume": 0.1},
        index=pd.Index(T0 + np.arange(24) * HOUR, name="bar_time"))
    funding = pd.DataFrame({"funding_time": T0 + np.array([0, 8, 16]) * HOUR + 5 * 10**6,
                            "funding_rate": [0.0001, -0.0002, 0.0003]})
    interest = pd.DataFrame({"metric_time": T0 + np.arange(0, 24 * 12) * 5 * MINUTE,
                             "open_interest": np.arange(24 * 12, dtype=float),
                             "open_interest_value": np.arange(24 * 12, dtype=float) * 10})
    full, _ = build_market_bars(minutes, MINUTE, HOUR, flow, funding, interest, False)
    cut = T0 + 10 * HOUR + 30 * MINUTE  # in the middle of the 10:00 bar
    past, _ = build_market_bars(
        minutes[minutes["open_time"] < cut], MINUTE, HOUR, flow[flow.index < cut],
        funding[funding["funding_time"] < cut], interest[interest["metric_time"] < cut], False)
    complete = past.index < pd.Timestamp(T0 + 10 * HOUR, tz="UTC")
    pd.testing.assert_frame_equal(full.loc[past.index[complete]], past.loc[complete])
