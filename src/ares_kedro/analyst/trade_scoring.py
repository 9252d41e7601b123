"""Score a model's signals as trades: one position at a time, net of costs.

Used by target optimisation (how tradable are the labels a parameter set produces?). A
signal at bar t opens the barrier trade of :func:`~ares_kedro.analyst.labels.barrier_trades`
at t's close (its return is already net of the round-trip fee); while it is open, later
signals are ignored. Each trade's return is booked at its exit bar, and the metrics are
computed on that per-bar series (annualised with a 365-day year).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS


def signals_from_probabilities(proba: np.ndarray) -> np.ndarray:
    """+1 (LONG), -1 (SHORT) or 0 (HOLD) per row: the most probable class of (n, 3)
    probabilities in LABELS order; rows with NaN probabilities give 0."""
    choice = np.nanargmax(np.where(np.isnan(proba), -np.inf, proba), axis=1)
    side = np.array([{"LONG": 1, "SHORT": -1, "HOLD": 0}[name] for name in LABELS])
    return np.where(np.isnan(proba).any(axis=1), 0, side[choice]).astype(np.int8)


@numba.njit(cache=True)
def _one_position_at_a_time(bar_rows, signal, long_exit, short_exit):  # pragma: no cover
    """Indices (into ``bar_rows``) of the signals that open a trade when trades never
    overlap: a signal is taken when the previous trade has exited by its bar."""
    taken = np.zeros(bar_rows.size, dtype=np.bool_)
    free_from = -1
    for k in range(bar_rows.size):
        row = bar_rows[k]
        if signal[k] == 0 or row < free_from:
            continue
        taken[k] = True
        free_from = long_exit[row] if signal[k] > 0 else short_exit[row]
    return np.flatnonzero(taken)


def non_overlapping_entries(bar_rows: np.ndarray, signal: np.ndarray, long_exit: np.ndarray,
                            short_exit: np.ndarray) -> np.ndarray:
    """Positions (into ``bar_rows``) of the signals that open a trade when one position is
    held at a time: a signal is taken once the previous trade has exited by its bar."""
    return _one_position_at_a_time(np.asarray(bar_rows, dtype=np.int64),
                                   np.asarray(signal, dtype=np.int8),
                                   np.asarray(long_exit, dtype=np.int64),
                                   np.asarray(short_exit, dtype=np.int64))


def trade_list(bar_rows: np.ndarray, signal: np.ndarray, trades: pd.DataFrame) -> pd.DataFrame:
    """The trades taken: entry_row, exit_row (rows of the bar table), side, net return.

    Args:
        bar_rows: (n,) sorted rows of the bar table where ``signal`` is given.
        signal: (n,) +1 / -1 / 0.
        trades: :func:`barrier_trades` output for the whole bar table.
    """
    long_exit = trades["long_exit"].to_numpy(dtype=np.int64)
    short_exit = trades["short_exit"].to_numpy(dtype=np.int64)
    taken = non_overlapping_entries(bar_rows, signal, long_exit, short_exit)
    rows, side = np.asarray(bar_rows)[taken], np.asarray(signal)[taken].astype(int)
    is_long = side > 0
    return pd.DataFrame({
        "entry_row": rows,
        "exit_row": np.where(is_long, long_exit[rows], short_exit[rows]),
        "side": side,
        "net_return": np.where(is_long, trades["long_return"].to_numpy()[rows],
                               trades["short_return"].to_numpy()[rows]),
    })


def trade_performance(taken: pd.DataFrame, first_row: int, last_row: int,
                      bars_per_year: float) -> dict[str, float]:
    """Sharpe (annualised), maximum drawdown (fraction, >= 0), win rate, total return and
    trade count of ``taken`` trades booked at their exit bars over rows first..last."""
    n = last_row - first_row + 1
    log_pnl = np.zeros(n)
    inside = (taken["exit_row"] >= first_row) & (taken["exit_row"] <= last_row)
    np.add.at(log_pnl, taken["exit_row"][inside].to_numpy() - first_row,
              np.log1p(taken["net_return"][inside].to_numpy()))
    std = log_pnl.std()
    sharpe = float(log_pnl.mean() / std * np.sqrt(bars_per_year)) if std > 0 else 0.0
    equity = np.exp(np.cumsum(log_pnl))
    drawdown = 1.0 - equity / np.maximum.accumulate(np.maximum(equity, 1.0))
    returns = taken["net_return"].to_numpy()
    return {"sharpe": sharpe, "max_drawdown": float(drawdown.max(initial=0.0)),
            "win_rate": float((returns > 0).mean()) if returns.size else 0.0,
            "total_return": float(equity[-1] - 1.0) if n else 0.0, "trades": int(returns.size)}
