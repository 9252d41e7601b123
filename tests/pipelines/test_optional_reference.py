"""The reference market is optional: absent, cross-asset features are skipped; present,
they are computed from its bars."""

from __future__ import annotations

import pandas as pd
from kedro.io.core import Version

from ares_kedro.datasets import OptionalParquetDataset
from ares_kedro.pipelines.analyst.nodes import build_features
from tests.analyst.test_features import market


def test_a_missing_optional_dataset_loads_as_an_empty_table(tmp_path):
    dataset = OptionalParquetDataset(filepath=str(tmp_path / "none" / "market_bars.parquet"),
                                     version=Version(None, None))
    assert dataset.load().empty


def test_a_saved_optional_dataset_loads_its_latest_version(tmp_path):
    path = str(tmp_path / "ETH" / "market_bars.parquet")
    bars = market(50)
    OptionalParquetDataset(filepath=path, version=Version(None, None)).save(bars)
    loaded = OptionalParquetDataset(filepath=path, version=Version(None, None)).load()
    pd.testing.assert_frame_equal(loaded, bars, check_freq=False)


def test_cross_asset_features_need_the_reference_bars():
    bars = market(400).drop(columns=["reference_close", "nearest_support", "nearest_resistance"])
    no_levels = pd.DataFrame(columns=["level", "confirmed_at", "zone_half_width"])
    params = {"names": None}
    _, without = build_features(bars, no_levels, pd.DataFrame(), params)
    assert "reference_beta_96" in without["skipped"]
    reference = bars.assign(close=bars["close"] ** 0.5)  # log returns exactly half
    table, with_reference = build_features(bars, no_levels, reference, params)
    assert "reference_beta_96" not in with_reference["skipped"]
    assert table["reference_beta_96"].dropna().round(9).eq(2.0).all()
