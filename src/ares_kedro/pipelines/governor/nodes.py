"""Governor nodes: assemble its inputs, train it, tune the final parameters, decide and
compare with the baselines."""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from ares_kedro.analyst.baseline import (
    baseline_classifier,
    class_probabilities,
    samples_at_rows,
    training_samples,
)
from ares_kedro.analyst.calibration import CalibrationParams
from ares_kedro.analyst.labels import PROBABILITY_COLUMNS, BarrierParams, barrier_trades
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.analyst.splits import TimeSplits
from ares_kedro.governor.comparison import (
    decision_table,
    metrics_against_baselines,
    out_of_fold_where_learned,
    rival_probabilities,
)
from ares_kedro.governor.final_parameters import (
    FinalOptimisationParams,
    decision_inputs,
    opinion_probabilities,
    optimise_final_parameters,
)
from ares_kedro.governor.inputs import (
    ENSEMBLES,
    feature_columns,
    governor_inputs,
    training_opinions,
)
from ares_kedro.governor.live import BadBars, DecisionSystem, Governor, bars_from_records
from ares_kedro.governor.model import GovernorModelParams, fit_governor
from ares_kedro.governor.model import class_probabilities as governor_proba
from ares_kedro.governor.policy import DecisionPolicy
from ares_kedro.market.timeframes import bars_per_year, to_timedelta
from ares_kedro.studies import StudySettings
from ares_kedro.tactician.serving import TacticianSettings

logger = logging.getLogger(__name__)
LEARNING_PERIODS = ("train", "validation")  # the governor learns (out of fold) from both



def assemble_governor_inputs(analyst_predictions: pd.DataFrame,
                             analyst_oof_predictions: pd.DataFrame,
                             analyst_calibrators: dict[str, Any], analyst_labels: pd.DataFrame,
                             regime_labels: pd.DataFrame, tactician_signals: pd.DataFrame,
                             calibration: dict[str, Any]) -> pd.DataFrame:
    """``governor_inputs``: one row per training bar (the ensembles' out-of-fold opinions,
    through the validation calibrators, ``analyst.calibration.training_rows``) and per
    validation and test bar."""
    settings = CalibrationParams.from_params(calibration)
    training = training_opinions(analyst_oof_predictions, analyst_calibrators,
                                 regime_labels["regime"], analyst_labels, settings.min_samples,
                                 settings.training_rows)
    later = governor_inputs(analyst_predictions, tactician_signals)
    table = pd.concat([governor_inputs(training, tactician_signals), later]).sort_index()
    if table.index.has_duplicates:
        raise ValueError("governor inputs: a bar has both an out-of-fold and a validation or "
                         "test opinion; re-run the analyst pipeline")
    return table


def train_governor(governor_inputs: pd.DataFrame, analyst_labels: pd.DataFrame,
                   model: dict[str, Any], time_splits: dict[str, Any]
                   ) -> tuple[Pipeline, pd.DataFrame, dict[str, Any]]:
    """``governor_model`` fitted on the labelled training bars (the ensembles' out-of-fold
    opinions) and validation bars (their calibrated opinions), its purged out-of-fold
    probabilities there (``governor_oof_probabilities``) and a training report."""
    params = GovernorModelParams.from_params(model)
    learning = (governor_inputs["period"].isin(LEARNING_PERIODS).to_numpy()
                & governor_inputs["is_labelled"].to_numpy(dtype=bool))
    rows_table = governor_inputs[learning]
    bar_rows = analyst_labels.index.get_indexer(rows_table.index)
    samples = samples_at_rows(rows_table[feature_columns()], analyst_labels, bar_rows)
    if len(samples.labels) < 10 * int(params.cv_folds):
        raise ValueError(f"governor: only {len(samples.labels)} labelled training and "
                         "validation bars; use more data")
    pipeline, oof, report = fit_governor(samples.features, samples.labels, samples.weights,
                                         samples.label_end, params,
                                         int(time_splits["embargo_bars"]))
    table = pd.DataFrame(oof, columns=PROBABILITY_COLUMNS, index=rows_table.index)
    periods = rows_table["period"].value_counts().to_dict()
    logger.info("Governor: %s on %d bars (%s); out-of-fold log-loss %s; trees %s (folds' "
                "best %s)", report["learner"], report["training_rows"], periods,
                {k: round(v, 4) for k, v in report["out_of_fold_log_loss"].items()},
                report["n_estimators"], report["fold_best_iterations"])
    return pipeline, table, {**report, "rows_per_period": {k: int(v) for k, v in periods.items()},
                             "trained_on": "training period (the ensembles' and the "
                                           "tactician's out-of-fold opinions) and validation "
                                           "period (their out-of-sample opinions)"}


