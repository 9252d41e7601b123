"""Triple-barrier labels, compiled with numba (no Python loop over events).

For the bar t (entry at its close C_t), looking at the next ``holding_bars`` bars:
  * a long trade reaches its take-profit when a later high reaches
    C_t x (1 + take_profit + round_trip_fee): the net gain is then take_profit; it is
    stopped when a later low reaches C_t x (1 - (stop_loss - round_trip_fee)): the net loss
    is then stop_loss. A short trade mirrors this.
  * LONG when the long trade reaches its take-profit before its stop, SHORT likewise for the
    short trade, HOLD otherwise (neither, or both with the same first bar).
  * When one bar touches both barriers of a trade, the stop counts first (the conservative
    choice when no finer data tells the order).
Also per bar: ``label_end`` (row of the last bar the label depends on: the deciding barrier
touch, or t + holding_bars), and ``uniqueness``, the average of 1/concurrency over the label
window (how many other labels share its bars), for sample weights. The last
``holding_bars`` bars cannot be labelled and get ``is_labelled = False``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np
import pandas as pd

LONG, SHORT, HOLD = "LONG", "SHORT", "HOLD"
LABELS = (LONG, SHORT, HOLD)
_NO_TOUCH = np.iinfo(np.int64).max


@dataclass(frozen=True)
class BarrierParams:
    """Take-profit and stop-loss (fractions of price, net of fees) and horizon (bars)."""

    take_profit: float
    stop_loss: float
    holding_bars: int
    round_trip_fee: float  # fraction of price, entry plus exit

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> BarrierParams:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(params))
        if missing:
            raise ValueError(f"analyst labels: missing {missing}")
        spec = cls(**{n: params[n] for n in names})
        if not spec.take_profit > 0 or not spec.stop_loss > 0:
            raise ValueError(f"take_profit and stop_loss must be > 0 (fractions of price), got "
                             f"{spec.take_profit} and {spec.stop_loss}")
        if int(spec.holding_bars) < 1:
            raise ValueError(f"holding_bars must be >= 1, got {spec.holding_bars}")
        if not 0 <= spec.round_trip_fee < spec.stop_loss:
            raise ValueError("round_trip_fee must be >= 0 and below stop_loss (a stop closer "
                             "than the fees would trigger at entry)")
        return spec


@numba.njit(cache=True)
def _first_touches(close, high, low, up_move, down_move, horizon):  # pragma: no cover (compiled)
    """For each bar: first later bar (within horizon) whose high reaches close*(1+up_move),
    and whose low reaches close*(1-down_move); _NO_TOUCH when none."""
    n = close.size
    first_up = np.full(n, _NO_TOUCH, dtype=np.int64)
    first_down = np.full(n, _NO_TOUCH, dtype=np.int64)
    for t in range(n):
        upper = close[t] * (1.0 + up_move)
        lower = close[t] * (1.0 - down_move)
        last = min(n - 1, t + horizon)
        for j in range(t + 1, last + 1):
            if first_up[t] == _NO_TOUCH and high[j] >= upper:
                first_up[t] = j
            if first_down[t] == _NO_TOUCH and low[j] <= lower:
                first_down[t] = j
            if first_up[t] != _NO_TOUCH and first_down[t] != _NO_TOUCH:
                break
    return first_up, first_down


def triple_barrier_labels(bars: pd.DataFrame, params: BarrierParams) -> pd.DataFrame:
    """Label every bar of ``bars`` (open, high, low, close; sorted time index)."""
    close = bars["close"].to_numpy(dtype=np.float64)
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    horizon = int(params.holding_bars)
    gain = params.take_profit + params.round_trip_fee  # gross move for the net take-profit
    loss = params.stop_loss - params.round_trip_fee  # gross move for the net stop-loss
    up_win, down_loss = _first_touches(close, high, low, gain, loss, horizon)  # long barriers
    up_loss, down_win = _first_touches(close, high, low, loss, gain, horizon)  # short barriers
    # a tie (both barriers in one bar) counts the stop first: strictly earlier wins
    long_wins = up_win < down_loss
    short_wins = down_win < up_loss
    both = long_wins & short_wins
    long_first = both & (up_win < down_win)
    short_first = both & (down_win < up_win)
    is_long = (long_wins & ~short_wins) | long_first
    is_short = (short_wins & ~long_wins) | short_first
    n = close.size
    rows = np.arange(n)
    label = np.where(is_long, LONG, np.where(is_short, SHORT, HOLD))
    label_end = np.where(is_long, up_win, np.where(is_short, down_win, rows + horizon))
    label_end = np.minimum(label_end, n - 1)
    labelled = rows + horizon <= n - 1
    # a label decided before the horizon is known even near the end of the data
    labelled |= is_long | is_short
    weights = np.zeros(n)  # unlabelled bars carry no weight
    weights[labelled] = uniqueness(rows[labelled], label_end[labelled], n)
    return pd.DataFrame({
        "label": pd.Categorical(np.where(labelled, label, HOLD), categories=LABELS),
        "is_labelled": labelled,
        "label_end": label_end,
        "label_end_time": bars.index[label_end],
        "uniqueness": weights,
    }, index=bars.index)


def uniqueness(start: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """Average of 1/concurrency over each label's bars (start+1 .. end), vectorised.

    Concurrency counts the given labels only (rows of a series of ``n`` bars). Weights
    describe a sample set: a
    label's weight depends on the labels that overlap it, so it can change when later
    labels are added; it is a training weight, never a feature.
    """
    first = np.minimum(start + 1, end)
    delta = np.zeros(n + 1)
    np.add.at(delta, first, 1.0)
    np.add.at(delta, end + 1, -1.0)
    concurrency = np.cumsum(delta)[:n]
    inverse = np.where(concurrency > 0, 1.0 / np.maximum(concurrency, 1), 0.0)
    cumulative = np.concatenate(([0.0], np.cumsum(inverse)))
    return (cumulative[end + 1] - cumulative[first]) / (end - first + 1)
