"""Validation nodes: backtest the governor and its baselines on the test period, resample
the results, deflate the Sharpe ratio, A/B test against the control, and report.

Only the test period is traded: bars no model was trained, tuned or calibrated on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from tqdm.auto import tqdm

from ares_kedro.analyst.baseline import class_probabilities, fingerprint
from ares_kedro.analyst.labels import LABELS, PROBABILITY_COLUMNS
from ares_kedro.analyst.studies import study_storage, trials_in_storage
from ares_kedro.governor.comparison import ensemble_probabilities
from ares_kedro.governor.decisions import ExpectedReturnMap
from ares_kedro.governor.final_parameters import (
    margin_gate,
    opinion_probability_columns,
)
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.pipelines.validation.fold_runner import RESULT_FILE, RESULT_VERSION
from ares_kedro.validation.ab_test import ABTestParams, ab_test
from ares_kedro.validation.monte_carlo import (
    MonteCarloParams,
    bootstrap_bar_returns,
    resample_trades,
)
from ares_kedro.validation.overfitting import deflated_sharpe, probability_of_backtest_overfitting
from ares_kedro.validation.report import (
    HEADLINE,
    calibration_chart,
    equity_chart,
    markdown_table,
    monte_carlo_chart,
    reliability_table,
    walk_forward_chart,
)
from ares_kedro.validation.strategies import TradingSetup, test_period_backtest
from ares_kedro.validation.walk_forward import WalkForwardParams, plan_folds, summarise_folds

logger = logging.getLogger(__name__)
NOT_STRATEGIES = {"governor_position", "regime", "label", "is_labelled", *PROBABILITY_COLUMNS,
                  "decision"}


def backtest_test_period(governor_decisions: pd.DataFrame, governor_inputs: pd.DataFrame,
                         governor_final_params: dict[str, Any], governor_baseline_lightgbm,
                         analyst_features: pd.DataFrame, pruned_features: dict[str, Any],
                         market_bars: pd.DataFrame, funding_rates: pd.DataFrame,
                         optimal_target_params: dict[str, Any],
                         tactician_sizing: dict[str, Any], costs: dict[str, Any],
                         ingestion: dict[str, Any]
                         ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``validation_returns`` (net bar returns of the governor and every baseline on the
    test bars), ``validation_trades`` (the governor's trades) and ``validation_backtest``
    (metrics of each, the governor per regime)."""
    trading = TradingSetup(market_bars, funding_rates, optimal_target_params, tactician_sizing,
                           governor_final_params, costs, ingestion["market"], analyst_features)
    scored = governor_inputs.index[governor_inputs["period"].isin(["validation", "test"])]
    baselines = {"single_lightgbm": class_probabilities(
        governor_baseline_lightgbm, analyst_features.loc[scored, pruned_features["features"]])}
    baselines.update({f"ensemble_{name}": ensemble_probabilities(governor_inputs.loc[scored],
                                                                 name) for name in ENSEMBLES})
    return test_period_backtest(trading, governor_decisions, baselines, scored,
                                governor_inputs.loc[scored, "period"].to_numpy(),
                                governor_final_params, ingestion["market"])


