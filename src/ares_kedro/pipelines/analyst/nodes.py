"""Analyst nodes: validate parameters, call ``ares_kedro.analyst``, return tables."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst import targets
from ares_kedro.analyst.baseline import training_samples
from ares_kedro.analyst.calibration import CalibrationParams, reliability_diagram
from ares_kedro.analyst.coarse_search import CoarseSearchParams, coarse_search
from ares_kedro.analyst.ensembles import RegimeEnsemble
from ares_kedro.analyst.features import compute_features
from ares_kedro.analyst.features.inputs import feature_inputs
from ares_kedro.analyst.features.registry import warmup_bars
from ares_kedro.analyst.labels import BarrierParams, barrier_trades, triple_barrier_labels
from ares_kedro.analyst.pruning import FeaturePruningParams, prune_features
from ares_kedro.analyst.regime_predictions import out_of_fold_predictions, regime_predictions
from ares_kedro.analyst.regime_training import (
    GLOBAL,
    EnhancementParams,
    EnsembleParams,
    SpecialistSettings,
    enough_samples,
    global_stand_in,
    regime_enhancement,
    regime_samples,
    train_specialist,
)
from ares_kedro.analyst.splits import TimeSplitParams, TimeSplits
from ares_kedro.analyst.targets import TargetSamplesSpec, TargetSearchParams
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.regimes import REGIMES
from ares_kedro.studies import StudySettings, fingerprint

logger = logging.getLogger(__name__)


def round_trip_cost(costs: dict[str, Any], market: str) -> float:
    """Fees and slippage of entering and leaving once on ``market``, fraction of price."""
    fees = costs["taker_fee"]
    if market not in fees:
        raise ValueError(f"analyst.costs.taker_fee has no fee for market {market!r}; "
                         f"it has {sorted(fees)}")
    return 2.0 * (float(fees[market]) + float(costs["slippage"]))


def make_time_splits(market_bars: pd.DataFrame, time_splits: dict[str, Any],
                     target_search: dict[str, Any]) -> dict[str, Any]:
    """``time_splits``: the train / validation / test periods of this market and the
    embargo, read by every later node (the purge covers the longest holding period
    searched)."""
    split = TimeSplitParams.from_params(time_splits)
    longest_horizon = int(TargetSearchParams.from_params(target_search).holding_bars[1])
    if split.purge_bars < longest_horizon:
        raise ValueError(f"time_splits.purge_bars ({split.purge_bars}) must be >= the longest "
                         f"holding period searched (analyst.target_search.holding_bars high = "
                         f"{longest_horizon}), or training labels would reach into validation")
    return TimeSplits.from_params(market_bars.index, split, longest_horizon).record()


def build_features(market_bars: pd.DataFrame, sr_levels: pd.DataFrame,
                   reference_market_bars: pd.DataFrame, features: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``analyst_features`` (every registered feature, or ``analyst.features.names``) and a
    report of skipped features and NaN left after warm-up. Cross-asset features need the
    reference market's bars (``reference_symbol``); without them they are skipped."""
    reference = None if reference_market_bars.empty else reference_market_bars
    return compute_features(feature_inputs(market_bars, sr_levels=sr_levels,
                                           reference_bars=reference), features.get("names"))


def optimise_targets(market_bars: pd.DataFrame, analyst_features: pd.DataFrame,
                     time_splits: dict[str, Any], costs: dict[str, Any], market: str,
                     target_search: dict[str, Any], baseline_model: dict[str, Any],
                     optuna: dict[str, Any]) -> dict[str, Any]:
    """``optimal_target_params``: take-profit, stop-loss and holding period chosen by the
    baseline's out-of-fold net Sharpe on the training period."""
    search = TargetSearchParams.from_params(target_search)
    splits = TimeSplits.from_record(time_splits)
    train = splits.mask(market_bars.index, "train")
    train[: warmup_bars(analyst_features.columns, bar_interval(market_bars.index))] = False
    rows = np.flatnonzero(train)
    if rows.size == 0:
        raise ValueError("target search: no training bar after the features' warm-up")
    return targets.optimise_targets(
        market_bars, TargetSamplesSpec(analyst_features.iloc[rows], rows),
        round_trip_cost(costs, market), search, baseline_model, splits.embargo_bars,
        bars_per_year(market_bars.index), StudySettings.from_params(optuna))


