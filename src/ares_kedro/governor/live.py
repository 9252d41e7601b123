"""The live predictor: trailing raw bars in, one decision out.

``Governor.load(path).decide(recent_bars)`` runs one call per stage, each the **same
function** the pipelines use, never a second implementation:

1. regimes: :func:`~ares_kedro.regimes.labelling.label_regimes`;
2. analyst: :func:`~ares_kedro.analyst.features.compute_features`, then every ensemble's
   calibrated opinion (:func:`~ares_kedro.analyst.regime_predictions.calibrated_opinion_columns`);
3. tactician: :func:`~ares_kedro.tactician.serving.tactician_view` (the signals among the
   opinions, their entry and size);
4. governor: :func:`~ares_kedro.governor.policy.governor_view` (its inputs, the
   meta-learner, the decision policy of :mod:`~ares_kedro.governor.policy`).

The settings they read were parsed once, when the decision system was packaged
(:class:`~ares_kedro.tactician.serving.TacticianSettings`,
:class:`~ares_kedro.governor.policy.DecisionPolicy`). Where the pipelines want a table and the next live step only reads its
columns, it asks the function's column form (``calibrated_opinion_columns``,
``own_regime_columns``, ``governor_input_columns``, ``governor_decision_columns``: the
table is made from them) and skips the table: on one bar, a pandas table costs more than
the arithmetic. ``decide_batch`` scores every bar of a table at once (vectorised), and
``decide`` is its last row.

The decision system is one pickled bundle (``governor_decision_system``), saved with a
SHA-256 record and unpickled only when its bytes still match
(:func:`~ares_kedro.datasets.load_verified_pickle`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ares_kedro.analyst.features import REGISTRY, compute_features
from ares_kedro.analyst.features.inputs import feature_inputs
from ares_kedro.analyst.features.registry import warmup_bars
from ares_kedro.analyst.regime_predictions import calibrated_opinion_columns
from ares_kedro.compiled_trees import compiled
from ares_kedro.datasets import load_verified_pickle, sha256_of
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.governor.model import is_tree_model
from ares_kedro.governor.policy import DecisionPolicy, governor_view
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.regimes.labelling import label_regimes
from ares_kedro.registry import NoChampion, champion_source, market_key
from ares_kedro.tactician.context import as_strings
from ares_kedro.tactician.serving import TacticianSettings, tactician_view
from ares_kedro.tactician.training import TacticianEnsemble

PRICES = ("open", "high", "low", "close")
ALWAYS = (*PRICES, "volume")  # the regime rules read volume too


def at_rows(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """``values`` placed at the sorted, unique positions ``rows`` of ``n`` rows, the others
    missing, as ``reindex`` gives them: NaN, in float for integers and in object for
    booleans (the values keep their dtype when every row has one)."""
    if len(rows) == n:
        return values
    kind = values.dtype.kind
    dtype = object if kind in "bO" else float if kind in "iu" else values.dtype
    out = np.full(n, np.nan, dtype=dtype)
    out[rows] = values
    return out


class BadBars(ValueError):
    """The bars given to the live predictor cannot be used; the message says why."""


@dataclass
class DecisionSystem:
    """Everything a decision needs, fitted by the pipelines (``governor_decision_system``)."""

    market: dict[str, Any]  # symbol, exchange, market, timeframe
    bar_interval: pd.Timedelta
    regime_model: dict[str, Any]
    feature_names: list[str]  # computed features (the analyst's table columns)
    ensembles: dict[str, Any]  # GLOBAL and one per regime
    calibrators: dict[str, Any]
    tactician_models: TacticianEnsemble
    tactician_record: dict[str, Any]  # tactician_sizing, as saved (reports read it)
    governor_model: Pipeline
    final_params: dict[str, Any]  # governor_final_params, as saved (acts, why, gate ...)
    created: str  # UTC, ISO 8601
    tactician: TacticianSettings | None = None  # tactician_record, parsed
    policy: DecisionPolicy | None = None  # final_params with the tactician's context, parsed
    exit_rule: dict[str, Any] | None = None  # optimal_target_params: the trades' exits
    history_bars: int | None = None  # trailing bars a live decision is given (governor.serving)

    def __post_init__(self) -> None:
        self.parse_settings()

    def parse_settings(self) -> None:
        """Fill the parsed fields from the records (a system pickled before they existed
        gets them on loading)."""
        if self.tactician is None and self.tactician_record:
            self.tactician = TacticianSettings.from_record(self.tactician_record)
        if self.policy is None and self.final_params and self.tactician is not None:
            self.policy = DecisionPolicy.from_records(self.final_params, self.tactician)

    @property
    def version(self) -> str:
        """The model version: its packaging time, e.g. ``20261123T191214Z``."""
        return pd.Timestamp(self.created).strftime("%Y%m%dT%H%M%SZ")

    def required_columns(self) -> list[str]:
        """Bar columns the features read (beyond the support/resistance and reference
        context the predictor builds itself)."""
        return list(_required_columns(tuple(self.feature_names)))

    def warmup_bars(self) -> int:
        """The fewest trailing bars a decision accepts: the features' warm-up."""
        return _warmup_bars(tuple(self.feature_names), self.bar_interval)

    def live_history_bars(self) -> int:
        """The trailing bars a live decision should be given (``governor.serving.
        history_days``, at least the warm-up): with fewer, regimes and support/resistance
        levels, which remember months, may differ from the pipeline's (docs/freqtrade.md)."""
        return max(self.warmup_bars(), self.history_bars or 0)

    def tree_models(self) -> list[Any]:
        """Every fitted tree model a decision asks: the ensembles' members and stackers,
        the tactician's specialists and the governor's LightGBM (when it is the learner)."""
        models = [model for ensemble in {id(e): e for e in self.ensembles.values()}.values()
                  for model in ensemble.fitted_models()]
        models += [specialist.model for by_regime in self.tactician_models.specialists.values()
                   for specialist in by_regime.values() if specialist.model is not None]
        if is_tree_model(self.governor_model):
            models.append(self.governor_model.named_steps["model"])
        return models