def run_monte_carlo(validation_returns: pd.DataFrame, validation_trades: pd.DataFrame,
                    monte_carlo: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """``validation_monte_carlo`` (summaries) and ``validation_monte_carlo_samples``."""
    params = MonteCarloParams.from_params(monte_carlo)
    per_year = bars_per_year(validation_returns.index)
    returns = validation_returns["governor"].to_numpy()
    bars = bootstrap_bar_returns(returns, per_year, params, progress=True)
    trades = resample_trades(validation_trades["net_return"].to_numpy(),
                             returns.size / per_year, params)
    samples = [pd.DataFrame({"resampling": name, **{k: result[k] for k in
                                                    ("total_return", "sharpe", "max_drawdown")}})
               for name, result in (("block_bootstrap", bars), ("trades", trades))
               if "sharpe" in result]
    summary = {"simulations": params.simulations, "mean_block_bars": params.mean_block_bars,
               "block_bootstrap": bars["summary"], "trades": trades["summary"]}
    logger.info("Monte Carlo (%d simulations): probability of loss %.1f%%, 95%% VaR %.2f%% of "
                "equity, stability %.2f", params.simulations,
                100 * bars["summary"]["probability_of_loss"], 100 * bars["summary"]["var_95"],
                bars["summary"]["stability_score"])
    return summary, pd.concat(samples, ignore_index=True)


def overfitting_statistics(validation_returns: pd.DataFrame, governor_decisions: pd.DataFrame,
                           governor_final_params: dict[str, Any], analyst_features: pd.DataFrame,
                           market_bars: pd.DataFrame, funding_rates: pd.DataFrame,
                           optimal_target_params: dict[str, Any],
                           tactician_sizing: dict[str, Any], costs: dict[str, Any],
                           ingestion: dict[str, Any], overfitting: dict[str, Any],
                           optuna_params: dict[str, Any]) -> dict[str, Any]:
    """``validation_overfitting``: the governor's test Sharpe deflated by every trial the
    project ran, and the PBO of the final-parameter choice (CSCV over its trials traded on
    the validation and test bars)."""
    storage = study_storage(optuna_params)
    counted = trials_in_storage(storage)
    per_year = bars_per_year(validation_returns.index)
    study = optuna.load_study(study_name=governor_final_params["study_name"], storage=storage)
    configurations = [t for t in study.get_trials(deepcopy=False) if t.params]
    trial_sharpes = np.array([t.user_attrs["sharpe"] for t in configurations
                              if "sharpe" in t.user_attrs]) / np.sqrt(per_year)
    alpha = float(overfitting["alpha"])
    strategies = [c for c in validation_returns if c not in NOT_STRATEGIES]
    every = {name: deflated_sharpe(validation_returns[name].to_numpy(), counted["trials"],
                                   trial_sharpes, alpha) for name in strategies}
    result = {"deflated_sharpe": every["governor"], "trials_counted": counted,
              "deflated_sharpe_per_strategy": {
                  name: {k: every[name][k] for k in ("deflated_sharpe", "p_value",
                                                     "significant")} for name in strategies}}
    if len(configurations) < 2:
        result["pbo"] = {"pbo": None, "note": "fewer than 2 final-parameter trials"}
        return result
    trading = TradingSetup(market_bars, funding_rates, optimal_target_params, tactician_sizing,
                       governor_final_params, costs, ingestion["market"], analyst_features)
    rows = governor_decisions[governor_decisions["period"].isin(["validation", "test"])]
    inputs = trading.inputs(rows.index)
    maps = governor_final_params.get("expected_return_maps") or {
        "governor": governor_final_params["expected_return_map"]}
    matrix = []
    for trial in configurations:
        opinion = trial.params.get("opinion", "governor")
        columns = opinion_probability_columns(opinion)
        proba = rows[columns if set(columns) <= set(rows.columns)
                     else PROBABILITY_COLUMNS].to_numpy(dtype=float)
        sizing = replace(trading.sizing, target_volatility=trial.params["target_volatility"],
                         max_position=trial.params["max_position"])
        gate = margin_gate(ExpectedReturnMap.from_record(maps[opinion]),
                           trial.params["expected_return_margin"], trading.trades)
        decided = trading.decide(proba, inputs, gate, sizing)
        matrix.append(trading.backtest(inputs.bar_rows, decided["side"].to_numpy(),
                                       decided["size"].to_numpy()).bar_returns.to_numpy())
    result["pbo"] = {**probability_of_backtest_overfitting(np.column_stack(matrix),
                                                           int(overfitting["cscv_blocks"])),
                     "of": "final-parameter trials, validation and test bars"}
    dsr = result["deflated_sharpe"]
    logger.info("Overfitting: deflated Sharpe %.3f (p %.3f, %d trials counted), PBO %s",
                dsr["deflated_sharpe"], dsr["p_value"], dsr["trials"], result["pbo"]["pbo"])
    return result


def _champion_returns(market_bars: pd.DataFrame, funding_rates: pd.DataFrame,
                      index: pd.Index, treatment_version: str, costs: dict[str, Any],
                      ingestion: dict[str, Any]) -> tuple[np.ndarray | None, str]:
    """Net bar returns of the registered champion on the test bars (its own decisions,
    sizes and barriers, the same costs), or None with the reason it cannot be the
    control."""
    import mlflow

    from ares_kedro.governor.live import CHAMPION_URI, Governor

    try:
        champion = Governor.load(CHAMPION_URI, tracking_uri=mlflow.get_tracking_uri())
    except (FileNotFoundError, mlflow.exceptions.MlflowException) as error:
        return None, f"no champion registered yet ({str(error).splitlines()[0][:120]})"
    if champion.model_version == treatment_version:
        return None, f"the champion is this governor (version {treatment_version})"
    system = champion.system
    rows = market_bars.index.get_indexer(index)
    try:
        decided = champion.decide_batch(market_bars, rows)
    except (ValueError, KeyError) as error:  # BadBars, or a champion of an older layout
        return None, (f"the champion cannot decide on these bars: {error!r} (a champion "
                      "trained before the governor read GLOBAL and the own regime's ensemble "
                      "cannot be the control; promote a new one)")
    trading = TradingSetup(market_bars, funding_rates, system.tactician_record["barriers"],
                       system.tactician_record, system.final_params, costs, ingestion["market"],
                       None)
    result = trading.backtest(rows, decided["side"].to_numpy(), decided["size"].to_numpy())
    return result.bar_returns.reindex(index).to_numpy(), f"champion {champion.model_version}"


def ab_test_against_control(validation_returns: pd.DataFrame, market_bars: pd.DataFrame,
                            funding_rates: pd.DataFrame, governor_serving_system,
                            ab_params: dict[str, Any], costs: dict[str, Any],
                            ingestion: dict[str, Any]) -> dict[str, Any]:
    """``validation_ab_test``: the governor (treatment) against the control on the test
    bars: the registered champion (``control: champion``), or a baseline; the
    ``fallback_control`` baseline when there is no other champion."""
    params = ABTestParams.from_params(ab_params)
    per_year = bars_per_year(validation_returns.index)
    control, note = None, ""
    if params.control == "champion":
        control, note = _champion_returns(market_bars, funding_rates, validation_returns.index,
                                          governor_serving_system.version, costs, ingestion)
    name = note if control is not None else (
        params.fallback_control if params.control == "champion" else params.control)
    if control is None:
        if name not in validation_returns:
            raise ValueError(f"validation.ab_test control {name!r} is not a backtested "
                             "strategy; choose champion, buy_and_hold, single_lightgbm or "
                             "ensemble_<name>")
        control = validation_returns[name].to_numpy()
        if note:
            logger.info("A/B test: %s; control: %s", note, name)
    result = ab_test(control, validation_returns["governor"].to_numpy(), per_year, params)
    result.update({"control": name, "treatment": "governor", "control_note": note})
    logger.info("A/B test governor vs %s: Sharpe difference %.2f [%.2f, %.2f] -> %s", name,
                result["sharpe_difference"]["observed"], result["sharpe_difference"]["ci_low"],
                result["sharpe_difference"]["ci_high"], result["decision"])
    return result


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


def write_report(validation_backtest: dict[str, Any], validation_returns: pd.DataFrame,
                 validation_monte_carlo: dict[str, Any], monte_carlo_samples: pd.DataFrame,
                 validation_overfitting: dict[str, Any], validation_ab_test: dict[str, Any],
                 report: dict[str, Any], ingestion: dict[str, Any]):
    """``validation_report`` (Markdown), its three charts and the MLflow metrics."""
    strategies = list(validation_backtest["strategies"])
    labelled = validation_returns["is_labelled"].fillna(False).to_numpy(dtype=bool)
    reliability = reliability_table(
        validation_returns.loc[labelled, PROBABILITY_COLUMNS].to_numpy(dtype=float),
        validation_returns.loc[labelled, "label"].astype(str).to_numpy(), LABELS,
        int(report["calibration_bins"]))
    period = validation_backtest["period"]
    dsr, pbo = validation_overfitting["deflated_sharpe"], validation_overfitting["pbo"]
    boot = validation_monte_carlo["block_bootstrap"]
    ab = validation_ab_test
    lines = [
        "# Validation report", "",
        f"Test period {period['first_bar']} to {period['last_bar']} ({period['bars']:,} bars), "
        "never trained, tuned or calibrated on. Every figure is net of fees, slippage and "
        "funding.", "",
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
    return ("\n".join(lines), equity_chart(validation_returns, strategies),
            monte_carlo_chart(monte_carlo_samples), calibration_chart(reliability), metrics)


def _fold_runtime(ingestion: dict[str, Any], fold: dict[str, Any], root: Path,
                  time_splits: dict[str, Any]) -> dict[str, Any]:
    window_end = pd.Timestamp(fold["window_end"]).tz_convert(None)
    return {"data_root": str(root), "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "ingestion": {**ingestion, "end": str(window_end),
                          "lookback_days": fold["lookback_days"]},
            "time_splits": {**time_splits, "train_fraction": fold["train_fraction"],
                            "validation_fraction": fold["validation_fraction"]}}


def walk_forward(market_bars: pd.DataFrame, ingestion: dict[str, Any],
                 time_splits: dict[str, Any], walk_forward_params: dict[str, Any]
                 ) -> tuple[dict[str, Any], pd.DataFrame, Any]:
    """``walk_forward_summary`` (JSON), ``walk_forward_folds``, ``walk_forward_report``
    (Markdown) and its chart: the whole system
    retrained and tested on successive windows (each fold a separate ``kedro run`` process,
    several at once when cores allow; a fold already done with the same settings is
    reused, so an interrupted walk-forward resumes)."""
    params = WalkForwardParams.from_params(walk_forward_params)
    project = Path.cwd()
    if not (project / "pyproject.toml").exists():
        raise RuntimeError(f"walk-forward starts its folds from the project folder; {project} "
                           "is not one (run kedro from the project root)")
    interval = bar_interval(market_bars.index)
    folds = plan_folds(market_bars.index[0], market_bars.index[-1] + interval, params)
    market_id = "-".join(str(ingestion[k]) for k in ("exchange", "market", "symbol",
                                                       "timeframe"))
    base = Path(params.root) / market_id / params.scheme
    pending, results = [], {}
    for fold in folds:
        root = (base / f"fold_{fold['fold']}").resolve()
        runtime = _fold_runtime(ingestion, fold, root, time_splits)
        spec_hash = fingerprint(runtime["ingestion"], runtime["time_splits"], params.env,
                                RESULT_VERSION)
        done = root / RESULT_FILE
        if done.exists() and json.loads(done.read_text()).get("spec_hash") == spec_hash:
            results[fold["fold"]] = json.loads(done.read_text())
            logger.info("Walk-forward fold %d: reused (same settings) from %s", fold["fold"], root)
            continue
        root.mkdir(parents=True, exist_ok=True)
        spec = {"project": str(project), "env": params.env, "fold": fold["fold"],
                "spec_hash": spec_hash, "window": fold, "runtime_params": runtime,
                "psi_bins": params.psi_bins}
        (root / "fold_spec.json").write_text(json.dumps(spec, indent=2, default=str))
        pending.append((fold["fold"], root))
    at_once = params.parallel_folds or os.cpu_count() or 1
    running: list[tuple[int, Path, subprocess.Popen, Any]] = []
    progress = tqdm(total=len(pending), desc="walk-forward folds", unit="fold")
    while pending or running:
        while pending and len(running) < at_once:
            number, root = pending.pop(0)
            log = (root / "run.log").open("w")
            process = subprocess.Popen(
                [sys.executable, "-m", "ares_kedro.pipelines.validation.fold_runner",
                 str(root / "fold_spec.json")], cwd=project, stdout=log, stderr=subprocess.STDOUT)
            running.append((number, root, process, log))
        number, root, process, log = running.pop(0)
        code = process.wait()
        log.close()
        if code != 0:
            for _, _, other, other_log in running:
                other.kill()
                other_log.close()
            raise RuntimeError(f"walk-forward fold {number} failed (exit {code}); its log: "
                               f"{root / 'run.log'}")
        results[number] = json.loads((root / RESULT_FILE).read_text())
        progress.update(1)
        logger.info("Walk-forward fold %d done: governor test Sharpe %.2f", number,
                    results[number]["strategies"]["governor"]["sharpe"])
    progress.close()
    summary = summarise_folds([results[k] for k in sorted(results)], params)
    table = pd.DataFrame(summary["folds"]).drop(columns=["drifted_features"])
    summary["folds_table_note"] = ("each fold: a full retraining (analyst, tactician, governor) "
                                   f"in conf env {params.env!r}, tested on the next "
                                   f"{params.test_days} days")
    governor = summary["summary"]["governor_sharpe"]
    logger.info("Walk-forward (%s, %d folds): governor test Sharpe %.2f [%.2f, %.2f]",
                params.scheme, len(folds), governor["mean"], governor["ci_low"],
                governor["ci_high"])
    metrics = {f"{name}.mean": {"value": float(v["mean"]), "step": 0}
               for name, v in summary["summary"].items() if np.isfinite(v["mean"])}
    metrics.update({f"fold.{name}": [{"value": float(row[name]), "step": int(
        row["fold"])} for _, row in table.iterrows() if np.isfinite(row[name])]
        for name in ("governor_sharpe", "buy_and_hold_sharpe", "max_feature_psi")})
    return (summary, table, walk_forward_markdown(summary, params), walk_forward_chart(table),
            {k: v for k, v in metrics.items() if v})


def walk_forward_markdown(summary: dict[str, Any], params: WalkForwardParams) -> str:
    """The walk-forward report: per-fold table, means with intervals, decay and drift."""
    columns = ("test_first_bar", "test_last_bar", "governor_acts", "validation_sharpe",
               "governor_sharpe", "governor_total_return", "governor_trades",
               "buy_and_hold_sharpe", "single_lightgbm_sharpe", "max_feature_psi")
    rows = {f"fold {row['fold']}": row for row in summary["folds"]}
    means = {name: {"mean": v["mean"], "ci_low": v["ci_low"], "ci_high": v["ci_high"]}
             for name, v in summary["summary"].items()}
    drift = ", ".join(f"fold {row['fold']}: {', '.join(row['drifted_features'][:8])}"
                      + (" ..." if len(row["drifted_features"]) > 8 else "")
                      for row in summary["folds"] if row["drifted_features"]) or "none"
    return "\n".join([
        "# Walk-forward report", "",
        f"{params.scheme.capitalize()} windows, {params.folds} folds; "
        f"{summary['folds_table_note']}. Every figure is net of costs.", "",
        *markdown_table(rows, columns), "",
        f"## Means across folds ({params.confidence:.0%} Student-t intervals; returns and "
        "drawdowns as fractions)", "",
        *markdown_table(means, ("mean", "ci_low", "ci_high")), "",
        f"Governor Sharpe trend: {summary['governor_sharpe_trend_per_fold']:+.2f} per fold "
        f"({'decaying' if summary['decaying'] else 'no decay'}).", "",
        f"Features whose PSI (training against test bars) exceeds "
        f"{params.psi_drift_threshold}: {drift}.", "", "![walk-forward](walk_forward.png)", ""])
