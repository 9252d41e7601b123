"""Proof benchmarks (issue #10, items 1 to 3): is what validation reports true?

Each case is one whole ``kedro run`` (ingestion to validation) in a fresh temporary copy
of the project, then a child process reads its validation outputs through the catalog:

1. **Planted signal**: the built-in market with a strong planted edge
   (``signal.strength`` :data:`PLANTED_STRENGTH`) on :data:`PLANTED_SEEDS`, conf/blank.
   The governor's test-period net Sharpe against the oracle that trades the planted
   signal exactly (:mod:`benchmarks.oracle`), with every baseline's ratio.
2. **Null market**: the random-walk market (no regimes, no signal) on :data:`NULL_SEEDS`,
   conf/blank: how often validation calls an edge significant (deflated Sharpe p < alpha),
   and the spread of out-of-sample Sharpe ratios.
3. **Real data**: conf/base on the real Binance spot BTCUSDT 1h sample in
   ``../shared/data/real/binance_spot_klines_1h`` (2017-08 to 2019-12, every bar).

Runs of one section go side by side, one per core: these sections measure results, not
time. ``--quick`` (``run_all --quick``): one seed each, 60 days, and the real sample's
last 120 days in conf/blank.

Child: ``python -m benchmarks.proof results PROJECT ENV RUNTIME_JSON`` prints one JSON
line with the run's validation results (and, on the built-in market, the references).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.analyst_run import REPO, kedro_run, runtime_params, say, temporary_project

PLANTED_STRENGTH = 1.0
PLANTED_SEEDS = (1, 2, 3)
PLANTED_BASE_SEEDS = (2,)  # also in conf/base: 730 days and the default training budget
NULL_SEEDS = tuple(range(101, 121))
RATIO_GOAL = 0.5
FALSE_POSITIVE_GOAL = 0.05
REAL_KLINES = REPO.parent / "shared" / "data" / "real" / "binance_spot_klines_1h"
QUICK = {"ingestion.synthetic.days": 60, "ingestion.lookback_days": 60,
         "governor.final_optimisation.min_trades": 1}
STRATEGY_KEYS = ("sharpe", "total_return", "max_drawdown", "trades", "win_rate", "exposure",
                 "fees", "funding")


# ---- child: read one run's results

def _runtime(data_root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """What :func:`kedro_run` passes as ``--params``, nested as Kedro nests it."""
    from omegaconf import OmegaConf

    flat = runtime_params(data_root, params)
    return OmegaConf.to_container(OmegaConf.from_dotlist([f"{k}={v}" for k, v in flat.items()]))


def _references(catalog, params: dict[str, Any], period: dict[str, Any],
                data_root: Path) -> dict[str, Any]:
    """The oracle and the observable rule over the validation period of the run."""
    import numpy as np
    import pandas as pd

    from ares_kedro.analyst.features.inputs import bar_interval
    from ares_kedro.validation.backtest import funding_by_bar
    from ares_kedro.validation.costs import CostModel
    from ares_kedro.validation.metrics import performance
    from benchmarks.oracle import observed_taker_imbalance, signal_backtest

    bars = catalog.load("market_bars")
    interval = bar_interval(bars.index)
    bars_per_year = pd.Timedelta(days=365) / interval
    ingestion = params["ingestion"]
    costs = CostModel.from_params(params["validation"]["costs"], ingestion["market"])
    funding = funding_by_bar(bars.index, interval, catalog.load("funding_rates"))
    first, last = bars.index.get_indexer(pd.to_datetime([period["first_bar"],
                                                         period["last_bar"]]))
    truth_files = sorted(data_root.glob("01_raw/synthetic/**/*-true_regimes.parquet"))
    truth = pd.read_parquet(truth_files[-1])
    lead = int(ingestion["synthetic"]["signal"]["lead_bars"])
    signals = {"oracle": truth["flow_imbalance"].reindex(bars.index).to_numpy(),
               "observable_rule": observed_taker_imbalance(bars)}
    out = {}
    for name, signal in signals.items():
        metrics = performance(signal_backtest(bars, signal, int(first), int(last), lead, costs,
                                              funding, bars_per_year))
        out[name] = {k: metrics[k] for k in STRATEGY_KEYS}
    out["signal_correlation"] = float(pd.Series(signals["oracle"]).corr(
        pd.Series(np.nan_to_num(signals["observable_rule"]))))
    return out


def results_child(project: Path, env: str, runtime: dict[str, Any]) -> dict[str, Any]:
    """The validation results of the run in ``project`` (conf ``env``) with ``runtime``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=None if env == "base" else env,
                             runtime_params=runtime) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        backtest = catalog.load("validation_backtest")
        overfitting = catalog.load("validation_overfitting")
        ab_test = catalog.load("validation_ab_test")
        out = {
            "period": backtest["period"],
            "governor_acts": backtest["governor_acts"],
            "strategies": {name: {k: m[k] for k in STRATEGY_KEYS}
                           for name, m in backtest["strategies"].items()},
            "per_regime": backtest["per_regime"],
            "deflated_sharpe": overfitting["deflated_sharpe"],
            "deflated_per_strategy": {
                name: {k: r[k] for k in ("p_value", "significant", "deflated_sharpe")}
                for name, r in overfitting["deflated_sharpe_per_strategy"].items()},
            "trials": overfitting["trials_counted"]["trials"],
            "pbo": overfitting["pbo"]["pbo"],
            "ab_decision": ab_test["decision"],
            "ab_control": ab_test.get("control"),
        }
        if params["ingestion"]["source"] == "synthetic" and \
                params["ingestion"]["synthetic"]["mode"] != "random_walk":
            out["references"] = _references(catalog, params, backtest["period"],
                                            Path(runtime["data_root"]))
    return out