def train_baseline_lightgbm(analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                            pruned_features: dict[str, Any], time_splits: dict[str, Any],
                            baseline_model: dict[str, Any],
                            model: dict[str, Any]):
    """A single LightGBM on every training bar, no regimes: the governor's plainest rival
    (``governor_baseline_lightgbm``; the analyst's baseline settings and pruned features)."""
    train = TimeSplits.from_record(time_splits).mask(analyst_features.index, "train")
    samples = training_samples(analyst_features[pruned_features["features"]], analyst_labels,
                               train)
    classifier = baseline_classifier(baseline_model, int(model["seed"]))
    return classifier.fit(samples.features, samples.labels, sample_weight=samples.weights)


def _trades(market_bars, optimal_target_params):
    barriers = BarrierParams.from_params(optimal_target_params)
    return barrier_trades(market_bars, barriers)[0], barriers.payoff_ratio


def tune_final_parameters(governor_inputs: pd.DataFrame,
                          governor_oof_probabilities: pd.DataFrame, market_bars: pd.DataFrame,
                          analyst_features: pd.DataFrame, optimal_target_params: dict[str, Any],
                          tactician_sizing: dict[str, Any], final_optimisation: dict[str, Any],
                          optuna: dict[str, Any]) -> dict[str, Any]:
    """``governor_final_params``: the opinion the decisions follow, the decision gate's
    margin and the sizing, tuned out of fold on the training and validation periods
    (``acts`` and ``why`` say whether the governor trades)."""
    params = FinalOptimisationParams.from_params(final_optimisation)
    oof = governor_oof_probabilities.dropna()
    tactician = TacticianSettings.from_record(tactician_sizing)
    inputs = decision_inputs(oof.index, oof[PROBABILITY_COLUMNS].to_numpy(), market_bars,
                             analyst_features, tactician.context)
    rows = governor_inputs.loc[oof.index]
    opinions = {name: opinion_probabilities({}, inputs.proba, rows, name)
                for name in params.opinions}
    trades, payoff = _trades(market_bars, optimal_target_params)
    result = optimise_final_parameters(
        inputs, tactician.sizing, tactician.context, payoff, trades,
        bars_per_year(market_bars.index), params, StudySettings.from_params(optuna), opinions)
    if result["chosen_metrics"]:
        logger.info("Final parameters: margin %.2f round-trip costs (gate %s), chosen trial %d "
                    "of %d, validation Sharpe %.2f, max drawdown %.3f",
                    result["expected_return_margin"], result["gate"], result["chosen_trial"],
                    result["trials_run"], result["chosen_metrics"]["sharpe"],
                    result["chosen_metrics"]["max_drawdown"])
    logger.info("Governor %s: %s", "acts" if result["acts"] else "holds", result["why"])
    return result


