"""Regimes nodes: validate parameters, call ``ares_kedro.regimes``, return tables."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from ares_kedro.regimes import reports
from ares_kedro.regimes.rules import RuleParams, classify_rules
from ares_kedro.regimes.support_resistance import SupportResistanceParams, sr_levels_table

METHODS = ("rules",)


def classify_regimes(market_bars: pd.DataFrame, params: dict[str, Any]
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``regime_labels`` for every bar and the ``sr_levels`` table."""
    method = params.get("method")
    if method not in METHODS:
        raise ValueError(f"regimes.method must be one of {METHODS}, got {method!r} "
                         "(gmm is not built yet: see docs/regimes.md)")
    sr = SupportResistanceParams.from_params(params["support_resistance"])
    labels, pivots = classify_rules(market_bars, params["timeframe"],
                                    RuleParams.from_params(params["rules"]), sr)
    return labels, sr_levels_table(pivots, sr)


def report_regimes(market_bars: pd.DataFrame, regime_labels: pd.DataFrame,
                   sr_levels: pd.DataFrame, params: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any], plt.Figure]:
    """Regime statistics, the per-regime split summary and the regime chart."""
    statistics = reports.regime_statistics(regime_labels["regime"])
    splits = reports.split_summary(regime_labels["regime"], regime_labels["is_warmup"],
                                   int(params["splits"]["min_bars_to_train"]))
    chart = reports.regime_chart(market_bars, regime_labels["regime"], sr_levels,
                                 f"Regimes ({params['method']}) and support/resistance zones")
    return statistics, splits, chart
