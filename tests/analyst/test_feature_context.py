"""Features that need context: higher timeframes, support/resistance levels, a reference
asset, futures data; and ``feature_inputs``, which joins that context onto the bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from ares_kedro.analyst.features import REGISTRY, compute_features
from ares_kedro.analyst.features.inputs import feature_inputs
from ares_kedro.analyst.features.multi_timeframe import complete_higher_bars, on_higher_timeframe
from ares_kedro.market.timeframes import bar_interval
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.regimes.support_resistance import (
    RESISTANCE,
    SUPPORT,
    SupportResistanceParams,
    find_pivots,
    higher_timeframe_bars,
    sr_levels_table,
)
from tests.analyst.test_features import market

HOUR = pd.Timedelta(hours=1)
SR_PARAMS = SupportResistanceParams(timeframe="1d", pivot_left_bars=5, pivot_right_bars=3,
                                    atr_window=14, zone_atr_multiple=0.5,
                                    strength_half_life_days=90, volume_window=30,
                                    max_volume_ratio=3.0)


def names_in(category: str) -> list[str]:
    return [name for name, feature in REGISTRY.items() if feature.category == category]


def sr_levels_of(bars: pd.DataFrame, bar_timeframe: str = "1h") -> pd.DataFrame:
    """The regimes pipeline's sr_levels table for ``bars``."""
    pivots = find_pivots(higher_timeframe_bars(bars, "1d", bar_timeframe), SR_PARAMS)
    return sr_levels_table(pivots, SR_PARAMS)


# --- multi-timeframe -------------------------------------------------------------------

def test_a_daily_value_appears_on_the_bar_closing_with_the_day_and_not_before():
    bars = market(24 * 5)  # 1h bars from 2024-01-01 00:00 UTC
    daily_close = on_higher_timeframe(bars, "1d", lambda daily: daily["close"])
    assert daily_close.loc[:"2024-01-01 22:00"].isna().all()
    # the bar opening 23:00 closes at 00:00 with the day: the day's close is known from it
    first_day = bars.loc["2024-01-01 23:00", "close"]
    assert (daily_close.loc["2024-01-01 23:00":"2024-01-02 22:00"] == first_day).all()
    assert daily_close.loc["2024-01-02 23:00"] == bars.loc["2024-01-02 23:00", "close"]


def test_daily_rsi_is_ta_rsi_of_the_daily_closes_aligned_by_close_time():
    bars = market()
    closes = bars["close"][bars.index.hour == 23]  # each day's last hourly close
    daily = pd.DataFrame({"rsi": ta.momentum.RSIIndicator(closes, window=14).rsi().to_numpy(),
                          "known_at": closes.index + HOUR})
    expected = pd.merge_asof(pd.DataFrame({"bar_close": bars.index + HOUR}), daily,
                             left_on="bar_close", right_on="known_at")["rsi"].to_numpy()
    got = compute_features(bars, ["rsi_14_1d"])[0]["rsi_14_1d"]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)
    assert np.isnan(got.loc["2024-01-14 22:00"]) and np.isfinite(got.loc["2024-01-14 23:00"])
    assert got.loc["2024-01-20 22:00"] == got.loc["2024-01-20 00:00"] != got.loc["2024-01-20 23:00"]


def test_a_period_the_data_does_not_cover_from_start_to_end_is_never_used():
    index = pd.date_range("2024-01-01 01:30", "2024-01-01 13:15", freq="15min", tz="UTC")
    bars = market(len(index)).set_axis(index)  # 15m bars, first 4h period [00:00, 04:00) partial
    higher = complete_higher_bars(bars, pd.Timedelta(hours=4))
    assert list(higher.index.hour) == [4, 8]  # 12:00-16:00 is cut off by the data's end
    four_hour_close = on_higher_timeframe(bars, "4h", lambda h: h["close"])
    assert four_hour_close.loc[:"2024-01-01 07:30"].isna().all()
    assert (four_hour_close.loc["2024-01-01 07:45":"2024-01-01 11:30"]
            == bars.loc["2024-01-01 07:45", "close"]).all()


@pytest.mark.parametrize("name", ["rsi_14_1d", "atr_14_pct_1d", "ema_distance_20_4h", "roc_6_4h"])
def test_a_history_cut_inside_a_higher_bar_gives_the_same_values(name):
    bars = market()
    full = compute_features(bars, [name])[0][name]
    for cut in range(24 * 25, 24 * 26 + 1):  # every hour of one day
        past = compute_features(bars.iloc[:cut], [name])[0][name]
        pd.testing.assert_series_equal(full.iloc[:cut], past, rtol=1e-12)


