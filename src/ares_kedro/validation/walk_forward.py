"""Walk-forward validation: the whole system retrained on successive windows, each judged on
the bars right after it.

Fold k's window ends ``(folds - 1 - k) x test_days`` before the data's end; it starts at the
data's first bar (**expanding**) or ``window_days`` before its end (**rolling**). Inside a
window the usual time splits apply (train, validation, test, with purge and embargo gaps),
with the fractions set so that the test period is the window's last ``test_days``: the test
periods of successive folds follow each other without overlap, and each fold's models never
see its test bars.

Across folds: the mean of each metric with a Student-t confidence interval, the trend of
the governor's Sharpe ratio over the folds (performance decay), and per fold the
population stability index (PSI) of the features between the training and test periods
(feature drift; PSI > 0.25 is the usual "shifted" mark).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from ares_kedro.params import checked_keys
from ares_kedro.validation.report import markdown_table

SCHEMES = ("expanding", "rolling")
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class WalkForwardParams:
    """``validation.walk_forward`` in conf."""

    scheme: str  # expanding | rolling
    folds: int
    test_days: int  # each fold's out-of-sample period
    window_days: int  # rolling: the whole window; expanding: ignored
    validation_share: float  # of the bars before the test period (the rest is training)
    env: str  # the conf environment each fold trains in (blank: the fast budget)
    scheduler: str | None  # a Dask scheduler's address; None: a LocalCluster here
    workers: int  # LocalCluster workers, one fold each at a time; 0 = one per CPU core
    root: str  # folder of the folds' data
    psi_bins: int
    psi_drift_threshold: float
    confidence: float  # of the intervals across folds
    run_params: dict[str, Any] = field(default_factory=dict, hash=False)  # every fold's
    # run: overrides of its conf env (nested blocks), as universe.run_params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> WalkForwardParams:
        spec = cls(**checked_keys(cls, params, "validation.walk_forward"))
        if not isinstance(spec.run_params, dict):
            raise ValueError("validation.walk_forward.run_params: a mapping of conf blocks "
                             "(e.g. {analyst: {tuning: {n_trials: 5}}}) or {}")
        if spec.scheme not in SCHEMES:
            raise ValueError(f"validation.walk_forward.scheme must be one of {SCHEMES}")
        if spec.folds < 2 or spec.test_days < 1 or not isinstance(spec.workers, int) \
                or spec.workers < 0:
            raise ValueError("validation.walk_forward: folds >= 2, test_days >= 1, "
                             "workers an integer >= 0")
        if spec.scheduler is not None and not str(spec.scheduler).strip():
            raise ValueError("validation.walk_forward.scheduler: a Dask scheduler address "
                             "(e.g. tcp://10.0.0.5:8786) or null for a LocalCluster")
        if not 0 < spec.validation_share < 1 or not 0.5 < spec.confidence < 1:
            raise ValueError("validation.walk_forward: validation_share in (0, 1), confidence "
                             "in (0.5, 1)")
        if spec.scheme == "rolling" and spec.window_days <= spec.test_days:
            raise ValueError("validation.walk_forward.window_days must exceed test_days")
        return spec


def plan_folds(first_bar: pd.Timestamp, last_close: pd.Timestamp, params: WalkForwardParams
               ) -> list[dict[str, Any]]:
    """Each fold's window (UTC day boundaries) and split fractions.

    Raises ValueError when a window would start before the data."""
    data_end = last_close.floor("D")
    folds = []
    for k in range(params.folds):
        end = data_end - (params.folds - 1 - k) * params.test_days * DAY
        start = first_bar.ceil("D") if params.scheme == "expanding" else \
            end - params.window_days * DAY
        if start < first_bar.floor("D") or end - start <= params.test_days * DAY:
            raise ValueError(f"walk-forward fold {k}: window {start.date()} to {end.date()} "
                             f"does not fit the data ({first_bar.date()} to {last_close.date()}) "
                             "with a test period after training; use fewer folds, shorter "
                             "test_days or window_days, or more data")
        days = (end - start) / DAY
        test_fraction = params.test_days / days
        validation = (1 - test_fraction) * params.validation_share
        folds.append({"fold": k, "window_start": start.isoformat(), "window_end": end.isoformat(),
                      "lookback_days": int(round(days)), "train_fraction": 1 - test_fraction
                      - validation, "validation_fraction": validation})
    return folds


def population_stability_index(expected: np.ndarray, actual: np.ndarray, bins: int) -> float:
    """PSI of ``actual`` against ``expected`` on ``expected``'s quantile bins (NaN dropped):
    ``sum((a - e) ln(a / e))`` over bins, shares floored at 1e-4."""
    expected = np.asarray(expected, float)
    actual = np.asarray(actual, float)
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if expected.size < bins or actual.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, "right"), minlength=edges.size + 1)
    a = np.bincount(np.searchsorted(edges, actual, "right"), minlength=edges.size + 1)
    e = np.maximum(e / e.sum(), 1e-4)
    a = np.maximum(a / a.sum(), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(features: pd.DataFrame, train_end: pd.Timestamp, test_start: pd.Timestamp,
                  names: list[str], bins: int) -> dict[str, float]:
    """PSI of each feature in ``names`` between the training bars (up to ``train_end``) and
    the test bars (from ``test_start``)."""
    train = features.loc[features.index <= train_end]
    test = features.loc[features.index >= test_start]
    return {name: population_stability_index(train[name].to_numpy(), test[name].to_numpy(),
                                             bins) for name in names if name in features}


def mean_interval(values: list[float], confidence: float) -> dict[str, float]:
    """Mean of per-fold values with its Student-t confidence interval."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    if x.size == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "folds": 0}
    mean = float(x.mean())
    if x.size < 2:
        return {"mean": mean, "ci_low": float("nan"), "ci_high": float("nan"), "folds": 1}
    half = student_t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "folds": int(x.size)}


