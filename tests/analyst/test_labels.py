"""Triple-barrier labels: correct barriers, stop first on ties, causal, fast and unique-weighted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.labels import (
    BarrierParams,
    barrier_record,
    triple_barrier_labels,
    uniqueness,
)

PARAMS = BarrierParams(take_profit=0.02, stop_loss=0.01, holding_bars=4, round_trip_fee=0.001)


def bars(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """Bars from (high, low, close); open is the previous close."""
    high, low, close = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    index = pd.date_range("2024-01-01", periods=len(rows), freq="h", tz="UTC")
    return pd.DataFrame({"open": np.concatenate(([close[0]], close[:-1])), "high": high,
                         "low": low, "close": close}, index=index)


def test_long_when_the_net_take_profit_is_reached_before_the_stop():
    # entry 100: long take-profit at 102.1 (2 % net of 0.1 % fees), long stop at 99.1
    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (102.2, 100, 102), (102, 101, 101)] + [
        (101, 101, 101)] * 4)
    labels = triple_barrier_labels(frame, PARAMS)
    assert labels["label"].iloc[0] == "LONG" and labels["label_end"].iloc[0] == 2


def test_a_gross_move_that_is_not_enough_after_fees_is_not_a_take_profit():
    frame = bars([(100, 100, 100), (102.05, 100, 102)] + [(102, 101.9, 102)] * 6)
    assert triple_barrier_labels(frame, PARAMS)["label"].iloc[0] == "HOLD"


def test_short_mirrors_long():
    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (100, 97.8, 98), (98, 98, 98)] + [
        (98, 98, 98)] * 4)
    labels = triple_barrier_labels(frame, PARAMS)
    assert labels["label"].iloc[0] == "SHORT" and labels["label_end"].iloc[0] == 2


def test_a_bar_touching_both_barriers_counts_the_stop_first():
    frame = bars([(100, 100, 100), (102.5, 99.0, 100)] + [(100, 100, 100)] * 6)
    assert triple_barrier_labels(frame, PARAMS)["label"].iloc[0] == "HOLD"


def test_hold_when_no_barrier_is_reached_within_the_holding_bars():
    frame = bars([(100, 100, 100)] * 5 + [(110, 100, 110)] * 3)  # the jump comes too late
    labels = triple_barrier_labels(frame, PARAMS)
    assert labels["label"].iloc[0] == "HOLD" and labels["label_end"].iloc[0] == 4


def _random_bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0, 0.004, n))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + spread),
                         "low": np.minimum(open_, close) * (1 - spread), "close": close},
                        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))


def _reference_label(frame: pd.DataFrame, t: int, p: BarrierParams) -> str:
    """A plain per-event loop, written independently, to check the compiled kernel."""
    entry = frame["close"].iloc[t]
    long_tp, long_sl = entry * (1 + p.take_profit + p.round_trip_fee), entry * (1 - p.stop_loss + p.round_trip_fee)
    short_tp, short_sl = entry * (1 - p.take_profit - p.round_trip_fee), entry * (1 + p.stop_loss - p.round_trip_fee)
    long_state = short_state = None
    for j in range(t + 1, min(len(frame), t + p.holding_bars + 1)):
        high, low = frame["high"].iloc[j], frame["low"].iloc[j]
        if long_state is None:
            long_state = "stop" if low <= long_sl else ("win", j) if high >= long_tp else None
        if short_state is None:
            short_state = "stop" if high >= short_sl else ("win", j) if low <= short_tp else None
    long_win = long_state not in (None, "stop")
    short_win = short_state not in (None, "stop")
    if long_win and short_win:
        return "LONG" if long_state[1] < short_state[1] else "SHORT" if short_state[1] < long_state[1] else "HOLD"
    return "LONG" if long_win else "SHORT" if short_win else "HOLD"


def test_compiled_labels_equal_a_plain_per_event_loop():
    frame = _random_bars(600, seed=5)
    params = BarrierParams(take_profit=0.01, stop_loss=0.008, holding_bars=12, round_trip_fee=0.001)
    labels = triple_barrier_labels(frame, params)
    labelled = np.flatnonzero(labels["is_labelled"].to_numpy())
    expected = [_reference_label(frame, t, params) for t in labelled]
    assert labels["label"].iloc[labelled].astype(str).tolist() == expected
    assert set(expected) == {"LONG", "SHORT", "HOLD"}


def test_truncating_the_future_changes_no_final_label():
    frame = _random_bars(2000, seed=9)
    full = triple_barrier_labels(frame, PARAMS)
    decided = ["label", "is_labelled", "label_end", "label_end_time"]  # uniqueness is a weight
    for cut in (500, 1234, 1999):
        past = triple_barrier_labels(frame.iloc[:cut], PARAMS)
        final = past["is_labelled"].to_numpy()
        assert final[: cut - PARAMS.holding_bars].all()
        pd.testing.assert_frame_equal(full.iloc[:cut].loc[final, decided], past.loc[final, decided])


def test_uniqueness_is_one_for_disjoint_labels_and_shared_by_overlapping_ones():
    np.testing.assert_allclose(uniqueness(np.array([0, 2, 4]), np.array([2, 4, 6]), 8), [1, 1, 1])
    np.testing.assert_allclose(uniqueness(np.array([0, 0]), np.array([3, 3]), 5), [0.5, 0.5])


@pytest.mark.parametrize(("key", "value", "message"), [
    ("take_profit", 0.0, "take_profit"), ("stop_loss", -0.01, "stop_loss"),
    ("holding_bars", 0, "holding_bars"), ("round_trip_fee", 0.02, "round_trip_fee"),
])
def test_bad_barriers_are_refused(key, value, message):
    params = {"take_profit": 0.02, "stop_loss": 0.01, "holding_bars": 4, "round_trip_fee": 0.001,
              key: value}
    with pytest.raises(ValueError, match=message):
        BarrierParams.from_params(params)


def _minute_bars(hour: pd.Timestamp, path: list[tuple[float, float]]) -> pd.DataFrame:
    """1m bars from (high, low) pairs starting at ``hour``."""
    high, low = zip(*path, strict=True)
    index = pd.date_range(hour, periods=len(path), freq="min", tz="UTC")
    return pd.DataFrame({"high": high, "low": low}, index=index)


def test_finer_bars_order_a_same_bar_touch_of_both_barriers():
    frame = bars([(100, 100, 100), (102.5, 99.0, 100)] + [(100, 100, 100)] * 6)
    hour = frame.index[1]
    up_first = _minute_bars(hour, [(100.5, 99.8), (102.3, 100.2), (100.5, 99.0)])
    down_first = _minute_bars(hour, [(100.5, 99.8), (100.5, 99.0), (102.3, 100.2)])
    both_in_one_minute = _minute_bars(hour, [(102.3, 99.0)])
    with_up_first = triple_barrier_labels(frame, PARAMS, fine_bars=up_first)
    assert with_up_first["label"].iloc[0] == "LONG"
    assert with_up_first.attrs["ties"]["resolved_by_finer_data"] >= 1
    assert triple_barrier_labels(frame, PARAMS, fine_bars=down_first)["label"].iloc[0] == "HOLD"
    assert triple_barrier_labels(frame, PARAMS, fine_bars=both_in_one_minute
                                 )["label"].iloc[0] == "HOLD"


def test_finer_bars_outside_the_tied_bar_change_nothing():
    frame = bars([(100, 100, 100), (102.5, 99.0, 100)] + [(100, 100, 100)] * 6)
    elsewhere = _minute_bars(frame.index[3], [(102.3, 100.2), (100.5, 99.0)])
    labels = triple_barrier_labels(frame, PARAMS, fine_bars=elsewhere)
    assert labels["label"].iloc[0] == "HOLD"
    assert labels.attrs["ties"]["resolved_by_finer_data"] == 0


def test_trade_returns_are_net_take_profit_net_stop_or_the_move_at_the_horizon_after_fees():
    from ares_kedro.analyst.labels import barrier_trades

    frame = bars([(100, 100, 100), (100.5, 99.5, 100), (102.2, 100, 102), (102, 101, 101)]
                 + [(101, 100.5, 101)] * 4)
    trades, _ = barrier_trades(frame, PARAMS)
    first = trades.iloc[0]
    assert first["long_outcome"] == 1 and first["long_return"] == pytest.approx(0.02)
    assert first["short_outcome"] == -1 and first["short_return"] == pytest.approx(-0.01)
    assert first["short_exit"] == 2  # 102.2 reaches the short stop at 100.9
    # bar 3 (close 101): nothing is reached in 4 bars; the long earns 0 minus fees
    assert trades["long_outcome"].iloc[3] == 0
    assert trades["long_return"].iloc[3] == pytest.approx(101 / 101 - 1 - 0.001)


# ---- fixed-horizon labels (the sign of the net forward return)

FIXED = BarrierParams.from_params({"take_profit": None, "stop_loss": None, "holding_bars": 2,
                                   "round_trip_fee": 0.001, "label_family": "fixed_horizon"})


def test_a_fixed_horizon_label_is_the_side_that_earns_its_costs_at_the_horizon():
    closes = [100, 101, 100.5, 100.55, 100.52, 99.0, 99.0, 99.0]
    frame = bars([(c, c, c) for c in closes])
    labels = triple_barrier_labels(frame, FIXED)
    # bar 0: +0.5 % in 2 bars -> LONG; bar 2: +0.02 % < the fee -> HOLD; bar 3: -1.5 % -> SHORT
    assert list(labels["label"].iloc[:4]) == ["LONG", "SHORT", "HOLD", "SHORT"]
    assert (labels["label_end"].iloc[:6] == np.arange(6) + 2).all()
    assert list(labels["is_labelled"]) == [True] * 6 + [False] * 2  # the horizon must exist


def test_a_fixed_horizon_label_has_no_price_barriers_and_a_payoff_of_one():
    assert FIXED.take_profit == FIXED.stop_loss == float("inf") and FIXED.payoff_ratio == 1.0
    assert PARAMS.payoff_ratio == pytest.approx(2.0)
    record = barrier_record(FIXED)
    assert record["take_profit"] is None and record["label_family"] == "fixed_horizon"
    assert BarrierParams.from_params(record) == FIXED
    assert BarrierParams.from_params(barrier_record(PARAMS)) == PARAMS
    with pytest.raises(ValueError, match="label_family"):
        BarrierParams.from_params({**record, "label_family": "astrology"})


def test_a_one_bar_edge_survives_fixed_horizon_labelling():
    """Returns that follow a visible signal one bar later: the 1-bar fixed-horizon label
    agrees with the signal far more often than chance, the triple-barrier label of the
    same bars mostly says HOLD."""
    rng = np.random.default_rng(0)
    signal = rng.standard_normal(5_000)
    step = 0.004 * (rng.standard_normal(5_000) + 1.0 * np.r_[0.0, signal[:-1]])
    closes = 100 * np.exp(np.cumsum(step))
    frame = bars([(c * 1.001, c * 0.999, c) for c in closes])
    one_bar = BarrierParams.from_params({**barrier_record(FIXED), "holding_bars": 1})
    labels = triple_barrier_labels(frame, one_bar)["label"].to_numpy().astype(str)
    directional = labels != "HOLD"
    agrees = (labels == np.where(signal > 0, "LONG", "SHORT"))[directional]
    assert directional.mean() > 0.5 and agrees.mean() > 0.7
    barrier = triple_barrier_labels(frame, BarrierParams(0.02, 0.01, 1, 0.001))
    assert (barrier["label"] == "HOLD").mean() > 0.9


def test_fixed_horizon_labels_never_look_past_their_horizon():
    rng = np.random.default_rng(2)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    frame = bars([(c, c, c) for c in closes])
    params = BarrierParams.from_params({**barrier_record(FIXED), "holding_bars": 5})
    full = triple_barrier_labels(frame, params)
    cut = triple_barrier_labels(frame.iloc[:200], params)
    known = cut["is_labelled"].to_numpy()
    assert (cut["label"][known] == full["label"].iloc[:200][known]).all()
    assert known.sum() == 195
