"""Analyst benchmark (issue #5): the blank-mode analyst run, and full mode's cost per trial.

Goal: ``kedro run --env=blank --pipeline=analyst`` on the default data under 3 minutes on
2 cores. Every run happens in a fresh temporary copy of the project's metadata and conf (as
the pipeline tests do), so data, the Optuna storage, MLflow's database and artifacts and
``info.log`` stay out of the checkout:

1. ``kedro run --env=blank --pipelines=ingestion,regimes`` (set-up, not timed), then
   ``kedro run --env=blank --pipelines=analyst``, timed from process start to exit in a
   fresh process, with its peak memory; seconds per node come from ``info.log``, seconds
   per trial of every study from the run's Optuna storage.
2. Full mode: ``kedro run --pipelines=ingestion,regimes`` and ``kedro run
   --pipelines=analyst --to-nodes=narrow_hyperparameter_ranges`` in conf/base (the
   default data, full target and coarse searches: their seconds per trial from the
   storage), then each base model's tuning study (``tuning.tune_model``) with conf/base's
   ``analyst.tuning`` (``n_trials`` 3, no timeout) on the GLOBAL training samples.

``--quick`` (``run_all --quick``): 60 days of bars, and 3 trials in the full-mode target
and coarse searches.

Children (run by :func:`section` through ``run_module_in_child``):
  ``python -m benchmarks.analyst_run kedro OUT PROJECT ARGS...``: ``kedro run ARGS`` in
  PROJECT, its output to the file OUT; one JSON line with its wall time and peak memory. This module imports only the
  standard library at the top, so the child running kedro stays small and the peak is
  kedro's own.
  ``python -m benchmarks.analyst_run trials PROJECT DATA_ROOT N_TRIALS``: the tuning
  studies of step 2; one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 180.0
QUICK_PARAMS = {"ingestion.synthetic.days": 60, "ingestion.lookback_days": 60}
QUICK_FULL_PARAMS = {"analyst.target_search.n_trials": 3, "analyst.coarse_search.n_trials": 3}
TUNING_TRIALS = 3
MIB = 1 << 20
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - \S+ - \w+ - (.*)$")
PIPELINE_DONE = re.compile(r"Pipeline execution completed successfully in ([\d.]+) sec")


def say(text: str) -> None:
    """Progress on stderr (stdout carries the report)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# ---- children

def kedro_child(out_path: Path, project: Path, args: list[str]) -> dict[str, Any]:
    """``kedro run ARGS`` in ``project``, its output to ``out_path``: wall time from
    process start to exit, and its peak resident memory."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    with open(out_path, "w") as out:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=project,
                              env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = out_path.read_text()[-4000:]
        raise RuntimeError(f"kedro run {' '.join(args)} exited with {done.returncode}:\n{tail}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    return {"wall_s": wall, "peak_rss_bytes": peak}


def _train_mask(index, params: dict[str, Any]):
    """The training period's bars, as the analyst nodes split the timeline."""
    from ares_kedro.analyst.splits import TimeSplitParams, period_mask, split_timeline
    from ares_kedro.analyst.targets import TargetSearchParams

    longest = int(TargetSearchParams.from_params(params["analyst"]["target_search"])
                  .holding_bars[1])
    splits = split_timeline(index, TimeSplitParams.from_params(params["time_splits"]), longest)
    return period_mask(index, splits, "train")


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """What shapes a trial's cost in ``params``, and the trial counts, per study family."""
    analyst = params["analyst"]
    target, coarse, tuning = (analyst["target_search"], analyst["coarse_search"],
                              analyst["tuning"])
    trees = analyst["baseline_model"]["n_estimators"]
    spaces = {"lightgbm": analyst["coarse_search"]["ranges"], **tuning["search_spaces"]}

    def model(kind: str, block: dict[str, Any]) -> str:
        if "n_estimators" in spaces.get(kind, {}):
            return "trees searched"
        return f"{block['params'].get('n_estimators', 'default')} trees"

    market = params["ingestion"]
    return {
        "market": {k: market[k] for k in ("lookback_days", "timeframe", "source")},
        "target search": {"n_trials": target["n_trials"], "timeout_seconds": None,
                          "shape": f"{target['cv_folds']} folds, baseline LightGBM "
                                   f"{trees} trees"},
        "coarse search": {"n_trials": coarse["n_trials"], "timeout_seconds": None,
                          "shape": f"{coarse['cv_folds']} folds, baseline LightGBM, "
                                   "trees searched"},
        **{f"tuning {kind}": {"n_trials": tuning["n_trials"],
                              "timeout_seconds": tuning["timeout_seconds"],
                              "shape": f"{tuning['cv_folds']} folds, {model(kind, block)}, "
                                       f"{tuning['pruner']} pruner"}
           for kind, block in analyst["ensembles"]["base_models"].items()},
    }


