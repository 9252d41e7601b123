"""What the governor reads at a bar: the GLOBAL ensemble's opinion, the opinion of the
ensemble of the bar's regime, the regime, the tactician.

One row per bar. For the GLOBAL ensemble and for the bar's own regime's ensemble
(``own``; a regime served by the GLOBAL stand-in carries its opinion): calibrated class
probabilities, the directional edge ``p_long - p_short``, the predicted label, its
confidence and the members' spread; the bar's regime; the tactician's view of the
analyst's signal at that bar (side, win and wait probabilities, size; no signal: all 0,
and side 0 says so).

Reading the own regime's ensemble, not all six, is what lets the governor learn from the
whole history: every training bar has an out-of-fold opinion of GLOBAL and of its own
regime's specialist (:func:`training_opinions`), but no specialist has one on the bars of
other regimes. The same function builds the rows in training (out-of-fold opinions on the
training bars, calibrated opinions on the validation and test bars) and in live
prediction, so the columns cannot drift apart. Every ensemble's probabilities are carried
beside (``<ensemble>_p_long`` ...; NaN on training bars the ensemble did not see) for the
baselines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.calibration import cross_fitted
from ares_kedro.analyst.ensembles import feature_matrix
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_predictions import opinion_columns
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.context import as_strings
from ares_kedro.tactician.signals import own_regime_columns

ENSEMBLES = (GLOBAL, *REGIMES)
SOURCES = (GLOBAL, "own")  # the ensembles the governor reads: GLOBAL and the bar's regime's
OPINION_NUMBERS = ("p_long", "p_short", "p_hold", "confidence", "spread")
ENSEMBLE_NUMBERS = (*OPINION_NUMBERS[:3], "edge", *OPINION_NUMBERS[3:])
TACTICIAN_COLUMNS = ("side", "p_win", "p_wait", "size")
PROBABILITY_COLUMNS = [f"{name}_p_{c.lower()}" for name in ENSEMBLES for c in LABELS]


def categorical_columns() -> dict[str, list[str]]:
    """{column: its categories}: the two opinions' predictions and the regime."""
    columns = {f"{source}_prediction": list(LABELS) for source in SOURCES}
    columns["regime"] = list(REGIMES)
    return columns


def numeric_columns() -> list[str]:
    return ([f"{source}_{column}" for source in SOURCES for column in ENSEMBLE_NUMBERS]
            + [f"tactician_{column}" for column in TACTICIAN_COLUMNS])


def feature_columns() -> list[str]:
    return [*categorical_columns(), *numeric_columns()]


def governor_inputs(predictions: pd.DataFrame, tactician_signals: pd.DataFrame) -> pd.DataFrame:
    """Governor rows for the bars of ``predictions``.

    Args:
        predictions: ``analyst_predictions`` layout (``regime`` and ``<ensemble>_<column>``
            per bar; ``period``, ``label``, ``is_labelled`` are carried when present), for
            training bars :func:`training_opinions`.
        tactician_signals: ``tactician_signals`` layout (``side``, ``p_win``, ``p_wait``,
            ``size`` per signal bar, a unique index); bars without a signal get 0
            everywhere.

    Returns:
        :func:`feature_columns` (plus the carried columns and every ensemble's
        probabilities), indexed like ``predictions``: the categories as strings, the
        numbers as floats.
    """
    table = governor_input_columns(predictions, tactician_signals, predictions.index)
    table |= dict(zip(PROBABILITY_COLUMNS, feature_matrix(predictions, PROBABILITY_COLUMNS).T,
                      strict=True))
    return pd.DataFrame(table, index=predictions.index)


def governor_input_columns(predictions: pd.DataFrame | Mapping[str, Any],
                           tactician_signals: pd.DataFrame, index: pd.Index
                           ) -> dict[str, Any]:
    """The :func:`feature_columns` of :func:`governor_inputs` as arrays, for the bars
    ``index``, from the predictions table or its columns as arrays (one value per bar of
    ``index``: a live decision asks
    :func:`~ares_kedro.governor.model.class_probabilities` with them, no table in
    between)."""
    given = (set(predictions.columns.to_numpy()) if isinstance(predictions, pd.DataFrame)
             else set(predictions))
    needed = {"regime"} | {f"{name}_{column}" for name in ENSEMBLES
                           for column in (*OPINION_NUMBERS, "prediction")}
    missing = sorted(needed - given)
    if missing:
        raise ValueError(f"governor inputs: the analyst's predictions lack {missing}")
    table: dict[str, Any] = {"regime": as_strings(predictions["regime"])}
    for source in SOURCES:
        numbers = _opinion(predictions, source)
        table[f"{source}_prediction"] = numbers.pop("prediction")
        numbers["edge"] = numbers["p_long"] - numbers["p_short"]
        table |= {f"{source}_{column}": numbers[column] for column in ENSEMBLE_NUMBERS}
    rows = tactician_signals.index.get_indexer(index)  # -1: no signal at the bar
    found = rows >= 0
    for column in TACTICIAN_COLUMNS:
        signal = np.full(len(index), np.nan)
        signal[found] = tactician_signals[column].to_numpy(dtype=float)[rows[found]]
        table[f"tactician_{column}"] = np.nan_to_num(signal, nan=0.0)
    for column in ("period", "label", "is_labelled"):
        if column in given:
            table[column] = np.asarray(predictions[column])
    return table


