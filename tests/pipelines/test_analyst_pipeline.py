"""The analyst, tactician and governor pipelines run through Kedro, in blank mode (one run
serves all three: each one's inputs are the previous one's outputs)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.baseline import log_loss
from ares_kedro.analyst.splits import PERIODS
from ares_kedro.governor.decisions import EdgeGate
from ares_kedro.governor.final_parameters import decision_gate
from ares_kedro.regimes import REGIMES
from ares_kedro.validation.report import run_summary
from tests.conftest import load_parameters
from tests.pipelines.conftest import make_project, run_pipelines

pytestmark = pytest.mark.slow

OUTPUTS = {"bars": "market_bars", "splits": "time_splits", "labels": "analyst_labels",
           "features": "analyst_features", "feature_report": "feature_report",
           "targets": "optimal_target_params", "pruned": "pruned_features",
           "ranges": "hpo_ranges", "regimes": "regime_labels",
           "predictions": "analyst_predictions", "metrics": "analyst_metrics",
           "oof": "analyst_oof_predictions",
           **{f"report_{r}": f"analyst_ensemble_report_{r}" for r in (*REGIMES, "GLOBAL")},
           **{f"ensemble_{r}": f"analyst_ensemble_{r}" for r in (*REGIMES, "GLOBAL")},
           "tactician_signals": "tactician_signals", "tactician_reviews": "tactician_reviews",
           "tactician_metrics": "tactician_metrics", "tactician_models": "tactician_models",
           "tactician_report": "tactician_training_report",
           "tactician_sizing": "tactician_sizing",
           "governor_decisions": "governor_decisions", "governor_metrics": "governor_metrics",
           "governor_oof": "governor_oof_probabilities",
           "governor_final": "governor_final_params", "governor_model": "governor_model",
           "decision_system": "governor_decision_system",
           "validation_backtest": "validation_backtest", "validation_returns": "validation_returns",
           "validation_trades": "validation_trades", "validation_mc": "validation_monte_carlo",
           "validation_overfitting": "validation_overfitting",
           "validation_ab": "validation_ab_test", "validation_report": "validation_report",
           "funding": "funding_rates"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One blank run of every pipeline on the built-in market with a clearly planted edge
    (taker flow leads the next bar's return by one bar volatility per unit of imbalance),
    shared by the tests of this module: (project folder, outputs)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        project = make_project(tmp_path_factory.mktemp("analyst"), monkeypatch)
        out = run_pipelines(project, ["ingestion", "regimes", "analyst", "tactician",
                                      "governor", "validation"],
                            OUTPUTS, env="blank",
                            synthetic={"edges": {"order_flow": {"strength": 1.0}}})
        yield project, out


@pytest.fixture
def out(trained):
    return trained[1]


@pytest.fixture
def project(trained, monkeypatch):
    monkeypatch.chdir(trained[0])
    return trained[0]


def test_every_bar_is_labelled_and_the_splits_leave_purge_and_embargo_gaps(out):
    bars, splits, labels = out["bars"], out["splits"], out["labels"]
    assert labels.index.equals(bars.index)
    assert set(labels.loc[labels["is_labelled"], "label"].astype(str)) == {"LONG", "SHORT", "HOLD"}
    ends = [pd.Timestamp(splits[p]["last_bar"]) for p in ("train", "validation")]
    starts = [pd.Timestamp(splits[p]["first_bar"]) for p in ("validation", "test")]
    assert all(start > end for start, end in zip(starts, ends, strict=True))
    assert sum(splits[p]["bars"] for p in PERIODS) < len(bars)  # purge and embargo gaps


def test_features_cover_every_bar_and_read_the_regimes_sr_levels(out):
    features = out["features"]
    assert features.index.equals(out["bars"].index)
    assert out["feature_report"]["skipped"].keys() <= {"reference_correlation_96",
                                                       "reference_beta_96"}
    assert "support_distance_atr" in features.columns  # from the regimes' sr_levels


def test_the_target_search_chooses_a_label_inside_its_ranges(out):
    targets, labels = out["targets"], out["labels"]
    assert targets["label_family"] in ("triple_barrier", "fixed_horizon")
    if targets["label_family"] == "triple_barrier":
        assert 0.004 <= targets["take_profit"] <= 0.05
    else:
        assert targets["take_profit"] is None and targets["stop_loss"] is None
    assert 1 <= targets["holding_bars"] <= 48
    assert targets["trials_run"] == 4 and targets["chosen_metrics"]["bets"] >= 10
    assert (labels["label_end"].to_numpy() - np.arange(len(labels))).max() <= targets["holding_bars"]


def test_pruning_keeps_computed_features_and_the_coarse_search_narrows_inside_its_ranges(
        out, project):
    pruned = out["pruned"]
    assert pruned["features"] and set(pruned["features"]) <= set(out["features"].columns)
    assert set(pruned["features"]).isdisjoint(pruned["dropped"])
    for name, narrowed in out["ranges"]["ranges"].items():
        original = out["ranges"]["original_ranges"][name]
        assert original["low"] <= narrowed["low"] <= narrowed["high"] <= original["high"]
    assert (project / "data" / "06_models" / "optuna_studies.db").exists()


def test_one_ensemble_per_regime_or_the_global_stand_in_when_a_regime_has_few_bars(out):
    pruned, features = out["pruned"], out["features"]
    specialists = [r for r in REGIMES if out[f"report_{r}"]["model"] == "specialist"]
    assert specialists, "the default market should give at least one regime enough bars"
    for regime in REGIMES:
        report = out[f"report_{regime}"]
        if report["model"] == "global_fallback":
            assert report["training_samples"] < report["min_training_samples"]
            assert out[f"ensemble_{regime}"].combiner_ == out["ensemble_GLOBAL"].combiner_
        else:
            assert report["training_samples"] >= 200  # blank mode's minimum
            assert report["combiner"] in {"stacking", "voting"}
            added = report["enhancement"]["added"]
            assert set(report["features"]) == set(pruned["features"]) | set(added)
            assert set(added) <= set(pruned["dropped"])
            importances = report["feature_importances"]
            assert set(importances) == set(report["features"])
            for kind in ("lightgbm", "xgboost", "random_forest"):
                assert sum(v[kind] for v in importances.values()) == pytest.approx(1.0)
        proba = out[f"ensemble_{regime}"].predict_proba(features.iloc[-50:])  # picks its columns
        assert proba.shape == (50, 3) and np.allclose(proba.sum(axis=1), 1)


def test_calibrated_opinions_cover_the_validation_and_test_bars_and_nothing_earlier(
        out, project):
    predictions = out["predictions"]
    assert predictions.index.min() >= pd.Timestamp(out["splits"]["validation"]["first_bar"])
    assert set(predictions["period"]) == {"validation", "test"}
    for name in ("GLOBAL", *REGIMES):
        p = predictions[[f"{name}_p_long", f"{name}_p_short", f"{name}_p_hold"]].to_numpy()
        assert np.allclose(p.sum(axis=1), 1) and (predictions[f"{name}_spread"] >= 0).all()
        assert out["metrics"][name]["calibration"]["calibration_rows"] >= 20
    assert (project / "data" / "08_reporting").rglob("GLOBAL.png")


def test_out_of_sample_the_ensembles_know_more_than_the_class_prior(out):
    """The test period was never trained, tuned or calibrated on."""
    predictions = out["predictions"]
    test = predictions[(predictions["period"] == "test") & predictions["is_labelled"]]
    shares = out["report_GLOBAL"]["label_shares"]
    prior = np.tile([shares["LONG"], shares["SHORT"], shares["HOLD"]], (len(test), 1))
    columns = ["GLOBAL_p_long", "GLOBAL_p_short", "GLOBAL_p_hold"]
    truth = test["label"].to_numpy()
    assert log_loss(truth, test[columns].to_numpy()) < log_loss(truth, prior) - 0.01


def test_out_of_fold_opinions_exist_only_on_training_bars(out):
    oof = out["oof"]
    specialists = [r for r in REGIMES if out[f"report_{r}"]["model"] == "specialist"]
    assert set(oof["ensemble"]) == {"GLOBAL", *specialists}
    assert oof.index.max() < pd.Timestamp(out["splits"]["validation"]["first_bar"])
    assert np.allclose(oof[["p_long", "p_short", "p_hold"]].sum(axis=1), 1)


def test_the_tactician_outputs(out):
    check_tactician_outputs(out, pd.Timestamp(out["splits"]["validation"]["first_bar"]))


def test_the_governor_outputs(out):
    check_governor_outputs(out, out["splits"])


def test_the_live_predictor_decides_as_the_pipeline_did(out, caplog):
    with caplog.at_level(logging.INFO):
        check_live_parity(out)
    # NaN support/resistance distances are by design: a live loop is not flooded with them
    assert not [r for r in caplog.records if "NaN or inf" in r.getMessage()
                and r.levelno >= logging.INFO]


def test_validation_trades_the_test_period_only(out, project):
    check_validation_outputs(project, out, out["splits"])


def test_the_exploration_notebook_runs(project):
    check_exploration_notebook(project)


def test_the_served_mlflow_model_decides_as_the_live_predictor(out, project, capsys):
    check_mlflow_model_and_serving(project, out, capsys)


def test_shadow_replay_of_the_test_period_trades_as_validation_did(out):
    """Bars arriving one part at a time through shadow mode, the ledger resumed between
    parts, give the governor's test-period trades of validation: same entries, exits,
    sides and net returns (every cost in)."""
    from ares_kedro.governor.live import Governor
    from ares_kedro.shadow.__main__ import run_cycle
    from ares_kedro.shadow.paper import PaperFills, empty_ledger, paper_backtest

    governor = Governor(out["decision_system"], "test")
    bars, decisions = out["bars"], out["governor_decisions"]
    test_rows = bars.index.get_indexer(decisions.index[decisions["period"] == "test"])
    costs = load_parameters("blank")["validation"]["costs"]
    ledger, first = empty_ledger(), bars.index[test_rows[0]]
    for end in np.array_split(test_rows, 4):  # four arrivals of bars
        visible = bars.iloc[: end[-1] + 1]
        ledger, summary = run_cycle({"champion": governor}, visible, out["funding"], costs,
                                    ledger, first)
        assert summary["champion"]["decided_now"] == len(end)
    assert not ledger.duplicated(["bar_time", "role"]).any() and len(ledger) == len(test_rows)
    paper = paper_backtest(bars.iloc[: test_rows[-1] + 1], ledger, "champion",
                           PaperFills.of(governor.system, costs), out["funding"])
    expected = out["validation_trades"]
    assert len(paper.trades) == len(expected) > 0
    for column in ("entry_time", "exit_time", "side"):
        assert (paper.trades[column].to_numpy() == expected[column].to_numpy()).all()
    np.testing.assert_allclose(paper.trades["net_return"], expected["net_return"], rtol=1e-9)


def test_shadow_mode_resumes_without_counting_a_bar_twice_and_feeds_the_ab_test(
        out, project, monkeypatch):
    """`python -m ares_kedro.shadow` on the trained project: the first session books the
    bars from --from on, a second books nothing new; both log to the ares-shadow
    experiment; the A/B test with ``evidence: shadow_ledger`` compares the roles on those
    paper bars."""
    import mlflow

    from ares_kedro.governor.live import Governor
    from ares_kedro.pipelines.validation.nodes import ab_test_against_control
    from ares_kedro.shadow.__main__ import main
    from ares_kedro.signing import KEY_FILE_VARIABLE

    monkeypatch.setenv(KEY_FILE_VARIABLE, str(project / "conf" / "local" /
                                              "artifact_signing.key"))  # the run's key
    decisions = out["governor_decisions"]
    first = decisions.index[decisions["period"] == "test"][-40]
    system = next((project / "data" / "06_models").glob("*/governor_decision_system.pkl"))
    uri = f"sqlite:///{project / 'mlflow.db'}"
    args = ["--project", str(project), "--env", "blank", "--champion", str(system),
            "--challenger", str(system), "--no-ingest", "--from", first.isoformat(),
            "--params", f"data_root={project / 'data'},mlflow_tracking_uri={uri}"]
    assert main(args) == 0
    ledger = next((project / "data" / "11_shadow").glob("*/ledger.parquet"))
    booked = pd.read_parquet(ledger)
    assert sorted(booked["role"].unique()) == ["challenger", "champion"]
    assert (booked.groupby("role").size() == 40).all()
    assert {"decision", "confidence", "primary_regime", "GLOBAL_prediction",
            "GLOBAL_confidence", *(f"{r}_prediction" for r in REGIMES)} <= set(booked.columns)
    assert main(args) == 0
    assert len(pd.read_parquet(ledger)) == len(booked)  # nothing booked twice
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["ares-shadow"])
    assert len(runs) == 2 and "metrics.champion.trades" in runs.columns

    params = load_parameters("blank", data_root=project / "data")
    ab = {**params["validation"]["ab_test"], "evidence": "shadow_ledger"}
    shadowed = Governor.load(system).system  # the newest system: the one shadow mode ran
    result = ab_test_against_control(out["validation_returns"], out["bars"], out["funding"],
                                     shadowed, ab, params["validation"]["costs"],
                                     params["ingestion"])
    assert result["evidence"] == "shadow_ledger" and result["bars"] == 40
    assert result["decision"] == "inconclusive"  # one model against itself: no difference
    assert result["sharpe_difference"]["observed"] == pytest.approx(0.0, abs=1e-12)


def check_exploration_notebook(project):
    """notebooks/exploration.ipynb runs top to bottom on this run's outputs and draws its
    charts (what `kedro jupyter lab` users open first)."""
    import nbformat
    from nbclient import NotebookClient

    from tests.conftest import PROJECT_ROOT

    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "exploration.ipynb", as_version=4)
    settings = {"ARES_PROJECT": str(project), "ARES_ENV": "blank",
                "ARES_DATA_ROOT": str(project / "data")}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(project)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 3  # regimes, equity curves, feature importances


def check_validation_outputs(project, out, splits):
    """Validation trades the test period only, net of every cost; on the planted-signal
    market the governor beats buy-and-hold there."""
    backtest, returns, trades = (out["validation_backtest"], out["validation_returns"],
                                 out["validation_trades"])
    assert returns.index.min() >= pd.Timestamp(splits["test"]["first_bar"])
    strategies = backtest["strategies"]
    assert {"governor", "buy_and_hold", "single_lightgbm", "ensemble_GLOBAL",
            *(f"ensemble_{r}" for r in REGIMES)} <= set(strategies)
    governor = strategies["governor"]
    assert governor["trades"] == len(trades) > 0
    assert np.prod(1 + returns["governor"]) - 1 == pytest.approx(governor["total_return"])
    assert (trades["fees"] > 0).all() and (trades["funding"] != 0).any()
    assert (trades["entry_time"] >= returns.index.min()).all()
    # the planted edge survives costs out of sample: more net return per unit of risk than
    # buy-and-hold (which is fully invested, so its raw return follows the market's trend)
    assert governor["sharpe"] > strategies["buy_and_hold"]["sharpe"]
    assert governor["total_return"] > 0
    assert set(backtest["per_regime"]) <= set(REGIMES)
    mc = out["validation_mc"]["block_bootstrap"]
    assert mc["cvar_99"] >= mc["var_99"] >= mc["var_95"] - 1e-12
    overfitting = out["validation_overfitting"]
    assert overfitting["deflated_sharpe"]["trials"] >= 15 + 4  # at least final + targets
    assert overfitting["pbo"]["combinations"] == 252
    assert out["validation_ab"]["decision"] in {"promote", "keep", "inconclusive"}
    folder = next((project / "data" / "08_reporting").glob("*/validation"))
    assert {"validation_equity.png", "validation_monte_carlo.png",
            "validation_calibration.png"} <= {p.name for p in folder.iterdir()}
    assert "## A/B test" in out["validation_report"]
    # the same report as one HTML page: its tables, and its three charts inline
    page = (folder / "validation_report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    assert page.count('src="data:image/png;base64,') == 3 and 'src="validation_' not in page
    # the lines the run ended with: the governor against buy-and-hold and the best other
    summary = run_summary(backtest, overfitting, out["validation_ab"], "report.md")
    best = max((n for n in strategies if n not in ("governor", "buy_and_hold")),
               key=lambda n: strategies[n]["sharpe"])
    assert summary.splitlines()[0].startswith(
        f"Ares validation: test period {pd.Timestamp(splits['test']['first_bar']):%Y-%m-%d %H:%M}")
    assert f"best other strategy ({best})" in summary
    assert f"trades {governor['trades']:5d}" in summary.splitlines()[1]
    assert "The governor traded" in summary and "deflated Sharpe p-value" in summary
    import mlflow  # the run's MLflow metrics carry the report's headline figures

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["ares"], order_by=["start_time DESC"])
    logged = runs.iloc[0]
    assert logged["metrics.validation.governor.sharpe"] == pytest.approx(governor["sharpe"])
    assert "metrics.validation.deflated_sharpe" in runs.columns
    for prefix in ("ingestion.", "regimes.", "analyst.", "tactician.", "governor."):
        assert any(c.startswith(f"metrics.{prefix}") for c in runs.columns), prefix
    assert logged["metrics.governor.periods.test.governor.trading.sharpe"] == pytest.approx(
        out["governor_metrics"]["periods"]["test"]["governor"]["trading"]["sharpe"])


def check_tactician_outputs(out, validation_start):
    """The tactician's decisions on the analyst's signals: out of fold on training bars,
    from models trained on the training period only on later bars; sizes within limits."""
    signals, sizing = out["tactician_signals"], out["tactician_sizing"]
    assert set(signals["period"]) == {"train", "validation", "test"}
    assert (signals["side"] != 0).all() and signals.index.is_monotonic_increasing
    train = signals[signals["period"] == "train"]
    assert train.index.max() < validation_start
    assert train["p_win"].notna().mean() > 0.8  # out of fold: purged CV tests most signals
    later = signals[signals["period"] != "train"]
    assert later["p_win"].between(0, 1).all() and later["p_wait"].between(0, 1).all()
    limits = sizing["sizing"]
    assert signals["size"].abs().max() <= min(limits["max_position"], limits["max_leverage"])
    assert (signals.loc[~signals["act"], "size"] == 0).all()
    acting = signals[signals["act"] & (signals["size"] != 0)]
    assert (np.sign(acting["size"]) == acting["side"]).all()
    limit = signals["entry"] == "limit"
    assert signals.loc[limit, "limit_price"].notna().all()  # a limit order has a price
    assert signals.loc[~limit, "limit_price"].isna().all()
    breakeven = 1.0 / (1.0 + sizing["payoff_ratio"])  # stop / (take-profit + stop); 1/2
    # for fixed-horizon labels (no barriers: a payoff of 1)
    margin = sizing["decisions"]["meta_margin"]
    assert (signals["act"] == (signals["p_win"] >= breakeven + margin)).all()

    # the metrics are what the signals say (recomputed here from the table)
    for period, metrics in out["tactician_metrics"]["periods"].items():
        scored = signals[(signals["period"] == period) & signals["is_labelled"]
                         & signals["p_win"].notna()]
        meta = metrics["meta_labelling"]
        assert metrics["signals"] == len(scored) > 0
        assert meta["precision_before"] == pytest.approx(scored["meta_label"].mean())
        kept = scored[scored["act"]]
        if len(kept):
            assert meta["precision_after"] == pytest.approx(kept["meta_label"].mean())
    reviews = out["tactician_reviews"]
    if sizing["barriers"]["holding_bars"] > min(sizing["labels"]["review_bars"]):
        assert reviews["p_close"].notna().mean() > 0.8
    else:  # every trade ends before its first review: nothing to review or learn
        assert reviews.empty
        assert out["tactician_report"]["position_management"]["GLOBAL"]["model"] == "no_samples"
    report = out["tactician_report"]
    assert set(report) == {"meta", "entry_timing", "position_management"}
    assert report["meta"]["GLOBAL"]["model"] == "specialist"
    models = out["tactician_models"]
    assert set(models.specialists["meta"]) == {
        name for name, entry in report["meta"].items() if entry["model"] == "specialist"}


def check_governor_outputs(out, splits):
    """The governor: trained on the training and validation bars (out of fold there),
    never on the test period; decisions on every bar, HOLD inside its tuned gate, compared
    with every baseline."""
    test_start = pd.Timestamp(splits["test"]["first_bar"])
    oof = out["governor_oof"]
    assert oof.index.min() < pd.Timestamp(splits["validation"]["first_bar"])
    assert oof.index.max() < test_start
    decisions, final = out["governor_decisions"], out["governor_final"]
    assert set(decisions["period"]) == {"train", "validation", "test"}
    gate = decision_gate(final)
    acting = decisions["decision"] != "HOLD"
    edge = decisions["edge"]
    assert ((edge >= gate.long_edge) | (-edge >= gate.short_edge))[acting].all()
    assert not ((edge >= gate.long_edge) | (-edge >= gate.short_edge))[~acting].any()
    assert final["why"] and final["acts"] == (gate != EdgeGate.never())
    assert (decisions.loc[~acting, "size"] == 0).all()
    assert (np.sign(decisions.loc[acting, "size"]) == decisions.loc[acting, "side"]).all()
    assert decisions["size"].abs().max() <= final["sizing"]["max_position"] + 1e-12
    blank_trials = load_parameters("blank")["governor"]["final_optimisation"]["n_trials"]
    assert final["trials_run"] == blank_trials and final["pareto_front"]
    assert final["opinion"] in final["opinions"] == ["governor", "GLOBAL", "own"]
    metrics = out["governor_metrics"]
    for period in ("validation", "test"):
        models = metrics["periods"][period]
        assert {"governor", "class_prior", "single_lightgbm", "ensemble_GLOBAL"} <= set(models)
        assert all(m["classification"]["samples"] > 0 for m in models.values())
        assert metrics["gates"]["class_prior"] is not None  # every model has its own gate
    model = out["governor_model"]
    assert [name for name, _ in model.steps] == ["prepare", "model"]


def check_live_parity(out):
    """The live predictor decides every test bar as the batch pipeline did: the whole test
    period scored at once, and single decisions from the bars up to a bar."""
    from ares_kedro.governor.live import Governor

    live = Governor(out["decision_system"], "test")
    bars, decisions = out["bars"], out["governor_decisions"]
    test = decisions[decisions["period"] == "test"]
    rows = bars.index.get_indexer(test.index)
    batch = live.decide_batch(bars, rows)
    assert (batch["decision"].to_numpy() == test["decision"].to_numpy()).all()
    np.testing.assert_allclose(batch["confidence"], test["confidence"], rtol=1e-12)
    np.testing.assert_allclose(batch["size"], test["size"], rtol=1e-12, atol=1e-15)
    for row in rows[:: max(1, len(rows) // 3)]:
        one = live.decide(bars.iloc[: row + 1])
        expected = test.loc[bars.index[row]]
        assert one["prediction"] == expected["decision"]
        assert one["confidence"] == pytest.approx(expected["confidence"], rel=1e-12)
        assert one["size"] == pytest.approx(expected["size"], rel=1e-12, abs=1e-15)
        assert one["primary_regime"] == expected["regime"]
        assert set(one["ensemble_predictions"]) == {"GLOBAL", *REGIMES}


def _request(bars: pd.DataFrame) -> dict:
    """Bars as a JSON request carries them: times in an ``open_time`` column (epoch ms)."""
    from ares_kedro.governor.live import request_body

    return request_body(bars)["dataframe_split"]


def check_mlflow_model_and_serving(project, out, capsys):
    """`kedro run --pipelines=governor` logs the inference pipeline as an MLflow model; it
    loads with mlflow.pyfunc and serves with `mlflow models serve` on 127.0.0.1, giving
    the live predictor's decision."""
    import mlflow

    from ares_kedro.governor.live import Governor

    again = run_pipelines(project, ["governor"], {"system": "governor_decision_system"},
                          env="blank", synthetic={"edges": {"order_flow": {"strength": 1.0}}})
    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    models = mlflow.search_logged_models(experiment_ids=experiments, output_format="list",
                                         order_by=[{"field_name": "creation_time",
                                                    "ascending": False}])
    assert models and models[0].name == "governor"
    bars = out["bars"].iloc[-720:]
    expected = Governor(again["system"]).decide(bars)  # the system this run logged
    model = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
    served = model.predict(pd.DataFrame(**_request(bars))).iloc[0]
    assert served["prediction"] == expected["prediction"]
    assert served["confidence"] == pytest.approx(expected["confidence"], rel=1e-12)

    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
         f"models:/{models[0].model_id}", "-h", "127.0.0.1", "-p", str(port),
         "--env-manager", "local"], env=env, cwd=project, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/ping", server)
        body = json.dumps({"dataframe_split": _request(bars)}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())["predictions"][0]
        if shutil.which("curl"):  # the request of docs/governor.md, as written there
            (project / "request.json").write_bytes(body)
            done = subprocess.run(
                ["curl", "-s", "-X", "POST", f"http://127.0.0.1:{port}/invocations",
                 "-H", "Content-Type: application/json", "--data", "@request.json"],
                capture_output=True, text=True, timeout=120, cwd=project)
            assert json.loads(done.stdout)["predictions"][0] == answer
        # a request the predictor cannot use is a 400 whose message says why
        for bad, reason in ((bars.drop(columns="volume"), "bars lack the columns ['volume']"),
                            (bars.iloc[-20:], "20 bars given, the features need at least")):
            body = json.dumps({"dataframe_split": _request(bad)}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                             data=body,
                                             headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=120)
            assert refused.value.code == 400
            error = json.loads(refused.value.read())
            assert error["error_code"] == "INVALID_PARAMETER_VALUE"
            assert reason in error["message"] and "dataframe_split" in error["message"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert answer["prediction"] == expected["prediction"]
    assert answer["size"] == pytest.approx(expected["size"], abs=1e-12)
    assert answer["primary_regime"] == expected["primary_regime"]
    assert answer["model_version"] == expected["model_version"]
    check_registry_and_promotion(project, bars, expected, uri, capsys)


def check_registry_and_promotion(project, bars, expected, uri, capsys):
    """The logged governor is a registered model version tagged with its decision system's
    hash; a validation run whose A/B test says promote makes it @champion, which
    `Governor.load()` then loads by default. Every run is tagged and leaves a manifest."""
    import mlflow
    from mlflow import MlflowClient

    from ares_kedro.governor.live import Governor
    from ares_kedro.registry import REGISTERED_MODEL, SHA_TAG, champion_alias, market_key

    capsys.readouterr()
    ab = run_pipelines(project, ["validation"], {"ab": "validation_ab_test"}, env="blank",
                       synthetic={"edges": {"order_flow": {"strength": 1.0}}})["ab"]
    # the run ends with its result, after the log lines, pointing at the report
    printed = capsys.readouterr().out
    ending = printed[printed.rindex("Ares validation: test period"):]
    assert "governor" in ending and "buy and hold" in ending and "A/B against" in ending
    assert "report: data/08_reporting/" in ending and "validation_report.md" in ending
    # no champion yet: the control is the fallback baseline, which the planted edge beats
    assert ab["control"] == "single_lightgbm" and "no champion" in ab["control_note"]
    assert ab["decision"] == "promote", ab
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    market = expected_market(project)
    alias = champion_alias(market)  # this market's champion: champion-binance-...-1h
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
    assert champion.tags["symbol"] == market["symbol"]
    record = json.loads(next((project / "data" / "06_models").glob(
        "*/governor_serving_system/model.pkl.sha256.json")).read_text())
    assert champion.tags[SHA_TAG] == record["sha256"]
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        live = Governor.load()  # the only market with a champion: this one
        other = {**market, "symbol": "ETHUSDT", "timeframe": "4h"}
        with pytest.raises(FileNotFoundError,  # another market has none
                           match=f"no champion yet for {market_key(other)}"):
            Governor.load(market=other)
    finally:
        if before is None:
            del os.environ["MLFLOW_TRACKING_URI"]
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
    assert live.sha256 == record["sha256"]
    assert live.decide(bars)["prediction"] == expected["prediction"]

    runs = mlflow.search_runs(experiment_names=["ares"], order_by=["start_time DESC"])
    latest = runs.iloc[0]
    assert latest["tags.symbol"] == "BTCUSDT" and latest["tags.mode"] == "blank"
    assert latest["tags.git_commit"] and latest["tags.data_version"]
    manifests = sorted((project / "data" / "08_reporting").glob("*/run_manifests/*.json"))
    manifest = json.loads(manifests[-1].read_text())
    assert manifest["metrics"]["ab_decision"] == "promote"
    assert len(manifest["parameters_sha256"]) == 64 and manifest["artifacts"]
    assert all(len(digest) == 64 for digest in manifest["artifacts"].values())

    # a retrained governor is A/B-tested against the champion itself (its own decisions,
    # sizes and barriers on the same bars): the same data gives the same model, no winner
    run_pipelines(project, ["governor"], {}, env="blank",
                  synthetic={"edges": {"order_flow": {"strength": 1.0}}})
    ab = run_pipelines(project, ["validation"], {"ab": "validation_ab_test"}, env="blank",
                       synthetic={"edges": {"order_flow": {"strength": 1.0}}})["ab"]
    assert ab["control"] == f"champion {live.model_version}", ab
    assert ab["decision"] == "inconclusive" and ab["sharpe_difference"]["observed"] == \
        pytest.approx(0.0, abs=1e-9)
    assert client.get_model_version_by_alias(REGISTERED_MODEL, alias).version == \
        champion.version  # inconclusive: the champion stays

    from ares_kedro.history import history  # `python -m ares_kedro.history`

    past, registered = history(uri, 10)
    assert past["sharpe"].notna().any() and (past["mode"] == "blank").any()
    assert registered.loc[registered["champion"], "version"].tolist() == [int(champion.version)]


def expected_market(project) -> dict:
    """The market the module's run trained on, as the decision system records it."""
    from ares_kedro.governor.live import Governor

    system = Governor.load(next((project / "data" / "06_models").glob(
        "*/governor_serving_system"))).system
    return system.market


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow models serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve did not answer {url} in {seconds:.0f} s")
