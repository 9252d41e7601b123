"""The validation report: Markdown tables and matplotlib charts of one run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

HEADLINE = ("total_return", "annualised_return", "sharpe", "sortino", "max_drawdown", "calmar",
            "win_rate", "profit_factor", "turnover", "exposure", "trades")
PERCENT = {"total_return", "annualised_return", "max_drawdown", "win_rate", "exposure",
           "share_of_bars", "probability_of_loss", "var_95", "cvar_95", "var_99", "cvar_99"}


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.2%}" if name.endswith(tuple(PERCENT)) else f"{value:.2f}"
    return str(value)


def markdown_table(rows: dict[str, dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    lines = ["| | " + " | ".join(c.replace("_", " ") for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(c, values.get(c)) for c in columns)
                     + " |")
    return lines


def equity_chart(returns: pd.DataFrame, strategies: list[str]) -> Figure:
    """Equity curves (log scale) of ``strategies`` (columns of net bar returns) and the
    governor's drawdown."""
    figure = Figure(figsize=(11, 7))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for name in strategies:
        equity = (1 + returns[name]).cumprod()
        top.plot(equity.index, equity.to_numpy(), lw=2.2 if name == "governor" else 1.0,
                 label=name, zorder=3 if name == "governor" else 2)
    top.set_yscale("log")
    top.set_ylabel("equity (start = 1, log scale)")
    top.legend(fontsize=7, ncol=3)
    top.set_title("Out-of-sample (test period) equity, net of fees, slippage and funding")
    equity = (1 + returns["governor"]).cumprod()
    drawdown = 1 - equity / np.maximum(equity.cummax(), 1.0)
    bottom.fill_between(drawdown.index, -drawdown.to_numpy(), 0, color="tab:red", alpha=0.5)
    bottom.set_ylabel("governor drawdown")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def monte_carlo_chart(samples: pd.DataFrame) -> Figure:
    """Histograms of simulated total return, Sharpe and maximum drawdown per resampling."""
    figure = Figure(figsize=(13, 3.8))
    axes = figure.subplots(1, 3)
    for axis, column in zip(axes, ("total_return", "sharpe", "max_drawdown"), strict=True):
        for name, group in samples.groupby("resampling"):
            axis.hist(group[column].to_numpy(), bins=40, alpha=0.55, label=str(name))
        axis.set_title(column.replace("_", " "))
    axes[0].legend(fontsize=8)
    figure.suptitle("Monte Carlo of the governor's test-period results")
    figure.tight_layout()
    return figure


def calibration_chart(reliability: pd.DataFrame) -> Figure:
    """Hit rate of the governor's predicted class against its confidence (test bars)."""
    figure = Figure(figsize=(5.5, 5))
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    if len(reliability):
        axis.plot(reliability["confidence"], reliability["hit_rate"], marker="o",
                  label="governor")
        for _, row in reliability.iterrows():
            axis.annotate(f"{int(row['bars'])}", (row["confidence"], row["hit_rate"]),
                          fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.set_xlabel("confidence (probability of the predicted class)")
    axis.set_ylabel("share of bars where it was right")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    axis.set_title("Governor calibration, test period (labels: bars per bin)")
    figure.tight_layout()
    return figure


def reliability_table(proba: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                      bins: int) -> pd.DataFrame:
    """Per confidence bin: mean confidence of the predicted class, its hit rate, bars."""
    known = ~np.isnan(proba).any(axis=1)
    proba, labels = proba[known], np.asarray(labels)[known]
    if not len(proba):
        return pd.DataFrame(columns=["confidence", "hit_rate", "bars"])
    predicted = np.array(classes)[np.argmax(proba, axis=1)]
    confidence = proba.max(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    table = pd.DataFrame({"bin": which, "confidence": confidence,
                          "hit": predicted == labels})
    grouped = table.groupby("bin").agg(confidence=("confidence", "mean"),
                                       hit_rate=("hit", "mean"), bars=("hit", "size"))
    return grouped.reset_index(drop=True)


def walk_forward_chart(folds: pd.DataFrame) -> Figure:
    """Each fold's test-period net Sharpe ratio: the governor beside its baselines."""
    figure = Figure(figsize=(11, 4.5))
    axis = figure.subplots()
    names = [c[: -len("_sharpe")] for c in folds if c.endswith("_sharpe")
             and c != "validation_sharpe"]
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        axis.bar(folds["fold"] + k * width, folds[f"{name}_sharpe"], width, label=name)
    axis.axhline(0, color="grey", lw=1)
    axis.set_xticks(folds["fold"] + width * (len(names) - 1) / 2,
                    [f"fold {k}" for k in folds["fold"]])
    axis.set_xlabel("test periods in time order")
    axis.set_ylabel("test-period net Sharpe")
    axis.set_title("Walk-forward: each fold retrained, tested on the bars after it")
    axis.legend(fontsize=7, ncol=3)
    figure.tight_layout()
    return figure
