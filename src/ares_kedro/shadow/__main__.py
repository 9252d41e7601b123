"""``python -m ares_kedro.shadow``: paper-trade the champion and a challenger side by side.

Each cycle reads the bars the project's ingestion has (running the ingestion pipeline
first unless ``--no-ingest``: a Vision folder that grows, daily files, an appended OHLCV
file, whatever ``conf/`` names), decides the bars not yet in the ledger with each model
through the live predictor, books them in the Parquet ledger, fills them with the
backtester (every cost in) and logs each role's net figures to MLflow (experiment
``ares-shadow``). ``--follow SECONDS`` repeats the cycle; a restarted session resumes
from the ledger. See docs/shadow.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ares_kedro.governor.live import Governor, same_market
from ares_kedro.shadow.paper import (
    PaperFills,
    appended,
    bars_to_decide,
    covered_by_reference,
    decide_new_bars,
    empty_ledger,
    last_decided,
    ledger_path,
    paper_backtest,
    paper_summary,
    reads_reference,
)

logger = logging.getLogger("ares_kedro.shadow")
EXPERIMENT = "ares-shadow"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ares_kedro.shadow",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="project folder")
    parser.add_argument("--env", default="base", help="conf environment (default base)")
    parser.add_argument("--champion", default=None,
                        help="model URI or decision system file (default: the registered "
                             "champion of the challenger's market, or of the only market "
                             "with one); 'none' to run the challenger alone")
    parser.add_argument("--challenger", default=None,
                        help="model URI or decision system file to run beside it")
    parser.add_argument("--ledger", type=Path, default=None,
                        help="Parquet ledger (default data/11_shadow/<market>/ledger.parquet)")
    parser.add_argument("--from", dest="first", default=None,
                        help="first bar to decide (ISO time) for a new ledger; default the "
                             "newest bar: shadow mode trades from now on")
    parser.add_argument("--follow", type=float, default=0.0,
                        help="seconds between cycles; 0 (default) runs one cycle")
    parser.add_argument("--cycles", type=int, default=0, help="stop after N cycles (0: never "
                        "with --follow)")
    parser.add_argument("--no-ingest", action="store_true",
                        help="read the bars already ingested; do not run ingestion first")
    parser.add_argument("--params", default="", help="runtime parameters as `kedro run` "
                        "takes them (key=value,key=value)")
    return parser.parse_args(argv)


def _runtime(args: argparse.Namespace) -> dict[str, Any]:
    from kedro.framework.cli.utils import _split_params

    return _split_params(None, None, args.params) if args.params else {}


@dataclass
class Market:
    """What one cycle reads: the bars, funding (futures) and the reference market's bars
    (cross-asset features; None where not ingested), and the run's parameters."""

    bars: pd.DataFrame
    funding: pd.DataFrame | None
    reference: pd.DataFrame | None
    params: dict[str, Any]


def read_market(project: Path, env: str, runtime: dict[str, Any], ingest: bool) -> Market:
    """The project's market after running its ingestion pipeline when ``ingest`` (the
    reference market is ingested by its own run, ``ingestion.symbol=<reference>``)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import DatasetError

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env,
                             runtime_params=runtime) as session:
        if ingest:
            session.run(pipeline_names=["ingestion"])
        context = session.load_context()
        bars = context.catalog.load("market_bars")
        try:
            funding = context.catalog.load("funding_rates")
        except DatasetError:  # spot markets have none
            funding = None
        reference = context.catalog.load("reference_market_bars")  # empty when absent
        params = context.params
    _end_runs()
    return Market(bars, funding, None if reference.empty else reference, params)


def _end_runs() -> None:
    import mlflow

    while mlflow.active_run() is not None:  # the ingestion session's kedro-mlflow run
        mlflow.end_run()


def load_ledger(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.is_file() else empty_ledger()


def save_ledger(ledger: pd.DataFrame, path: Path) -> None:
    """Written whole to a temporary file, then renamed: a crash leaves the old ledger."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    ledger.to_parquet(partial, index=False)
    os.replace(partial, path)


