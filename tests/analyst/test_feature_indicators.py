"""Classic indicators in the feature registry agree with independent references (`ta`, or a
plain loop written here) and behave as their definitions say; causality and warm-ups are
covered for every entry by tests/analyst/test_features.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import ta

from ares_kedro.analyst.features import REGISTRY, compute_features
from ares_kedro.analyst.features.momentum import cci_20, mfi_14
from ares_kedro.analyst.features.trend_systems import (
    ichimoku_cloud_bottom_distance,
    ichimoku_cloud_top_distance,
    ichimoku_lines,
    parabolic_sar,
    psar_direction,
    psar_distance,
    supertrend,
    supertrend_direction,
    supertrend_distance,
)
from ares_kedro.analyst.features.volume import (
    obv_divergence_24,
    obv_slope_24,
    rolling_vwap,
    vwap_band_position_24,
    vwap_distance_24,
)
from ares_kedro.regimes.indicators import average_true_range
from tests.analyst.test_features import market

ADDED = {
    "momentum": ["cci_20", "mfi_14"],
    "trend": ["psar_distance", "psar_direction", "ichimoku_cloud_top_distance",
              "ichimoku_cloud_bottom_distance", "ichimoku_tenkan_kijun",
              "ichimoku_span_difference", "supertrend_direction", "supertrend_distance"],
    "volume": ["obv_slope_24", "obv_divergence_24", "vwap_distance_24", "vwap_band_position_24"],
}


def reference_bars(n: int = 2000) -> pd.DataFrame:
    """The random test market with a plain RangeIndex: `ta`'s PSAR assigns ``series[i]``,
    which pandas 3 reads as a label, so on a DatetimeIndex it appends rows instead."""
    return market(n, seed=11).reset_index(drop=True)


def bars_from_closes(close: np.ndarray) -> pd.DataFrame:
    """Hourly bars with the given closes, each opening at the previous close, range +-0.2%."""
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.002,
                         "low": np.minimum(open_, close) * 0.998, "close": close,
                         "volume": np.full(close.size, 10.0)},
                        index=pd.date_range("2024-01-01", periods=close.size, freq="h", tz="UTC"))


def steady_trend(n: int, growth_per_bar: float) -> pd.DataFrame:
    """Bars whose close moves by ``growth_per_bar`` (fraction) every bar."""
    return bars_from_closes(100 * (1 + growth_per_bar) ** np.arange(n))


def assert_same_after(values: pd.Series, reference: pd.Series, first: int, rtol: float = 1e-9):
    ours, theirs = np.asarray(values, float)[first:], np.asarray(reference, float)[first:]
    assert np.isfinite(ours).all() and np.isfinite(theirs).all()
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-9)


def test_the_added_indicators_are_registered_under_their_categories():
    for category, names in ADDED.items():
        for name in names:
            assert REGISTRY[name].category == category, name


def test_every_added_indicator_is_unchanged_when_prices_and_volume_are_rescaled():
    """Scale-free: a model trained at one price level transfers to another. Scaling by
    powers of two is exact in floating point, so the values must agree to rounding."""
    names = [name for names in ADDED.values() for name in names]
    bars = market(1500)
    scaled = bars.copy()
    scaled[["open", "high", "low", "close"]] *= 2.0 ** 10
    scaled[["volume", "taker_buy_volume"]] *= 2.0 ** 3
    original, _ = compute_features(bars, names)
    rescaled, _ = compute_features(scaled, names)
    pd.testing.assert_frame_equal(original, rescaled, rtol=1e-12)


# --- momentum --------------------------------------------------------------------------------

def test_cci_20_equals_ta_commodity_channel_index():
    bars = reference_bars()
    expected = ta.trend.CCIIndicator(bars["high"], bars["low"], bars["close"], 20).cci()
    assert cci_20(bars).iloc[:19].isna().all()
    assert_same_after(cci_20(bars), expected, first=19)


def test_mfi_14_equals_ta_money_flow_index():
    bars = reference_bars()
    expected = ta.volume.MFIIndicator(bars["high"], bars["low"], bars["close"], bars["volume"],
                                      14).money_flow_index()
    assert_same_after(mfi_14(bars), expected, first=13)


def test_mfi_is_100_when_the_typical_price_only_rises_and_0_when_it_only_falls():
    np.testing.assert_allclose(mfi_14(steady_trend(60, 0.01)).iloc[14:], 100.0, rtol=1e-12)
    np.testing.assert_allclose(mfi_14(steady_trend(60, -0.01)).iloc[14:], 0.0, atol=1e-12)


def test_mfi_is_neutral_50_when_no_money_flows_in_the_window():
    bars = steady_trend(60, 0.01)
    bars.loc[bars.index[30:], "volume"] = 0.0
    assert (mfi_14(bars).iloc[43:] == 50).all()


# --- Parabolic SAR ----------------------------------------------------------------------------

def test_parabolic_sar_equals_ta_on_3000_bars():
    bars = reference_bars(3000)
    expected = ta.trend.PSARIndicator(bars["high"], bars["low"], bars["close"], 0.02, 0.2)
    sar, direction = parabolic_sar(bars)
    assert sar.iloc[:2].isna().all() and direction.iloc[:2].isna().all()
    assert_same_after(sar, expected.psar(), first=2)
    up_in_ta = expected.psar_up().notna().to_numpy()
    np.testing.assert_array_equal(direction.to_numpy()[2:], np.where(up_in_ta, 1.0, -1.0)[2:])
    assert 100 < (direction.diff() != 0).sum() < 1500  # it really does reverse, often


def test_sar_trails_below_the_lows_of_an_up_trend_and_above_the_highs_of_a_down_trend():
    bars = reference_bars()
    sar, direction = parabolic_sar(bars)
    continuing = (direction == direction.shift(1)).to_numpy()
    up = continuing & (direction == 1).to_numpy()
    down = continuing & (direction == -1).to_numpy()
    assert up.sum() > 500 and down.sum() > 500
    assert (sar.to_numpy()[up] <= bars["low"].to_numpy()[up]).all()
    assert (sar.to_numpy()[down] >= bars["high"].to_numpy()[down]).all()


def test_a_bar_whose_low_breaks_the_sar_of_an_up_trend_turns_it_down():
    bars = reference_bars()
    sar, direction = parabolic_sar(bars)
    breaks = ((direction.shift(1) == 1) & (bars["low"] < sar.shift(1))).to_numpy()
    assert breaks.sum() > 50
    assert (direction.to_numpy()[breaks] == -1).all()


def test_sar_direction_flips_when_price_crashes_through_the_sar_of_a_steady_rise():
    rise = 100 * 1.01 ** np.arange(60)
    fall = rise[-1] * 0.85 * 0.99 ** np.arange(30)  # bar 60 opens a 15% crash, then declines
    bars = bars_from_closes(np.concatenate([rise, fall]))
    direction, distance = psar_direction(bars), psar_distance(bars)
    # bar 2 may reverse `ta`'s arbitrary start (SAR = close of bar 1); the rise is up from bar 3
    assert (direction.iloc[3:60] == 1).all() and (direction.iloc[60:] == -1).all()
    assert (distance.iloc[14:60] > 0).all() and (distance.iloc[60:] < 0).all()


# --- Ichimoku ---------------------------------------------------------------------------------

def test_ichimoku_lines_equal_ta_before_they_are_drawn_ahead():
    bars = reference_bars()
    expected = ta.trend.IchimokuIndicator(bars["high"], bars["low"], 9, 26, 52, visual=False)
    lines = ichimoku_lines(bars)
    assert_same_after(lines["tenkan"], expected.ichimoku_conversion_line(), first=8)
    assert_same_after(lines["kijun"], expected.ichimoku_base_line(), first=25)
    assert_same_after(lines["span_a"], expected.ichimoku_a(), first=25)
    assert_same_after(lines["span_b"], expected.ichimoku_b(), first=51)


def test_the_cloud_at_a_bar_is_made_of_the_spans_computed_26_bars_earlier():
    bars = reference_bars()
    lines = ichimoku_lines(bars)
    earlier_a, earlier_b = lines["span_a"].shift(26), lines["span_b"].shift(26)
    assert_same_after(lines["cloud_top"], np.maximum(earlier_a, earlier_b), first=77)
    assert_same_after(lines["cloud_bottom"], np.minimum(earlier_a, earlier_b), first=77)
    assert lines["cloud_top"].iloc[:77].isna().all()


def test_the_cloud_at_a_bar_ignores_the_last_26_bars():
    bars = reference_bars(300)
    shaken = bars.copy()
    shaken.iloc[-26:, :4] *= 1.5  # the last 26 bars (open, high, low, close) move a lot
    lines, shaken_lines = ichimoku_lines(bars), ichimoku_lines(shaken)
    assert shaken_lines["cloud_top"].iloc[-1] == lines["cloud_top"].iloc[-1]
    assert shaken_lines["cloud_bottom"].iloc[-1] == lines["cloud_bottom"].iloc[-1]
    assert shaken_lines["span_b"].iloc[-1] != lines["span_b"].iloc[-1]  # the shake matters


def test_cloud_distances_say_above_below_or_inside_the_cloud():
    bars = reference_bars()
    top, bottom = ichimoku_cloud_top_distance(bars), ichimoku_cloud_bottom_distance(bars)
    lines = ichimoku_lines(bars)
    close = bars["close"]
    valid = top.notna()
    assert valid.sum() > 1800 and (top[valid] <= bottom[valid]).all()
    np.testing.assert_array_equal((top[valid] > 0), (close > lines["cloud_top"])[valid])
    np.testing.assert_array_equal((bottom[valid] < 0), (close < lines["cloud_bottom"])[valid])


# --- SuperTrend -------------------------------------------------------------------------------

def supertrend_reference(high, low, close, atr, multiplier=3.0):
    """The classic SuperTrend script, one bar at a time in plain Python."""
    line, direction = [math.nan] * len(close), [math.nan] * len(close)
    final_upper = final_lower = None
    trend = 1
    for i in range(len(close)):
        if math.isnan(atr[i]):
            continue
        basic_upper = (high[i] + low[i]) / 2 + multiplier * atr[i]
        basic_lower = (high[i] + low[i]) / 2 - multiplier * atr[i]
        if final_upper is None:
            upper, lower = basic_upper, basic_lower
        else:
            upper = min(basic_upper, final_upper) if close[i - 1] < final_upper else basic_upper
            lower = max(basic_lower, final_lower) if close[i - 1] > final_lower else basic_lower
            if trend == -1 and close[i] > final_upper:
                trend = 1
            elif trend == 1 and close[i] < final_lower:
                trend = -1
        final_upper, final_lower = upper, lower
        line[i] = lower if trend == 1 else upper
        direction[i] = trend
    return np.array(line), np.array(direction, dtype=float)


def test_supertrend_equals_a_plain_reference_loop():
    bars = reference_bars()
    atr = average_true_range(bars["high"], bars["low"], bars["close"], 10)
    expected_line, expected_direction = supertrend_reference(
        bars["high"].tolist(), bars["low"].tolist(), bars["close"].tolist(), atr.tolist())
    line, direction = supertrend(bars)
    np.testing.assert_array_equal(direction.to_numpy(), expected_direction)
    assert_same_after(line, expected_line, first=9, rtol=1e-12)
    assert 20 < (direction.diff() != 0).sum() < 500


def test_supertrend_is_up_with_price_above_its_line_throughout_a_steady_rise():
    bars = steady_trend(200, 0.005)
    assert (supertrend_direction(bars).iloc[9:] == 1).all()
    assert (supertrend_distance(bars).iloc[9:] > 0).all()


def test_supertrend_turns_down_and_stays_below_price_throughout_a_steady_fall():
    """It starts up (no history to say otherwise) and turns down within a few bars."""
    bars = steady_trend(200, -0.005)
    direction = supertrend_direction(bars)
    assert direction.iloc[9] == 1
    flipped = int(np.argmax(direction.to_numpy() == -1))
    assert flipped <= 20 and (direction.iloc[flipped:] == -1).all()
    assert (supertrend_distance(bars).iloc[flipped:] < 0).all()


# --- volume -----------------------------------------------------------------------------------

def test_obv_slope_is_the_24_bar_change_of_ta_obv_per_unit_of_volume():
    bars = reference_bars()
    obv = ta.volume.OnBalanceVolumeIndicator(bars["close"], bars["volume"]).on_balance_volume()
    assert (bars["close"].diff() != 0).iloc[1:].all()  # `ta` counts an unchanged close as up
    assert obv_slope_24(bars).iloc[:24].isna().all()
    assert_same_after(obv_slope_24(bars), obv.diff(24) / bars["volume"].rolling(24).sum(),
                      first=24)


def test_obv_slope_ignores_bars_whose_close_did_not_change():
    bars = steady_trend(80, 0.01)
    bars.loc[bars.index[40:], "close"] = bars["close"].iloc[40]
    slope = obv_slope_24(bars)
    assert slope.iloc[39] == 1.0
    assert slope.iloc[50] == pytest.approx(14 / 24)  # bars 27..40 rose, 41..50 unchanged
    assert slope.iloc[-1] == 0.0


def test_obv_divergence_is_the_trailing_rank_of_obv_slope_minus_that_of_the_price_change():
    bars = reference_bars(800)
    slope = obv_slope_24(bars).to_numpy()
    change = np.log(bars["close"]).diff(24).to_numpy()
    divergence = obv_divergence_24(bars)
    assert divergence.iloc[:263].isna().all()
    for t in range(263, 800, 37):
        rank_slope = np.mean(slope[t - 239:t + 1] <= slope[t])
        rank_change = np.mean(change[t - 239:t + 1] <= change[t])
        assert divergence.iloc[t] == pytest.approx(rank_slope - rank_change, abs=1e-12)


def test_price_rising_while_volume_leaves_on_down_bars_is_a_bearish_divergence():
    """A rise on light up-volume and heavy down-volume: price makes its best 24-bar change
    while OBV falls, so the divergence ends strongly negative."""
    bars = market(600, seed=3)
    steps = np.where(np.arange(48) % 3 == 2, -0.004, 0.006)  # net +0.8% every 3 bars
    close = bars["close"].iloc[-49] * np.exp(np.cumsum(steps))
    bars.loc[bars.index[-48:], "close"] = close
    bars.loc[bars.index[-48:], "high"] = close * 1.001
    bars.loc[bars.index[-48:], "low"] = close * 0.999
    bars.loc[bars.index[-48:], "volume"] = np.where(steps < 0, 50.0, 5.0)
    assert obv_slope_24(bars).iloc[-1] < 0 < bars["close"].pct_change(24).iloc[-1]
    assert obv_divergence_24(bars).iloc[-1] < -0.8


def test_rolling_vwap_equals_ta_and_its_bands_a_volume_weighted_reference():
    bars = reference_bars()
    expected = ta.volume.VolumeWeightedAveragePrice(
        bars["high"], bars["low"], bars["close"], bars["volume"], 24).volume_weighted_average_price()
    vwap, std = rolling_vwap(bars)
    assert_same_after(vwap, expected, first=23)
    typical = ((bars["high"] + bars["low"] + bars["close"]) / 3).to_numpy()
    volume = bars["volume"].to_numpy()
    for t in range(23, 2000, 101):
        window = slice(t - 23, t + 1)
        mean = np.average(typical[window], weights=volume[window])
        spread = np.average((typical[window] - mean) ** 2, weights=volume[window])
        assert std.iloc[t] == pytest.approx(math.sqrt(spread), rel=1e-9)
        position = (bars["close"].iloc[t] - (mean - 2 * math.sqrt(spread))) / (
            4 * math.sqrt(spread))
        assert vwap_band_position_24(bars).iloc[t] == pytest.approx(position, rel=1e-9)


def test_vwap_distance_is_the_close_minus_vwap_in_atrs_and_bands_centre_on_the_vwap():
    bars = reference_bars()
    vwap, _ = rolling_vwap(bars)
    atr = average_true_range(bars["high"], bars["low"], bars["close"], 14)
    assert_same_after(vwap_distance_24(bars), (bars["close"] - vwap) / atr, first=28)
    position = vwap_band_position_24(bars)
    above = (bars["close"] > vwap).to_numpy()[23:]
    np.testing.assert_array_equal(position.to_numpy()[23:] > 0.5, above)
