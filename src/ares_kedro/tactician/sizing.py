"""Position sizes in [-1, 1] from a calibrated probability, within risk limits.

A size is a fraction of equity (1 = fully invested long, -1 = fully short), built in three
steps, each vectorised over bars:

1. **bet size** from the probability ``p`` that a trade in the signal's direction wins:
   * ``probability``: ``2 Φ(z) - 1`` with ``z = (p - p0) / sqrt(p (1 - p))``, where
     ``p0 = 1 / (1 + b)`` is the break-even probability of a bet paying ``b`` (take-profit /
     stop-loss) per unit lost: z is the bet's expected return over its standard deviation
     (0 at break-even, towards 1 as ``p`` nears 1; ``p0 = 1/2`` for a symmetric bet);
   * ``kelly``: ``kelly_fraction x (p - (1 - p) / b)`` with ``b`` = take-profit / stop-loss
     (the win/loss payoff ratio), never below 0.
2. **volatility targeting**: times ``target_volatility / realised volatility`` (both
   annualised), so a position risks about the same in calm and wild markets.
3. **limits**: the size is clipped to ``max_position`` and to ``max_leverage``; after the
   day's realised loss reaches ``max_daily_loss``, sizes are 0 until the next UTC day.

NaN inputs (no probability, no volatility yet) give size 0: no information, no position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ares_kedro.params import checked_keys

METHODS = ("probability", "kelly")


@dataclass(frozen=True)
class SizingParams:
    """``tactician.sizing`` in conf."""

    method: str  # probability | kelly
    kelly_fraction: float  # share of the Kelly bet taken (0..1], e.g. 0.25 = quarter Kelly
    target_volatility: float  # annualised, fraction (0.5 = 50 %)
    max_position: float  # |size| cap, fraction of equity (0..1]
    max_leverage: float  # |size| cap from volatility scaling, >= max_position is a no-op
    max_daily_loss: float  # fraction of equity; reached: flat until the next UTC day

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SizingParams:
        spec = cls(**checked_keys(cls, params, "tactician.sizing"))
        if spec.method not in METHODS:
            raise ValueError(f"tactician.sizing.method must be one of {METHODS}")
        if not (0 < spec.kelly_fraction <= 1 and 0 < spec.max_position <= 1
                and spec.target_volatility > 0 and spec.max_leverage > 0
                and 0 < spec.max_daily_loss < 1):
            raise ValueError("tactician.sizing: kelly_fraction and max_position in (0, 1], "
                             "target_volatility and max_leverage > 0, max_daily_loss in (0, 1)")
        return spec


def breakeven_probability(payoff_ratio: float) -> float:
    """Win probability at which a bet paying ``payoff_ratio`` per unit lost breaks even."""
    return 1.0 / (1.0 + payoff_ratio)


def bet_size(win_probability: np.ndarray, payoff_ratio: float, params: SizingParams
             ) -> np.ndarray:
    """Unsigned bet size in [0, 1] from the probability that the trade wins."""
    p = np.clip(np.asarray(win_probability, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if params.method == "probability":
            z = (p - breakeven_probability(payoff_ratio)) / np.sqrt(p * (1.0 - p))
            size = 2.0 * ndtr(z) - 1.0  # the standard normal CDF (norm.cdf's own kernel)
        else:
            size = params.kelly_fraction * (p - (1.0 - p) / payoff_ratio)
    return np.nan_to_num(np.clip(size, 0.0, 1.0), nan=0.0)


def position_sizes(side: np.ndarray, win_probability: np.ndarray, realised_volatility: np.ndarray,
                   payoff_ratio: float, params: SizingParams) -> np.ndarray:
    """Signed sizes before the daily loss limit.

    Args:
        side: +1 (long), -1 (short) or 0 per bar.
        win_probability: calibrated probability that the trade in ``side`` wins.
        realised_volatility: annualised volatility known at the bar (fraction).
        payoff_ratio: take-profit / stop-loss (> 0), for Kelly.
    """
    if not payoff_ratio > 0:
        raise ValueError(f"payoff_ratio must be > 0, got {payoff_ratio}")
    vol = np.asarray(realised_volatility, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny vol: capped
        scale = np.where(vol > 0, params.target_volatility / vol, np.nan)
    scale = np.nan_to_num(np.minimum(scale, params.max_leverage), nan=0.0)
    direction = np.nan_to_num(np.sign(np.asarray(side, dtype=float)), nan=0.0)
    size = direction * bet_size(win_probability, payoff_ratio, params) * scale
    cap = min(params.max_position, params.max_leverage)
    return np.clip(size, -cap, cap)


def apply_daily_loss_limit(sizes: pd.Series, bar_returns: pd.Series, max_daily_loss: float
                           ) -> pd.Series:
    """``sizes`` (held from each bar's close to the next) set to 0 after the bar at which the
    UTC day's cumulative loss reaches ``max_daily_loss``, until the day ends.

    ``bar_returns`` are close-to-close returns aligned with ``sizes`` (return of bar t is
    earned by the size held from bar t-1). Sizes before the breach are untouched, so the
    loss path up to it is the same with or without the limit: no loop needed.
    """
    held = sizes.shift(1).fillna(0.0)
    pnl = np.log1p(held * bar_returns.fillna(0.0))
    day = sizes.index.floor("D")
    cumulative = pnl.groupby(day).cumsum()
    breached = (cumulative <= np.log1p(-max_daily_loss)).astype(int).groupby(day).cummax()
    return sizes.where(breached == 0, 0.0)
