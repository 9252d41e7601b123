"""Tactician nodes: label the analyst's signals, train the specialists, decide."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import BarrierParams, barrier_record, barrier_trades
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.tactician.context import ContextParams, higher_timeframe_trends
from ares_kedro.tactician.labels import (
    TacticianLabelParams,
    entry_timing_labels,
    meta_labels,
    position_management_labels,
)
from ares_kedro.tactician.metrics import review_metrics, signal_metrics
from ares_kedro.tactician.models import TacticianModelParams
from ares_kedro.tactician.serving import (
    TacticianSettings,
    signal_decisions,
    signal_probabilities,
)
from ares_kedro.tactician.signals import OPINION_COLUMNS, analyst_signals
from ares_kedro.tactician.training import (
    QUESTIONS,
    TacticianEnsemble,
    question_samples,
    review_features,
    signal_features,
    train_question,
)

logger = logging.getLogger(__name__)
PERIODS = ("train", "validation", "test")


def _barriers(optimal_target_params: dict[str, Any]) -> BarrierParams:
    return BarrierParams.from_params(optimal_target_params)


def _atr(market_bars: pd.DataFrame, window: int) -> pd.Series:
    return average_true_range(market_bars["high"], market_bars["low"], market_bars["close"],
                              int(window))


def label_signals(market_bars: pd.DataFrame, analyst_oof_predictions: pd.DataFrame,
                  analyst_predictions: pd.DataFrame, regime_labels: pd.DataFrame,
                  optimal_target_params: dict[str, Any], labels: dict[str, Any]
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tactician_labels``: every directional analyst signal (training bars out of fold,
    validation and test bars) with its meta-label and entry-timing label;
    ``tactician_review_labels``: the position reviews of those signals."""
    params = TacticianLabelParams.from_params(labels)
    barriers = _barriers(optimal_target_params)
    opinions = analyst_signals(analyst_oof_predictions, analyst_predictions,
                               regime_labels["regime"], float(params.min_directional_edge))
    signals = opinions[opinions["side"] != 0]
    trades = barrier_trades(market_bars, barriers)[0]
    meta = meta_labels(signals["side"], trades)
    timing = entry_timing_labels(market_bars, meta, trades,
                                 _atr(market_bars, params.atr_window),
                                 int(params.max_wait_bars), float(params.limit_offset_atr))
    rows = market_bars.index.get_indexer(signals.index)
    n = len(market_bars)
    horizon = max(int(barriers.holding_bars), int(params.max_wait_bars))
    table = pd.concat([signals.drop(columns="side"), meta, timing], axis=1)
    table["row"] = rows
    table["timing_end_row"] = np.minimum(np.maximum(meta["exit_row"], rows + params.max_wait_bars),
                                         n - 1)
    table["is_labelled"] = rows + horizon <= n - 1  # every answer complete inside the data
    reviews = position_management_labels(market_bars, meta, trades,
                                         tuple(params.review_bars), barriers.round_trip_fee)
    origin = table.loc[pd.DatetimeIndex(reviews["signal_time"])]
    reviews["period"] = origin["period"].to_numpy()
    reviews["is_labelled"] = origin["is_labelled"].to_numpy()
    reviews["regime"] = regime_labels["regime"].astype(str).reindex(reviews.index).to_numpy()
    logger.info("Tactician: %d directional signals (%s), %d position reviews",
                len(table), table["period"].value_counts().to_dict(), len(reviews))
    return table, reviews


def _signal_rows(analyst_features, tactician_labels, columns, context):
    trends = higher_timeframe_trends(analyst_features, ContextParams.from_params(context))
    return signal_features(analyst_features, trends, tactician_labels, columns)


def _review_rows(analyst_features, tactician_labels, tactician_review_labels, columns, context):
    trends = higher_timeframe_trends(analyst_features, ContextParams.from_params(context))
    return review_features(analyst_features, trends, tactician_review_labels, tactician_labels,
                           columns)


