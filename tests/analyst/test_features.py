"""The feature registry: every registered feature is causal, documented and skippable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.features import REGISTRY, compute_features

CATEGORIES = {"momentum", "trend", "volatility", "volume", "price_action", "statistical",
              "spectral", "order_flow", "futures", "time", "multi_timeframe", "cross_asset"}


def market(n: int = 1500, seed: int = 4) -> pd.DataFrame:
    """A random market with every market_bars column a feature may read."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.005))
    open_ = np.concatenate(([100.0], close[:-1]))
    wiggle = np.abs(rng.normal(0, 0.003, n))
    volume = np.exp(rng.normal(2, 0.5, n))
    buy = volume * rng.uniform(0.2, 0.8, n)
    trades = rng.poisson(50, n).astype(float) + 1
    funding = np.repeat(rng.normal(1e-4, 5e-5, n // 8 + 1), 8)[:n]
    bars = pd.DataFrame({
        "open": open_, "high": np.maximum(open_, close) * (1 + wiggle),
        "low": np.minimum(open_, close) * (1 - wiggle), "close": close, "volume": volume,
        "taker_buy_volume": buy, "buy_volume": buy, "sell_volume": volume - buy,
        "agg_trade_count": trades, "large_buy_volume": buy * rng.uniform(0, 0.1, n),
        "large_sell_volume": (volume - buy) * rng.uniform(0, 0.1, n),
        "large_trade_count": rng.binomial(trades.astype(int), 0.01).astype(float),
        "funding_rate": funding, "open_interest": 8e4 * np.exp(np.cumsum(rng.normal(0, 0.002, n))),
    }, index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    # context columns joined by feature_inputs: zone edges around the close, a correlated asset
    bars["nearest_support"] = close * (1 - rng.uniform(0.0, 0.05, n))
    bars["nearest_resistance"] = close * (1 + rng.uniform(0.0, 0.05, n))
    bars["reference_close"] = 50 * np.exp(np.cumsum(
        0.5 * np.diff(np.log(close), prepend=np.log(close[0])) + rng.normal(0, 0.003, n)))
    return bars


def test_every_feature_is_documented_with_category_warmup_and_inputs():
    assert len(REGISTRY) >= 15
    for feature in REGISTRY.values():
        assert feature.category in CATEGORIES, feature.name
        assert feature.description and feature.warmup_bars(pd.Timedelta(hours=1)) >= 0


@pytest.mark.parametrize("cut", [300, 777, 1499])
def test_every_registered_feature_is_causal(cut):
    """The past of every feature is identical with the future removed; a new registry entry
    is covered by this test without writing another."""
    bars = market()
    full, _ = compute_features(bars)
    past, _ = compute_features(bars.iloc[:cut])
    assert list(full.columns) == list(REGISTRY)
    pd.testing.assert_frame_equal(full.iloc[:cut], past, rtol=1e-9)


def test_clean_data_leaves_no_nan_after_each_warmup():
    _, report = compute_features(market())
    assert report["nan_or_inf_after_warmup"] == {}


def test_features_whose_inputs_are_missing_are_skipped_and_reported():
    spot = market().drop(columns=["funding_rate", "open_interest", "buy_volume", "sell_volume",
                                  "large_trade_count", "agg_trade_count", "large_buy_volume",
                                  "large_sell_volume"])
    table, report = compute_features(spot)
    assert "funding_zscore_90" in report["skipped"] and "large_trade_share" in report["skipped"]
    assert "taker_imbalance" in table.columns  # from the klines' taker-buy volume
    assert "rsi_14" in table.columns and "funding_zscore_90" not in table.columns


def test_an_unknown_feature_name_is_refused():
    with pytest.raises(ValueError, match="unknown feature"):
        compute_features(market(), ["rsi_14", "astrology"])


def test_docs_features_md_lists_every_registered_feature():
    from ares_kedro.analyst.features.registry import features_markdown
    from tests.conftest import PROJECT_ROOT

    assert (PROJECT_ROOT / "docs" / "features.md").read_text() == features_markdown(), (
        "regenerate it: python -m ares_kedro.analyst.features > docs/features.md")