# ---- parent

def run_case(label: str, env: str, params: dict[str, Any]) -> dict[str, Any]:
    """One whole ``kedro run`` in a fresh project copy, then its results."""
    from benchmarks.ingestion import run_module_in_child

    with tempfile.TemporaryDirectory(prefix=f"ares_proof_{label}_") as tmp:
        root = Path(tmp)
        project = temporary_project(root)
        data_root = root / "data"
        args = [] if env == "base" else [f"--env={env}"]
        run = kedro_run(project, data_root, args, params, label)
        results = run_module_in_child("benchmarks.proof", "results", str(project), env,
                                      json.dumps(_runtime(data_root, params)))
    say(f"  {label}: {run['wall_s']:.0f} s, governor test Sharpe "
        f"{results['strategies']['governor']['sharpe']:.2f}")
    return {"label": label, "wall_s": run["wall_s"], "peak_rss_bytes": run["peak_rss_bytes"],
            **results}


def run_cases(cases: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Cases side by side, one per usable core, in their given order."""
    workers = max(1, min(len(cases), len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda case: run_case(*case), cases))


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _models(strategies: dict[str, Any]) -> list[str]:
    """Strategy names in report order: the governor, its baselines, buy-and-hold."""
    rest = sorted(n for n in strategies if n not in ("governor", "buy_and_hold"))
    return ["governor", *rest, "buy_and_hold"]


def planted_section(quick: bool) -> list[str]:
    seeds = PLANTED_SEEDS[:1] if quick else PLANTED_SEEDS
    base_seeds = () if quick else PLANTED_BASE_SEEDS
    extra = QUICK if quick else {}
    planted = {"ingestion.synthetic.signal.strength": PLANTED_STRENGTH}
    cases = [(f"planted_base_{seed}", "base", {**planted, "ingestion.synthetic.seed": seed})
             for seed in base_seeds]  # the longest first
    cases += [(f"planted_{seed}", "blank", {**extra, **planted, "ingestion.synthetic.seed": seed})
              for seed in seeds]
    runs = run_cases(cases)
    runs = runs[len(base_seeds):] + runs[:len(base_seeds)]  # blank seeds, then base
    labels = [f"seed {s}, blank" for s in seeds] + [f"seed {s}, base" for s in base_seeds]
    names = ["oracle", "observable_rule", *_models(runs[0]["strategies"])]

    def sharpe(run: dict[str, Any], name: str) -> float:
        table = run["references"] if name in ("oracle", "observable_rule") else run["strategies"]
        return table[name]["sharpe"]

    lines = [
        "## Planted signal: the governor against the oracle",
        "",
        f"The built-in market with its planted edge at strength {PLANTED_STRENGTH:g} (the "
        "latent taker-flow imbalance of a bar moves the next bar's return by that many bar "
        "volatilities per unit; the default market plants 0.1), seeds "
        f"{', '.join(map(str, seeds))}, one whole `kedro run --env=blank` each (180 days, the "
        "blank training budget)"
        + (f", and seed{'s' if len(base_seeds) > 1 else ''} "
           f"{', '.join(map(str, base_seeds))} in conf/base too (`kedro run`: 730 days, the "
           "default budget)" if base_seeds else "")
        + " (`python -m benchmarks.proof planted`). Net Sharpe ratios on each run's test period "
        "(never trained, tuned or calibrated on), annualised, every cost in. The **oracle** "
        "holds the sign of the latent imbalance through the next bar, through the same "
        "backtester and costs (`benchmarks/oracle.py`); the **observable rule** does the same "
        "with the imbalance a trader sees (the bar's taker buy-minus-sell share). "
        "Ratio = Sharpe / the oracle's.",
        "",
        "| strategy | " + " | ".join(f"{label}: Sharpe (ratio)" for label in labels)
        + " | mean ratio |",
        "| --- | " + " | ".join("---:" for _ in labels) + " | ---: |",
    ]
    for name in names:
        cells, ratios = [], []
        for run in runs:
            value, oracle = sharpe(run, name), sharpe(run, "oracle")
            ratio = value / oracle if oracle else None
            ratios.append(ratio)
            cells.append(f"{value:.2f} ({_f(ratio)})")
        mean = statistics.fmean(r for r in ratios if r is not None) if any(
            r is not None for r in ratios) else None
        label = f"**{name}**" if name == "governor" else name
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_f(mean)} |")
    governor_ratios = [sharpe(r, "governor") / sharpe(r, "oracle") if sharpe(r, "oracle") > 0
                       else 0.0 for r in runs]
    met = all(r >= RATIO_GOAL for r in governor_ratios)
    lines += [
        "",
        "| run | test bars | governor trades | oracle trades | governor DSR p-value | "
        "trials counted | PBO | A/B | corr(latent, observed imbalance) | run time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for label, run in zip(labels, runs, strict=True):
        lines.append(
            f"| {label} | {run['period']['bars']} | {run['strategies']['governor']['trades']} | "
            f"{run['references']['oracle']['trades']} | "
            f"{_f(run['deflated_sharpe']['p_value'], 3)} | {run['trials']} | {_f(run['pbo'])} | "
            f"{run['ab_decision']} vs {run['ab_control']} | "
            f"{run['references']['signal_correlation']:.2f} | {run['wall_s']:.0f} s |")
    verdict = ("met" if met else "**missed**")
    lines += [
        "",
        f"Goal: the governor's Sharpe at least {RATIO_GOAL:g} of the oracle's in every run: "
        f"{verdict} (ratios {', '.join(f'{r:.2f}' for r in governor_ratios)}).",
        "",
    ]
    return lines


def null_section(quick: bool) -> list[str]:
    seeds = NULL_SEEDS[:2] if quick else NULL_SEEDS
    extra = QUICK if quick else {}
    cases = [(f"null_{seed}", "blank", {**extra, "ingestion.synthetic.seed": seed,
                                         "ingestion.synthetic.mode": "random_walk"})
             for seed in seeds]
    runs = run_cases(cases)
    governor = [r["strategies"]["governor"] for r in runs]
    significant = [r["deflated_sharpe"]["significant"] for r in runs]
    traded = sum(g["trades"] > 0 for g in governor)
    models = [n for n in _models(runs[0]["strategies"]) if n != "buy_and_hold"]
    model_claims = [(r["deflated_per_strategy"][n]["significant"], r["strategies"][n]["trades"])
                    for r in runs for n in models if n in r["deflated_per_strategy"]]
    model_traded = sum(trades > 0 for _, trades in model_claims)
    share = sum(significant) / len(runs)
    all_share = sum(s for s, _ in model_claims) / len(model_claims)
    sharpes = sorted(g["sharpe"] for g in governor)
    model_sharpes = sorted(r["strategies"][n]["sharpe"] for r in runs for n in models
                           if r["strategies"][n]["trades"] > 0)

    def spread(values: list[float]) -> str:
        if not values:
            return "—"
        q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        return (f"min {values[0]:.2f}, quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}, "
                f"max {values[-1]:.2f}, mean {statistics.fmean(values):.2f}")

    lines = [
        "## Null market: false discoveries",
        "",
        f"The random-walk market (no regimes, no planted signal: no strategy has an edge), "
        f"{len(seeds)} seeds ({seeds[0]} to {seeds[-1]}), one whole `kedro run --env=blank` each "
        "(`python -m benchmarks.proof null`). Validation claims an edge when the deflated "
        "Sharpe ratio's p-value is below alpha (0.05), counting every Optuna trial of the run.",
        "",
        "| | runs | traded in | claimed significant | share | goal |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        f"| governor | {len(runs)} | {traded} | {sum(significant)} | {_pct(share)} | "
        f"≤ {FALSE_POSITIVE_GOAL:.0%}: {'met' if share <= FALSE_POSITIVE_GOAL else '**missed**'} |",
        f"| every model strategy (governor, single LightGBM, each ensemble) | "
        f"{len(model_claims)} | {model_traded} | {sum(s for s, _ in model_claims)} | "
        f"{_pct(all_share)} | (reported) |",
        "",
        f"- Governor test-period net Sharpe over the {len(runs)} runs: {spread(sharpes)}.",
        f"- Every model strategy that traded ({len(model_sharpes)}): {spread(model_sharpes)}.",
        "",
        "| seed | governor Sharpe | trades | DSR p-value | significant | trials | "
        "best other model (Sharpe, p) | run |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- | ---: |",
    ]
    for seed, run in zip(seeds, runs, strict=True):
        g = run["strategies"]["governor"]
        others = [n for n in models if n != "governor"]
        best = max(others, key=lambda n: run["strategies"][n]["sharpe"])
        lines.append(
            f"| {seed} | {g['sharpe']:.2f} | {g['trades']} | "
            f"{_f(run['deflated_sharpe']['p_value'], 3)} | "
            f"{'**yes**' if run['deflated_sharpe']['significant'] else 'no'} | {run['trials']} | "
            f"{best} ({run['strategies'][best]['sharpe']:.2f}, "
            f"{_f(run['deflated_per_strategy'][best]['p_value'], 3)}) | {run['wall_s']:.0f} s |")
    if traded < len(runs):
        lines += ["", f"The governor held (no trade) in {len(runs) - traded} of {len(runs)} "
                  "runs: its final-parameter search found no threshold worth trading on the "
                  "validation period; those runs cannot claim an edge, so the row of every "
                  "model strategy is the sharper check."]
    return lines + [""]


def real_section(quick: bool) -> list[str]:
    if not REAL_KLINES.is_dir():
        return ["## Real data: BTCUSDT 1h", "", f"**Not run**: {REAL_KLINES} is missing "
                "(the repository's `../shared` folder must sit beside the checkout).", ""]
    env = "blank" if quick else "base"
    params = {"ingestion.source": "binance_vision", "ingestion.market": "spot",
              "ingestion.paths.binance_vision": str(REAL_KLINES),
              "ingestion.lookback_days": 120 if quick else "null",
              "governor.final_optimisation.min_trades": 1 if quick else None}
    params = {k: v for k, v in params.items() if v is not None}
    (run,) = run_cases([("real_btcusdt_1h", env, params)])
    strategies, dsr = run["strategies"], run["deflated_per_strategy"]
    command = ("kedro run --params \"ingestion.source=binance_vision,ingestion.market=spot,"
               f"ingestion.paths.binance_vision=../shared/data/real/binance_spot_klines_1h,"
               f"ingestion.lookback_days={params['ingestion.lookback_days']}\""
               + (" --env=blank" if quick else ""))
    lines = [
        "## Real data: BTCUSDT 1h",
        "",
        "The whole pipeline in conf/" + env + " on the real Binance spot BTCUSDT 1h klines "
        "in `../shared/data/real/binance_spot_klines_1h` "
        + ("(its last 120 days)" if quick else "(2017-08-17 to 2019-12-31, every bar)")
        + f" (`python -m benchmarks.proof real`, i.e. `{command}`). Spot: no funding, "
        "fees 0.1 % per fill plus 2 bp slippage on market fills. Test period "
        f"{run['period']['first_bar'][:10]} to {run['period']['last_bar'][:10]} "
        f"({run['period']['bars']:,} bars), never trained, tuned or calibrated on. "
        f"Run time {run['wall_s'] / 60:.1f} min.",
        "",
        "| strategy | net Sharpe | total return | max drawdown | trades | win rate | "
        "exposure | fees | DSR p-value |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in _models(strategies):
        s = strategies[name]
        p = dsr.get(name, {}).get("p_value")
        label = f"**{name}**" if name == "governor" else name
        lines.append(f"| {label} | {s['sharpe']:.2f} | {_pct(s['total_return'])} | "
                     f"{_pct(s['max_drawdown'])} | {s['trades']} | "
                     f"{_pct(s['win_rate']) if s['trades'] else '—'} | {_pct(s['exposure'])} | "
                     f"{_pct(s['fees'], 2)} | {_f(p, 3)} |")
    d = run["deflated_sharpe"]
    lines += [
        "",
        f"- Governor acts: {run['governor_acts']}. Deflated Sharpe {_f(d['deflated_sharpe'], 3)} "
        f"(p = {_f(d['p_value'], 3)}) with {run['trials']} trials counted: "
        f"{'significant' if d['significant'] else 'not significant'}. PBO "
        f"{_f(run['pbo'])}. A/B against {run['ab_control']}: {run['ab_decision']}.",
        "",
        "| regime (of the test bars) | share of bars | governor Sharpe | total return | trades |"
        " win rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for regime, r in sorted(run["per_regime"].items()):
        lines.append(f"| {regime} | {_pct(r['share_of_bars'])} | {r['sharpe']:.2f} | "
                     f"{_pct(r['total_return'])} | {r['trades']} | {_pct(r['win_rate'])} |")
    return lines + [""]


SECTIONS = {"planted": planted_section, "null": null_section, "real": real_section}


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "results":
        result = results_child(Path(argv[1]), argv[2], json.loads(argv[3]))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if argv and argv[0] in SECTIONS:
        sys.stdout.write("\n".join(SECTIONS[argv[0]]("--quick" in argv)) + "\n")
        return 0
    sys.stderr.write("usage: python -m benchmarks.proof {planted,null,real} [--quick] | "
                     "results PROJECT ENV RUNTIME_JSON\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
