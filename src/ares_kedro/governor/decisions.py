"""The governor's decision: LONG / SHORT / HOLD, a confidence and a size.

* prediction: the most probable class; confidence: its probability;
* decision: the prediction when it is LONG or SHORT and the confidence reaches
  ``overall_confidence_threshold``, else HOLD;
* size: the tactician's sizing (:mod:`~ares_kedro.tactician.sizing`, with its limits and
  the daily-trend coordination of :mod:`~ares_kedro.tactician.decisions`) applied to the
  decision with the governor's probability of the decided direction as the win probability
  (a LONG label *is* "the long trade reaches its take-profit first"); 0 for HOLD.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import HOLD, LABELS
from ares_kedro.tactician.context import ContextParams
from ares_kedro.tactician.sizing import SizingParams, position_sizes

SIDE = {"LONG": 1, "SHORT": -1, "HOLD": 0}


def governor_decisions(proba: np.ndarray, threshold: float, volatility: np.ndarray,
                       trend_1d: np.ndarray, payoff_ratio: float, sizing: SizingParams,
                       context: ContextParams, index: pd.Index) -> pd.DataFrame:
    """Decisions for (n, 3) LABELS-order probabilities (rows with NaN: HOLD, size 0).

    Args:
        threshold: ``overall_confidence_threshold``.
        volatility: annualised realised volatility per row; trend_1d: +1 / -1 / 0.
        payoff_ratio: take-profit / stop-loss of the analyst's barriers.

    Returns:
        ``prediction``, ``confidence``, ``decision``, ``side`` (+1 / -1 / 0) and ``size``,
        indexed by ``index``.
    """
    return pd.DataFrame(governor_decision_columns(proba, threshold, volatility, trend_1d,
                                                  payoff_ratio, sizing, context), index=index)


def governor_decision_columns(proba: np.ndarray, threshold: float, volatility: np.ndarray,
                              trend_1d: np.ndarray, payoff_ratio: float, sizing: SizingParams,
                              context: ContextParams) -> dict[str, np.ndarray]:
    """The columns of :func:`governor_decisions` as arrays."""
    proba = np.asarray(proba, dtype=float)
    known = ~np.isnan(proba).any(axis=1)
    choice = np.argmax(np.where(known[:, None], proba, 0.0), axis=1)
    prediction = np.where(known, np.array(LABELS)[choice], HOLD)
    confidence = np.where(known, proba.max(axis=1, initial=0.0, where=known[:, None]), np.nan)
    acting = known & (prediction != HOLD) & (confidence >= threshold)
    decision = np.where(acting, prediction, HOLD)
    side = np.array([SIDE[d] for d in decision], dtype=float)
    win = np.where(acting, confidence, np.nan)
    size = position_sizes(side, win, volatility, payoff_ratio, sizing)
    size = np.where(side * np.asarray(trend_1d, dtype=float) < 0,
                    size * context.against_daily_trend_scale, size)
    return {"prediction": prediction, "confidence": confidence, "decision": decision,
            "side": side.astype(int), "size": np.where(acting, size, 0.0)}