def _opinion(predictions: pd.DataFrame | Mapping[str, Any], source: str) -> dict[str, Any]:
    """The opinion columns (:data:`OPINION_NUMBERS` as floats, ``prediction`` as strings) of
    the GLOBAL ensemble, or of each bar's own regime's ensemble (``own``)."""
    if source == GLOBAL:
        out = {what: np.asarray(predictions[f"{GLOBAL}_{what}"], dtype=float)
               for what in OPINION_NUMBERS}
        out["prediction"] = as_strings(predictions[f"{GLOBAL}_prediction"])
        return out
    own = own_regime_columns(predictions, (*OPINION_NUMBERS, "prediction"))
    out = {what: own[what].astype(float) for what in OPINION_NUMBERS}
    out["prediction"] = as_strings(own["prediction"])
    return out


def _calibrated_out_of_fold(proba: np.ndarray, known: np.ndarray, calibrator: Any,
                            labels: tuple[np.ndarray, np.ndarray], min_rows: int,
                            rows: str = "validation") -> np.ndarray:
    """``proba`` with its known rows calibrated: ``rows`` "validation" by ``calibrator``
    itself; "own_labels" the labelled ones cross-fitted on their own labels by a
    calibrator like ``calibrator`` (fewer than ``min_rows`` rows: ``calibrator`` itself).
    None: calibration was not applied, rows pass through."""
    if calibrator is None or not known.any():
        return proba
    label, labelled = labels
    fit_rows = np.flatnonzero(known & labelled) if rows == "own_labels" else np.zeros(0)
    out = proba.copy()
    if fit_rows.size < max(int(min_rows), 2):  # "validation", or too few own rows
        out[known] = calibrator.transform(proba[known])
        return out
    out = cross_fitted(proba, label, fit_rows, calibrator.method, calibrator.min_probability)
    rest = np.flatnonzero(known & ~labelled)
    if rest.size:
        out[rest] = calibrator.transform(proba[rest])
    return out


def training_opinions(oof_predictions: pd.DataFrame, calibrators: Mapping[str, Any],
                      regimes: pd.Series, labels: pd.DataFrame, min_rows: int,
                      calibration_rows: str = "validation") -> pd.DataFrame:
    """``analyst_predictions`` layout for the training bars, from the ensembles'
    out-of-fold opinions (``analyst_oof_predictions``, long: ``ensemble`` per row).

    Every training bar GLOBAL tested gets GLOBAL's opinion, and under each regime's columns
    that regime's specialist's out-of-fold opinion (on its own bars; NaN elsewhere), or
    GLOBAL's where the regime has no specialist (as its stand-in does on later bars). Each
    opinion is calibrated where the ensemble's validation calibration was applied:
    ``calibration_rows`` "validation" (the default) by the validation calibrator itself,
    the map every later row goes through, so that a raw opinion means the same to the
    governor on every bar; "own_labels" on its own out-of-fold rows, cross-fitted in two
    halves of time (:func:`cross_fitted`, the method of the validation calibrator; an
    ensemble with fewer than ``min_rows`` labelled out-of-fold rows,
    ``analyst.calibration.min_samples``, keeps the validation calibrator). ``period`` is "train",
    ``label`` and ``is_labelled`` come from ``labels``."""
    oof = oof_predictions
    global_rows = oof[oof["ensemble"] == GLOBAL]
    index = global_rows.index
    table_labels = (labels["label"].astype(str).reindex(index).to_numpy(),
                    labels["is_labelled"].reindex(index).to_numpy(dtype=bool))
    table: dict[str, Any] = {"period": np.full(len(index), "train", dtype=object),
                             "regime": as_strings(regimes.reindex(index).astype(str))}
    raw = ["p_long", "p_short", "p_hold"]
    specialists = set(oof["ensemble"])
    for name in ENSEMBLES:
        own = oof[oof["ensemble"] == (name if name in specialists else GLOBAL)]
        part = own.reindex(index)
        proba = part[raw].to_numpy(dtype=float, copy=True)
        known = ~np.isnan(proba).any(axis=1)
        proba = _calibrated_out_of_fold(proba, known, calibrators.get(name), table_labels,
                                        min_rows, calibration_rows)
        columns = opinion_columns(name, np.where(known[:, None], proba, 0.0),
                                  part["spread"].to_numpy(dtype=float))
        for what in ("p_long", "p_short", "p_hold", "confidence"):
            columns[f"{name}_{what}"] = np.where(known, columns[f"{name}_{what}"], np.nan)
        columns[f"{name}_prediction"] = as_strings(
            np.where(known, np.asarray(columns[f"{name}_prediction"], dtype=object), None))
        table |= columns
    table["label"] = labels["label"].astype(str).reindex(index).to_numpy()
    table["is_labelled"] = labels["is_labelled"].reindex(index).to_numpy(dtype=bool)
    return pd.DataFrame(table, index=index)