@lru_cache(maxsize=64)  # per system: asked on every decision
def _required_columns(feature_names: tuple[str, ...]) -> tuple[str, ...]:
    context = {"nearest_support", "nearest_resistance", "reference_close",
               "support_strength", "resistance_strength"}
    needed = {c for name in feature_names for c in REGISTRY[name].inputs} - context
    return tuple(sorted(set(ALWAYS) | needed))


@lru_cache(maxsize=64)
def _warmup_bars(feature_names: tuple[str, ...], interval: pd.Timedelta) -> int:
    return warmup_bars(feature_names, interval)


def check_bars(bars: pd.DataFrame, system: DecisionSystem) -> None:
    """Raise :class:`BadBars` naming the first problem of ``bars``."""
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise BadBars("bars must be a DataFrame indexed by bar open time (DatetimeIndex, UTC)")
    if bars.index.tz is None:
        raise BadBars("bar times must be timezone-aware UTC (e.g. index.tz_localize('UTC'))")
    missing = [column for column in system.required_columns() if column not in bars.columns]
    if missing:
        raise BadBars(f"bars lack the columns {missing} that the trained features read "
                      "(market_bars layout, docs/data.md)")
    if not bars.index.is_unique:
        duplicated = bars.index[bars.index.duplicated()]
        raise BadBars(f"duplicated bar time {duplicated[0]}: keep one row per bar")
    steps = np.diff(bars.index.as_unit("ns").asi8)
    if (steps <= 0).any():
        at = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise BadBars(f"bar times are not sorted: row {at} ({bars.index[at]}) comes after "
                      f"{bars.index[at - 1]}; sort by time")
    prices = np.column_stack([bars[column].to_numpy(dtype=float) for column in PRICES])
    bad = ~np.isfinite(prices).all(axis=1)
    if bad.any():
        raise BadBars(f"NaN or infinite price at {bars.index[int(np.flatnonzero(bad)[0])]}: "
                      "repair or drop the bar")
    if len(bars) > 1 and bar_interval(bars.index) != system.bar_interval:
        raise BadBars(f"bars are {bar_interval(bars.index)} apart, the models were trained on "
                      f"{system.bar_interval} bars")
    needed = system.warmup_bars() + 1
    if len(bars) < needed:
        raise BadBars(f"{len(bars)} bars given, the features need at least {needed} "
                      f"({system.market['timeframe']} bars of warm-up plus the bar to decide)")


