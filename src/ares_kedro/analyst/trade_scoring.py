"""Score a model's signals as trades: one position at a time, net of costs.

Used by target optimisation (how tradable are the labels a parameter set produces?). A
signal is the sign of the directional edge p_long - p_short. A signal at bar t opens the
trade of :func:`~ares_kedro.analyst.labels.barrier_trades` at t's close (its return is
already net of the round-trip fee); while a barrier trade is open, later signals are
ignored; a time-exit trade (fixed-horizon labels) is extended by a signal on its side and
flipped by one on the other side, as a trader holding a view would. Each trade's return is booked at its exit bar, and the metrics are
computed on that per-bar series (annualised with a 365-day year).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS


def directional_edge(proba: np.ndarray) -> np.ndarray:
    """(n,) p_long - p_short of (n, 3) LABELS-order probabilities (NaN rows stay NaN): the
    direction a model sees. HOLD is usually the most probable class, so the argmax hides
    it; the edge does not."""
    proba = np.asarray(proba, dtype=float)
    return proba[:, LABELS.index("LONG")] - proba[:, LABELS.index("SHORT")]


def signals_from_probabilities(proba: np.ndarray, min_edge: float = 0.0) -> np.ndarray:
    """+1 (LONG), -1 (SHORT) or 0 (HOLD) per row of (n, 3) LABELS-order probabilities: the
    sign of the directional edge p_long - p_short where its size exceeds ``min_edge``;
    rows with NaN probabilities give 0."""
    edge = np.nan_to_num(directional_edge(proba), nan=0.0)
    return np.where(np.abs(edge) > min_edge, np.sign(edge), 0).astype(np.int8)


@numba.njit(cache=True)
def _held_positions(bar_rows, signal, long_exit, short_exit, extend):  # pragma: no cover
    """(signal positions that open a trade, each trade's exit row).

    One position at a time. Without ``extend`` a signal is taken once the previous trade
    has exited by its bar. With ``extend`` (time exits only): a signal on the open trade's
    side, while it is open or at its exit bar, moves its exit to the signal's own exit (no
    new round trip); a signal on the other side closes it at that bar and opens the other
    side there."""
    opened = np.empty(bar_rows.size, dtype=np.int64)
    exits = np.empty(bar_rows.size, dtype=np.int64)
    count = 0
    side = 0
    free_from = -1
    for k in range(bar_rows.size):
        row = bar_rows[k]
        if signal[k] == 0:
            continue
        planned = long_exit[row] if signal[k] > 0 else short_exit[row]
        if count > 0 and extend and row <= free_from:
            if signal[k] == side:
                free_from = max(free_from, planned)
                exits[count - 1] = free_from
                continue
            if row < free_from:
                exits[count - 1] = row  # flip: close here, open the other side here
        elif row < free_from:
            continue
        opened[count] = k
        exits[count] = planned
        side = signal[k]
        free_from = planned
        count += 1
    return opened[:count], exits[:count]


def held_positions(bar_rows: np.ndarray, signal: np.ndarray, trades: pd.DataFrame
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(positions into ``bar_rows`` of the signals that open a trade, their exit rows),
    one position at a time with the exits of ``trades``
    (:func:`~ares_kedro.analyst.labels.barrier_trades`). Time-exit trades
    (``trades.attrs["time_exits"]``, the fixed-horizon family) are extended by signals on
    the same side and flipped by signals on the other."""
    return _held_positions(np.asarray(bar_rows, dtype=np.int64),
                           np.asarray(signal, dtype=np.int8),
                           trades["long_exit"].to_numpy(dtype=np.int64),
                           trades["short_exit"].to_numpy(dtype=np.int64),
                           bool(trades.attrs.get("time_exits", False)))


def non_overlapping_entries(bar_rows: np.ndarray, signal: np.ndarray, long_exit: np.ndarray,
                            short_exit: np.ndarray) -> np.ndarray:
    """Positions (into ``bar_rows``) of the signals that open a trade when one position is
    held at a time: a signal is taken once the previous trade has exited by its bar."""
    return _held_positions(np.asarray(bar_rows, dtype=np.int64),
                           np.asarray(signal, dtype=np.int8),
                           np.asarray(long_exit, dtype=np.int64),
                           np.asarray(short_exit, dtype=np.int64), False)[0]


def trade_list(bar_rows: np.ndarray, signal: np.ndarray, trades: pd.DataFrame) -> pd.DataFrame:
    """The trades taken: entry_row, exit_row (rows of the bar table), side, net return.

    Args:
        bar_rows: (n,) sorted rows of the bar table where ``signal`` is given.
        signal: (n,) +1 / -1 / 0.
        trades: :func:`barrier_trades` output for the whole bar table (time-exit trades,
            ``attrs["time_exits"]``, are extended and flipped, see :func:`held_positions`;
            their net return is the close-to-close move less one round-trip fee).
    """
    taken, exit_row = held_positions(bar_rows, signal, trades)
    rows, side = np.asarray(bar_rows)[taken], np.asarray(signal)[taken].astype(int)
    is_long = side > 0
    bets = np.ones(rows.size, dtype=np.int64)
    if trades.attrs.get("time_exits", False):
        close = trades["close"].to_numpy(dtype=float)
        net = side * (close[exit_row] / close[rows] - 1.0) - trades.attrs["round_trip_fee"]
        bets = np.maximum(-(-(exit_row - rows) // int(trades.attrs["holding_bars"])), 1)
    else:
        net = np.where(is_long, trades["long_return"].to_numpy()[rows],
                       trades["short_return"].to_numpy()[rows])
    return pd.DataFrame({"entry_row": rows, "exit_row": exit_row, "side": side,
                         "net_return": net, "bets": bets})


def booked_log_returns(taken: pd.DataFrame, first_row: int, last_row: int) -> np.ndarray:
    """(last_row - first_row + 1,) log return per bar of ``taken`` trades, each booked at
    its exit bar (0 where none exits)."""
    log_pnl = np.zeros(last_row - first_row + 1)
    inside = (taken["exit_row"] >= first_row) & (taken["exit_row"] <= last_row)
    np.add.at(log_pnl, taken["exit_row"][inside].to_numpy() - first_row,
              np.log1p(taken["net_return"][inside].to_numpy()))
    return log_pnl


def trade_performance(taken: pd.DataFrame, first_row: int, last_row: int,
                      bars_per_year: float) -> dict[str, float]:
    """Sharpe (annualised), maximum drawdown (fraction, >= 0), win rate, total return,
    trade count and bets of ``taken`` trades booked at their exit bars over rows
    first..last. ``bets`` is the evidence a minimum-trades rule counts: an extended
    position counts once per holding period it is held (as many round trips as it would
    have taken without extension), a barrier trade once."""
    n = last_row - first_row + 1
    log_pnl = booked_log_returns(taken, first_row, last_row)
    std = log_pnl.std()
    sharpe = float(log_pnl.mean() / std * np.sqrt(bars_per_year)) if std > 0 else 0.0
    equity = np.exp(np.cumsum(log_pnl))
    drawdown = 1.0 - equity / np.maximum.accumulate(np.maximum(equity, 1.0))
    returns = taken["net_return"].to_numpy()
    return {"sharpe": sharpe, "max_drawdown": float(drawdown.max(initial=0.0)),
            "win_rate": float((returns > 0).mean()) if returns.size else 0.0,
            "total_return": float(equity[-1] - 1.0) if n else 0.0, "trades": int(returns.size),
            "bets": int(taken["bets"].sum()) if "bets" in taken else int(returns.size)}