def trials_child(project: Path, data_root: Path, n_trials: int) -> dict[str, Any]:
    """Each enabled base model's tuning study with conf/base's ``analyst.tuning``
    (``n_trials``, no timeout) on the GLOBAL training samples of ``data_root``, in a fresh
    storage; and the settings of conf/base and conf/blank."""
    import pandas as pd
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from ares_kedro.analyst.labels import BarrierParams, barrier_trades
    from ares_kedro.analyst.models import Regularisation
    from ares_kedro.analyst.regime_training import GLOBAL, EnsembleParams, regime_samples
    from ares_kedro.analyst.tuning import (
        TuningParams,
        search_space,
        tune_model,
        tuning_study_name,
    )
    from ares_kedro.market.timeframes import bar_interval
    from ares_kedro.studies import StudySettings

    os.chdir(project)  # conf/logging.yml writes info.log to the working directory
    bootstrap_project(project)
    runtime = {"data_root": str(data_root),
               "mlflow_tracking_uri": f"sqlite:///{data_root.parent / 'trials_mlflow.db'}"}
    with KedroSession.create(project_path=project, env="blank",
                             runtime_params=runtime) as session:
        blank_settings = _settings(session.load_context().params)
    # conf/local of the copy is empty: conf/base as it is
    with KedroSession.create(project_path=project, env="local",
                             runtime_params=runtime) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        features = catalog.load("analyst_features")
        labels, regimes = catalog.load("analyst_labels"), catalog.load("regime_labels")
        pruned, ranges = catalog.load("pruned_features"), catalog.load("hpo_ranges")
        if params["analyst"]["tuning"]["objective"] == "sharpe":
            bars, targets = catalog.load("market_bars"), catalog.load("optimal_target_params")
    settings = {"blank": blank_settings, "base": _settings(params)}
    analyst = params["analyst"]
    ensembles = EnsembleParams.from_params(analyst["ensembles"])
    tuning = TuningParams.from_params({**analyst["tuning"], "n_trials": n_trials,
                                       "timeout_seconds": None})
    regularisation = Regularisation.from_params(analyst["regularisation"])
    embargo = int(params["time_splits"]["embargo_bars"])
    columns = ensembles.features(GLOBAL, pruned["features"])
    samples = regime_samples(features[columns], labels, regimes,
                             _train_mask(features.index, params), GLOBAL)
    trades = bars_per_year = None
    if tuning.objective == "sharpe":
        barriers = BarrierParams.from_params({k: targets[k] for k in (
            "take_profit", "stop_loss", "holding_bars", "round_trip_fee")})
        trades = barrier_trades(bars, barriers)[0]
        bars_per_year = pd.Timedelta(days=365) / bar_interval(bars.index)
    storage = f"sqlite:///{data_root.parent / 'tuning_trials.db'}"
    walls = {}
    for kind, fixed in ensembles.enabled_models(GLOBAL).items():
        space = search_space(kind, ranges, tuning)
        name = tuning_study_name(f"tune-{GLOBAL}", kind, samples, fixed, space,
                                 regularisation, tuning, embargo, trades, bars_per_year)
        started = time.perf_counter()
        tune_model(kind, samples, fixed, space, regularisation, tuning, embargo,
                   StudySettings(storage, False), name, trades, bars_per_year)
        walls[f"tuning {kind}"] = time.perf_counter() - started
    return {"bars": len(features), "samples": len(samples.labels), "features": len(columns),
            "objective": tuning.objective, "n_trials": n_trials, "walls": walls,
            "studies": study_trial_seconds(storage), "settings": settings}


# ---- the parent side

def temporary_project(root: Path) -> Path:
    """A copy of the project's metadata and conf under ``root`` (conf/local empty), as the
    pipeline tests make: ``ares_kedro`` itself is imported from the installed checkout."""
    project = root / "project"
    project.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, project)
    shutil.copytree(REPO / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / "src").mkdir()
    return project