class Governor:
    """The trained decision system, ready to decide."""

    def __init__(self, system: DecisionSystem, sha256: str | None = None):
        system.parse_settings()
        self.system = system
        self.model_version = system.version
        self.sha256 = sha256  # of the file it was loaded from
        for model in system.tree_models():  # compiled now, not on the first decision
            compiled(model)

    @classmethod
    def load(cls, source: str | Path | None = None, expected_sha256: str | None = None,
             tracking_uri: str | None = None, market: dict[str, Any] | None = None
             ) -> Governor:
        """Load a decision system, after checking its SHA-256 against ``expected_sha256``
        or the record saved beside it. ``source``:

        * None (default): the registered champion of ``market`` (exchange, market, symbol,
          timeframe), ``models:/ares-governor@champion-binance-spot-btcusdt-1h``; without a
          market, of the only market that has one (the MLflow tracking URI from
          ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``);
        * an MLflow model URI (``models:/ares-governor/3``,
          ``models:/ares-governor@champion-<market>``, ``runs:/<run id>/governor``);
        * a decision system file (``governor_decision_system.pkl``), the newest version in
          its versioned folder, or a serving folder holding ``model.pkl``.

        ``tracking_uri`` overrides the MLflow tracking URI for a model URI. With
        ``market``, a system trained on another market is refused."""
        if source is None:
            source = _champion_source(tracking_uri, market)
        path = _local_file(source, tracking_uri)
        system = load_verified_pickle(path, expected_sha256)
        if not isinstance(system, DecisionSystem):
            raise TypeError(f"{path} holds a {type(system).__name__}, not a DecisionSystem")
        if market is not None and not same_market(system.market, market):
            raise BadBars(f"{source} was trained on {market_key(system.market)}, not "
                          f"{market_key(market)}")
        return cls(system, expected_sha256 or sha256_of(path))

    def decide_batch(self, bars: pd.DataFrame, rows: np.ndarray | None = None,
                     reference_bars: pd.DataFrame | None = None) -> pd.DataFrame:
        """Decisions at ``rows`` of ``bars`` (default: every bar after the warm-up),
        vectorised: regime, every ensemble's prediction and confidence, the tactician's
        view, the governor's prediction, confidence, decision and size."""
        columns, index = self._decision_columns(bars, rows, reference_bars)
        return pd.DataFrame(columns, index=index)

    def _decision_columns(self, bars: pd.DataFrame, rows: np.ndarray | None,
                          reference_bars: pd.DataFrame | None
                          ) -> tuple[dict[str, Any], pd.Index]:
        """The columns of :meth:`decide_batch` as arrays, and their bars."""
        system = self.system
        check_bars(bars, system)
        regime_labels, sr_levels = label_regimes(bars, system.regime_model)
        features, report = compute_features(
            feature_inputs(bars, sr_levels=sr_levels, reference_bars=reference_bars),
            system.feature_names, skip_empty_inputs=False, quiet=True)
        if report["skipped"]:
            raise BadBars(f"features {sorted(report['skipped'])} lack their inputs "
                          f"{report['skipped']}")
        if rows is None:
            rows = np.arange(system.warmup_bars(), len(bars))
        at = features.iloc[rows]
        # one call per stage, columns as arrays (one table where the next stage reads one)
        opinions = calibrated_opinion_columns(system.ensembles, system.calibrators, at)
        opinions["regime"] = as_strings(regime_labels["regime"].array.take(rows))
        signal_rows, tactician = tactician_view(system.tactician_models, system.tactician,
                                                opinions, at.index, features, bars)
        volatility, trend_1d = system.policy.market_context(
            bars["close"].to_numpy(dtype=float), at, rows, bars_per_year(system.bar_interval))
        _, table = governor_view(system.governor_model, system.policy, opinions, tactician,
                                 at.index, volatility, trend_1d)
        for name in ENSEMBLES:
            for column in (f"{name}_prediction", f"{name}_confidence"):
                table[column] = opinions[column]
        table["regime"] = opinions["regime"]
        for column in ("p_win", "p_wait", "act", "size"):
            table[f"tactician_{column}"] = at_rows(tactician[column].to_numpy(), signal_rows,
                                                   len(at))
        return table, at.index

    def decide(self, recent_bars: pd.DataFrame,
               reference_bars: pd.DataFrame | None = None) -> dict[str, Any]:
        """The decision at the last of ``recent_bars`` (the seeds' ``get_all_predictions``,
        plus the size and the model version): the last row of :meth:`decide_batch`, read
        from its columns without making the table."""
        columns, _ = self._decision_columns(recent_bars, np.array([len(recent_bars) - 1]),
                                            reference_bars)
        row = {name: _scalar(values[0]) for name, values in columns.items()}
        return {
            "bar_time": recent_bars.index[-1].isoformat(),
            "prediction": row["decision"],
            "confidence": float(row["confidence"]),
            "size": float(row["size"]),
            "primary_regime": row["regime"],
            "ensemble_predictions": {n: row[f"{n}_prediction"] for n in ENSEMBLES},
            "ensemble_confidences": {n: float(row[f"{n}_confidence"]) for n in ENSEMBLES},
            "raw_prediction": row["prediction"],
            "model_version": self.model_version,
        }


