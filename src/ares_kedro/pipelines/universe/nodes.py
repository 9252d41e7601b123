"""Universe node: one full run per market as Dask tasks, then the table across markets."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ares_kedro.params import merged
from ares_kedro.pipelines.validation.fold_runner import MARKET_RESULT, MARKET_SPEC, run_fold_tasks
from ares_kedro.studies import fingerprint
from ares_kedro.validation.universe import (
    UniverseParams,
    market_id,
    market_ingestion,
    summarise_markets,
    universe_markdown,
)

logger = logging.getLogger(__name__)
SPEC_VERSION = 1  # bump when market_result.json changes shape: older markets are then rerun


def train_universe(ingestion: dict[str, Any], universe: dict[str, Any]
                   ) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """``universe_summary`` (JSON), ``universe_table`` and ``universe_report`` (Markdown):
    every market trained and validated by its own ``kedro run`` process in its own folder,
    as Dask tasks (a LocalCluster here, or the scheduler in conf); a market already done
    with the same settings is reused, so an interrupted universe resumes."""
    params = UniverseParams.from_params(universe)
    project = Path.cwd()
    if not (project / "pyproject.toml").exists():
        raise RuntimeError(f"the universe starts its markets from the project folder; "
                           f"{project} is not one (run kedro from the project root)")
    pending, results, names = [], {}, []
    for number, market in enumerate(params.markets):
        block = market_ingestion(ingestion, market)
        name = market_id(block)
        if name in names:
            raise ValueError(f"universe.markets: {name} is listed twice")
        names.append(name)
        root = (Path(params.root) / name).resolve()
        # what a run writes (generated archives, the parse cache) goes in the market's own
        # folder: markets run side by side must not write the same files; sources read
        # from disk (Vision archives, OHLCV files) stay where the project keeps them
        block["paths"] = {**block.get("paths", {}),
                          "synthetic": str(root / "01_raw" / "synthetic"),
                          "cache": str(root / "02_intermediate" / "ingestion_cache")}
        runtime = merged(params.run_params, {
            "data_root": str(root), "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "ingestion": block})
        reference = None
        if params.reference_symbol and params.reference_symbol != block["symbol"]:
            runtime["reference_symbol"] = params.reference_symbol
            reference = merged(runtime, {"ingestion": {"symbol": params.reference_symbol}})
        spec_hash = fingerprint(runtime, params.reference_symbol, params.env, SPEC_VERSION)
        done = root / MARKET_RESULT
        if done.exists() and json.loads(done.read_text()).get("spec_hash") == spec_hash:
            results[number] = json.loads(done.read_text())
            logger.info("Universe %s: reused (same settings) from %s", name, root)
            continue
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKET_SPEC).write_text(json.dumps(
            {"kind": "market", "project": str(project), "env": params.env, "market": name,
             "spec_hash": spec_hash, "runtime_params": runtime,
             "reference_runtime_params": reference}, indent=2, default=str))
        pending.append((number, root))

    def done_with(number: int, result: dict[str, Any]) -> None:
        logger.info("Universe %s done: governor test Sharpe %.2f", result["market"],
                    result["strategies"]["governor"]["sharpe"])

    workers = params.workers or os.cpu_count() or 1
    ran = run_fold_tasks(pending, params.scheduler, workers, project, done_with)
    results.update(ran)
    summary = summarise_markets([results[k] for k in sorted(results)], params.alpha)
    summary["engine"] = {"scheduler": params.scheduler or "LocalCluster",
                         "workers": None if params.scheduler else workers,
                         "tasks": {results[k]["market"]: v["task"] for k, v in ran.items()}}
    table = pd.DataFrame(summary["markets"])
    logger.info("Universe (%d markets, %d trials counted): governor acts on %d", len(table),
                summary["trials_counted"], int(table["governor_acts"].sum()))
    return summary, table, universe_markdown(summary)