def use_signing_key_of(project: Path) -> None:
    """Load model files of ``project`` in this process (outside a Kedro session): check them
    with its signing key (``conf/local/artifact_signing.key``, made by its first run)."""
    import os

    from ares_kedro.signing import DEFAULT_KEY_FILE, KEY_FILE_VARIABLE

    os.environ[KEY_FILE_VARIABLE] = str(project / DEFAULT_KEY_FILE)


def runtime_params(data_root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """What :func:`kedro_run` passes as ``--params`` (dotted keys): the data root, an MLflow
    database inside it, and ``params``."""
    return {"data_root": data_root, "mlflow_tracking_uri": f"sqlite:///{data_root}/mlflow.db",
            **params}


def kedro_run(project: Path, data_root: Path, args: list[str], params: dict[str, Any],
              label: str) -> dict[str, Any]:
    """``kedro run ARGS --params data_root=...,mlflow_tracking_uri=...,PARAMS`` in a fresh
    process: wall time, peak memory, seconds per node and Kedro's pipeline time."""
    from benchmarks.ingestion import run_module_in_child

    runtime = runtime_params(data_root, params)
    data_root.mkdir(parents=True, exist_ok=True)  # the MLflow database's folder
    log = project / "info.log"  # conf/logging.yml's file handler, relative to the project
    log.unlink(missing_ok=True)
    run = run_module_in_child("benchmarks.analyst_run", "kedro",
                              str(project.parent / f"{label}.out"), str(project), *args,
                              "--params", ",".join(f"{k}={v}" for k, v in runtime.items()))
    nodes, pipeline_s = node_seconds(log)
    return {**run, "nodes": nodes, "pipeline_s": pipeline_s}


def node_seconds(log: Path) -> tuple[dict[str, float], float | None]:
    """Seconds per node of a sequential ``kedro run`` from its ``info.log``: from the
    previous node's "Completed node" line (the first node: its "Running node" line) to its
    own, so loading its inputs and saving its outputs count; and Kedro's pipeline time."""
    seconds: dict[str, float] = {}
    last, pipeline = None, None
    for line in log.read_text().splitlines():
        match = LOG_LINE.match(line)
        if not match:
            continue
        when = dt.datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
        message = match[2]
        if message.startswith("Running node: ") and last is None:
            last = when
        elif message.startswith("Completed node: ") and last is not None:
            seconds[message.removeprefix("Completed node: ")] = (when - last).total_seconds()
            last = when
        elif found := PIPELINE_DONE.search(message):
            pipeline = float(found[1])
    return seconds, pipeline


def study_family(name: str) -> str:
    """``targets-<fp>`` / ``coarse-<fp>`` / ``tune-<REGIME>-<kind>-<fp>`` as a family."""
    parts = name.split("-")
    if parts[0] == "targets":
        return "target search"
    if parts[0] == "coarse":
        return "coarse search"
    if parts[0] == "tune" and len(parts) >= 4:
        return f"tuning {parts[2]}"
    return parts[0]


def study_trial_seconds(storage: str) -> dict[str, dict[str, Any]]:
    """Per study family of ``storage``: its studies, and the seconds of each complete and
    each pruned trial (``datetime_complete - datetime_start``)."""
    import optuna

    families: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"studies": 0, "complete": [], "pruned": [], "other": 0})
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        family = families[study_family(summary.study_name)]
        family["studies"] += 1
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False):
            state = trial.state.name.lower()
            if state in ("complete", "pruned") and trial.datetime_complete:
                family[state].append(
                    (trial.datetime_complete - trial.datetime_start).total_seconds())
            else:
                family["other"] += 1
    return dict(families)


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    text = f"{statistics.median(values):.2f} s"
    return text + (f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else "")


def _trial_rows(studies: dict[str, dict[str, Any]], settings: dict[str, Any],
                where: str, walls: dict[str, float] | None = None) -> list[str]:
    rows = []
    order = ["target search", "coarse search", *sorted(k for k in studies if
                                                      k.startswith("tuning"))]
    for family in [f for f in order if f in studies]:
        found, shape = studies[family], settings.get(family, {})
        complete, pruned = found["complete"], found["pruned"]
        trials = len(complete) + len(pruned) + found["other"]
        wall = f"; {walls[family]:.1f} s for the study" if walls and family in walls else ""
        rows.append(
            f"| {family} | {where}: {shape.get('shape', '?')} | {found['studies']} | "
            f"{trials} ({len(pruned)} pruned{wall}) | {_spread(complete)} | "
            f"{_spread(pruned)} |")
    return rows


