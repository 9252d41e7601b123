"""Regime statistics and the regime chart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

from ares_kedro.regimes import REGIMES

REGIME_COLOURS = {"BULL_TREND": "#2ca02c", "BEAR_TREND": "#d62728", "SIDEWAYS_RANGE": "#7f7f7f",
                  "SR_ZONE_ACTION": "#1f77b4", "HIGH_IMPACT_CANDLE": "#ff7f0e"}


def regime_statistics(regime: pd.Series) -> dict[str, Any]:
    """Share of bars, number of spells and mean spell length (bars) per regime, and the
    transition matrix P(next bar's regime | this bar's regime)."""
    values = regime.astype(str)
    spell = (values != values.shift()).cumsum()
    spells = values.groupby(spell).agg(["first", "size"])
    share = values.value_counts(normalize=True)
    following = pd.crosstab(values.iloc[:-1].to_numpy(), values.iloc[1:].to_numpy(),
                            normalize="index").reindex(index=REGIMES, columns=REGIMES).fillna(0.0)
    return {
        "bars": int(values.size),
        "regimes": {
            name: {
                "share": float(share.get(name, 0.0)),
                "bars": int((values == name).sum()),
                "spells": int((spells["first"] == name).sum()),
                "mean_spell_bars": float(spells.loc[spells["first"] == name, "size"].mean())
                if (spells["first"] == name).any() else 0.0,
            }
            for name in REGIMES
        },
        "transition_matrix": {row: {col: float(following.loc[row, col]) for col in REGIMES}
                              for row in REGIMES},
    }


def split_summary(regime: pd.Series, is_warmup: pd.Series, min_bars_to_train: int) -> dict[str, Any]:
    """Per-regime training-set sizes and which regimes fall back to the global ensemble."""
    usable = regime[~is_warmup.astype(bool)].astype(str)
    counts = usable.value_counts()
    return {
        "min_bars_to_train": min_bars_to_train,
        "warmup_bars_excluded": int(is_warmup.sum()),
        "regimes": {
            name: {"bars": int(counts.get(name, 0)),
                   "model": "own" if counts.get(name, 0) >= min_bars_to_train else "global_fallback"}
            for name in REGIMES
        },
    }


def regime_training_sets(bars: pd.DataFrame, labels: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The bars of each regime (warm-up excluded), with their regime columns, one table per
    regime: the per-regime training sets the analyst's specialist ensembles start from."""
    usable = ~labels["is_warmup"].astype(bool)
    joined = bars.join(labels[["regime", "sr_zone_strength"]]).loc[usable]
    regime = joined["regime"].astype(str)
    return {name: joined.loc[regime == name] for name in REGIMES if (regime == name).any()}


def regime_chart(bars: pd.DataFrame, regime: pd.Series, sr_levels: pd.DataFrame,
                 title: str, max_points: int = 5000) -> Figure:
    """Close price coloured by regime, with the support/resistance zones known at the end."""
    step = max(1, len(bars) // max_points)
    close = bars["close"].iloc[::step]
    labels = regime.astype(str).iloc[::step]
    figure = Figure(figsize=(14, 6))
    axis = figure.subplots()
    for name in REGIMES:
        mask = (labels == name).to_numpy()
        axis.scatter(close.index[mask], close.to_numpy()[mask], s=2, color=REGIME_COLOURS[name],
                     label=name)
    for _, level in sr_levels.iterrows():  # tens of levels, not bars
        start = max(level["confirmed_at"], bars.index[0])
        axis.fill_between([start, bars.index[-1]], level["level"] - level["zone_half_width"],
                          level["level"] + level["zone_half_width"], color="#1f77b4",
                          alpha=float(np.clip(0.05 * level["strength"], 0.03, 0.25)), linewidth=0)
    axis.set_yscale("log")
    axis.set_title(title)
    axis.set_ylabel("close (log scale)")
    axis.legend(loc="upper left", markerscale=6, fontsize=8)
    figure.tight_layout()
    return figure