def finer_bars(klines_raw: pd.DataFrame, klines_quality: dict[str, Any],
               market_bars: pd.DataFrame) -> pd.DataFrame | None:
    """The source klines as a bar table when they are finer than ``market_bars`` (e.g. 1m
    files resampled to 1h), else None."""
    source_ns = int(klines_quality["source_interval_ns"])
    if klines_raw.empty or source_ns >= bar_interval(market_bars.index).value:
        return None
    times = pd.DatetimeIndex(pd.to_datetime(klines_raw["open_time"].to_numpy(), utc=True))
    return pd.DataFrame({"high": klines_raw["high"].to_numpy(),
                         "low": klines_raw["low"].to_numpy()}, index=times).sort_index()


def label_bars(market_bars: pd.DataFrame, optimal_target_params: dict[str, Any],
               klines_raw: pd.DataFrame, klines_quality: dict[str, Any]) -> pd.DataFrame:
    """Triple-barrier ``analyst_labels`` for every bar, with the chosen targets; same-bar
    barrier touches are ordered by the source klines when they are finer than the bars."""
    barriers = BarrierParams.from_params(optimal_target_params)
    labels = triple_barrier_labels(market_bars, barriers,
                                   finer_bars(klines_raw, klines_quality, market_bars))
    logger.info("Labels: %s; same-bar barrier touches %s",
                labels.loc[labels["is_labelled"], "label"].value_counts().to_dict(),
                labels.attrs["ties"])
    return labels


def _training_samples(analyst_features, analyst_labels, splits: TimeSplits):
    return training_samples(analyst_features, analyst_labels,
                            splits.mask(analyst_features.index, "train"))


def select_features(analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                    time_splits: dict[str, Any], baseline_model: dict[str, Any],
                    feature_pruning: dict[str, Any]) -> dict[str, Any]:
    """``pruned_features``: kept features by held-out importance, dropped ones with reasons."""
    params = FeaturePruningParams.from_params(feature_pruning)
    splits = TimeSplits.from_record(time_splits)
    samples = _training_samples(analyst_features, analyst_labels, splits)
    return prune_features(samples, baseline_model, params, splits.embargo_bars)


def narrow_hyperparameter_ranges(analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                                 pruned_features: dict[str, Any], time_splits: dict[str, Any],
                                 baseline_model: dict[str, Any], coarse: dict[str, Any],
                                 optuna: dict[str, Any]) -> dict[str, Any]:
    """``hpo_ranges``: LightGBM ranges narrowed by a coarse study on the pruned features."""
    params = CoarseSearchParams.from_params(coarse)
    splits = TimeSplits.from_record(time_splits)
    samples = _training_samples(analyst_features[pruned_features["features"]],
                                analyst_labels, splits)
    name = "coarse-" + fingerprint(samples.features, samples.labels, samples.weights,
                                   {k: v for k, v in coarse.items() if k != "n_trials"},
                                   baseline_model)
    return coarse_search(samples, baseline_model, params, splits.embargo_bars,
                         StudySettings.from_params(optuna), name)


# ---- part 2 (issue #5): per-regime specialist ensembles

def enhance_regime_features(analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                            regime_labels: pd.DataFrame, pruned_features: dict[str, Any],
                            time_splits: dict[str, Any], ensembles: dict[str, Any],
                            enhancement: dict[str, Any], baseline_model: dict[str, Any]
                            ) -> dict[str, Any]:
    """``analyst_enhanced_features`` (the seeds' step 6): per ensemble (GLOBAL and every
    regime) the pruned features a second pass adds back, with each one's CV evidence."""
    params, spec = EnsembleParams.from_params(ensembles), EnhancementParams.from_params(enhancement)
    splits = TimeSplits.from_record(time_splits)
    period = splits.mask(analyst_features.index, "train")
    return {regime: regime_enhancement(regime, analyst_features, analyst_labels, regime_labels,
                                       period, pruned_features, params, spec, baseline_model,
                                       splits.embargo_bars)
            for regime in (GLOBAL, *REGIMES)}


