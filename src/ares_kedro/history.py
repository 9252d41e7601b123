"""Training history from the command line: ``python -m ares_kedro.history [--limit N]
[--tracking-uri URI]``.

One line per MLflow run of the ``ares`` experiment, newest first: when, its status (a run
stopped before any node, e.g. by missing upstream data, is FAILED), which pipelines,
market, mode, git commit, and the headline metrics (the governor's test-period net
Sharpe, return and drawdown, buy-and-hold's Sharpe, the deflated Sharpe ratio, PBO), plus
the registered governor versions, their market and which are champions (one per market).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

COLUMNS = {
    "start_time": "started", "status": "status", "tags.pipelines": "pipelines", "tags.symbol": "symbol",
    "tags.timeframe": "tf", "tags.mode": "mode", "tags.git_commit": "commit",
    "metrics.validation.governor.sharpe": "sharpe", "metrics.validation.governor.total_return":
    "return", "metrics.validation.governor.max_drawdown": "drawdown",
    "metrics.validation.buy_and_hold.sharpe": "b&h sharpe",
    "metrics.validation.deflated_sharpe": "DSR", "metrics.validation.pbo": "PBO",
}


def history(tracking_uri: str, limit: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, registered versions) as tables."""
    import mlflow
    from mlflow import MlflowClient

    from ares_kedro.registry import REGISTERED_MODEL, champions

    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=["ares"], order_by=["start_time DESC"],
                              max_results=limit)
    table = runs.reindex(columns=list(COLUMNS)).rename(columns=COLUMNS)
    if len(table):
        table["commit"] = table["commit"].astype("string").fillna("").str[:10]
        table["started"] = pd.to_datetime(table["started"]).dt.strftime("%Y-%m-%d %H:%M")
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    except mlflow.exceptions.MlflowException:
        versions = []
    champion_versions = set(champions(client).values())  # each market's champion
    registered = pd.DataFrame([{
        "version": int(v.version), "champion": str(v.version) in champion_versions,
        "market": v.tags.get("market_key", v.tags.get("symbol", "")),
        "run": v.run_id[:10],
        "sha256": v.tags.get("decision_system_sha256", "")[:12]} for v in versions])
    return table, registered.sort_values("version", ascending=False) if len(registered) \
        else registered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    args = parser.parse_args(argv)
    runs, registered = history(args.tracking_uri, args.limit)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        sys.stdout.write(f"Runs (newest first, {len(runs)} shown):\n")
        sys.stdout.write((runs.to_string(index=False) if len(runs) else "none") + "\n\n")
        sys.stdout.write("Registered governor versions (ares-governor):\n")
        sys.stdout.write((registered.to_string(index=False) if len(registered) else "none")
                         + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
