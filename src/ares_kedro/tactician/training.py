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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.context import model_features
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


class TacticianModels:
    """Every fitted specialist: ``specialists[question][regime or GLOBAL]``."""

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
        out = np.full(len(features), np.nan)
        for name in np.unique(regime):
            rows = regime == name
            specialist = self.specialists[question][self.serving(question, name)]
            out[rows] = specialist.probability(features.iloc[np.flatnonzero(rows)])
        return out


def train_question(samples: QuestionSamples, params: TacticianModelParams, embargo: int
                   ) -> tuple[dict[str, BinarySpecialist], np.ndarray, dict[str, Any]]:
    """Specialists of one question, each sample's out-of-fold probability from the
    specialist that serves it, and a report per specialist."""
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
    at = signals.index
    return model_features(analyst_features.loc[at, columns], signals, signals["side"].to_numpy(),
                          signals["regime"].to_numpy(), trends.loc[at])


def review_features(analyst_features: pd.DataFrame, trends: pd.DataFrame,
                    reviews: pd.DataFrame, signals: pd.DataFrame, columns: list[str]
                    ) -> pd.DataFrame:
    """Model features of position reviews (``tactician_review_labels`` rows): features and
    context at the review bar, the opinion that opened the position, ``bars_held`` and
    ``unrealised_return``."""
    at = reviews.index
    opinion = signals.loc[pd.DatetimeIndex(reviews["signal_time"])]
    table = model_features(analyst_features.loc[at, columns], opinion,
                           reviews["side"].to_numpy(), reviews["regime"].to_numpy(),
                           trends.loc[at])
    table["bars_held"] = reviews["bars_held"].to_numpy(dtype=float)
    table["unrealised_return"] = reviews["unrealised_return"].to_numpy(dtype=float)
    return table


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