def decide_and_compare(governor_model: Pipeline, governor_inputs: pd.DataFrame,
                       governor_oof_probabilities: pd.DataFrame,
                       governor_final_params: dict[str, Any], governor_baseline_lightgbm,
                       analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                       pruned_features: dict[str, Any], market_bars: pd.DataFrame,
                       optimal_target_params: dict[str, Any], tactician_sizing: dict[str, Any]
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``governor_decisions`` on every bar (out of fold where the governor learned; the
    followed opinion's probabilities, and each candidate opinion's as
    ``opinion_<name>_p_long`` ...), and ``governor_metrics``: the governor against its
    baselines per period."""
    meta = out_of_fold_where_learned(
        governor_proba(governor_model, governor_inputs[feature_columns()]), governor_inputs,
        governor_oof_probabilities, LEARNING_PERIODS)
    policy = DecisionPolicy.from_records(governor_final_params,
                                         TacticianSettings.from_record(tactician_sizing))
    inputs = decision_inputs(governor_inputs.index, None, market_bars, analyst_features,
                             policy.context)
    table, proba = decision_table(governor_inputs, meta, governor_final_params, inputs, policy)
    first_validation = governor_inputs.index[(governor_inputs["period"] == "validation")
                                             .to_numpy()][0]
    models = rival_probabilities(
        governor_inputs, proba,
        analyst_labels["label"].astype(str).to_numpy()[analyst_labels.index < first_validation],
        class_probabilities(governor_baseline_lightgbm,
                            analyst_features.loc[governor_inputs.index,
                                                 pruned_features["features"]]))
    metrics = metrics_against_baselines(governor_inputs, table, models, governor_final_params,
                                        inputs, policy, _trades(market_bars,
                                                                optimal_target_params)[0],
                                        bars_per_year(market_bars.index))
    test, best = metrics["periods"]["test"], metrics["best_single_ensemble"]
    logger.info("Governor on the test period: log-loss %.4f (prior %.4f, best ensemble %s "
                "%.4f, single LightGBM %.4f), net Sharpe %.2f",
                test["governor"]["classification"]["log_loss"],
                test["class_prior"]["classification"]["log_loss"], best,
                test[f"ensemble_{best}"]["classification"]["log_loss"],
                test["single_lightgbm"]["classification"]["log_loss"],
                test["governor"]["trading"]["sharpe"])
    return table, metrics


def package_decision_system(regime_model: dict[str, Any], feature_report: dict[str, Any],
                            analyst_metrics: dict[str, Any], analyst_calibrators: dict[str, Any],
                            tactician_models, tactician_sizing: dict[str, Any],
                            governor_model: Pipeline, governor_final_params: dict[str, Any],
                            optimal_target_params: dict[str, Any], ingestion: dict[str, Any],
                            serving: dict[str, Any], **ensembles: Any) -> DecisionSystem:
    """``governor_decision_system``: everything the live predictor needs, one hashed file.

    Only the features some model reads are computed live (the ensembles', the tactician's
    and the higher-timeframe trend columns); a regime served by the GLOBAL stand-in shares
    the GLOBAL ensemble object, so it is evaluated once. The exit rule
    (``optimal_target_params``: take-profit, stop, holding period) travels with it: shadow
    mode and trading bots exit as the backtest did. ``serving.history_days`` becomes the
    history a live decision is given (``DecisionSystem.history_bars``)."""
    members = {name: ensembles[f"analyst_ensemble_{name}"] for name in ENSEMBLES}
    for name in ENSEMBLES:
        if analyst_metrics[name]["model"] == "global_fallback":
            members[name] = members[GLOBAL]
    tactician = TacticianSettings.from_record(tactician_sizing)
    context = tactician.context
    needed = {c for e in members.values() for c in e.feature_names_in_}
    needed |= set(tactician_models.analyst_features) | set(context.trend_columns().values())
    computed = list(feature_report["computed"])
    missing = sorted(needed - set(computed))
    if missing:
        raise ValueError(f"decision system: models read features {missing} that the analyst "
                         "did not compute; re-run the analyst pipeline")
    return DecisionSystem(
        market={k: ingestion[k] for k in ("exchange", "symbol", "market", "timeframe")
                if k in ingestion},
        bar_interval=to_timedelta(ingestion["timeframe"]),
        history_bars=math.ceil(pd.Timedelta(days=serving["history_days"])
                               / to_timedelta(ingestion["timeframe"])),
        regime_model=regime_model, feature_names=[c for c in computed if c in needed],
        ensembles=members, calibrators=analyst_calibrators, tactician_models=tactician_models,
        tactician_record=tactician_sizing, governor_model=governor_model,
        final_params=governor_final_params, exit_rule=dict(optimal_target_params),
        created=pd.Timestamp.now(tz="UTC").isoformat(), tactician=tactician,
        policy=DecisionPolicy.from_records(governor_final_params, tactician))


def copy_for_serving(governor_decision_system: DecisionSystem) -> DecisionSystem:
    """``governor_serving_system``: the latest decision system in one unversioned folder
    with its hash record, the artifact the MLflow model carries."""
    return governor_decision_system


def serve_decision(governor_serving_system: DecisionSystem, recent_bars: pd.DataFrame
                   ) -> pd.DataFrame:
    """The inference pipeline's one node: the decision at the last of ``recent_bars`` as
    one row (the MLflow model's output). Bars the predictor cannot use raise MLflow's
    invalid-parameter error with the reason, which ``mlflow models serve`` returns as the
    HTTP 400 message (any other exception it hides behind "unexpected error")."""
    try:
        decision = Governor(governor_serving_system).decide(bars_from_records(recent_bars))
    except BadBars as error:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        system = governor_serving_system
        raise MlflowException(
            f"{error}. A request is `dataframe_split` with the columns "
            f"{['open_time', *system.required_columns()]} (open_time in epoch ms, UTC) and "
            f"at least {system.warmup_bars() + 1} rows, oldest first "
            f"({system.live_history_bars()} rows decide as the pipeline did; "
            "docs/governor.md)", error_code=INVALID_PARAMETER_VALUE) from error
    row = {k: v for k, v in decision.items() if not isinstance(v, dict)}
    for name in ENSEMBLES:
        row[f"{name}_prediction"] = decision["ensemble_predictions"][name]
        row[f"{name}_confidence"] = decision["ensemble_confidences"][name]
    return pd.DataFrame([row])
