"""A universe of markets: each trained and validated by its own run, compared in one table.

Every market of ``universe.markets`` is a complete run (ingestion to validation) with its
own data folder, MLflow database and Optuna storage. Across markets the table puts the
governor beside buy-and-hold and the best single baseline on each market's test period,
net of every cost, and deflates each governor's Sharpe ratio twice: by the trials of its
own market, and by the trials of every market of the universe together (a trader who tries
the system on ten markets and keeps the best has run ten times the trials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ares_kedro.params import checked_keys, merged
from ares_kedro.validation.overfitting import expected_max_sharpe, probabilistic_sharpe
from ares_kedro.validation.report import markdown_table

MARKET_KEYS = ("exchange", "market", "symbol", "timeframe")


@dataclass(frozen=True)
class UniverseParams:
    """``universe`` in conf."""

    markets: list[dict[str, Any]]  # per market: ``ingestion`` overrides (symbol at least)
    reference_symbol: str | None  # cross-asset features' reference, ingested beside each market
    env: str  # the conf environment every market trains in
    run_params: dict[str, Any]  # other overrides of every market's run (nested blocks)
    scheduler: str | None  # a Dask scheduler's address; None: a LocalCluster here
    workers: int  # LocalCluster workers, one market each at a time; 0 = one per core
    root: str  # folder of the markets' data
    alpha: float  # significance level of the deflated Sharpe ratios

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> UniverseParams:
        spec = cls(**checked_keys(cls, params, "universe"))
        problems = []
        if not isinstance(spec.markets, list) or not spec.markets or not all(
                isinstance(m, dict) and m.get("symbol") for m in spec.markets):
            problems.append("markets must be a non-empty list of ingestion overrides, each "
                            "with a symbol (e.g. {symbol: ETHUSDT, timeframe: 1h})")
        if spec.reference_symbol is not None and not str(spec.reference_symbol).strip():
            problems.append("reference_symbol must be a symbol (e.g. ETHUSDT) or null")
        if not isinstance(spec.workers, int) or spec.workers < 0:
            problems.append(f"workers must be an integer >= 0, got {spec.workers!r}")
        if not 0 < spec.alpha < 0.5:
            problems.append(f"alpha must be in (0, 0.5), got {spec.alpha!r}")
        if problems:
            raise ValueError("universe: " + "; ".join(problems))
        return spec


def market_ingestion(ingestion: dict[str, Any], market: dict[str, Any]) -> dict[str, Any]:
    """The ``ingestion`` block of one market's run: the project's, with the market's
    overrides."""
    return merged(ingestion, market)


def market_id(ingestion: dict[str, Any]) -> str:
    """``exchange-market-symbol-timeframe``, as the catalog names a market's folders."""
    return "-".join(str(ingestion[key]) for key in MARKET_KEYS)


def deflated_over(returns: np.ndarray, trials: int, variance: float, alpha: float
                  ) -> dict[str, Any]:
    """The deflated Sharpe ratio of per-bar ``returns`` after ``trials`` trials whose
    per-bar Sharpe ratios vary by ``variance`` (at least the null's, 1 / (bars - 1))."""
    returns = np.asarray(returns, dtype=float)
    variance = max(float(variance), 1.0 / max(returns.size - 1, 1))
    dsr = probabilistic_sharpe(returns, expected_max_sharpe(int(trials), variance))
    return {"deflated_sharpe": dsr, "p_value": 1.0 - dsr, "trials": int(trials),
            "significant": bool(dsr > 1.0 - alpha)}


def summarise_markets(results: list[dict[str, Any]], alpha: float) -> dict[str, Any]:
    """The universe table: per market (``results`` from each market's run) the governor,
    buy-and-hold and the best single baseline on the test period, and the governor's
    deflated Sharpe by its own trials and by the trials of every market."""
    trials = sum(int(r["trials"]) for r in results)
    rows = []
    for r in results:
        strategies = r["strategies"]
        baselines = {n: s for n, s in strategies.items() if n not in ("governor", "buy_and_hold")}
        best = max(baselines, key=lambda n: baselines[n]["sharpe"]) if baselines else None
        governor = strategies["governor"]
        over_all = deflated_over(r["governor_returns"], trials,
                                 r["deflated_sharpe"]["trial_sharpe_variance"], alpha)
        rows.append({
            "market": r["market"], "test_first_bar": r["test_first_bar"],
            "test_last_bar": r["test_last_bar"], "governor_acts": r["governor_acts"],
            "governor_sharpe": governor["sharpe"],
            "governor_total_return": governor["total_return"],
            "governor_trades": governor["trades"],
            "cross_asset_features": len(r.get("cross_asset_features", [])),
            "buy_and_hold_sharpe": strategies["buy_and_hold"]["sharpe"],
            "best_baseline": best,
            "best_baseline_sharpe": baselines[best]["sharpe"] if best else None,
            "dsr_p_own_trials": r["deflated_sharpe"]["p_value"],
            "own_trials": int(r["trials"]),
            "dsr_p_universe_trials": over_all["p_value"],
            "significant_over_universe": over_all["significant"]})
    return {"markets": rows, "trials_counted": trials, "alpha": alpha,
            "note": ("each market: a full run (ingestion to validation) in its own folder; "
                     "test periods never trained, tuned or calibrated on; every figure net "
                     "of costs; the best baseline is chosen on the test period itself, so "
                     "it is a generous rival; the universe p-value deflates each governor by "
                     "the trials of every market together")}


def universe_markdown(summary: dict[str, Any]) -> str:
    """The universe report: one row per market, then how the trials were counted."""
    columns = ("test_first_bar", "test_last_bar", "cross_asset_features", "governor_acts",
               "governor_sharpe",
               "governor_total_return", "governor_trades", "buy_and_hold_sharpe",
               "best_baseline", "best_baseline_sharpe", "dsr_p_own_trials",
               "dsr_p_universe_trials")
    rows = {row["market"]: row for row in summary["markets"]}
    significant = [row["market"] for row in summary["markets"]
                   if row["significant_over_universe"]]
    return "\n".join([
        "# Universe report", "",
        f"{len(rows)} markets, each trained and validated by its own run. Every figure is "
        "net of fees, slippage and funding, on each market's test period.", "",
        *markdown_table(rows, columns), "",
        f"Deflated Sharpe ratios: by each market's own trials, and by the "
        f"{summary['trials_counted']:,} trials of every market together. Significant at "
        f"{summary['alpha']:.0%} over the universe: "
        f"{', '.join(significant) if significant else 'none'}.", "",
        summary["note"][0].upper() + summary["note"][1:] + ".", ""])