def run_cycle(models: dict[str, Governor], bars: pd.DataFrame, funding: pd.DataFrame | None,
              costs: dict[str, Any], ledger: pd.DataFrame, first: pd.Timestamp | None,
              reference: pd.DataFrame | None = None
              ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """One cycle: each role decides its new bars; the ledger and each role's net figures.
    A role whose features read the reference market decides only the bars the
    ``reference`` bars reach, and refuses to start without them."""
    summaries = {}
    for role, governor in models.items():
        after = last_decided(ledger, role)
        start = first if after is None else None
        if after is None and start is None:
            start = bars.index[-1]  # a new ledger trades from the newest bar on
        rows = bars_to_decide(bars, governor, after, start)
        needs_reference = reads_reference(governor)
        if needs_reference:
            if reference is None:
                raise SystemExit(f"shadow: the {role} governor's features read the reference "
                                 "market, which is not ingested: run `kedro run "
                                 "--pipelines=ingestion --params ingestion.symbol=<reference "
                                 "symbol>` (globals.reference_symbol) before each cycle")
            waiting = rows.size
            rows = covered_by_reference(bars, rows, reference)
            if rows.size < waiting:
                logger.info("Shadow %s: %d bars wait for the reference market's bars",
                            role, waiting - rows.size)
        ledger = appended(ledger, decide_new_bars(governor, role, bars, rows,
                                                  reference if needs_reference else None))
        fills = PaperFills.of(governor.system, costs)
        summaries[role] = {**paper_summary(paper_backtest(bars, ledger, role, fills, funding)),
                           "decided_now": int(rows.size),
                           "model_version": governor.model_version}
    return ledger, summaries


def _load_models(args: argparse.Namespace, tracking_uri: str) -> dict[str, Governor]:
    """The champion (by default the registered champion of the challenger's market) and
    the challenger; both must trade one market."""
    models = {}
    if args.challenger:
        models["challenger"] = Governor.load(args.challenger, tracking_uri=tracking_uri)
    if str(args.champion).lower() != "none":
        market = models["challenger"].system.market if models else None
        try:
            models["champion"] = Governor.load(args.champion, tracking_uri=tracking_uri,
                                               market=market if args.champion is None
                                               else None)
        except FileNotFoundError as error:
            raise SystemExit(f"shadow: {error}; or run the challenger alone "
                             "(--champion none)") from error
    if not models:
        raise SystemExit("shadow: no model to run; give --champion or --challenger")
    first = next(iter(models.values())).system.market
    if not all(same_market(m.system.market, first) for m in models.values()):
        markets = sorted({json.dumps(m.system.market, sort_keys=True)
                          for m in models.values()})
        raise SystemExit(f"shadow: the models trade different markets {markets}")
    return {role: models[role] for role in ("champion", "challenger") if role in models}


def _utc(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    args = _arguments(argv)
    project = args.project.resolve()
    runtime = _runtime(args)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or str(
        runtime.get("mlflow_tracking_uri") or f"sqlite:///{project / 'mlflow.db'}")
    models = _load_models(args, tracking_uri)
    first = _utc(args.first) if args.first else None
    import mlflow

    cycle = 0
    run = None
    try:
        while True:
            read = read_market(project, args.env, runtime, not args.no_ingest)
            bars, funding, params = read.bars, read.funding, read.params
            market = next(iter(models.values())).system.market
            if not bars.empty and (bars.attrs.get("symbol") not in (None, market["symbol"])):
                raise SystemExit(f"shadow: the bars are {bars.attrs['symbol']}, the models "
                                 f"trade {market['symbol']}")
            path = args.ledger or ledger_path(
                params["validation"]["ab_test"]["shadow_folder"], market)
            path = path if path.is_absolute() else project / path
            ledger, summaries = run_cycle(models, bars, funding, params["validation"]["costs"],
                                          load_ledger(path), first, read.reference)
            save_ledger(ledger, path)
            if run is None:
                mlflow.set_tracking_uri(tracking_uri)
                mlflow.set_experiment(EXPERIMENT)
                run = mlflow.start_run(run_name=f"shadow {market['symbol']} "
                                                f"{market['timeframe']}",
                                       tags={"ledger": str(path), **{
                                           f"{r}_version": m.model_version
                                           for r, m in models.items()}})
            for role, summary in summaries.items():
                mlflow.log_metrics({f"{role}.{k}": float(v) for k, v in summary.items()
                                    if isinstance(v, int | float)}, step=summary["bars"])
                logger.info("Shadow %s (%s): %d new bars, %d decided, %d trades, net %+.2f%%, "
                            "Sharpe %.2f, position %+.2f", role, summary["model_version"],
                            summary["decided_now"], summary["bars"], summary["trades"],
                            100 * summary["net_return"], summary["sharpe"],
                            summary["position"])
            mlflow.log_artifact(str(path), artifact_path="shadow")
            cycle += 1
            if args.follow <= 0 or (args.cycles and cycle >= args.cycles):
                return 0
            time.sleep(args.follow)
    except KeyboardInterrupt:
        logger.info("Shadow stopped; the ledger is kept and the next start resumes from it")
        return 0
    finally:
        if run is not None:
            mlflow.end_run()


if __name__ == "__main__":
    sys.exit(main())