def _full_cost_rows(studies: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """Full mode's time per study from the seconds per complete trial (pruning ignored)."""
    rows = []
    for family, found in studies.items():
        if not found["complete"] or family not in settings:
            continue
        per_trial = statistics.median(found["complete"])
        n_trials, timeout = settings[family]["n_trials"], settings[family]["timeout_seconds"]
        total = n_trials * per_trial
        full = f"{total:.0f} s" if total < 120 else f"{total / 60:.1f} min"
        if not timeout:
            cap = "none"
        elif total <= timeout:
            cap = f"{timeout:g} s, not reached"
        else:
            cap = f"{timeout:g} s: stops after about {math.ceil(timeout / per_trial)} trials"
        rows.append(f"| {family} | {per_trial:.2f} s | {n_trials} | {full} | {cap} |")
    return rows


def section(quick: bool) -> list[str]:
    """The Markdown section of the analyst benchmark."""
    from benchmarks.ingestion import run_module_in_child

    small = QUICK_PARAMS if quick else {}
    with tempfile.TemporaryDirectory(prefix="ares_analyst_bench_") as tmp:
        root = Path(tmp)
        project = temporary_project(root)
        blank_root, base_root = root / "blank" / "data", root / "base" / "data"
        say("  blank mode: ingestion and regimes (set-up)")
        setup = kedro_run(project, blank_root,
                          ["--env=blank", "--pipelines=ingestion,regimes"], small, "blank_setup")
        say(f"  blank mode: analyst pipeline (set-up took {setup['wall_s']:.0f} s)")
        blank = kedro_run(project, blank_root, ["--env=blank", "--pipelines=analyst"], small,
                          "blank_analyst")
        say(f"  blank analyst run: {blank['wall_s']:.1f} s, peak "
            f"{blank['peak_rss_bytes'] / MIB:.0f} MiB")
        blank_studies = study_trial_seconds(
            f"sqlite:///{blank_root}/06_models/optuna_studies.db")
        full_params = {**small, **(QUICK_FULL_PARAMS if quick else {})}
        say("  full mode (conf/base): ingestion and regimes")
        base_setup = kedro_run(project, base_root, ["--pipelines=ingestion,regimes"],
                               full_params, "full_setup")
        say(f"  full mode: analyst part 1, target and coarse search "
            f"(set-up took {base_setup['wall_s']:.0f} s)")
        base = kedro_run(project, base_root,
                         ["--pipelines=analyst", "--to-nodes=narrow_hyperparameter_ranges"],
                         full_params, "full_part_1")
        say(f"  full mode: part 1 took {base['wall_s']:.0f} s; tuning studies, "
            f"{TUNING_TRIALS} trials per kind")
        base_studies = study_trial_seconds(
            f"sqlite:///{base_root}/06_models/optuna_studies.db")
        trials = run_module_in_child("benchmarks.analyst_run", "trials", str(project),
                                     str(base_root), str(TUNING_TRIALS))
    return render(quick, setup, blank, blank_studies, base, base_studies, trials)


def render(quick: bool, setup: dict, blank: dict, blank_studies: dict, base: dict,
           base_studies: dict, trials: dict) -> list[str]:
    settings = trials["settings"]
    met = blank["wall_s"] < GOAL_S
    cores = len(os.sched_getaffinity(0))
    blank_market, base_market = settings["blank"]["market"], settings["base"]["market"]
    data = (f"60 days of {blank_market['timeframe']} {blank_market['source']} bars "
            "(`ingestion.synthetic.days=60`, `ingestion.lookback_days=60`)" if quick else
            f"the default data of each conf: {blank_market['lookback_days']} days of "
            f"{blank_market['timeframe']} {blank_market['source']} bars in conf/blank, "
            f"{base_market['lookback_days']} days of {base_market['timeframe']} "
            f"{base_market['source']} bars in conf/base")
    summed = sum(blank["nodes"].values())
    lines = [
        "## Analyst",
        "",
        f"On {data}. Each `kedro run` runs in a fresh process, from a temporary copy of the "
        "project's `pyproject.toml` and `conf/` with its own `data_root`, Optuna storage "
        "and MLflow database (`--params data_root=...,mlflow_tracking_uri=...`), "
        f"`KEDRO_DISABLE_TELEMETRY=1`, `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}`, "
        f"{cores} usable cores. `kedro run --env=blank --pipelines=ingestion,regimes` "
        f"prepares the market ({setup['wall_s']:.0f} s, not timed for the goal); the timed "
        "run starts with no Optuna study in the storage. Wall time is process start to "
        "exit (interpreter, imports, Kedro session, MLflow); peak memory is the `ru_maxrss` "
        "of the `kedro` process.",
        "",
        "| case | wall time | Kedro's pipeline time | peak memory | goal | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| `kedro run --env=blank --pipelines=analyst` | {blank['wall_s']:.1f} s | "
        f"{blank['pipeline_s'] or 0:.1f} s | {blank['peak_rss_bytes'] / MIB:,.0f} MiB | "
        f"< {GOAL_S:g} s on 2 cores | {'yes' if met else '**no**'} |",
        "",
        "The blank analyst goal is met." if met else
        f"**Goal missed: the blank analyst run took {blank['wall_s']:.1f} s, goal "
        f"< {GOAL_S:g} s.**",
        "",
        "Time per node of that run (from `info.log`: each node from the previous node's "
        "completion, so loading its inputs and saving its outputs count):",
        "",
        "| node | time | share |",
        "| --- | ---: | ---: |",
        *[f"| `{name}` | {s:.1f} s | {s / summed:.0%} |" for name, s in blank["nodes"].items()],
        f"| sum of the nodes | {summed:.1f} s | 100% |",
        "",
        "### Cost per trial",
        "",
        "Seconds per trial of every Optuna study, from the storage's `datetime_start` and "
        "`datetime_complete` of each trial (median, min–max in brackets). Pruned trials stop "
        "early and are listed apart. Blank mode: the studies of the timed run above. "
        "Full mode: `kedro run --pipelines=analyst --to-nodes=narrow_hyperparameter_ranges` "
        f"in conf/base after ingestion and regimes ({base['wall_s']:.0f} s"
        + (", target and coarse searches cut to 3 trials by `--params`" if quick else "")
        + "), then each base model's tuning study called directly "
        f"(`tuning.tune_model`) with conf/base's `analyst.tuning`, `n_trials` {TUNING_TRIALS} "
        f"and no timeout, on the GLOBAL training samples ({trials['samples']:,} samples of "
        f"{trials['bars']:,} bars, {trials['features']} features kept by pruning, objective "
        f"{trials['objective']}).",
        "",
        "| study | settings (what a trial does) | studies | trials | per complete trial | "
        "per pruned trial |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *_trial_rows(blank_studies, settings["blank"], "blank"),
        *_trial_rows(base_studies, settings["base"], "full"),
        *_trial_rows(trials["studies"], settings["base"], "full", trials["walls"]),
        "",
        "What full mode's trial counts cost per study at those rates (no pruning counted; "
        "the median pruner cuts worse trials after their first folds):",
        "",
        "| study | per trial | full-mode trials (conf/base) | time for them | "
        "conf/base `timeout_seconds` |",
        "| --- | ---: | ---: | ---: | --- |",
        *_full_cost_rows({k: v for k, v in base_studies.items() if not k.startswith("tuning")},
                         settings["base"]),
        *_full_cost_rows(trials["studies"], settings["base"]),
        "",
        "Full mode tunes one study per base model kind for the GLOBAL ensemble and for each "
        "regime with enough training samples; a regime's samples are a part of GLOBAL's, so "
        "its trials cost less.",
        "",
    ]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "kedro":
        result = kedro_child(Path(argv[1]), Path(argv[2]), argv[3:])
    elif len(argv) == 4 and argv[0] == "trials":
        result = trials_child(Path(argv[1]), Path(argv[2]), int(argv[3]))
    else:
        sys.stderr.write("usage: python -m benchmarks.analyst_run kedro OUT PROJECT ARGS... | "
                         "trials PROJECT DATA_ROOT N_TRIALS\n")
        return 2
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
