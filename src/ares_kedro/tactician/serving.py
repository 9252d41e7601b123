"""The tactician applied to signals: probabilities, then decisions and sizes.

One code path for the tactician pipeline's validation and test signals and for the live
predictor, so a bar gets the same answer in both. The settings recorded in
``tactician_sizing`` are parsed once into :class:`TacticianSettings`; the live stage is one
call, :func:`tactician_view`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
from ares_kedro.tactician.signals import signals_at_bars
from ares_kedro.tactician.sizing import SizingParams
from ares_kedro.tactician.training import TacticianEnsemble, signal_feature_matrix


@dataclass(frozen=True)
class TacticianSettings:
    """``tactician_sizing`` parsed once: what applying the tactician to signals needs."""

    labels: TacticianLabelParams
    context: ContextParams
    decisions: DecisionParams
    sizing: SizingParams
    payoff_ratio: float  # win / loss of the analyst's trades (take-profit / stop-loss; 1
    # for fixed-horizon labels)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TacticianSettings:
        """From the ``tactician_sizing`` record (labels, context, decisions, sizing and
        barriers blocks)."""
        return cls(TacticianLabelParams.from_params(record["labels"]),
                   ContextParams.from_params(record["context"]),
                   DecisionParams.from_params(record["decisions"]),
                   SizingParams.from_params(record["sizing"]),
                   BarrierParams.from_params(record["barriers"]).payoff_ratio)


def signal_probabilities(models: TacticianEnsemble, signals: pd.DataFrame,
                         analyst_features: pd.DataFrame, context: ContextParams
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(p_win, p_wait) of ``signals`` (regime, opinion, side per signal bar) from the
    specialists of each signal's regime."""
    trends = higher_timeframe_trends(analyst_features, context)
    rows, columns = signal_feature_matrix(analyst_features, trends, signals,
                                          models.analyst_features)  # signal_features' values
    regime = signals["regime"].to_numpy()
    return (models.row_probability("meta", rows, columns, regime),
            models.row_probability("entry_timing", rows, columns, regime))


def signal_decisions(settings: TacticianSettings, signals: pd.DataFrame, p_win: np.ndarray,
                     p_wait: np.ndarray, bars: pd.DataFrame, analyst_features: pd.DataFrame
                     ) -> pd.DataFrame:
    """:func:`~ares_kedro.tactician.decisions.decide` for ``signals`` with the tactician's
    settings; ATR and volatility from ``bars`` (causal)."""
    return pd.DataFrame(signal_decision_columns(settings, signals, p_win, p_wait, bars,
                                                analyst_features), index=signals.index)


def signal_decision_columns(settings: TacticianSettings, signals: pd.DataFrame,
                            p_win: np.ndarray, p_wait: np.ndarray, bars: pd.DataFrame,
                            analyst_features: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns of :func:`signal_decisions` as arrays."""
    labels, context = settings.labels, settings.context
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
                            volatility[rows], trend_1d, settings.payoff_ratio,
                            float(labels.limit_offset_atr), settings.decisions,
                            settings.sizing, context)


def tactician_decisions(models: TacticianEnsemble, settings: TacticianSettings,
                        signals: pd.DataFrame, analyst_features: pd.DataFrame,
                        bars: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and decisions of ``signals``: the columns of :func:`signal_decisions`,
    ``p_win``, ``p_wait`` and the signal's ``side`` (the ``tactician_signals`` columns the
    governor reads)."""
    p_win, p_wait = signal_probabilities(models, signals, analyst_features, settings.context)
    columns = signal_decision_columns(settings, signals, p_win, p_wait, bars, analyst_features)
    return pd.DataFrame({**columns, "p_win": p_win, "p_wait": p_wait,
                         "side": signals["side"].to_numpy()}, index=signals.index)


def tactician_view(models: TacticianEnsemble, settings: TacticianSettings,
                   opinions: Mapping[str, Any], index: pd.Index, analyst_features: pd.DataFrame,
                   bars: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The tactician stage of a live decision, in one call: the analyst's signals among
    ``opinions`` (columns as arrays, one per bar of ``index``, ``regime`` included; see
    :func:`~ares_kedro.tactician.signals.signals_at_bars`) and
    :func:`tactician_decisions` of them. Returns the signal rows (positions in ``index``)
    and their decisions."""
    rows, signals = signals_at_bars(opinions, index, settings.labels.min_directional_edge)
    return rows, tactician_decisions(models, settings, signals, analyst_features, bars)
