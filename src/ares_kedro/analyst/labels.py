"""Labels of the bars: triple-barrier or fixed-horizon, compiled with numba (no Python
loop over events).

Two label families (``BarrierParams.label_family``):

* ``triple_barrier`` (below): take-profit, stop-loss and a time limit;
* ``fixed_horizon``: no price barriers. The trade entered at bar t's close is left at the
  close ``holding_bars`` later; LONG when the long trade earns more than the round-trip
  fee, SHORT when the short trade does, HOLD otherwise: the sign of the net forward return
  with a cost-aware "no trade" class. A 1-bar edge survives this label (a barrier label
  with wide barriers mostly says HOLD). Trades of this family are time exits only, so a
  new signal on the same side extends an open position instead of paying a new round
  trip (``trades.attrs["time_exits"]``, :mod:`~ares_kedro.analyst.trade_scoring`).

Triple barrier:

For the bar t (entry at its close C_t), looking at the next ``holding_bars`` bars:
  * a long trade reaches its take-profit when a later high reaches
    C_t x (1 + take_profit + round_trip_fee): the net gain is then take_profit; it is
    stopped when a later low reaches C_t x (1 - (stop_loss - round_trip_fee)): the net loss
    is then stop_loss. A short trade mirrors this.
  * LONG when the long trade reaches its take-profit before its stop, SHORT likewise for the
    short trade, HOLD otherwise (neither, or both with the same first bar).
  * When one bar touches both barriers of a trade, finer bars (1m) order the touches when
    given; otherwise, or when a fine bar touches both, the stop counts first (conservative).
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

from ares_kedro.compiled_trees.scorer import columns_in_order
from ares_kedro.market.timeframes import bar_interval

LONG, SHORT, HOLD = "LONG", "SHORT", "HOLD"
LABELS = (LONG, SHORT, HOLD)
PROBABILITY_COLUMNS = [f"p_{c.lower()}" for c in LABELS]  # (n, 3) probabilities as columns


def in_label_order(classes: Any, proba: np.ndarray, labels: Any = LABELS) -> np.ndarray:
    """(n, len(labels)) class probabilities whose columns follow ``labels``, from a model's
    ``proba`` whose columns follow its ``classes``; a label the model never saw gets 0."""
    return columns_in_order(classes, proba, labels)


_NO_TOUCH = np.iinfo(np.int64).max


TRIPLE_BARRIER, FIXED_HORIZON = "triple_barrier", "fixed_horizon"
LABEL_FAMILIES = (TRIPLE_BARRIER, FIXED_HORIZON)


@dataclass(frozen=True)
class BarrierParams:
    """Take-profit and stop-loss (fractions of price, net of fees) and horizon (bars).

    A ``fixed_horizon`` label has no price barriers: its take-profit and stop-loss are
    infinite (written as null in ``optimal_target_params``)."""

    take_profit: float
    stop_loss: float
    holding_bars: int
    round_trip_fee: float  # fraction of price, entry plus exit
    label_family: str = TRIPLE_BARRIER

    @property
    def payoff_ratio(self) -> float:
        """Take-profit / stop-loss; 1 for fixed-horizon trades (symmetric outcomes)."""
        if self.label_family == FIXED_HORIZON:
            return 1.0
        return self.take_profit / self.stop_loss

    @property
    def time_exits_only(self) -> bool:
        return self.label_family == FIXED_HORIZON

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> BarrierParams:
        names = {f.name for f in fields(cls)}
        required = names - {"label_family"}
        missing = sorted(required - set(params))
        if missing:
            raise ValueError(f"analyst labels: missing {missing}")
        values = {n: params[n] for n in names if n in params}
        family = values.setdefault("label_family", TRIPLE_BARRIER)
        if family not in LABEL_FAMILIES:
            raise ValueError(f"label_family must be one of {LABEL_FAMILIES}, got {family!r}")
        if family == FIXED_HORIZON:
            values["take_profit"] = values["stop_loss"] = float("inf")
        spec = cls(**values)
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


@numba.njit(cache=True)
def _first_fine_touch(fine_high, fine_low, first_row, last_row, upper, lower):  # pragma: no cover
    """Per tie: +1 when the upper barrier is touched first inside the fine rows
    [first_row, last_row), -1 when the lower one is, 0 when no fine row decides (none, or
    one fine bar touching both)."""
    out = np.zeros(first_row.size, dtype=np.int8)
    for k in range(first_row.size):
        for i in range(first_row[k], last_row[k]):
            up, down = fine_high[i] >= upper[k], fine_low[i] <= lower[k]
            if up and not down:
                out[k] = 1
                break
            if down:
                if not up:
                    out[k] = -1
                break
    return out


def _resolve_ties(bars: pd.DataFrame, fine_bars: pd.DataFrame | None, close: np.ndarray,
                  touch_up: np.ndarray, touch_down: np.ndarray, up_move: float,
                  down_move: float, take_profit_is_up: bool) -> tuple[np.ndarray, int]:
    """Which barrier of each tied trade came first, from finer bars when they cover it.

    Returns (take_profit_first per bar, number of ties resolved by finer data); ties that
    the finer data cannot decide count the stop first.
    """
    tie = (touch_up == touch_down) & (touch_up != _NO_TOUCH)
    take_profit_first = np.zeros(close.size, dtype=bool)
    if fine_bars is None or fine_bars.empty or not tie.any():
        return take_profit_first, 0
    rows = np.flatnonzero(tie)
    touch_bar = touch_up[rows]
    starts = bars.index.as_unit("ns").asi8[touch_bar]
    ends = starts + bar_interval(bars.index).value
    fine_times = fine_bars.index.as_unit("ns").asi8
    first_row = np.searchsorted(fine_times, starts, side="left")
    last_row = np.searchsorted(fine_times, ends, side="left")
    first = _first_fine_touch(fine_bars["high"].to_numpy(dtype=np.float64),
                              fine_bars["low"].to_numpy(dtype=np.float64), first_row, last_row,
                              close[rows] * (1.0 + up_move), close[rows] * (1.0 - down_move))
    decided_for_take_profit = first == (1 if take_profit_is_up else -1)
    take_profit_first[rows[decided_for_take_profit]] = True
    return take_profit_first, int((first != 0).sum())


def barrier_trades(bars: pd.DataFrame, params: BarrierParams,
                   fine_bars: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Outcome of a long and of a short trade entered at each bar's close.

    Args:
        bars: open, high, low, close; sorted UTC index of bar open times.
        fine_bars: optional finer bars (e.g. 1m; high, low; same kind of index) used only to
            order a take-profit and a stop touched within one bar; without them (or where
            they do not cover the bar, or one fine bar touches both) the stop counts first.

    Returns:
        (trades, ties): per bar ``long_exit``/``short_exit`` (row of the deciding bar, or
        t + holding_bars, capped at the last row), ``long_return``/``short_return`` (net
        fraction: +take_profit, -stop_loss, or the close-to-close move at the horizon minus
        the round-trip fee), ``long_outcome``/``short_outcome`` (+1 take-profit, -1 stop,
        0 horizon); ``ties`` counts same-bar touches and how many finer data resolved.
    """
    close = bars["close"].to_numpy(dtype=np.float64)
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    horizon = int(params.holding_bars)
    gain = params.take_profit + params.round_trip_fee  # gross move for the net take-profit
    loss = params.stop_loss - params.round_trip_fee  # gross move for the net stop-loss
    n = close.size
    rows = np.arange(n)
    vertical = np.minimum(rows + horizon, n - 1)
    move_at_horizon = close[vertical] / close - 1.0
    columns: dict[str, np.ndarray] = {}
    ties = {"same_bar_touches": 0, "resolved_by_finer_data": 0}
    for side in ("long", "short"):
        if side == "long":  # take-profit above, stop below
            take, stop = _first_touches(close, high, low, gain, loss, horizon)
            take_first, resolved = _resolve_ties(bars, fine_bars, close, take, stop, gain,
                                                 loss, take_profit_is_up=True)
            sign = 1.0
        else:  # take-profit below, stop above
            stop, take = _first_touches(close, high, low, loss, gain, horizon)
            take_first, resolved = _resolve_ties(bars, fine_bars, close, stop, take, loss,
                                                 gain, take_profit_is_up=False)
            sign = -1.0
        ties["same_bar_touches"] += int(((take == stop) & (take != _NO_TOUCH)).sum())
        ties["resolved_by_finer_data"] += resolved
        wins = (take < stop) | take_first
        stopped = ~wins & (stop != _NO_TOUCH)
        outcome = np.where(wins, 1, np.where(stopped, -1, 0)).astype(np.int8)
        exit_row = np.where(wins, take, np.where(stopped, stop, vertical))
        columns[f"{side}_exit"] = np.minimum(exit_row, n - 1)
        columns[f"{side}_return"] = np.where(
            wins, params.take_profit, np.where(stopped, -params.stop_loss,
                                               sign * move_at_horizon - params.round_trip_fee))
        columns[f"{side}_outcome"] = outcome
    columns["close"] = close
    table = pd.DataFrame(columns, index=bars.index)
    table.attrs.update(time_exits=params.time_exits_only,
                       round_trip_fee=float(params.round_trip_fee), holding_bars=horizon)
    return table, ties


