"""Feature pruning keeps what predicts out of fold and drops constants and near-duplicates;
the coarse search narrows hyperparameter ranges inside the original ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.baseline import training_samples
from ares_kedro.analyst.coarse_search import (
    CoarseSearchParams,
    SearchRange,
    coarse_search,
    narrowed_range,
)
from ares_kedro.analyst.labels import BarrierParams, triple_barrier_labels
from ares_kedro.analyst.pruning import FeaturePruningParams, prune_features
from ares_kedro.studies import StudySettings
from tests.analyst.test_target_search import MODEL, random_walk

PRUNING = {"max_missing_share": 0.2, "correlation_threshold": 0.95, "importance": "mean",
           "keep": "top_k", "top_k": 3, "cumulative_share": 0.9, "permutation_repeats": 2,
           "cv_folds": 3, "seed": 0}
COARSE = {"n_trials": 4, "cv_folds": 3, "best_share": 0.5, "min_width_share": 0.2, "seed": 0,
          "ranges": {"num_leaves": {"low": 4, "high": 32, "type": "int", "log": True},
                     "learning_rate": {"low": 0.02, "high": 0.3, "type": "float", "log": True}}}


@pytest.fixture(scope="module")
def samples():
    bars = random_walk(2500)
    labels = triple_barrier_labels(bars, BarrierParams(0.015, 0.01, 8, 0.001))
    rng = np.random.default_rng(5)
    future = np.log(bars["close"]).diff(8).shift(-8).fillna(0.0)
    features = pd.DataFrame({
        "future_return": future,  # knows the label: must rank first
        "future_return_twice": 2 * future + 1e-9 * rng.normal(size=len(bars)),
        "constant": 1.0,
        "mostly_missing": np.where(rng.uniform(size=len(bars)) < 0.5, np.nan, 1.0),
        **{f"noise_{k}": rng.normal(size=len(bars)) for k in range(5)},
    }, index=bars.index)
    period = np.zeros(len(bars), dtype=bool)
    period[:2000] = True
    return training_samples(features, labels, period)


def test_pruning_keeps_the_predictive_feature_and_says_why_each_other_was_dropped(samples):
    result = prune_features(samples, MODEL, FeaturePruningParams.from_params(PRUNING), 8)
    kept, dropped = result["features"], result["dropped"]
    assert kept[0] in {"future_return", "future_return_twice"} and len(kept) == 3
    twin = ({"future_return", "future_return_twice"} - {kept[0]}).pop()
    assert dropped[twin].startswith("near-duplicate of " + kept[0])
    assert dropped["constant"].startswith("constant")
    assert dropped["mostly_missing"].startswith("missing")
    assert set(kept) | set(dropped) == set(samples.features.columns)
    importance = result["importance"]
    best_noise = max(importance[f"noise_{k}"]["permutation_loss_increase"] for k in range(5))
    assert importance[kept[0]]["permutation_loss_increase"] > 10 * max(best_noise, 1e-6)


def test_a_cumulative_importance_share_keeps_the_head_of_the_ranking(samples):
    params = FeaturePruningParams.from_params({**PRUNING, "keep": "cumulative_share",
                                               "cumulative_share": 0.5})
    result = prune_features(samples, MODEL, params, 8)
    assert result["features"][0] in {"future_return", "future_return_twice"}
    assert len(result["features"]) < 6


def test_narrowed_ranges_stay_inside_the_original_and_keep_a_minimum_width():
    original = SearchRange(low=0.01, high=1.0, type="float", log=True)
    narrow = narrowed_range(np.array([0.99, 1.0]), original, 0.2)
    assert narrow["high"] == pytest.approx(1.0) and narrow["low"] < 0.99
    assert np.log(narrow["high"] / narrow["low"]) == pytest.approx(0.2 * np.log(100))
    ints = narrowed_range(np.array([10.0, 20.0]), SearchRange(1, 100, "int", False), 0.0)
    assert ints == {"low": 10, "high": 20, "type": "int", "log": False}
    # rounding an integer range outwards never leaves the original range
    edge = narrowed_range(np.array([7.0, 8.0]), SearchRange(7, 127, "int", True), 0.2)
    assert edge["low"] == 7 and edge["high"] <= 127


def test_the_coarse_search_narrows_ranges_and_resumes(samples, tmp_path):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    params = CoarseSearchParams.from_params(COARSE)
    first = coarse_search(samples, MODEL, params, 8, StudySettings(storage, False), "coarse-test")
    again = coarse_search(samples, MODEL, params, 8, StudySettings(storage, False), "coarse-test")
    assert first["trials_run"] == again["trials_run"] == 4  # nothing re-run
    for name, spec in params.ranges.items():
        narrowed = first["ranges"][name]
        assert spec.low <= narrowed["low"] <= narrowed["high"] <= spec.high
    assert first["best_log_loss"] < np.log(3)  # better than knowing nothing


@pytest.mark.parametrize("change, message", [
    ({"importance": "vibes"}, "importance"),
    ({"correlation_threshold": 0}, "correlation_threshold"),
    ({"top_k": 0}, "top_k"),
])
def test_bad_pruning_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        FeaturePruningParams.from_params({**PRUNING, **change})


def test_a_bad_search_range_is_refused():
    bad = {**COARSE, "ranges": {"num_leaves": {"low": 0, "high": 8, "type": "int", "log": True}}}
    with pytest.raises(ValueError, match="num_leaves"):
        CoarseSearchParams.from_params(bad)


def test_log_loss_reads_probability_columns_in_labels_order():
    from ares_kedro.analyst.baseline import log_loss

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])  # LONG, SHORT, HOLD
    expected = -np.mean(np.log([0.7, 0.8, 0.6]))
    assert log_loss(np.array(["LONG", "SHORT", "HOLD"]), proba) == pytest.approx(expected)


# ---- on the built-in market: the feature that carries a planted edge reaches the models

@pytest.mark.parametrize("kind, carrier, holding_bars", [
    ("order_flow", "taker_imbalance", 1),  # bar t's taker flow leads bar t+1's return
    ("mean_reversion", "ema_distance_50", 14),  # a slow pull back to the 50-bar anchor
    ("trend_persistence", "roc_24", 1),  # the last 24 bars' drift goes on
])
def test_pruning_keeps_the_feature_that_carries_each_planted_edge(kind, carrier, holding_bars):
    """On the blank market with one edge planted as the proof benchmark plants it, the
    held-out pruning of conf/base keeps the feature that carries the edge, or a
    near-duplicate of it (the same information under another name)."""
    from dataclasses import replace

    from ares_kedro.analyst.features import compute_features
    from ares_kedro.analyst.features.inputs import feature_inputs
    from ares_kedro.analyst.labels import FIXED_HORIZON
    from ares_kedro.market.synthetic import SyntheticMarketSpec, _bars_from_trades, generate_market
    from benchmarks.proof import PLANTED_EDGES
    from tests.conftest import load_parameters

    params = load_parameters("blank")
    spec = SyntheticMarketSpec.from_params(params["ingestion"]["synthetic"])
    spec = replace(spec, edges=spec.edges.only(kind).updated({kind: PLANTED_EDGES[kind]}))
    market = generate_market(spec)
    klines = _bars_from_trades(market, spec)
    bars = pd.DataFrame({k: v for k, v in klines.items() if k != "open_time"},
                        index=pd.to_datetime(klines["open_time"], utc=True))
    features, _ = compute_features(feature_inputs(bars))
    labels = triple_barrier_labels(bars, BarrierParams(
        float("inf"), float("inf"), holding_bars, 0.0014, label_family=FIXED_HORIZON))
    period = np.zeros(len(bars), dtype=bool)
    period[: int(params["time_splits"]["train_fraction"] * len(bars))] = True
    analyst = params["analyst"]
    result = prune_features(training_samples(features, labels, period),
                            analyst["baseline_model"],
                            FeaturePruningParams.from_params(analyst["feature_pruning"]),
                            int(params["time_splits"]["embargo_bars"]))
    kept = result["features"]
    twin = result["dropped"].get(carrier, "")
    assert carrier in kept or (twin.startswith("near-duplicate of ")
                               and twin.split()[2] in kept), (carrier, twin, kept)
