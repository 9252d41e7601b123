"""A bad parameter stops `kedro run` at start-up, before any node reads or writes data."""

from __future__ import annotations

import pytest
from kedro.framework.session import KedroSession


def test_kedro_run_stops_before_any_node_when_a_parameter_is_bad(project):
    runtime = {"data_root": str(project / "data"),
               "analyst": {"target_search": {"take_profit": [0.0, 0.02]}}}
    with pytest.raises(ValueError, match="take_profit"):
        with KedroSession.create(project_path=project, runtime_params=runtime) as session:
            session.run(pipeline_names=["ingestion"])
    assert not (project / "data").exists()  # nothing was read, generated or written


def test_a_pipeline_run_alone_without_its_upstream_data_says_what_to_run_first(project):
    from ares_kedro.upstream_checks import MissingUpstreamData

    uri = f"sqlite:///{project / 'mlflow.db'}"
    runtime = {"data_root": str(project / "data"), "mlflow_tracking_uri": uri}
    with pytest.raises(MissingUpstreamData) as stopped:
        with KedroSession.create(project_path=project, runtime_params=runtime) as session:
            session.run(pipeline_names=["governor"])
    message = stopped.value.message
    assert "tactician_signals (made by the tactician pipeline)" in message
    assert "market_bars (made by the ingestion pipeline)" in message
    assert "kedro run --pipelines=ingestion,regimes,analyst,tactician" in message
    assert not (project / "data").exists()  # stopped before any node
    # the MLflow run it opened is failed, with the reason, never listed as a finished run
    import mlflow

    assert mlflow.active_run() is None
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["ares"])
    assert runs["status"].tolist() == ["FAILED"]
    assert runs["tags.mlflow.runName"].iloc[0] == "governor | BTCUSDT 1h um_futures | base"
    assert runs["tags.ares.stopped"].iloc[0].startswith("missing upstream data: ")
    from ares_kedro.history import history

    assert history(uri, 5)[0]["status"].tolist() == ["FAILED"]


def test_the_message_names_only_the_pipelines_still_needed():
    from ares_kedro.pipeline_registry import PIPELINE_ORDER
    from ares_kedro.upstream_checks import missing_upstream_message

    made_by = {"tactician_signals": "tactician", "tactician_sizing": "tactician"}
    message = missing_upstream_message(["tactician_signals"], made_by, PIPELINE_ORDER)
    assert "kedro run --pipelines=tactician " in message
    assert "kedro run --pipelines=ingestion" not in message


@pytest.mark.parametrize("runtime, message", [
    ({"regimes": {"method": "foo"}}, r"regimes.method must be one of \['rules', 'gmm'\]"),
    ({"ingestion": {"symbol": "BTC/USDT"}}, r"ingestion.symbol 'BTC/USDT'.*'BTCUSDT'"),
])
def test_an_ingestion_run_is_refused_at_start_up_for_a_bad_setting_of_any_block(
        project, runtime, message):
    with pytest.raises(ValueError, match=message):
        with KedroSession.create(project_path=project, runtime_params={
                "data_root": str(project / "data"), **runtime}) as session:
            session.run(pipeline_names=["ingestion"])
    assert not (project / "data").exists()


def test_an_unknown_pipeline_is_one_line_naming_the_registered_ones(project):
    import subprocess
    import sys

    from ares_kedro.pipeline_registry import UnknownPipeline

    with pytest.raises(UnknownPipeline, match="no pipeline named 'governr'; the registered "
                                              "ones are ingestion, regimes, analyst"):
        with KedroSession.create(project_path=project, runtime_params={
                "data_root": str(project / "data")}) as session:
            session.run(pipeline_names=["governr"])
    run = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=governr"],
                         cwd=project, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "no pipeline named 'governr'" in run.stderr.strip().splitlines()[-1]


def test_a_futures_run_on_generic_files_that_charge_funding_is_refused_at_start_up(project):
    runtime = {"data_root": str(project / "data"),
               "ingestion": {"source": "ohlcv_files", "market": "um_futures"}}
    with pytest.raises(ValueError, match="carries no funding rates.*validation.costs.funding: "
                                         "false"):
        with KedroSession.create(project_path=project, runtime_params=runtime) as session:
            session.run(pipeline_names=["ingestion"])
    assert not (project / "data").exists()


def test_a_futures_market_without_funding_files_stops_at_ingestion(tmp_path):
    from ares_kedro.market.errors import MissingMarketDataError
    from ares_kedro.pipelines.ingestion.nodes import read_futures_data
    from tests.conftest import load_parameters

    params = load_parameters(data_root=tmp_path / "data")["ingestion"]
    params = {**params, "source": "binance_vision", "market": "um_futures",
              "paths": {**params["paths"], "binance_vision": str(tmp_path)}}
    with pytest.raises(MissingMarketDataError, match="No funding rates for BTCUSDT um_futures"):
        read_futures_data({}, params, {"funding": True})
    funding, _, _ = read_futures_data({}, params, {"funding": False})
    assert funding.empty


def test_a_futures_vision_folder_without_funding_files_is_refused_at_start_up(project):
    folder = project / "vision"
    folder.mkdir()
    (folder / "BTCUSDT-1h-2024-01.csv").write_text("1704067200000,1,2,0.5,1.5,10,"
                                                   "1704070799999,15,3,5,7,0\n")
    runtime = {"data_root": str(project / "data"),
               "ingestion": {"source": "binance_vision", "paths": {"binance_vision":
                                                                   str(folder)}}}
    with pytest.raises(ValueError, match="no fundingRate files for BTCUSDT"):
        with KedroSession.create(project_path=project, runtime_params=runtime) as session:
            session.run(pipeline_names=["ingestion"])
    assert not (project / "data").exists()