def test_timeframes_not_higher_than_the_bars_give_nan():
    hourly = market(24 * 200)
    four_hourly = hourly.iloc[::4].set_axis(hourly.index[::4])
    daily = hourly.iloc[::24].set_axis(hourly.index[::24])
    table = compute_features(four_hourly, names_in("multi_timeframe"))[0]
    assert table.filter(like="_4h").isna().all().all()
    assert table.filter(like="_1d").iloc[-100:].notna().all().all()
    assert compute_features(daily, names_in("multi_timeframe"))[0].isna().all().all()


def test_the_bar_interval_is_the_usual_step_and_an_irregular_index_is_refused():
    index = pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")
    assert bar_interval(index.delete([3, 4, 20])) == HOUR  # missing bars are fine
    with pytest.raises(ValueError, match="irregular.*2024-01-01 05:01"):
        bar_interval(index.delete(5).insert(5, pd.Timestamp("2024-01-01 05:01", tz="UTC")))
    with pytest.raises(ValueError, match="not sorted and unique"):
        bar_interval(index[[0, 1, 3, 2, 4]])
    with pytest.raises(ValueError, match="irregular"):
        compute_features(market(50).set_axis(index.delete(5).insert(5, index[5] + HOUR / 2)),
                         ["rsi_14_4h"])


# --- support / resistance --------------------------------------------------------------

def flat_bars() -> pd.DataFrame:
    """1h bars with a range of exactly 2 and closes moving by at most 1: ATR (14) = 2."""
    close = np.full(30, 100.0)
    close[20:26] = [101.0, 102.0, 103.0, 104.5, 96.2, 90.0]
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame({"open": open_, "high": close + 1, "low": close - 1, "close": close,
                         "volume": 1.0},
                        index=pd.date_range("2024-03-01", periods=30, freq="h", tz="UTC"))


def hand_levels(bars: pd.DataFrame) -> pd.DataFrame:
    close_of_bar_15 = bars.index[15] + HOUR
    before = pd.Timestamp("2024-02-20", tz="UTC")
    return pd.DataFrame({
        "kind": [SUPPORT, RESISTANCE, RESISTANCE, SUPPORT],
        "level": [95.0, 110.0, 97.0, 103.0],
        "zone_half_width": [1.0, 2.0, 0.5, 1.0],  # zones 94-96, 108-112, 96.5-97.5, 102-104
        "confirmed_at": [before, before, close_of_bar_15, close_of_bar_15 + pd.Timedelta(1, "ns")],
    })


def test_nearest_zones_use_levels_confirmed_by_the_bar_close_on_either_side_of_price():
    bars = flat_bars()
    table = feature_inputs(bars, hand_levels(bars))
    support, resistance = table["nearest_support"], table["nearest_resistance"]
    # before bar 15's close: only 94-96 below and 108-112 above
    assert (support.iloc[:15] == 96.0).all() and (resistance.iloc[:15] == 108.0).all()
    # confirmed exactly at bar 15's close: 96.5-97.5 (a resistance below price acts as support)
    assert support.iloc[15] == 97.5 and resistance.iloc[15] == 108.0
    # confirmed 1 ns after bar 15's close: from bar 16 on, 102-104 (a support above) resists
    assert support.iloc[16] == 97.5 and resistance.iloc[16] == 102.0
    # close 102 on the zone's edge, 103 inside it: both edges are the close
    assert support.iloc[21] == resistance.iloc[21] == 102.0
    assert support.iloc[22] == resistance.iloc[22] == 103.0
    assert support.iloc[23] == 104.0 and resistance.iloc[23] == 108.0  # 104.5 above 102-104
    # 96.2 broke 96.5-97.5: it is now resistance, 94-96 the support
    assert support.iloc[24] == 96.0 and resistance.iloc[24] == 96.5
    assert np.isnan(support.iloc[25]) and resistance.iloc[25] == 94.0  # nothing below 90


def test_sr_distances_in_atrs_are_exact():
    bars = flat_bars()
    table = compute_features(feature_inputs(bars, hand_levels(bars)),
                             ["support_distance_atr", "resistance_distance_atr"])[0]
    support, resistance = table["support_distance_atr"], table["resistance_distance_atr"]
    assert support.iloc[:13].isna().all()  # ATR (14) warm-up
    np.testing.assert_allclose(support.iloc[13:15], 2.0, rtol=1e-12)  # (100 - 96) / 2
    np.testing.assert_allclose(resistance.iloc[13:16], 4.0, rtol=1e-12)  # (108 - 100) / 2
    np.testing.assert_allclose(support.iloc[15:20], 1.25, rtol=1e-12)  # (100 - 97.5) / 2
    np.testing.assert_allclose(resistance.iloc[16:20], 1.0, rtol=1e-12)  # (102 - 100) / 2
    assert support.iloc[22] == resistance.iloc[22] == 0.0  # inside a zone
    atr = average_true_range(bars["high"], bars["low"], bars["close"], 14)
    assert support.iloc[24] == pytest.approx((96.2 - 96.0) / atr.iloc[24], rel=1e-12)
    assert np.isnan(support.iloc[25])
    assert (support.iloc[13:].dropna() >= 0).all() and (resistance.iloc[13:] >= 0).all()