def train_tactician(analyst_features: pd.DataFrame, tactician_labels: pd.DataFrame,
                    tactician_review_labels: pd.DataFrame, pruned_features: dict[str, Any],
                    models: dict[str, Any], context: dict[str, Any],
                    time_splits: dict[str, Any]
                    ) -> tuple[TacticianEnsemble, pd.DataFrame, dict[str, Any]]:
    """``tactician_models`` (a specialist per question and regime, GLOBAL stand-in),
    their cross-fitted out-of-fold probabilities on the training signals and reviews
    (``tactician_oof_probabilities``) and ``tactician_training_report``."""
    params = TacticianModelParams.from_params(models)
    embargo = int(time_splits["embargo_bars"])  # the time_splits dataset carries it
    columns = list(pruned_features["features"])[: int(params.top_features)]
    on_signals = _signal_rows(analyst_features, tactician_labels, columns, context)
    on_reviews = _review_rows(analyst_features, tactician_labels, tactician_review_labels,
                              columns, context)
    specialists, report = {}, {}
    oof = {}
    for question in QUESTIONS:
        labels, features = ((tactician_review_labels, on_reviews)
                            if question == "position_management"
                            else (tactician_labels, on_signals))
        rows = (labels["period"] == "train").to_numpy() & labels["is_labelled"].to_numpy(bool)
        samples = question_samples(question, features, labels, rows)
        specialists[question], probability, report[question] = train_question(
            samples, params, embargo, question_may_be_empty=question == "position_management")
        oof[question] = pd.Series(probability, index=np.flatnonzero(rows))
        logger.info("Tactician %s: %s", question,
                    {k: v["model"] for k, v in report[question].items()})
    table = pd.DataFrame({
        "kind": ["signal"] * len(oof["meta"]) + ["review"] * len(oof["position_management"]),
        "label_row": np.r_[oof["meta"].index, oof["position_management"].index],
        "p_win": np.r_[oof["meta"].to_numpy(), np.full(len(oof["position_management"]), np.nan)],
        "p_wait": np.r_[oof["entry_timing"].to_numpy(),
                        np.full(len(oof["position_management"]), np.nan)],
        "p_close": np.r_[np.full(len(oof["meta"]), np.nan), oof["position_management"].to_numpy()],
    })
    return TacticianEnsemble(specialists, columns), table, report


def decide_signals(market_bars: pd.DataFrame, analyst_features: pd.DataFrame,
                   tactician_labels: pd.DataFrame, tactician_review_labels: pd.DataFrame,
                   tactician_models: TacticianEnsemble,
                   tactician_oof_probabilities: pd.DataFrame,
                   optimal_target_params: dict[str, Any], labels: dict[str, Any],
                   context: dict[str, Any], decisions: dict[str, Any], sizing: dict[str, Any]
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """``tactician_signals`` (act, entry, size per signal; training rows out of fold),
    ``tactician_reviews`` (close-early probability per review), the sizing parameters
    (``tactician_sizing``) and ``tactician_metrics`` per period."""
    barriers = _barriers(optimal_target_params)
    record = {"sizing": sizing, "decisions": decisions, "context": context, "labels": labels,
              "payoff_ratio": barriers.payoff_ratio, "barriers": barrier_record(barriers)}
    settings = TacticianSettings.from_record(record)  # every block checked here
    on_reviews = _review_rows(analyst_features, tactician_labels, tactician_review_labels,
                              tactician_models.analyst_features, context)

    signals = tactician_labels.copy()
    reviews = tactician_review_labels.copy()
    later = (signals["period"] != "train").to_numpy()
    p_win = np.full(len(signals), np.nan)
    p_wait = np.full(len(signals), np.nan)
    p_win[later], p_wait[later] = signal_probabilities(tactician_models, signals[later],
                                                       analyst_features, settings.context)
    oof = tactician_oof_probabilities
    on_signal = oof[oof["kind"] == "signal"]
    p_win[on_signal["label_row"].to_numpy()] = on_signal["p_win"].to_numpy()
    p_wait[on_signal["label_row"].to_numpy()] = on_signal["p_wait"].to_numpy()
    signals["p_win"], signals["p_wait"] = p_win, p_wait
    later_reviews = (reviews["period"] != "train").to_numpy()
    reviews["p_close"] = np.nan
    reviews.loc[later_reviews, "p_close"] = tactician_models.probability(
        "position_management", on_reviews[later_reviews],
        reviews["regime"].to_numpy()[later_reviews])
    on_review = oof[oof["kind"] == "review"]
    reviews.iloc[on_review["label_row"].to_numpy(), reviews.columns.get_loc("p_close")] = \
        on_review["p_close"].to_numpy()

    decided = signal_decisions(settings, signals, p_win, p_wait, market_bars, analyst_features)
    signals = pd.concat([signals, decided], axis=1)
    # a training signal no purged fold tested has no honest probability: it is not scored
    scored = signals["is_labelled"] & signals["p_win"].notna()
    metrics = {"periods": {}}
    for period in PERIODS:
        in_period = scored & (signals["period"] == period)
        period_reviews = reviews[(reviews["period"] == period) & reviews["is_labelled"]
                                 & reviews["p_close"].notna()]
        metrics["periods"][period] = {
            **signal_metrics(signals[in_period]),
            "position_management": review_metrics(period_reviews,
                                                  settings.decisions.close_threshold),
        }
    metrics["training_probabilities"] = "out of fold (purged CV), cross-fitted calibration"
    keep = ["period", "regime", "ensemble", *OPINION_COLUMNS, "side", "p_win", "p_wait",
            "act", "entry", "limit_price", "against_daily_trend", "size", "is_labelled",
            "meta_label", "net_return", "exit_row", "filled", "fill_row",
            "price_improvement", "wait_label"]
    return signals[keep], reviews, record, metrics
