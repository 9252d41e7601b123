"""Regimes nodes: validate parameters, call ``ares_kedro.regimes``, return tables."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ares_kedro.regimes import reports
from ares_kedro.regimes.labelling import checked_method, label_regimes
from ares_kedro.regimes.mixture import MixtureParams, RegimeMixture
from ares_kedro.regimes.rules import RuleParams, classify_rules
from ares_kedro.regimes.support_resistance import SupportResistanceParams

logger = logging.getLogger(__name__)


def classify_regimes(market_bars: pd.DataFrame, params: dict[str, Any]
                     ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``regime_labels`` for every bar, the ``sr_levels`` table and the ``regime_model``
    (everything live prediction needs to label new bars the same way)."""
    method = checked_method(params.get("method"))
    sr = SupportResistanceParams.from_params(params["support_resistance"])
    rules = RuleParams.from_params(params["rules"])
    model: dict[str, Any] = {"method": method, "timeframe": params["timeframe"], "rules": rules,
                             "support_resistance": sr}
    if method == "gmm":
        rule_labels, _ = classify_rules(market_bars, params["timeframe"], rules, sr)
        model["mixture"] = RegimeMixture(MixtureParams.from_params(params["gmm"])).fit(rule_labels)
    labels, sr_levels = label_regimes(market_bars, model)
    return labels, sr_levels, model


def split_by_regime(market_bars: pd.DataFrame, regime_labels: pd.DataFrame
                    ) -> dict[str, pd.DataFrame]:
    """One table of bars per regime (``regime_training_sets``, a partitioned dataset)."""
    return reports.regime_training_sets(market_bars, regime_labels)


def report_regimes(market_bars: pd.DataFrame, regime_labels: pd.DataFrame,
                   sr_levels: pd.DataFrame, params: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any], Figure]:
    """Regime statistics, the per-regime split summary and the regime chart."""
    statistics = reports.regime_statistics(regime_labels["regime"])
    splits = reports.split_summary(regime_labels["regime"], regime_labels["is_warmup"],
                                   int(params["splits"]["min_bars_to_train"]))
    for name, split in splits["regimes"].items():
        if split["model"] == "global_fallback":
            logger.warning("Regime %s has %d bars (< %d): it will use the global fallback ensemble",
                           name, split["bars"], splits["min_bars_to_train"])
    chart = reports.regime_chart(market_bars, regime_labels["regime"], sr_levels,
                                 f"Regimes ({params['method']}) and support/resistance zones")
    return statistics, splits, chart
