"""The tactician applied to signals: probabilities, then decisions and sizes.

One code path for the tactician pipeline's validation and test signals and for the live
predictor, so a bar gets the same answer in both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.inputs import bar_interval
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.tactician.context import ContextParams, higher_timeframe_trends, realised_volatility
from ares_kedro.tactician.decisions import DecisionParams, decide
from ares_kedro.tactician.labels import TacticianLabelParams
from ares_kedro.tactician.sizing import SizingParams
from ares_kedro.tactician.training import TacticianModels, signal_features

YEAR = pd.Timedelta(days=365)


def payoff_ratio(record: dict[str, Any]) -> float:
    """take-profit / stop-loss of the barriers in ``tactician_sizing``."""
    return float(record["barriers"]["take_profit"]) / float(record["barriers"]["stop_loss"])


def signal_probabilities(models: TacticianModels, signals: pd.DataFrame,
                         analyst_features: pd.DataFrame, context: dict[str, Any]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(p_win, p_wait) of ``signals`` (regime, opinion, side per signal bar) from the
    specialists of each signal's regime."""
    trends = higher_timeframe_trends(analyst_features.loc[signals.index],
                                     ContextParams.from_params(context))
    rows = signal_features(analyst_features, trends, signals, models.analyst_features)
    regime = signals["regime"].to_numpy()
    return (models.probability("meta", rows, regime),
            models.probability("entry_timing", rows, regime))


def signal_decisions(record: dict[str, Any], signals: pd.DataFrame, p_win: np.ndarray,
                     p_wait: np.ndarray, bars: pd.DataFrame, analyst_features: pd.DataFrame
                     ) -> pd.DataFrame:
    """:func:`~ares_kedro.tactician.decisions.decide` for ``signals`` with the parameters
    recorded in ``tactician_sizing``; ATR and volatility from ``bars`` (causal)."""
    labels = TacticianLabelParams.from_params(record["labels"])
    context = ContextParams.from_params(record["context"])
    rows = bars.index.get_indexer(signals.index)
    if (rows < 0).any():
        raise ValueError("tactician: signals hold bars missing from the bar table")
    atr = average_true_range(bars["high"], bars["low"], bars["close"], int(labels.atr_window))
    volatility = realised_volatility(bars["close"], context.volatility_window_bars,
                                     YEAR / bar_interval(bars.index))
    trend_1d = higher_timeframe_trends(analyst_features.loc[signals.index], context)["trend_1d"]
    return decide(signals["side"].to_numpy(), p_win, p_wait, bars["close"].to_numpy()[rows],
                  atr.to_numpy()[rows], volatility.to_numpy()[rows], trend_1d.to_numpy(),
                  payoff_ratio(record), float(labels.limit_offset_atr),
                  DecisionParams.from_params(record["decisions"]),
                  SizingParams.from_params(record["sizing"]), context, signals.index)


def tactician_decisions(models: TacticianModels, record: dict[str, Any], signals: pd.DataFrame,
                        analyst_features: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and decisions of ``signals`` (the live path): ``p_win``, ``p_wait``
    and the columns of :func:`signal_decisions`."""
    p_win, p_wait = signal_probabilities(models, signals, analyst_features, record["context"])
    decided = signal_decisions(record, signals, p_win, p_wait, bars, analyst_features)
    return decided.assign(p_win=p_win, p_wait=p_wait)