def barrier_record(params: BarrierParams) -> dict[str, Any]:
    """``params`` as JSON-able values (a fixed-horizon label's infinite barriers as None)."""
    infinite = params.label_family == FIXED_HORIZON
    return {"take_profit": None if infinite else float(params.take_profit),
            "stop_loss": None if infinite else float(params.stop_loss),
            "holding_bars": int(params.holding_bars),
            "round_trip_fee": float(params.round_trip_fee),
            "label_family": params.label_family}


def triple_barrier_labels(bars: pd.DataFrame, params: BarrierParams,
                          fine_bars: pd.DataFrame | None = None) -> pd.DataFrame:
    """Label every bar of ``bars`` (open, high, low, close; sorted time index).

    ``fine_bars`` (optional, e.g. 1m) order same-bar barrier touches, see
    :func:`barrier_trades`; ``attrs["ties"]`` of the result counts them.
    """
    trades, ties = barrier_trades(bars, params, fine_bars)
    n = len(trades)
    rows = np.arange(n)
    horizon = int(params.holding_bars)
    long_exit, short_exit = trades["long_exit"].to_numpy(), trades["short_exit"].to_numpy()
    if params.label_family == FIXED_HORIZON:  # the trade that earns its costs at the horizon
        long_wins = trades["long_return"].to_numpy() > 0
        short_wins = trades["short_return"].to_numpy() > 0
    else:
        long_wins = trades["long_outcome"].to_numpy() == 1
        short_wins = trades["short_outcome"].to_numpy() == 1
    both = long_wins & short_wins  # both win on different bars: the earlier one counts
    is_long = (long_wins & ~short_wins) | (both & (long_exit < short_exit))
    is_short = (short_wins & ~long_wins) | (both & (short_exit < long_exit))
    label = np.where(is_long, LONG, np.where(is_short, SHORT, HOLD))
    label_end = np.where(is_long, long_exit, np.where(is_short, short_exit, rows + horizon))
    label_end = np.minimum(label_end, n - 1)
    labelled = rows + horizon <= n - 1
    if params.label_family != FIXED_HORIZON:
        # a barrier label decided before the horizon is known even near the end of the data
        labelled |= is_long | is_short
    weights = np.zeros(n)  # unlabelled bars carry no weight
    weights[labelled] = uniqueness(rows[labelled], label_end[labelled], n)
    table = pd.DataFrame({
        "label": pd.Categorical(np.where(labelled, label, HOLD), categories=LABELS),
        "is_labelled": labelled,
        "label_end": label_end,
        "label_end_time": bars.index[label_end],
        "uniqueness": weights,
    }, index=bars.index)
    table.attrs["ties"] = ties
    return table


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
