"""Tactician labels (issue #6, first slice): the meta-label of the analyst's signals.

For every bar where the analyst's out-of-fold prediction is LONG or SHORT, the meta-label
says whether a trade in that direction, entered at the bar's close with the chosen
barriers, reaches its take-profit before its stop-loss, net of costs (1) or not (0). The
tactician learns from it whether to act on a signal (meta-labelling).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SIDES = {"LONG": 1, "SHORT": -1}


def meta_labels(predictions: pd.Series, trades: pd.DataFrame) -> pd.DataFrame:
    """Meta-labels of the directional ``predictions``.

    Args:
        predictions: the analyst's predicted label per bar ("LONG" / "SHORT" / "HOLD"),
            indexed by bar time (a subset of ``trades``' index).
        trades: :func:`~ares_kedro.analyst.labels.barrier_trades` of the whole bar table.

    Returns:
        Per directional signal: ``side`` (+1 / -1), ``meta_label`` (1 when the trade's
        take-profit comes first, else 0), ``net_return`` of the trade and ``exit_row``.
    """
    signals = predictions[predictions.isin(list(SIDES))]
    rows = trades.index.get_indexer(signals.index)
    if (rows < 0).any():
        raise ValueError("predictions hold bars that are not in the bar table")
    side = signals.map(SIDES).to_numpy(dtype=int)
    is_long = side > 0
    outcome = np.where(is_long, trades["long_outcome"].to_numpy()[rows],
                       trades["short_outcome"].to_numpy()[rows])
    return pd.DataFrame({
        "side": side,
        "meta_label": (outcome == 1).astype(int),
        "net_return": np.where(is_long, trades["long_return"].to_numpy()[rows],
                               trades["short_return"].to_numpy()[rows]),
        "exit_row": np.where(is_long, trades["long_exit"].to_numpy()[rows],
                             trades["short_exit"].to_numpy()[rows]),
    }, index=signals.index)


def entry_timing_labels(bars: pd.DataFrame, signals: pd.DataFrame, trades: pd.DataFrame,
                        atr: pd.Series, max_wait_bars: int, limit_offset_atr: float
                        ) -> pd.DataFrame:
    """Would a limit order placed at the signal have filled and done better than entering
    at the close?

    For a signal at bar t (close C, ATR A known at t) the limit sits at
    ``C - side x limit_offset_atr x A`` (below the close for a long) and lives for the next
    ``max_wait_bars`` bars; it fills at the first bar whose low (long) or high (short)
    reaches it. Waiting is right (``wait_label`` = 1) when it fills and the market-entry
    trade had not already taken its profit before the fill bar (the move was not missed):
    the same position, ``price_improvement`` (fraction of C) cheaper.

    Args:
        bars: high, low, close; sorted index of bar open times.
        signals: :func:`meta_labels` output (``side`` per signal bar).
        trades: :func:`~ares_kedro.analyst.labels.barrier_trades` of ``bars``.
        atr: average true range per bar (price units), known at each bar's close.

    Returns:
        Per signal: ``filled`` (bool), ``fill_row`` (-1 when not filled),
        ``price_improvement`` and ``wait_label``.
    """
    if max_wait_bars < 1 or limit_offset_atr < 0:
        raise ValueError("max_wait_bars must be >= 1 and limit_offset_atr >= 0")
    rows = bars.index.get_indexer(signals.index)
    side = signals["side"].to_numpy()
    close = bars["close"].to_numpy(dtype=float)
    high, low = bars["high"].to_numpy(dtype=float), bars["low"].to_numpy(dtype=float)
    offset = limit_offset_atr * atr.to_numpy(dtype=float)[rows]
    limit = close[rows] - side * offset
    n = close.size
    fill_row = np.full(rows.size, -1)
    for wait in range(max_wait_bars, 0, -1):  # loop over the wait, not over bars: the
        later = rows + wait                   # last assignment is the earliest fill
        inside = later < n
        at = np.minimum(later, n - 1)
        touched = np.where(side > 0, low[at] <= limit, high[at] >= limit) & inside
        fill_row = np.where(touched, later, fill_row)
    filled = fill_row >= 0
    outcome = np.where(side > 0, trades["long_outcome"].to_numpy()[rows],
                       trades["short_outcome"].to_numpy()[rows])
    exit_row = np.where(side > 0, trades["long_exit"].to_numpy()[rows],
                        trades["short_exit"].to_numpy()[rows])
    missed = (outcome == 1) & (exit_row < np.where(filled, fill_row, n))
    return pd.DataFrame({
        "filled": filled,
        "fill_row": fill_row,
        "price_improvement": np.where(filled, offset / close[rows], 0.0),
        "wait_label": (filled & ~missed).astype(int),
    }, index=signals.index)