class RegimeEnsembleTrainer:
    """Trains one regime's specialist (or chooses the GLOBAL stand-in for a regime with too
    few samples). Its bound ``train`` is the node function: a method of a module-level
    class pickles by reference, so Kedro's ParallelRunner can send it to a worker process,
    and Kedro reads its type hints (a callable object has none it can read)."""

    def __init__(self, regime: str):
        self.regime = regime

    def train(self, analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                 regime_labels: pd.DataFrame, pruned_features: dict[str, Any],
                 analyst_enhanced_features: dict[str, Any], hpo_ranges: dict[str, Any],
                 market_bars: pd.DataFrame, optimal_target_params: dict[str, Any],
                 time_splits: dict[str, Any], ensembles: dict[str, Any],
                 regularisation: dict[str, Any], tuning: dict[str, Any], optuna: dict[str, Any],
                 global_ensemble: RegimeEnsemble | None = None
                 ) -> tuple[RegimeEnsemble, dict[str, Any]]:
        regime, splits = self.regime, TimeSplits.from_record(time_splits)
        settings = SpecialistSettings.from_params(ensembles, regularisation, tuning, optuna,
                                                  splits.embargo_bars)
        period = splits.mask(analyst_features.index, "train")
        trains, count = enough_samples(regime, analyst_labels, regime_labels, period,
                                       settings.ensembles)
        if not trains:
            return global_ensemble, global_stand_in(regime, count, settings.ensembles)
        enhanced = analyst_enhanced_features[regime]
        columns = [*settings.ensembles.features(regime, pruned_features["features"]),
                   *enhanced["added"]]
        samples = regime_samples(analyst_features[columns], analyst_labels, regime_labels,
                                 period, regime)
        trades = bars_in_year = None
        if settings.tuning.objective == "sharpe":
            trades = barrier_trades(market_bars, BarrierParams.from_params(optimal_target_params))[0]
            bars_in_year = bars_per_year(market_bars.index)
        ensemble, report = train_specialist(regime, samples, hpo_ranges, settings, trades,
                                            bars_in_year)
        return ensemble, {**report, "enhancement": enhanced}


def regime_ensemble_trainer(regime: str):
    """The node function training ``regime``'s ensemble (GLOBAL: every training bar)."""
    return RegimeEnsembleTrainer(regime).train


def predict_and_calibrate(analyst_features: pd.DataFrame, analyst_labels: pd.DataFrame,
                          regime_labels: pd.DataFrame, time_splits: dict[str, Any],
                          calibration: dict[str, Any],
                          **ensembles_and_reports: Any
                          ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any],
                                     dict[str, Any], dict[str, Any]]:
    """``analyst_predictions`` of every ensemble on the validation and test bars
    (calibrated on validation, cross-fitted there), ``analyst_oof_predictions`` on the
    training bars, the calibrators, ``analyst_metrics`` per ensemble and the reliability
    diagrams."""
    params = CalibrationParams.from_params(calibration)
    names = [GLOBAL, *REGIMES]
    ensembles = {n: ensembles_and_reports[f"analyst_ensemble_{n}"] for n in names}
    reports = {n: ensembles_and_reports[f"analyst_ensemble_report_{n}"] for n in names}
    predictions, calibrators, calibration_reports, charts = regime_predictions(
        ensembles, analyst_features, analyst_labels, regime_labels["regime"],
        TimeSplits.from_record(time_splits).period_names(analyst_features.index), params.method,
        params.min_samples, params.bins, params.min_probability)
    metrics = {n: {"model": reports[n]["model"],
                   "out_of_fold": reports[n].get("out_of_fold"),
                   "calibration": calibration_reports[n]} for n in names}
    figures = {n: reliability_diagram(*charts[n], params.bins,
                                      f"{n}: held-out reliability ({params.method})")
               for n in names}
    oof = out_of_fold_predictions(ensembles, reports, analyst_labels)
    return predictions, oof, calibrators, metrics, figures
