"""The pinned stack works together: `ta` computes correctly and quietly on our pandas."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import ta


def _prices(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))))
    spread = close * rng.uniform(0.001, 0.01, n)
    return pd.DataFrame({"high": close + spread, "low": close - spread, "close": close,
                         "volume": rng.uniform(1, 10, n)})


def _wilder_rsi(close: np.ndarray, window: int) -> np.ndarray:
    """RSI with Wilder's smoothing (an EMA with alpha = 1/window), written independently."""
    change = np.diff(close, prepend=np.nan)
    gain = pd.Series(np.where(change > 0, change, 0.0)).ewm(alpha=1 / window, min_periods=window,
                                                            adjust=False).mean()
    loss = pd.Series(np.where(change < 0, -change, 0.0)).ewm(alpha=1 / window, min_periods=window,
                                                             adjust=False).mean()
    return (100 - 100 / (1 + gain / loss)).to_numpy()


def test_ta_rsi_matches_an_independent_wilder_rsi_without_warnings():
    bars = _prices()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning from ta on this pandas fails the test
        rsi = ta.momentum.RSIIndicator(bars["close"], window=14).rsi().to_numpy()
    expected = _wilder_rsi(bars["close"].to_numpy(), 14)
    valid = ~np.isnan(expected) & ~np.isnan(rsi)
    assert valid.sum() > 400
    np.testing.assert_allclose(rsi[valid], expected[valid], rtol=1e-9)


def test_ta_trend_and_volume_indicators_run_quietly_and_stay_in_range():
    bars = _prices()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adx = ta.trend.ADXIndicator(bars["high"], bars["low"], bars["close"], 14).adx()
        macd = ta.trend.MACD(bars["close"]).macd_diff()
        mfi = ta.volume.MFIIndicator(bars["high"], bars["low"], bars["close"], bars["volume"],
                                     14).money_flow_index()
    assert adx.iloc[30:].between(0, 100).all()
    assert mfi.iloc[20:].between(0, 100).all()
    assert np.isfinite(macd.iloc[40:]).all()