def summarise_folds(results: list[dict[str, Any]], params: WalkForwardParams) -> dict[str, Any]:
    """Across-fold means with confidence intervals, performance decay and drift flags."""
    table = []
    for r in results:
        row = {"fold": r["fold"], "test_first_bar": r["test_first_bar"],
               "test_last_bar": r["test_last_bar"], "governor_acts": r["governor_acts"],
               "validation_sharpe": r.get("validation_sharpe")}
        for name, metrics in r["strategies"].items():
            for key in ("sharpe", "total_return", "max_drawdown", "trades"):
                row[f"{name}_{key}"] = metrics[key]
        psi = {k: v for k, v in r["feature_psi"].items() if np.isfinite(v)}
        row["max_feature_psi"] = max(psi.values()) if psi else float("nan")
        row["drifted_features"] = sorted(k for k, v in psi.items()
                                         if v > params.psi_drift_threshold)
        table.append(row)
    sharpe = [row["governor_sharpe"] for row in table]
    strategies = sorted(results[0]["strategies"]) if results else []
    summary = {f"{name}_{key}": mean_interval([row[f"{name}_{key}"] for row in table],
                                              params.confidence)
               for name in strategies for key in ("sharpe", "total_return", "max_drawdown")}
    slope = float(np.polyfit(np.arange(len(sharpe)), sharpe, 1)[0]) if len(sharpe) > 1 else 0.0
    return {"scheme": params.scheme, "folds": table, "summary": summary,
            "governor_sharpe_trend_per_fold": slope,
            "decaying": bool(slope < 0 and len(sharpe) > 1 and sharpe[-1] < sharpe[0]),
            "folds_with_drift": [row["fold"] for row in table if row["drifted_features"]],
            "psi_drift_threshold": params.psi_drift_threshold,
            "confidence": params.confidence}


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


def walk_forward_metrics(summary: dict[str, Any], folds: pd.DataFrame
                         ) -> dict[str, Any]:
    """The walk-forward's MLflow metrics: each summary mean, and per fold (as steps) the
    governor's and buy-and-hold's Sharpe and the largest feature PSI."""
    metrics = {f"{name}.mean": {"value": float(v["mean"]), "step": 0}
               for name, v in summary["summary"].items() if np.isfinite(v["mean"])}
    metrics.update({f"fold.{name}": [{"value": float(row[name]), "step": int(
        row["fold"])} for _, row in folds.iterrows() if np.isfinite(row[name])]
        for name in ("governor_sharpe", "buy_and_hold_sharpe", "max_feature_psi")})
    return {k: v for k, v in metrics.items() if v}
