"""The tactician's decision for a signal: act or not, how to enter, how much.

* **act** when the calibrated probability that the trade wins is at least the bet's
  break-even probability ``stop_loss / (take_profit + stop_loss)`` plus ``meta_margin``
  (a fixed 1/2 would refuse every bet whose take-profit is wider than its stop);
* **entry** ``limit`` (at ``limit_price``, ``limit_offset_atr`` ATRs better than the
  close, alive ``max_wait_bars`` bars) when the entry-timing probability is at least
  ``wait_threshold``, else ``market``;
* **size** from :mod:`~ares_kedro.tactician.sizing`, times ``against_daily_trend_scale``
  when the trade goes against the daily trend (multi-timeframe coordination), 0 when not
  acting. The daily loss limit needs realised profit and loss, so it is applied where
  positions are held (the validation backtest and the live predictor) with
  :func:`~ares_kedro.tactician.sizing.apply_daily_loss_limit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys
from ares_kedro.tactician.context import ContextParams
from ares_kedro.tactician.sizing import SizingParams, breakeven_probability, position_sizes


@dataclass(frozen=True)
class DecisionParams:
    """``tactician.decisions`` in conf (probabilities, 0..1)."""

    meta_margin: float  # act at break-even probability + margin
    wait_threshold: float
    close_threshold: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DecisionParams:
        spec = cls(**checked_keys(cls, params, "tactician.decisions"))
        if not (all(0 <= getattr(spec, name) <= 1 for name in ("wait_threshold",
                                                                "close_threshold"))
                and -1 < spec.meta_margin < 1):
            raise ValueError("tactician.decisions: wait_threshold and close_threshold in "
                             "[0, 1], meta_margin in (-1, 1)")
        return spec


def decide(side: np.ndarray, p_win: np.ndarray, p_wait: np.ndarray, close: np.ndarray,
           atr: np.ndarray, volatility: np.ndarray, trend_1d: np.ndarray, payoff_ratio: float,
           limit_offset_atr: float, decisions: DecisionParams, sizing: SizingParams,
           context: ContextParams, index: pd.Index) -> pd.DataFrame:
    """Decisions for signals (arrays aligned on ``index``).

    Args:
        side: +1 / -1 (the analyst's direction).
        p_win, p_wait: calibrated meta-label and entry-timing probabilities.
        close, atr: the signal bar's close and ATR (price units).
        volatility: annualised realised volatility at the signal bar.
        trend_1d: daily trend (+1 / -1 / 0).
        payoff_ratio: take-profit / stop-loss of the analyst's barriers.

    Returns:
        ``act`` (bool), ``entry`` ("market" / "limit"), ``limit_price`` (NaN for market),
        ``against_daily_trend`` (bool) and ``size`` in [-max_position, max_position].
    """
    return pd.DataFrame(decision_columns(side, p_win, p_wait, close, atr, volatility, trend_1d,
                                         payoff_ratio, limit_offset_atr, decisions, sizing,
                                         context), index=index)


def decision_columns(side: np.ndarray, p_win: np.ndarray, p_wait: np.ndarray,
                     close: np.ndarray, atr: np.ndarray, volatility: np.ndarray,
                     trend_1d: np.ndarray, payoff_ratio: float, limit_offset_atr: float,
                     decisions: DecisionParams, sizing: SizingParams, context: ContextParams
                     ) -> dict[str, np.ndarray]:
    """The columns of :func:`decide` as arrays (for a caller adding its own before making
    the table)."""
    side = np.asarray(side, dtype=float)
    act = np.asarray(p_win, dtype=float) >= (breakeven_probability(payoff_ratio)
                                             + decisions.meta_margin)
    limit = np.asarray(p_wait, dtype=float) >= decisions.wait_threshold
    against = side * np.asarray(trend_1d, dtype=float) < 0
    size = position_sizes(side, p_win, volatility, payoff_ratio, sizing)
    size = np.where(against, size * context.against_daily_trend_scale, size)
    return {
        "act": act,
        "entry": np.where(limit, "limit", "market"),
        "limit_price": np.where(limit, close - side * limit_offset_atr * atr, np.nan),
        "against_daily_trend": against,
        "size": np.where(act, size, 0.0),
    }
