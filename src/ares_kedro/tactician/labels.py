"""Tactician labels (issue #6, first slice): the meta-label of the analyst's signals.

For every bar where the analyst's out-of-fold prediction is LONG or SHORT, the meta-label
says whether a trade in that direction, entered at the bar's close with the chosen
exits, earns net of costs (1) or not (0): for triple-barrier trades, its take-profit
comes first or it ends at the horizon with a net gain. The
tactician learns from it whether to act on a signal (meta-labelling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.params import checked_keys

SIDES = {"LONG": 1, "SHORT": -1}


@dataclass(frozen=True)
class TacticianLabelParams:
    """``tactician.labels`` in conf."""

    min_directional_edge: float  # |p_long - p_short| at or above it: a signal (see signals.py)
    max_wait_bars: int  # a limit order lives this many bars after the signal
    limit_offset_atr: float  # limit price this many ATRs better than the signal's close
    atr_window: int  # bars of the ATR (Wilder)
    review_bars: list[int]  # bars after entry at which an open position is reviewed

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TacticianLabelParams:
        spec = cls(**checked_keys(cls, params, "tactician.labels"))
        if (not 0 <= spec.min_directional_edge <= 1 or int(spec.max_wait_bars) < 1 or spec.limit_offset_atr < 0
                or int(spec.atr_window) < 1 or not spec.review_bars
                or min(spec.review_bars) < 1):
            raise ValueError("tactician.labels: min_directional_edge in [0, 1], max_wait_bars >= 1, limit_offset_atr >= 0, "
                             "atr_window >= 1, review_bars a non-empty list of bars >= 1")
        return spec


def meta_labels(predictions: pd.Series, trades: pd.DataFrame) -> pd.DataFrame:
    """Meta-labels of the directional ``predictions``.

    Args:
        predictions: the signal per bar, "LONG" / "SHORT" / "HOLD" or +1 / -1 / 0,
            indexed by bar time (a subset of ``trades``' index).
        trades: :func:`~ares_kedro.analyst.labels.barrier_trades` of the whole bar table.

    Returns:
        Per directional signal: ``side`` (+1 / -1), ``meta_label`` (1 when the trade
        earns net of costs: its take-profit comes first, or it is left at the horizon
        with a net gain; else 0), ``net_return`` of the trade and ``exit_row``.
    """
    if predictions.dtype.kind in "iuf":
        signals = predictions[predictions != 0]
        side = np.sign(signals.to_numpy()).astype(int)
    else:
        signals = predictions[predictions.isin(list(SIDES))]
        side = signals.map(SIDES).to_numpy(dtype=int)
    rows = trades.index.get_indexer(signals.index)
    if (rows < 0).any():
        raise ValueError("predictions hold bars that are not in the bar table")
    is_long = side > 0
    net_return = np.where(is_long, trades["long_return"].to_numpy()[rows],
                          trades["short_return"].to_numpy()[rows])
    return pd.DataFrame({
        "side": side,
        "meta_label": (net_return > 0).astype(int),
        "net_return": net_return,
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


def position_management_labels(bars: pd.DataFrame, signals: pd.DataFrame, trades: pd.DataFrame,
                               review_bars: tuple[int, ...], round_trip_fee: float
                               ) -> pd.DataFrame:
    """Should a position opened at a signal be closed early, at a review bar?

    A position opened at the close C_t of signal bar t and still open ``k`` bars later
    (k in ``review_bars``, the barrier exit not reached yet) is reviewed at the close
    C_{t+k}: closing there returns ``side x (C_{t+k} / C_t - 1) - round_trip_fee``;
    holding returns the barrier trade's ``net_return``. ``close_early`` is 1 when closing
    returns more. The decision uses what is known at the review bar only; its label
    depends on the bars up to the trade's exit (``exit_row``, for purging).

    Args:
        bars: close; sorted index of bar open times.
        signals: :func:`meta_labels` output (``side``, ``net_return``, ``exit_row``).
        trades: :func:`~ares_kedro.analyst.labels.barrier_trades` of ``bars`` (unused
            columns allowed; its index locates the signals).
        review_bars: bars after entry at which an open position is reviewed (each >= 1).
        round_trip_fee: fraction of price paid entering and leaving.

    Returns:
        One row per (signal, review) with the position open, sorted by review bar:
        ``signal_time``, ``review_row``, ``bars_held``, ``side``, ``unrealised_return``
        (gross, at the review close), ``close_early``, ``return_saved`` (closing minus
        holding) and ``exit_row``.
    """
    if not review_bars or min(review_bars) < 1:
        raise ValueError("review_bars must hold positive bar counts")
    rows = trades.index.get_indexer(signals.index)
    close = bars["close"].to_numpy(dtype=float)
    side = signals["side"].to_numpy()
    exit_row = signals["exit_row"].to_numpy()
    parts = []
    for held in sorted(set(int(k) for k in review_bars)):  # a few review points, not bars
        review = rows + held
        still_open = review < exit_row
        at = review[still_open]
        unrealised = side[still_open] * (close[at] / close[rows[still_open]] - 1.0)
        saved = (unrealised - round_trip_fee) - signals["net_return"].to_numpy()[still_open]
        parts.append(pd.DataFrame({
            "signal_time": signals.index[still_open], "review_row": at, "bars_held": held,
            "side": side[still_open], "unrealised_return": unrealised,
            "close_early": (saved > 0).astype(int), "return_saved": saved,
            "exit_row": exit_row[still_open]}))
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["review_row", "signal_time"], kind="stable", ignore_index=True)
    table.index = bars.index[table["review_row"].to_numpy()]
    return table.rename_axis("review_time")