def test_a_level_confirmed_after_a_bar_does_not_change_that_bar():
    bars = market()
    levels = sr_levels_of(bars)
    base = feature_inputs(bars, levels)
    for t in (400, 900, 1200):
        next_close = bars["close"].iloc[t + 1]  # a zone just below the next bar's close
        late = pd.DataFrame({"kind": SUPPORT, "level": [next_close * (1 - 1e-4)],
                             "zone_half_width": [next_close * 1e-5],
                             "confirmed_at": [bars.index[t] + HOUR + pd.Timedelta(1, "ns")]})
        table = feature_inputs(bars, pd.concat([levels, late], ignore_index=True))
        pd.testing.assert_frame_equal(table.iloc[:t + 1], base.iloc[:t + 1])
        # from the next bar on it counts: the nearest support is the higher of the two
        upper_edge = late["level"].iloc[0] + late["zone_half_width"].iloc[0]
        assert table["nearest_support"].iloc[t + 1] == np.fmax(
            base["nearest_support"].iloc[t + 1], upper_edge)


# --- feature_inputs --------------------------------------------------------------------

def reference_market(bars: pd.DataFrame) -> pd.DataFrame:
    """Another asset's bars: two bars missing, one extra bar after the end."""
    reference = market(len(bars) + 1, seed=11).set_axis(
        bars.index.append(pd.DatetimeIndex([bars.index[-1] + HOUR])))
    return reference.drop(index=bars.index[[500, 1000]])


@pytest.mark.parametrize("cut", [300, 777, 1499])
def test_feature_inputs_of_a_truncated_history_are_a_prefix_of_the_full_ones(cut):
    bars = market().drop(columns=["nearest_support", "nearest_resistance", "reference_close"])
    reference = reference_market(bars)
    full = feature_inputs(bars, sr_levels_of(bars), reference)
    assert full["nearest_support"].notna().any() and full["nearest_resistance"].notna().any()
    past = bars.iloc[:cut]
    # live: the full sr_levels table, or the one the regimes pipeline builds from the past
    for levels in (sr_levels_of(bars), sr_levels_of(past)):
        pd.testing.assert_frame_equal(feature_inputs(past, levels, reference), full.iloc[:cut],
                                      rtol=1e-12)


def test_feature_inputs_copy_the_bars_and_add_only_the_context_given():
    bars = market().drop(columns=["nearest_support", "nearest_resistance", "reference_close"])
    before = bars.copy()
    table = feature_inputs(bars)
    pd.testing.assert_frame_equal(table, bars)
    assert table is not bars
    table = feature_inputs(bars, sr_levels_of(bars), reference_market(bars))
    pd.testing.assert_frame_equal(bars, before)
    assert list(table.columns) == [*bars.columns, "nearest_support", "nearest_resistance",
                                   "reference_close"]
    empty = feature_inputs(bars, sr_levels_of(bars).iloc[:0])
    assert empty["nearest_support"].isna().all()
    assert "support_distance_atr" in compute_features(
        empty, ["support_distance_atr", "rsi_14"])[1]["skipped"]
    with pytest.raises(ValueError, match="confirmed_at"):
        feature_inputs(bars, sr_levels_of(bars).drop(columns=["confirmed_at"]))


def test_reference_close_is_aligned_exactly_and_missing_bars_stay_missing():
    bars = market().drop(columns=["reference_close"])
    reference = reference_market(bars)
    table = feature_inputs(bars, reference_bars=reference)
    missing = bars.index[[500, 1000]]
    assert table.loc[missing, "reference_close"].isna().all()
    kept = table["reference_close"].drop(index=missing)
    pd.testing.assert_series_equal(kept, reference["close"].loc[kept.index],
                                   check_names=False)
    pd.testing.assert_series_equal(feature_inputs(bars, reference_bars=reference["close"])[
        "reference_close"], table["reference_close"])
    with pytest.raises(ValueError, match="time zone"):
        feature_inputs(bars, reference_bars=reference.tz_localize(None))


# --- cross-asset -----------------------------------------------------------------------

