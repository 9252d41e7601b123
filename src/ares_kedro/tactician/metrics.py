"""What the tactician adds, per period, measured on labelled signals only.

* meta-labelling: precision of the analyst's signals (share whose trade wins) before and
  after keeping only those the tactician acts on, the share kept, and the mean net
  return per signal before and after;
* entry timing: of the signals entered with a limit order, the fill rate, the mean price
  improvement of the filled ones (fraction of price) and the share where waiting was
  right; the missed winners (not filled, while the market entry won) are counted;
* position management: of the open positions the tactician would close at a review, the
  share where closing was right and the mean return saved (closing minus holding).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def _mean(values: pd.Series | np.ndarray) -> float | None:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else None


def _auc(answer: np.ndarray, probability: np.ndarray) -> float | None:
    answer = np.asarray(answer, dtype=int)
    if np.unique(answer).size < 2:
        return None
    return float(roc_auc_score(answer, probability))


def signal_metrics(signals: pd.DataFrame) -> dict[str, Any]:
    """Meta-labelling and entry-timing metrics of labelled ``tactician_signals`` rows."""
    kept = signals[signals["act"]]
    timed = kept[kept["entry"] == "limit"]
    filled = timed[timed["filled"]]
    return {
        "signals": int(len(signals)),
        "meta_labelling": {
            "precision_before": _mean(signals["meta_label"]),
            "precision_after": _mean(kept["meta_label"]),
            "kept_share": _mean(signals["act"]),
            "mean_net_return_before": _mean(signals["net_return"]),
            "mean_net_return_after": _mean(kept["net_return"]),
            "auc": _auc(signals["meta_label"], signals["p_win"]),
        },
        "entry_timing": {
            "limit_orders": int(len(timed)),
            "fill_rate": _mean(timed["filled"]),
            "mean_price_improvement": _mean(filled["price_improvement"]),
            "waiting_right_share": _mean(timed["wait_label"]),
            "missed_winners": int(((~timed["filled"]) & (timed["meta_label"] == 1)).sum()),
            "auc": _auc(signals["wait_label"], signals["p_wait"]),
        },
    }


def review_metrics(reviews: pd.DataFrame, close_threshold: float) -> dict[str, Any]:
    """Position-management metrics of labelled reviews with their ``p_close``."""
    closed = reviews[reviews["p_close"] >= close_threshold]
    return {
        "reviews": int(len(reviews)),
        "close_early_base_rate": _mean(reviews["close_early"]),
        "closed_share": _mean(reviews["p_close"] >= close_threshold),
        "closing_right_share": _mean(closed["close_early"]),
        "mean_return_saved_when_closed": _mean(closed["return_saved"]),
        "auc": _auc(reviews["close_early"], reviews["p_close"]),
    }
