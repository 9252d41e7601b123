"""Training the tactician's specialists and applying them to signals.

Three questions, one binary specialist family each (:data:`QUESTIONS`):

* ``meta``: will the signal's trade win (take-profit before stop, net of costs)?
* ``entry_timing``: will a limit order placed at the signal fill and do better?
* ``position_management``: at a review bar, should the open position be closed?

For each question a GLOBAL specialist is trained on the training period's samples of all
regimes, and one per regime with at least ``min_training_signals`` samples. A sample is
answered by the specialist of its regime, else by GLOBAL; so are its out-of-fold
probabilities on the training period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.ensembles import feature_matrix
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.context import context_columns, joined_rows, positions
from ares_kedro.tactician.models import (
    BinarySpecialist,
    TacticianModelParams,
    fit_specialist,
    sample_label_end,
)

QUESTIONS = {"meta": "meta_label", "entry_timing": "wait_label",
             "position_management": "close_early"}


@dataclass
class QuestionSamples:
    """The samples of one question, sorted by the bar they are decided at."""

    features: pd.DataFrame  # (n, k) model features (context.model_features)
    answer: np.ndarray  # (n,) 0 / 1
    regime: np.ndarray  # (n,) regime name at the decision bar
    decision_row: np.ndarray  # (n,) row of the decision bar in the bar table
    end_row: np.ndarray  # (n,) row of the last bar the answer depends on


class TacticianEnsemble:
    """The tactician ensemble (the seeds' step 10): every fitted specialist,
    ``specialists[question][regime or GLOBAL]``, one binary model per question (take the
    signal, wait for a better entry, close early) and regime, GLOBAL standing in for a
    regime with too few signals."""

    def __init__(self, specialists: dict[str, dict[str, BinarySpecialist]],
                 analyst_features: list[str]):
        self.specialists = specialists
        self.analyst_features = analyst_features

    def serving(self, question: str, regime: str) -> str:
        """Which specialist answers ``question`` in ``regime`` (the regime's or GLOBAL)."""
        return regime if regime in self.specialists[question] else GLOBAL

    def probability(self, question: str, features: pd.DataFrame, regime: np.ndarray
                    ) -> np.ndarray:
        """(n,) calibrated probability of "yes" from each row's regime's specialist."""
        regime = np.asarray(regime).astype(str)
        columns = list(dict.fromkeys(
            column for name in np.unique(regime)
            for column in self.specialists[question][self.serving(question, name)].columns))
        return self.row_probability(question, feature_matrix(features, columns), columns,
                                    regime)

    def row_probability(self, question: str, rows: np.ndarray, columns: Sequence[str],
                        regime: np.ndarray) -> np.ndarray:
        """:meth:`probability` of (n, k) float rows whose columns are ``columns`` (each
        specialist takes its own, in its order)."""
        regime = np.asarray(regime).astype(str)
        position = {name: k for k, name in enumerate(columns)}
        out = np.full(len(rows), np.nan)
        for name in np.unique(regime):
            at = np.flatnonzero(regime == name)
            specialist = self.specialists[question][self.serving(question, name)]
            take = ([position[column] for column in specialist.columns]
                    if specialist.model is not None else [])
            out[at] = specialist.row_probability(rows[np.ix_(at, take)])
        return out


TacticianModels = TacticianEnsemble  # the name it was pickled under before 2026-12-03


def train_question(samples: QuestionSamples, params: TacticianModelParams, embargo: int,
                   question_may_be_empty: bool = False
                   ) -> tuple[dict[str, BinarySpecialist], np.ndarray, dict[str, Any]]:
    """Specialists of one question, each sample's out-of-fold probability from the
    specialist that serves it, and a report per specialist. A question that may have no
    sample (``question_may_be_empty``) and has none gets a GLOBAL specialist that always
    answers 0."""
    if samples.answer.size == 0 and question_may_be_empty:
        # e.g. position reviews when every trade ends before the first review bar: there is
        # nothing to learn and nothing to decide; the answer is "no" (probability 0)
        empty = BinarySpecialist(list(samples.features.columns), None, None, 0.0)
        return {GLOBAL: empty}, np.zeros(0), {GLOBAL: {"model": "no_samples", "samples": 0}}
    if samples.answer.size < int(params.cv_folds):
        raise ValueError(f"tactician: only {samples.answer.size} training samples; use more "
                         "data or a longer training period")
    specialists: dict[str, BinarySpecialist] = {}
    report: dict[str, Any] = {}
    oof = np.full(samples.answer.size, np.nan)
    scopes = {GLOBAL: np.ones(samples.answer.size, dtype=bool)}
    scopes |= {name: samples.regime == name for name in REGIMES}
    for name, rows in scopes.items():
        count = int(rows.sum())
        if name != GLOBAL and count < int(params.min_training_signals):
            report[name] = {"model": "global_fallback", "samples": count,
                            "min_training_signals": int(params.min_training_signals)}
            continue
        index = np.flatnonzero(rows)
        end = sample_label_end(samples.decision_row[index], samples.end_row[index])
        specialist, scope_oof, scope_report = fit_specialist(
            samples.features.iloc[index], samples.answer[index], end, params, embargo)
        specialists[name] = specialist
        report[name] = {"model": "specialist", **scope_report}
        oof[index] = scope_oof  # GLOBAL first; a regime's own specialist then overwrites
    return specialists, oof, report


def signal_features(analyst_features: pd.DataFrame, trends: pd.DataFrame,
                    signals: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Model features of signals (``tactician_labels`` rows): the analyst features
    ``columns`` and the context at the signal bar, the analyst's opinion, side, regime."""
    rows, trend_rows = _rows_at(analyst_features, trends, signals.index)
    return joined_rows(analyst_features, rows, columns,
                       _context(signals, signals, trends, trend_rows))


def signal_feature_matrix(analyst_features: pd.DataFrame, trends: pd.DataFrame,
                          signals: pd.DataFrame, columns: list[str]
                          ) -> tuple[np.ndarray, list[str]]:
    """:func:`signal_features` as (n, k) floats and their column names: what the
    specialists read (:meth:`TacticianEnsemble.row_probability`), without the table."""
    rows, trend_rows = _rows_at(analyst_features, trends, signals.index)
    extra = _context(signals, signals, trends, trend_rows)
    values = np.column_stack([feature_matrix(analyst_features, columns)[rows],
                              *extra.values()])
    return values, [*columns, *extra]


def review_features(analyst_features: pd.DataFrame, trends: pd.DataFrame,
                    reviews: pd.DataFrame, signals: pd.DataFrame, columns: list[str]
                    ) -> pd.DataFrame:
    """Model features of position reviews (``tactician_review_labels`` rows): features and
    context at the review bar, the opinion that opened the position, ``bars_held`` and
    ``unrealised_return``."""
    rows, trend_rows = _rows_at(analyst_features, trends, reviews.index)
    opinion = signals.loc[pd.DatetimeIndex(reviews["signal_time"])]
    extra = _context(opinion, reviews, trends, trend_rows)
    extra["bars_held"] = reviews["bars_held"].to_numpy(dtype=float)
    extra["unrealised_return"] = reviews["unrealised_return"].to_numpy(dtype=float)
    return joined_rows(analyst_features, rows, columns, extra)


def _context(opinion: pd.DataFrame, samples: pd.DataFrame, trends: pd.DataFrame,
             trend_rows: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`~.context.context_columns` of ``samples`` (``side`` and ``regime`` each)
    with ``opinion`` and the trends at the rows ``trend_rows``."""
    return context_columns(opinion, samples["side"].to_numpy(), samples["regime"].to_numpy(),
                           {column: trends[column].to_numpy(dtype=float)[trend_rows]
                            for column in trends})


def _rows_at(analyst_features: pd.DataFrame, trends: pd.DataFrame, at: pd.Index
             ) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the bars ``at`` in ``analyst_features`` and in ``trends`` (the same
    when both share an index, as when the trends were computed from those features)."""
    rows = positions(analyst_features.index, at)
    if trends.index.equals(analyst_features.index):
        return rows, rows
    return rows, positions(trends.index, at)


def question_samples(question: str, features: pd.DataFrame, labels: pd.DataFrame,
                     rows: np.ndarray) -> QuestionSamples:
    """The samples of ``question`` among ``labels`` rows selected by the mask ``rows``
    (``features`` aligned with ``labels``)."""
    decision = "review_row" if question == "position_management" else "row"
    end = {"meta": "exit_row", "entry_timing": "timing_end_row",
           "position_management": "exit_row"}[question]
    index = np.flatnonzero(rows)
    return QuestionSamples(features.iloc[index], labels[QUESTIONS[question]].to_numpy()[index],
                           labels["regime"].astype(str).to_numpy()[index],
                           labels[decision].to_numpy()[index], labels[end].to_numpy()[index])
