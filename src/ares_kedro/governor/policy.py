"""The governor's decision policy: its final parameters, typed and parsed once.

``governor_final_params`` (the opinion the decisions follow, the edge gate, the sizing)
with the tactician's context and payoff ratio make a :class:`DecisionPolicy`. Its
:meth:`~DecisionPolicy.decide` is the last step of every decision, the governor
pipeline's and the live predictor's alike; :func:`governor_view` is the live predictor's
governor stage in one call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ares_kedro.governor.decisions import EdgeGate, governor_decision_columns
from ares_kedro.governor.final_parameters import decision_gate, opinion_probabilities
from ares_kedro.governor.inputs import governor_input_columns
from ares_kedro.governor.model import class_probabilities
from ares_kedro.tactician.context import (
    ContextParams,
    realised_volatility,
    trend_direction,
    trend_values,
)
from ares_kedro.tactician.serving import TacticianSettings
from ares_kedro.tactician.sizing import SizingParams


@dataclass(frozen=True)
class DecisionPolicy:
    """How the governor turns probabilities into sized decisions."""

    opinion: str  # the opinion decisions follow: governor, GLOBAL, own or mean
    gate: EdgeGate  # never opens when the final optimisation found nothing that pays
    sizing: SizingParams  # the tuned sizing of governor_final_params
    context: ContextParams  # the tactician's: volatility window, daily-trend coordination
    payoff_ratio: float  # win / loss of a trade (take-profit / stop-loss)

    @classmethod
    def from_records(cls, final_params: Mapping[str, Any],
                     tactician: TacticianSettings) -> DecisionPolicy:
        """From ``governor_final_params`` and the tactician's settings."""
        return cls(final_params.get("opinion") or "governor", decision_gate(dict(final_params)),
                   SizingParams.from_params(final_params["sizing"]), tactician.context,
                   tactician.payoff_ratio)

    def probabilities(self, meta_proba: np.ndarray,
                      input_columns: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """(n, 3) LABELS-order probabilities of the opinion the decisions follow, from the
        meta-learner's ``meta_proba`` or the governor inputs' ensemble columns."""
        return opinion_probabilities({"opinion": self.opinion}, meta_proba, input_columns)

    def decide(self, meta_proba: np.ndarray, input_columns: pd.DataFrame | Mapping[str, Any],
               volatility: np.ndarray, trend_1d: np.ndarray
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The followed opinion's probabilities and the decision columns of
        :func:`~ares_kedro.governor.decisions.governor_decision_columns` (prediction,
        confidence, edge, decision, side, size), per row; ``volatility`` annualised and
        ``trend_1d`` +1 / -1 / 0 on the same rows."""
        proba = self.probabilities(meta_proba, input_columns)
        return proba, governor_decision_columns(proba, self.gate, volatility, trend_1d,
                                                self.payoff_ratio, self.sizing, self.context)

    def market_context(self, close: np.ndarray, features_at: pd.DataFrame, rows: np.ndarray,
                       bars_per_year: float) -> tuple[np.ndarray, np.ndarray]:
        """(volatility, trend_1d) at ``rows`` of the bars whose closes are ``close``:
        the annualised realised volatility (causal) and the daily trend of
        ``features_at`` (the feature rows of those bars)."""
        volatility = realised_volatility(np.asarray(close, dtype=float),
                                         self.context.volatility_window_bars,
                                         bars_per_year)[rows]
        trend = trend_direction(trend_values(features_at, self.context, "1d"),
                                self.context.trend_min_distance)
        return volatility, trend


def governor_view(model: Pipeline, policy: DecisionPolicy, opinions: Mapping[str, Any],
                  tactician: pd.DataFrame, index: pd.Index, volatility: np.ndarray,
                  trend_1d: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The governor stage of a live decision, in one call: its inputs from the ensembles'
    ``opinions`` (columns as arrays, one per bar of ``index``) and the ``tactician``'s
    decisions of the signals among them, the meta-learner's probabilities, and
    :meth:`DecisionPolicy.decide`."""
    inputs = governor_input_columns(opinions, tactician, index)
    return policy.decide(class_probabilities(model, inputs), inputs, volatility, trend_1d)
