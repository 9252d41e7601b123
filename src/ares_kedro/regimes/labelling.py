"""Label bars with a fitted regime model: the one function the regimes pipeline and the
live predictor both call."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ares_kedro.regimes.mixture import classify_mixture
from ares_kedro.regimes.rules import classify_rules
from ares_kedro.regimes.support_resistance import sr_levels_table

METHODS = ("rules", "gmm")  # regimes.method


def checked_method(method: Any) -> str:
    """``regimes.method``, refused unless it is one of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"regimes.method must be one of {list(METHODS)}, got {method!r}")
    return str(method)


def label_regimes(bars: pd.DataFrame, model: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regime labels of every bar, support/resistance levels) of ``bars`` with ``model``
    (``regime_model``: method, timeframe, rules, support_resistance and, for gmm, the fitted
    mixture). Causal: a bar's label uses bars up to it only."""
    rules, sr = model["rules"], model["support_resistance"]
    labels, pivots = classify_rules(bars, model["timeframe"], rules, sr)
    if model["method"] == "gmm":
        labels = classify_mixture(labels.drop(columns=["regime", "candidate_regime", "is_warmup"]),
                                  model["mixture"], rules.min_duration_bars,
                                  rules.smoothing_exempt, rules.warmup_regime)
    return labels, sr_levels_table(pivots, sr)
