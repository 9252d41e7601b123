"""Bad parameters stop a run at start-up, with a message naming the key, before any work."""

from __future__ import annotations

import copy

import pytest

from ares_kedro.parameter_checks import check_parameters
from tests.conftest import load_parameters


@pytest.mark.parametrize("env", ["base", "blank", "full"])
def test_the_shipped_parameters_pass(env):
    params = load_parameters(env)
    check_parameters(params)
    gmm = copy.deepcopy(params)  # the README's mixture tour command works in every env
    gmm["regimes"]["method"] = "gmm"
    check_parameters(gmm)
    if env == "full":
        assert params["analyst"]["tuning"]["timeout_seconds"] is None
        assert params["analyst"]["tuning"]["n_trials"] >= 100


def _with(change) -> dict:
    params = copy.deepcopy(load_parameters())
    change(params)
    return params


BAD = {
    "non-positive take-profit": (
        lambda p: p["analyst"]["target_search"].update(take_profit=[0.0, 0.02]), "take_profit"),
    "non-positive stop-loss": (
        lambda p: p["analyst"]["target_search"].update(stop_loss=[-0.01, 0.02]), "stop_loss"),
    "holding below one bar": (
        lambda p: p["analyst"]["target_search"].update(holding_bars=[0, 24]), "holding_bars"),
    "unknown feature": (
        lambda p: p["analyst"]["features"].update(names=["rsi_14", "moon_phase"]), "moon_phase"),
    "no test period": (
        lambda p: p["time_splits"].update(train_fraction=0.7, validation_fraction=0.3),
        "test period"),
    "purge shorter than the horizon": (
        lambda p: p["time_splits"].update(purge_bars=12), "purge_bars"),
    "negative L2 penalty": (
        lambda p: p["analyst"]["regularisation"].update(l2=-1.0), "l2"),
    "missing regularisation key": (
        lambda p: p["analyst"]["regularisation"].pop("dropout"), "missing keys"),
    "unknown base model": (
        lambda p: p["analyst"]["ensembles"]["base_models"].update(svm={"enabled": True,
                                                                        "params": {}}), "svm"),
    "market without a fee": (
        lambda p: p["analyst"]["costs"]["taker_fee"].pop("um_futures"), "taker_fee"),
    "tactician sizing above a full position": (
        lambda p: p["tactician"]["sizing"].update(max_position=1.5), "tactician.sizing"),
    "tactician sizing method unknown": (
        lambda p: p["tactician"]["sizing"].update(method="martingale"), "tactician.sizing"),
    "tactician review at entry": (
        lambda p: p["tactician"]["labels"].update(review_bars=[0, 4]), "tactician.labels"),
    "tactician trend from a feature the analyst does not compute": (
        lambda p: p["tactician"]["context"].update(trend_feature="moon_phase"), "moon_phase_4h"),
    "tactician trend feature left out of the analyst's names": (
        lambda p: p["analyst"]["features"].update(names=["rsi_14"]), "ema_distance_20_1d"),
    "tactician unknown LightGBM parameter": (
        lambda p: p["tactician"]["models"]["lightgbm"].update(depth_charge=3), "depth_charge"),
    "governor early stopping on half the rows": (
        lambda p: p["governor"]["model"].update(early_stopping_share=0.6), "governor.model"),
    "governor margin range upside down": (
        lambda p: p["governor"]["final_optimisation"].update(expected_return_margin=[2.0, 0.5]),
        "expected_return_margin"),
    "governor label family unknown": (
        lambda p: p["analyst"]["target_search"].update(label_families=["tea_leaves"]),
        "label_families"),
    "validation market without fees": (
        lambda p: p["validation"]["costs"]["fees"].pop("um_futures"), "validation.costs.fees"),
    "validation slippage model unknown": (
        lambda p: p["validation"]["costs"].update(slippage_model="hope"), "slippage_model"),
    "validation odd CSCV blocks": (
        lambda p: p["validation"]["overfitting"].update(cscv_blocks=7), "cscv_blocks"),
    "validation rollout that never reaches everyone": (
        lambda p: p["validation"]["ab_test"].update(rollout_shares=[0.1, 0.5]),
        "rollout_shares"),
    "validation too few simulations": (
        lambda p: p["validation"]["monte_carlo"].update(simulations=3), "monte_carlo"),
    "walk-forward with one fold": (
        lambda p: p["validation"]["walk_forward"].update(folds=1), "walk_forward"),
    "walk-forward scheme unknown": (
        lambda p: p["validation"]["walk_forward"].update(scheme="sideways"), "scheme"),
    "mixture fitted on more bars than the data window holds": (
        lambda p: (p["regimes"].update(method="gmm"), p["ingestion"].update(lookback_days=30)),
        r"regimes.gmm.fit_bars \(4000\) is more bars than the data window holds \(30 days"),
    "governor serving without history": (
        lambda p: p["governor"]["serving"].update(history_days=0), "history_days"),
    "tactician threshold above one": (
        lambda p: p["tactician"]["decisions"].update(wait_threshold=1.5), "tactician.decisions"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_is_refused_with_its_key_named(case):
    change, key = BAD[case]
    with pytest.raises(ValueError, match=key):
        check_parameters(_with(change))
