"""Validation nodes: backtest the governor and its baselines on the test period, resample
the results, deflate the Sharpe ratio, A/B test against the control, and report.

Only the test period is traded: bars no model was trained, tuned or calibrated on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from tqdm.auto import tqdm

from ares_kedro.analyst.baseline import class_probabilities
from ares_kedro.analyst.labels import LABELS, PROBABILITY_COLUMNS
from ares_kedro.governor.comparison import ensemble_probabilities
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.governor.policy import DecisionPolicy
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.pipelines.validation.fold_runner import (
    prepare_folds,
    run_fold_tasks,
)
from ares_kedro.studies import study_storage, trials_in_storage
from ares_kedro.tactician.serving import TacticianSettings
from ares_kedro.validation.ab_test import ABTestParams, ab_test
from ares_kedro.validation.monte_carlo import (
    MonteCarloParams,
    bootstrap_bar_returns,
    resample_trades,
)
from ares_kedro.validation.overfitting import deflated_sharpe, probability_of_backtest_overfitting
from ares_kedro.validation.report import (
    calibration_chart,
    equity_chart,
    monte_carlo_chart,
    reliability_table,
    report_html,
    report_markdown,
    report_metrics,
    walk_forward_chart,
)
from ares_kedro.validation.strategies import (
    TradingSetup,
    test_period_backtest,
    trial_bar_returns,
)
from ares_kedro.validation.walk_forward import (
    WalkForwardParams,
    plan_folds,
    summarise_folds,
    walk_forward_markdown,
    walk_forward_metrics,
)

logger = logging.getLogger(__name__)
NOT_STRATEGIES = {"governor_position", "regime", "label", "is_labelled", *PROBABILITY_COLUMNS,
                  "decision"}


def _policy(governor_final_params: dict[str, Any],
            tactician_sizing: dict[str, Any]) -> DecisionPolicy:
    return DecisionPolicy.from_records(governor_final_params,
                                       TacticianSettings.from_record(tactician_sizing))


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
    trading = TradingSetup(market_bars, funding_rates, optimal_target_params,
                           _policy(governor_final_params, tactician_sizing), costs,
                           ingestion["market"], analyst_features)
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
    trading = TradingSetup(market_bars, funding_rates, optimal_target_params,
                           _policy(governor_final_params, tactician_sizing), costs,
                           ingestion["market"], analyst_features)
    rows = governor_decisions[governor_decisions["period"].isin(["validation", "test"])]
    maps = governor_final_params.get("expected_return_maps") or {
        "governor": governor_final_params["expected_return_map"]}
    result["pbo"] = {**probability_of_backtest_overfitting(
        trial_bar_returns(trading, rows, configurations, maps), int(overfitting["cscv_blocks"])),
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

    from ares_kedro.governor.live import Governor
    from ares_kedro.registry import MARKET_KEYS, market_key

    market = {k: ingestion[k] for k in MARKET_KEYS}
    try:  # this market's champion only: another market's never controls this one
        champion = Governor.load(tracking_uri=mlflow.get_tracking_uri(), market=market)
    except (FileNotFoundError, mlflow.exceptions.MlflowException) as error:
        return None, (f"no champion registered yet for {market_key(market)} "
                      f"({str(error).splitlines()[0][:120]})")
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
                           system.policy, costs, ingestion["market"], None)
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
    if params.evidence == "shadow_ledger":
        return _ab_test_on_shadow_bars(market_bars, funding_rates, governor_serving_system,
                                       params, costs, ingestion, per_year)
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


def _ab_test_on_shadow_bars(market_bars: pd.DataFrame, funding_rates: pd.DataFrame,
                            system, params: ABTestParams, costs: dict[str, Any],
                            ingestion: dict[str, Any], per_year: float) -> dict[str, Any]:
    """The A/B test on the paper bars of the shadow ledger: the champion (control)
    against this governor run as the challenger (treatment), on the bars both decided."""
    from ares_kedro.shadow.paper import PaperFills, ledger_path, paired_returns

    path = ledger_path(params.shadow_folder, ingestion)
    if not path.is_file():
        raise ValueError(f"validation.ab_test.evidence is shadow_ledger but {path} does not "
                         "exist; run `python -m ares_kedro.shadow --challenger <this decision "
                         "system>` first (docs/shadow.md)")
    ledger = pd.read_parquet(path)
    mine = (ledger["role"] == "challenger") & (ledger["model_version"] == system.version)
    if not mine.any():
        raise ValueError(f"{path}: no bars of this governor ({system.version}) as the "
                         "challenger; shadow it first (docs/shadow.md)")
    ledger = ledger[(ledger["role"] == "champion") | mine]
    paired = paired_returns(market_bars, ledger, "champion", "challenger",
                            PaperFills.of(system, costs), funding_rates)
    result = ab_test(paired["control"].to_numpy(), paired["treatment"].to_numpy(), per_year,
                     params)
    champion = ledger.loc[ledger["role"] == "champion", "model_version"].iloc[-1]
    result.update({"control": f"champion {champion} (shadow)", "treatment": "governor",
                   "control_note": f"{len(paired)} paper bars of the shadow ledger {path}",
                   "evidence": "shadow_ledger", "bars": int(len(paired))})
    logger.info("A/B test on %d shadow bars: governor vs champion %s -> %s", len(paired),
                champion, result["decision"])
    return result


def write_report(validation_backtest: dict[str, Any], validation_returns: pd.DataFrame,
                 validation_monte_carlo: dict[str, Any], monte_carlo_samples: pd.DataFrame,
                 validation_overfitting: dict[str, Any], validation_ab_test: dict[str, Any],
                 report: dict[str, Any], ingestion: dict[str, Any]):
    """``validation_report`` (Markdown), the same as one HTML page with the charts inline
    (``validation_report_html``), its three charts and the MLflow metrics."""
    labelled = validation_returns["is_labelled"].fillna(False).to_numpy(dtype=bool)
    reliability = reliability_table(
        validation_returns.loc[labelled, PROBABILITY_COLUMNS].to_numpy(dtype=float),
        validation_returns.loc[labelled, "label"].astype(str).to_numpy(), LABELS,
        int(report["calibration_bins"]))
    results = (validation_backtest, validation_monte_carlo, validation_overfitting,
               validation_ab_test)
    markdown = report_markdown(*results, ingestion)
    charts = {"validation_equity.png": equity_chart(validation_returns,
                                                    list(validation_backtest["strategies"])),
              "validation_monte_carlo.png": monte_carlo_chart(monte_carlo_samples),
              "validation_calibration.png": calibration_chart(reliability)}
    title = f"Ares validation report, {ingestion.get('symbol', '')} {ingestion.get('timeframe', '')}"
    return (markdown, report_html(markdown, charts, title), *charts.values(),
            report_metrics(*results))


def walk_forward(market_bars: pd.DataFrame, ingestion: dict[str, Any],
                 time_splits: dict[str, Any], walk_forward_params: dict[str, Any]
                 ) -> tuple[dict[str, Any], pd.DataFrame, Any]:
    """``walk_forward_summary`` (JSON), ``walk_forward_folds``, ``walk_forward_report``
    (Markdown) and its chart: the whole system retrained and tested on successive windows,
    each fold a Dask task that runs a full ``kedro run`` in its own process and folder (a
    LocalCluster here, or the scheduler in conf); a fold already done with the same
    settings is reused, so an interrupted walk-forward resumes."""
    params = WalkForwardParams.from_params(walk_forward_params)
    project = Path.cwd()
    if not (project / "pyproject.toml").exists():
        raise RuntimeError(f"walk-forward starts its folds from the project folder; {project} "
                           "is not one (run kedro from the project root)")
    interval = bar_interval(market_bars.index)
    folds = plan_folds(market_bars.index[0], market_bars.index[-1] + interval, params)
    pending, results = prepare_folds(folds, ingestion, time_splits, params, project)
    progress = tqdm(total=len(pending), desc="walk-forward folds", unit="fold")

    def done(number: int, result: dict[str, Any]) -> None:
        progress.update(1)
        logger.info("Walk-forward fold %d done: governor test Sharpe %.2f", number,
                    result["strategies"]["governor"]["sharpe"])

    workers = params.workers or os.cpu_count() or 1
    ran = run_fold_tasks(pending, params.scheduler, workers, project, done)
    results.update(ran)
    progress.close()
    summary = summarise_folds([results[k] for k in sorted(results)], params)
    table = pd.DataFrame(summary["folds"]).drop(columns=["drifted_features"])
    summary["engine"] = {"scheduler": params.scheduler or "LocalCluster",
                         "workers": None if params.scheduler else workers,
                         "tasks": {str(k): v["task"] for k, v in sorted(ran.items())}}
    summary["folds_table_note"] = ("each fold: a full retraining (analyst, tactician, governor) "
                                   f"in conf env {params.env!r}, tested on the next "
                                   f"{params.test_days} days")
    governor = summary["summary"]["governor_sharpe"]
    logger.info("Walk-forward (%s, %d folds): governor test Sharpe %.2f [%.2f, %.2f]",
                params.scheme, len(folds), governor["mean"], governor["ci_low"],
                governor["ci_high"])
    return (summary, table, walk_forward_markdown(summary, params), walk_forward_chart(table),
            walk_forward_metrics(summary, table))
