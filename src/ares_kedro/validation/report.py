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


def market_line(ingestion: dict[str, Any]) -> str:
    """What market the run traded; on the built-in synthetic market, what was planted."""
    name = (f"{ingestion.get('exchange', '')} {ingestion.get('market', '')} "
            f"{ingestion.get('symbol', '')} {ingestion.get('timeframe', '')}").strip()
    if ingestion.get("source") != "synthetic":
        return f"Market: {name}, from `{ingestion.get('source')}` data."
    synthetic = ingestion.get("synthetic", {})
    if synthetic.get("mode") == "random_walk":
        return (f"Market: the built-in synthetic {name}, **null mode** (a random walk: no "
                "edge is planted; a significant result here would be a false positive).")
    edges = synthetic.get("edges", {})
    planted = [f"{kind} (strength {block['strength']:g}"
               + (f", in {block['regimes']}" if "regimes" in block else "") + ")"
               for kind, block in edges.items() if float(block.get("strength", 0)) > 0]
    return (f"Market: the built-in synthetic {name} (seed {synthetic.get('seed')}); planted "
            f"edges: {', '.join(planted) if planted else 'none'} (docs/data.md).")


def verdict_lines(validation_backtest: dict[str, Any]) -> list[str]:
    """The report's first lines: did the governor trade on the test period, and why (or
    why not)."""
    governor = validation_backtest["strategies"]["governor"]
    why = validation_backtest.get("governor_why") or "no reason recorded"
    trades = int(governor["trades"])
    if not validation_backtest["governor_acts"]:
        verdict = f"**The governor held: no trade.** It does not act: {why}."
    elif trades == 0:
        verdict = (f"**The governor held: no trade.** It acts ({why}), but no test bar's "
                   "edge passed its gate.")
    else:
        verdict = (f"**The governor traded: {trades} trades**, net Sharpe "
                   f"{governor['sharpe']:.2f}, net return {governor['total_return']:.2%}. "
                   f"Why it acts: {why}.")
    return [verdict, "", f"Governor acts: **{bool(validation_backtest['governor_acts'] and trades)}**"
                         f" ({trades} test trades)."]


def report_markdown(validation_backtest: dict[str, Any], validation_monte_carlo: dict[str, Any],
                    validation_overfitting: dict[str, Any], validation_ab_test: dict[str, Any],
                    ingestion: dict[str, Any]) -> str:
    """``validation_report``: the verdict first, then the strategies, the governor per
    regime, Monte Carlo, overfitting, the A/B test and the charts (linked by file name)."""
    period = validation_backtest["period"]
    dsr, pbo = validation_overfitting["deflated_sharpe"], validation_overfitting["pbo"]
    boot = validation_monte_carlo["block_bootstrap"]
    ab = validation_ab_test
    lines = [
        "# Validation report", "",
        f"Test period {period['first_bar']} to {period['last_bar']} ({period['bars']:,} bars), "
        "never trained, tuned or calibrated on. Every figure is net of fees, slippage, "
        "funding (futures) and a spot short's margin interest.", "",
        *verdict_lines(validation_backtest), "", market_line(ingestion), "",
        "## Strategies", "", *markdown_table(validation_backtest["strategies"], HEADLINE), "",
        validation_backtest["note"], "", "![equity](validation_equity.png)", "",
        "## Governor per regime", "",
        *markdown_table(validation_backtest["per_regime"],
                        ("bars", "share_of_bars", "total_return", "sharpe", "trades",
                         "win_rate")), "",
        "## Monte Carlo", "",
        f"{validation_monte_carlo['simulations']:,} stationary block-bootstrap paths (mean "
        f"block {validation_monte_carlo['mean_block_bars']} bars) of the governor's bar "
        "returns, and as many resamplings of its trades.", "",
        *markdown_table({k: v for k, v in (("block bootstrap", boot),
                                           ("trades", validation_monte_carlo["trades"]))
                         if "var_95" in v},
                        ("probability_of_loss", "var_95", "cvar_95", "var_99", "cvar_99",
                         "worst_total_return", "stability_score")), "",
        "![monte carlo](validation_monte_carlo.png)", "",
        "## Overfitting", "",
        f"* Deflated Sharpe ratio {dsr['deflated_sharpe']:.3f} (p-value {dsr['p_value']:.3f}, "
        f"{dsr['trials']:,} trials counted in the Optuna storage; probabilistic Sharpe "
        f"{dsr['probabilistic_sharpe']:.3f}): the edge is "
        f"**{'significant' if dsr['significant'] else 'not significant'}** at "
        f"{dsr['alpha']:.0%}. Every strategy, deflated by the same trials: " + ", ".join(
            f"{name} {v['deflated_sharpe']:.2f}{' (significant)' if v['significant'] else ''}"
            for name, v in validation_overfitting["deflated_sharpe_per_strategy"].items()) + ".",
        f"* Probability of backtest overfitting: "
        f"{'n/a (' + pbo.get('note', '') + ')' if pbo.get('pbo') is None else format(pbo['pbo'], '.2f')}"
        f"{'' if pbo.get('pbo') is None else ' (' + pbo['of'] + ', ' + str(pbo['combinations']) + ' CSCV splits)'}.",
        "", "## A/B test", "",
        f"Governor (treatment) against {ab['control']} (control) on the same test bars: "
        f"Sharpe difference {ab['sharpe_difference']['observed']:.2f} "
        f"[{ab['sharpe_difference']['ci_low']:.2f}, {ab['sharpe_difference']['ci_high']:.2f}] "
        f"({1 - ab['alpha']:.0%} paired block bootstrap), mean-return difference "
        f"{ab['mean_return_difference']['observed']:.2%} a year "
        f"[{ab['mean_return_difference']['ci_low']:.2%}, "
        f"{ab['mean_return_difference']['ci_high']:.2%}]. Decision: **{ab['decision']}**.", "",
        f"Rollout: {ab['rollout']['plan']}.",
        *([""] + [f"* stage {s['stage']}: treatment share {s['treatment_share']:.0%} for at "
                  f"least {s['min_bars']} bars" for s in ab["rollout"]["stages"]]
          + [f"* stop rule: {ab['rollout']['stop_rules']}"]
          if ab["rollout"]["stages"] else []), "",
        "## Calibration", "", "![calibration](validation_calibration.png)", ""]
    return "\n".join(lines)


