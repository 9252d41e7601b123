"""The analyst pipeline's first slice (time splits, labels) run through Kedro."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow


def test_analyst_splits_the_timeline_and_labels_every_bar(project):
    out = run_pipelines(project, ["ingestion", "analyst"],
                        {"bars": "market_bars", "splits": "time_splits_report",
                         "labels": "analyst_labels", "features": "analyst_features",
                         "feature_report": "feature_report"},
                        lookback_days=60, synthetic={"days": 60})
    bars, splits, labels = out["bars"], out["splits"], out["labels"]
    assert labels.index.equals(bars.index)
    assert set(labels.loc[labels["is_labelled"], "label"].astype(str)) == {"LONG", "SHORT", "HOLD"}
    ends = [pd.Timestamp(splits[p]["last_bar"]) for p in ("train", "validation")]
    starts = [pd.Timestamp(splits[p]["first_bar"]) for p in ("validation", "test")]
    assert all(start > end for start, end in zip(starts, ends, strict=True))
    assert sum(splits[p]["bars"] for p in splits) < len(bars)  # purge and embargo gaps
    assert out["features"].index.equals(bars.index)
    assert out["feature_report"]["skipped"] == {}  # the synthetic market has every input
    assert "taker_imbalance" in out["features"].columns
