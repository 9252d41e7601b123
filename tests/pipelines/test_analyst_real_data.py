"""The analyst and tactician pipelines run through Kedro on real BTCUSDT 1h Binance spot
klines, in blank mode (targets, labels, features, pruned features and the tactician's
decisions on real data)."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from ares_kedro.analyst.features.registry import REGISTRY, feature_warmup
from tests.conftest import load_parameters
from tests.pipelines.conftest import run_pipelines

pytestmark = pytest.mark.slow

OUTPUTS = {"bars": "market_bars", "labels": "analyst_labels", "features": "analyst_features",
           "feature_report": "feature_report", "targets": "optimal_target_params",
           "pruned": "pruned_features", "ranges": "hpo_ranges",
           "tactician_metrics": "tactician_metrics", "tactician_signals": "tactician_signals"}

# 2019-03-07 .. 2019-12-31: about ten months, of which the first 60 % train (about 4,300
# bars, 3,800 after the 21-day warm-up of the 1d features) while the run stays under a minute
LOOKBACK_DAYS, END = 300, "2020-01-01"

# Spot klines without aggTrades, funding, open interest or a reference market: these
# features lack their inputs (the klines' taker-buy volume features do not).
EXPECTED_SKIPPED = {
    "large_trade_imbalance": ["large_buy_volume", "large_sell_volume"],
    "large_trade_share": ["large_trade_count", "agg_trade_count"],
    "funding_zscore_90": ["funding_rate"],
    "funding_rate_bps": ["funding_rate"],
    "funding_change_24": ["funding_rate"],
    "funding_price_divergence_24": ["funding_rate"],
    "open_interest_change_24": ["open_interest"],
    "open_interest_price_agreement_24": ["open_interest"],
    "reference_correlation_96": ["reference_close"],
    "reference_beta_96": ["reference_close"],
}
# NaN where no support (resistance) zone is known yet on that side, by definition
SR_DISTANCES = {"support_distance_atr", "resistance_distance_atr"}


def test_analyst_on_real_spot_hours_chooses_targets_labels_every_bar_and_prunes_features(
        project, real_data):
    out = run_pipelines(project, ["ingestion", "regimes", "analyst", "tactician"], OUTPUTS,
                        env="blank",
                        source="binance_vision", market="spot", lookback_days=LOOKBACK_DAYS,
                        end=END,
                        paths={"binance_vision": str(real_data / "binance_spot_klines_1h")})
    analyst = load_parameters("blank")["analyst"]
    search = analyst["target_search"]
    bars, labels, features = out["bars"], out["labels"], out["features"]
    report = out["feature_report"]

    # the real window: 300 days of hours less the 28 hours of exchange outages in it
    assert bars.index[0] == pd.Timestamp("2019-03-07 00:00", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2019-12-31 23:00", tz="UTC")
    assert len(bars) == LOOKBACK_DAYS * 24 - 28 and not bars["is_filled"].any()

    # targets: inside the searched ranges, the study recorded with every trial
    targets = out["targets"]
    assert targets["label_family"] in search["label_families"]
    if targets["label_family"] == "triple_barrier":
        assert search["take_profit"][0] <= targets["take_profit"] <= search["take_profit"][1]
        assert search["stop_loss"][0] <= targets["stop_loss"] <= search["stop_loss"][1]
    else:  # the sign of the net forward return: no price barriers
        assert targets["take_profit"] is None and targets["stop_loss"] is None
    assert search["holding_bars"][0] <= targets["holding_bars"] <= search["holding_bars"][1]
    costs = analyst["costs"]
    assert targets["round_trip_fee"] == pytest.approx(2 * (costs["taker_fee"]["spot"] + costs["slippage"]))
    assert targets["trials_run"] == search["n_trials"]
    assert targets["trials_complete"] >= 1
    assert targets["trials_complete"] + targets["trials_pruned"] == targets["trials_run"]
    assert targets["chosen_metrics"]["bets"] >= search["min_trades"]
    assert targets["chosen_trial"] in {t["trial"] for t in targets["pareto_front"]}
    storage = f"sqlite:///{project / 'data' / '06_models' / 'optuna_studies.db'}"
    study = optuna.load_study(study_name=targets["study_name"], storage=storage)
    assert len(study.trials) == targets["trials_run"]
    chosen = study.trials[targets["chosen_trial"]]
    assert chosen.params == {k: targets[k] for k in (
        "label_family", "take_profit", "stop_loss", "holding_bars") if targets[k] is not None}

    # labels: one row per bar, all three labels; only the last holding period may be unknown
    holding = targets["holding_bars"]
    assert labels.index.equals(bars.index)
    labelled = labels["is_labelled"].to_numpy()
    assert np.flatnonzero(~labelled).min(initial=len(bars)) >= len(bars) - holding
    assert set(labels.loc[labelled, "label"].astype(str)) == {"LONG", "SHORT", "HOLD"}
    assert (labels["label_end"].to_numpy() - np.arange(len(labels))).max() <= holding

    # features: aligned with the bars; exactly the aggTrades, futures and cross-asset ones
    # skipped, the klines' taker-buy volume features computed
    assert features.index.equals(bars.index)
    assert list(features.columns) == report["computed"]
    assert report["skipped"] == EXPECTED_SKIPPED
    assert set(features.columns) | set(report["skipped"]) == set(REGISTRY)
    assert {"taker_imbalance", "taker_imbalance_6", "support_distance_atr"} <= set(features)
    # after warm-up, a feature is NaN only where it is undefined: no zone on a side, or the
    # flat, zero-volume bar of 2019-06-07 21:00 (no range to divide by, no volume)
    flat = ((bars["high"] == bars["low"]) | (bars["volume"] == 0)).to_numpy()
    assert flat.sum() == 1
    for name in set(report["nan_or_inf_after_warmup"]) - SR_DISTANCES:
        warmup = feature_warmup(REGISTRY[name], pd.Timedelta(hours=1))
        undefined = ~np.isfinite(features[name].to_numpy()[warmup:])
        assert flat[warmup:][undefined].all(), name

    # pruning: every feature kept or dropped with a reason; some kept
    pruned = out["pruned"]
    assert pruned["features"] and set(pruned["features"]) <= set(features.columns)
    assert set(pruned["features"]).isdisjoint(pruned["dropped"])
    assert set(pruned["features"]) | set(pruned["dropped"]) == set(features.columns)

    # narrowed LightGBM ranges inside the configured ones
    ranges = out["ranges"]
    assert ranges["trials_run"] == analyst["coarse_search"]["n_trials"]
    assert ranges["original_ranges"] == analyst["coarse_search"]["ranges"]
    assert ranges["ranges"].keys() == ranges["original_ranges"].keys()
    for name, narrowed in ranges["ranges"].items():
        original = ranges["original_ranges"][name]
        assert original["low"] <= narrowed["low"] <= narrowed["high"] <= original["high"]

    # the tactician decided on signals of every period, within the sizing limits
    periods = out["tactician_metrics"]["periods"]
    assert all(periods[p]["signals"] > 0 for p in ("train", "validation", "test"))
    sizing = load_parameters("blank")["tactician"]["sizing"]
    assert out["tactician_signals"]["size"].abs().max() <= sizing["max_position"]
