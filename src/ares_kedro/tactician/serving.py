"""The tactician applied to signals: probabilities, then decisions and sizes.

One code path for the tactician pipeline's validation and test signals and for the live
predictor, so a bar gets the same answer in both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import BarrierParams
from ares_kedro.market.timeframes import bars_per_year
from ares_kedro.regimes.indicators import average_true_range
from ares_kedro.tactician.context import (
    ContextParams,
    higher_timeframe_trends,
    positions,
    realised_volatility,
    trend_direction,
    trend_values,
)
from ares_kedro.tactician.decisions import DecisionParams, decision_columns
from ares_kedro.tactician.labels import TacticianLabelParams
from ares_kedro.tactician.sizing import SizingParams
from ares_kedro.tactician.training import TacticianModels, signal_feature_matrix


def payoff_ratio(record: dict[str, Any]) -> float:
    """Win / loss of the analyst's trades in ``tactician_sizing`` (take-profit / stop-loss;
    1 for fixed-horizon labels)."""
    return BarrierParams.from_params(record["barriers"]).payoff_ratio


def signal_probabilities(models: TacticianModels, signals: pd.DataFrame,
                         analyst_features: pd.DataFrame, context: dict[str, Any]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(p_win, p_wait) of ``signals`` (regime, opinion, side per signal bar) from the
    specialists of each signal's regime."""
    trends = higher_timeframe_trends(analyst_features, ContextParams.from_params(context))
    rows, columns = signal_feature_matrix(analyst_features, trends, signals,
                                          models.analyst_features)  # signal_features' values
    regime = signals["regime"].to_numpy()
    return (models.row_probability("meta", rows, columns, regime),
            models.row_probability("entry_timing", rows, columns, regime))


def signal_decisions(record: dict[str, Any], signals: pd.DataFrame, p_win: np.ndarray,
                     p_wait: np.ndarray, bars: pd.DataFrame, analyst_features: pd.DataFrame
                     ) -> pd.DataFrame:
    """:func:`~ares_kedro.tactician.decisions.decide` for ``signals`` with the parameters
    recorded in ``tactician_sizing``; ATR and volatility from ``bars`` (causal)."""
    return pd.DataFrame(signal_decision_columns(record, signals, p_win, p_wait, bars,
                                                analyst_features), index=signals.index)


def signal_decision_columns(record: dict[str, Any], signals: pd.DataFrame, p_win: np.ndarray,
                            p_wait: np.ndarray, bars: pd.DataFrame,
                            analyst_features: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns of :func:`signal_decisions` as arrays."""
    labels = TacticianLabelParams.from_params(record["labels"])
    context = ContextParams.from_params(record["context"])
    rows = bars.index.get_indexer(signals.index)
    if (rows < 0).any():
        raise ValueError("tactician: signals hold bars missing from the bar table")
    high, low, close = (bars[column].to_numpy(dtype=float) for column in ("high", "low", "close"))
    atr = average_true_range(high, low, close, int(labels.atr_window))
    volatility = realised_volatility(close, context.volatility_window_bars,
                                     bars_per_year(bars.index))
    feature_rows = (rows if analyst_features.index.equals(bars.index)
                    else positions(analyst_features.index, signals.index))
    trend_1d = trend_direction(trend_values(analyst_features, context, "1d")[feature_rows],
                               context.trend_min_distance)
    return decision_columns(signals["side"].to_numpy(), p_win, p_wait, close[rows], atr[rows],
                            volatility[rows], trend_1d, payoff_ratio(record),
                            float(labels.limit_offset_atr),
                            DecisionParams.from_params(record["decisions"]),
                            SizingParams.from_params(record["sizing"]), context)


def tactician_decisions(models: TacticianModels, record: dict[str, Any], signals: pd.DataFrame,
                        analyst_features: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and decisions of ``signals`` (the live path): the columns of
    :func:`signal_decisions`, ``p_win``, ``p_wait`` and the signal's ``side`` (the
    ``tactician_signals`` columns the governor reads)."""
    p_win, p_wait = signal_probabilities(models, signals, analyst_features, record["context"])
    columns = signal_decision_columns(record, signals, p_win, p_wait, bars, analyst_features)
    return pd.DataFrame({**columns, "p_win": p_win, "p_wait": p_wait,
                         "side": signals["side"].to_numpy()}, index=signals.index)
