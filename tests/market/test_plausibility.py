"""Implausible prices stop ingestion with the bar named: a bar at 1000x, a wick to 1000x,
a month of another symbol's prices; real and built-in markets pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.market.plausibility import PlausibilityParams, checked_prices
from tests.conftest import load_parameters

PARAMS = PlausibilityParams.from_params(load_parameters()["ingestion"]["plausibility"])


def hourly_bars(n: int = 2000, seed: int = 0, step: float = 0.006) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 30000 * np.exp(np.cumsum(rng.standard_t(4, n) * step / np.sqrt(2)))
    open_ = np.r_[close[0], close[:-1]]
    wiggle = np.abs(rng.normal(0, step / 2, n))
    return pd.DataFrame({"open": open_, "close": close,
                         "high": np.maximum(open_, close) * (1 + wiggle),
                         "low": np.minimum(open_, close) * (1 - wiggle)},
                        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))


def test_a_bar_at_1000_times_the_price_is_refused_naming_the_bar():
    bars = hourly_bars()
    bars.iloc[1200, :] *= 1000
    with pytest.raises(ValueError, match="implausible price at the bar opening "
                                         "2024-02-20 00:00:00\\+00:00: a jump of \\+6.9.*"
                                         "a spike.*drop_implausible_bars"):
        checked_prices(bars, PARAMS, drop_spikes=False)


def test_with_the_repair_a_spike_bar_is_dropped_and_reported_and_nothing_else_changes():
    bars = hourly_bars()
    spoiled = bars.copy()
    spoiled.iloc[1200, :] *= 1000
    spoiled.iloc[700, spoiled.columns.get_loc("high")] *= 1000  # a wick to 1000x
    kept, report = checked_prices(spoiled, PARAMS, drop_spikes=True)
    assert report["dropped_spikes"] == [bars.index[700].isoformat(), bars.index[1200].isoformat()]
    pd.testing.assert_frame_equal(kept, bars.drop(index=bars.index[[700, 1200]]))
    assert report["largest_move_sigmas"] < PARAMS.max_jump_sigmas


def test_a_month_of_another_symbols_prices_is_refused_even_with_the_repair():
    bars = hourly_bars(3000)
    bars.iloc[1000:1744, :] *= 0.06  # ETH-like prices under a BTC name for a month
    for drop in (False, True):
        with pytest.raises(ValueError, match="2024-02-11 16:00:00.*a level shift"):
            checked_prices(bars, PARAMS, drop_spikes=drop)


def test_real_btcusdt_hours_and_the_built_in_markets_pass(real_data):
    from ares_kedro.market.synthetic import SyntheticMarketSpec, generate_market

    frames = [pd.read_csv(p, header=None) for p in sorted(
        (real_data / "binance_spot_klines_1h").glob("*.csv"))]
    table = pd.concat(frames)
    real = pd.DataFrame(table[[1, 2, 3, 4]].to_numpy(), columns=["open", "high", "low", "close"],
                        index=pd.to_datetime(table[0].to_numpy(), unit="ms", utc=True))
    _, report = checked_prices(real, PARAMS, drop_spikes=False)
    assert 20 < report["largest_move_sigmas"] < PARAMS.max_jump_sigmas / 1.5
    spec = SyntheticMarketSpec.from_params(load_parameters()["ingestion"]["synthetic"])
    for mode in ("regimes", "random_walk"):
        from dataclasses import replace

        market = generate_market(replace(spec, mode=mode, days=365))
        close = market.close
        bars = pd.DataFrame({"open": np.r_[close[0], close[:-1]], "close": close},
                            index=pd.to_datetime(market.bar_open_ns, utc=True))
        bars["high"], bars["low"] = bars.max(axis=1), bars.min(axis=1)
        assert checked_prices(bars, PARAMS, drop_spikes=False)[1]["dropped_spikes"] == []


def test_bad_plausibility_settings_are_refused():
    with pytest.raises(ValueError, match="window_bars >= 10"):
        PlausibilityParams.from_params({"window_bars": 5, "max_jump_sigmas": 100,
                                        "min_jump_log_return": 0.2})