def _scalar(value: Any) -> Any:
    """A table cell as Python gives it (NumPy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


SERVING_FOLDER = ("artifacts", "governor_serving_system")


def same_market(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two market descriptions (exchange, market, symbol, timeframe) agree."""
    return market_key(a) == market_key(b)


def _use_tracking_uri(tracking_uri: str | None) -> None:
    import os

    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    elif not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri("sqlite:///mlflow.db")


def _champion_source(tracking_uri: str | None, market: dict[str, Any] | None) -> str:
    """The model URI of ``market``'s champion (:func:`~ares_kedro.registry.champion_source`);
    :class:`FileNotFoundError` with what to run when there is none."""
    from mlflow import MlflowClient

    _use_tracking_uri(tracking_uri)
    try:
        return champion_source(MlflowClient(), market)
    except NoChampion as error:
        raise FileNotFoundError(str(error)) from error


def _local_file(source: str | Path, tracking_uri: str | None = None) -> Path:
    """The decision system file behind ``source`` (see :meth:`Governor.load`), downloaded
    from MLflow when ``source`` is a model URI."""
    if str(source).startswith(("models:/", "runs:/")):
        import mlflow

        _use_tracking_uri(tracking_uri)
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=str(source)))
        except mlflow.exceptions.MlflowException as error:
            raise FileNotFoundError(f"{source}: {error}. Register and promote a governor "
                                    "first (`kedro run`; docs/tracking.md)") from error
        return local.joinpath(*SERVING_FOLDER, "model.pkl")
    path = Path(source)
    if path.is_dir():
        if (path / "model.pkl").is_file():  # a serving folder (governor_serving_system)
            return path / "model.pkl"
        versions = sorted(path.glob("*/*.pkl"))  # Kedro versions: <name>/<version>/<name>
        if not versions:
            raise FileNotFoundError(f"{path}: no decision system saved yet; run "
                                    "`kedro run --pipelines=governor`")
        return versions[-1]
    return path


def bars_from_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Bars as the predictor wants them from a table whose times are a column (what a
    JSON request carries): ``open_time`` as epoch milliseconds or ISO 8601 strings becomes
    the UTC index. A table already indexed by time passes through."""
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame
    if "open_time" not in frame:
        raise BadBars("bars need their open times: a DatetimeIndex or an 'open_time' column "
                      "(epoch milliseconds or ISO 8601)")
    times = frame["open_time"]
    index = (pd.to_datetime(times.to_numpy(), unit="ms", utc=True)
             if pd.api.types.is_numeric_dtype(times) else pd.to_datetime(times, utc=True))
    return frame.drop(columns="open_time").set_index(pd.DatetimeIndex(index, name="open_time"))


def request_body(bars: pd.DataFrame) -> dict[str, Any]:
    """The JSON body ``mlflow models serve`` takes for ``bars`` (the inverse of
    :func:`bars_from_records`): ``{"dataframe_split": {"columns", "data"}}`` with the bar
    open times as an ``open_time`` column in epoch milliseconds."""
    table = bars.reset_index(names="open_time")
    table["open_time"] = table["open_time"].astype("int64") // 10**6
    return {"dataframe_split": json.loads(table.to_json(orient="split", index=False))}
