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