def test_reference_returns_half_of_the_asset_returns_give_correlation_1_and_beta_2():
    bars = market()
    after_warmup = slice(REGISTRY["reference_beta_96"].warmup, None)
    cases = {  # reference close -> (correlation, beta)
        "half": (3 * np.sqrt(bars["close"]), 1.0, 2.0),
        "same": (7 * bars["close"], 1.0, 1.0),
        "inverse": (1 / bars["close"], -1.0, -1.0),
    }
    for case, (reference, correlation, beta) in cases.items():
        table = compute_features(bars.assign(reference_close=reference), names_in("cross_asset"))[0]
        np.testing.assert_allclose(table["reference_correlation_96"].iloc[after_warmup],
                                   correlation, rtol=1e-9, err_msg=case)
        np.testing.assert_allclose(table["reference_beta_96"].iloc[after_warmup], beta,
                                   rtol=1e-9, err_msg=case)


def test_independent_reference_returns_give_small_correlation_and_a_gap_is_not_filled():
    bars = market().assign(reference_close=market(seed=99)["close"])
    bars.iloc[700, bars.columns.get_loc("reference_close")] = np.nan
    table = compute_features(bars, names_in("cross_asset"))[0]
    assert table["reference_correlation_96"].iloc[96:700].abs().max() < 0.5
    # the missing close spoils the returns of bars 700 and 701: windows over them are NaN
    assert table.iloc[700:701 + 96].isna().all().all()
    assert table.iloc[[699, 701 + 96]].notna().all().all()


# --- futures ---------------------------------------------------------------------------

def test_futures_features_are_skipped_on_spot():
    futures = names_in("futures")
    assert {"funding_zscore_90", "funding_rate_bps", "funding_change_24",
            "funding_price_divergence_24", "open_interest_change_24",
            "open_interest_price_agreement_24"} <= set(futures)
    spot = market().drop(columns=["funding_rate", "open_interest"])
    table, report = compute_features(spot)
    assert set(futures) <= set(report["skipped"])
    assert not set(futures) & set(table.columns)
    no_funding_yet = market().assign(funding_rate=np.nan)
    table, report = compute_features(no_funding_yet, futures)
    assert list(table.columns) == ["open_interest_change_24", "open_interest_price_agreement_24"]


def test_funding_level_and_momentum_are_in_basis_points():
    bars = market()
    table = compute_features(bars, ["funding_rate_bps", "funding_change_24"])[0]
    np.testing.assert_allclose(table["funding_rate_bps"], bars["funding_rate"] * 1e4)
    np.testing.assert_allclose(table["funding_change_24"].iloc[24:],
                               (bars["funding_rate"].diff(24) * 1e4).iloc[24:])


def test_open_interest_agreement_flips_sign_when_price_moves_the_other_way():
    bars = market()
    mirrored = bars.assign(close=1e4 / bars["close"])  # every price change reversed
    name = "open_interest_price_agreement_24"
    up, down = (compute_features(b, [name])[0][name] for b in (bars, mirrored))
    np.testing.assert_allclose(down.iloc[113:], -up.iloc[113:], rtol=1e-9)


def test_funding_divergence_is_funding_z_minus_price_return_z():
    bars = market()
    table = compute_features(bars, ["funding_price_divergence_24", "funding_zscore_90"])[0]
    log_return = np.log(bars["close"]).diff(24)
    return_z = (log_return - log_return.rolling(90).mean()) / log_return.rolling(90).std()
    np.testing.assert_allclose(table["funding_price_divergence_24"].iloc[113:],
                               (table["funding_zscore_90"] - return_z).iloc[113:], rtol=1e-9)


def test_context_features_are_scale_free():
    bars = market()
    scaled = bars.assign(**{c: bars[c] * 7 for c in ("open", "high", "low", "close",
                                                     "nearest_support", "nearest_resistance")},
                         reference_close=bars["reference_close"] * 3,
                         open_interest=bars["open_interest"] * 5)
    names = [n for c in ("futures", "multi_timeframe", "cross_asset") for n in names_in(c)]
    names += ["support_distance_atr", "resistance_distance_atr"]
    pd.testing.assert_frame_equal(compute_features(scaled, names)[0],
                                  compute_features(bars, names)[0], rtol=1e-7)


def test_a_funding_rate_unchanged_over_the_window_has_z_score_zero_not_noise():
    from ares_kedro.analyst.features.futures import funding_zscore_90

    index = pd.date_range("2024-01-01", periods=600, freq="min", tz="UTC")
    rate = pd.Series(np.repeat([1e-4, 1.3e-4], 300), index=index) * (1 + 1e-17)
    zscore = funding_zscore_90(pd.DataFrame({"funding_rate": rate}))
    assert (zscore.iloc[89:300] == 0).all() and (zscore.iloc[390:] == 0).all()
    assert zscore.iloc[300] > 0  # the change itself stands out