def report_metrics(validation_backtest: dict[str, Any], validation_monte_carlo: dict[str, Any],
                   validation_overfitting: dict[str, Any], validation_ab_test: dict[str, Any]
                   ) -> dict[str, dict[str, float]]:
    """The run's MLflow metrics: every strategy's headline figures, the deflated Sharpe,
    the Monte Carlo loss probability and VaR, the A/B Sharpe difference and the PBO."""
    dsr, pbo = validation_overfitting["deflated_sharpe"], validation_overfitting["pbo"]
    boot = validation_monte_carlo["block_bootstrap"]
    ab = validation_ab_test
    metrics = {f"{name}.{key}": {"value": float(value), "step": 0}
               for name, values in validation_backtest["strategies"].items()
               for key, value in values.items()
               if key in HEADLINE and np.isfinite(float(value))}
    metrics.update({
        "deflated_sharpe": {"value": float(dsr["deflated_sharpe"]), "step": 0},
        "monte_carlo.probability_of_loss": {"value": float(
            boot["probability_of_loss"]), "step": 0},
        "monte_carlo.var_95": {"value": float(boot["var_95"]), "step": 0},
        "ab_test.sharpe_difference": {"value": float(
            ab["sharpe_difference"]["observed"]), "step": 0}})
    if pbo.get("pbo") is not None:
        metrics["pbo"] = {"value": float(pbo["pbo"]), "step": 0}
    return metrics


def run_summary(validation_backtest: dict[str, Any], validation_overfitting: dict[str, Any],
                validation_ab_test: dict[str, Any], report_path: str | None) -> str:
    """The few lines a ``kedro run`` that validates ends with (plain text): the test
    period, the governor against buy-and-hold and the best other strategy (net Sharpe,
    return, trades), whether it acts and why, the deflated Sharpe p-value, the A/B
    decision and where the report is."""
    period = validation_backtest["period"]
    strategies = validation_backtest["strategies"]
    others = {n: v for n, v in strategies.items() if n not in ("governor", "buy_and_hold")}
    best = max(others, key=lambda n: float(others[n]["sharpe"])) if others else None
    dsr = validation_overfitting["deflated_sharpe"]

    def row(label: str, name: str) -> str:
        v = strategies[name]
        return (f"  {label:<44} net Sharpe {float(v['sharpe']):6.2f}   return "
                f"{float(v['total_return']):8.2%}   trades {int(v['trades']):5d}")

    verdict = verdict_lines(validation_backtest)[0].replace("**", "")
    first, last = (pd.Timestamp(period[k]) for k in ("first_bar", "last_bar"))
    lines = [f"Ares validation: test period {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} "
             f"UTC ({period['bars']:,} bars), every cost in",
             row("governor", "governor"), row("buy and hold", "buy_and_hold")]
    if best is not None:
        lines.append(row(f"best other strategy ({best})", best))
    lines += [f"  {verdict}",
              f"  deflated Sharpe p-value {dsr['p_value']:.3f} ({dsr['trials']:,} trials): "
              f"{'significant' if dsr['significant'] else 'not significant'}; "
              f"A/B against {validation_ab_test['control']}: "
              f"{validation_ab_test['decision']}"]
    if report_path:
        lines.append(f"  report: {report_path} (and .html beside it; in MLflow under "
                     "validation/)")
    return "\n".join(lines)


def report_html(markdown: str, charts: dict[str, Figure], title: str) -> str:
    """``validation_report_html``: the Markdown report as one self-contained HTML page,
    its charts (by the file names the Markdown links) inline as PNG data."""
    import base64
    import html
    from io import BytesIO

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    for name, figure in charts.items():
        buffer = BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{data}"')
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;line-height:1.45;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:right}"
             "th:first-child,td:first-child{text-align:left}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head>\n"
            f"<body>\n{body}</body></html>\n")
