"""What the governor reads at a bar: every ensemble's opinion, the regime, the tactician.

One row per bar. For each ensemble (GLOBAL and one per regime) its calibrated class
probabilities, predicted label, confidence and member spread; the bar's regime; the
tactician's view of the analyst's signal at that bar (side, win and wait probabilities,
size; no signal: all 0, and side 0 says so). The same function builds the rows in
training (from ``analyst_predictions`` and ``tactician_signals``) and in live prediction,
so the columns cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.ensembles import feature_matrix
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.context import as_strings

ENSEMBLES = (GLOBAL, *REGIMES)
ENSEMBLE_NUMBERS = ("p_long", "p_short", "p_hold", "confidence", "spread")
TACTICIAN_COLUMNS = ("side", "p_win", "p_wait", "size")


def categorical_columns() -> dict[str, list[str]]:
    """{column: its categories}: the ensembles' predictions and the regime."""
    columns = {f"{name}_prediction": list(LABELS) for name in ENSEMBLES}
    columns["regime"] = list(REGIMES)
    return columns


def numeric_columns() -> list[str]:
    return ([f"{name}_{column}" for name in ENSEMBLES for column in ENSEMBLE_NUMBERS]
            + [f"tactician_{column}" for column in TACTICIAN_COLUMNS])


def feature_columns() -> list[str]:
    return [*categorical_columns(), *numeric_columns()]


def governor_inputs(predictions: pd.DataFrame, tactician_signals: pd.DataFrame) -> pd.DataFrame:
    """Governor rows for the bars of ``predictions``.

    Args:
        predictions: ``analyst_predictions`` layout (``regime`` and ``<ensemble>_<column>``
            per bar; ``period``, ``label``, ``is_labelled`` are carried when present).
        tactician_signals: ``tactician_signals`` layout (``side``, ``p_win``, ``p_wait``,
            ``size`` per signal bar, a unique index); bars without a signal get 0
            everywhere.

    Returns:
        :func:`feature_columns` (plus the carried columns), indexed like ``predictions``:
        the categories as strings, the numbers as floats.
    """
    return pd.DataFrame(governor_input_columns(predictions, tactician_signals,
                                               predictions.index), index=predictions.index)


def governor_input_columns(predictions: pd.DataFrame | Mapping[str, Any],
                           tactician_signals: pd.DataFrame, index: pd.Index
                           ) -> dict[str, Any]:
    """The columns of :func:`governor_inputs` as arrays, for the bars ``index``, from the
    predictions table or its columns as arrays (one value per bar of ``index``: a live
    decision asks :func:`~ares_kedro.governor.model.class_probabilities` with them, no
    table in between)."""
    tactician = [f"tactician_{column}" for column in TACTICIAN_COLUMNS]
    given = (set(predictions.columns.to_numpy()) if isinstance(predictions, pd.DataFrame)
             else set(predictions))
    missing = sorted(set(feature_columns()) - set(tactician) - given)
    if missing:
        raise ValueError(f"governor inputs: the analyst's predictions lack {missing}")
    table: dict[str, Any] = {column: as_strings(predictions[column])
                             for column in categorical_columns()}
    numbers = [column for column in numeric_columns() if column not in tactician]
    values = (feature_matrix(predictions, numbers).T if isinstance(predictions, pd.DataFrame)
              else [np.asarray(predictions[column], dtype=float) for column in numbers])
    table |= dict(zip(numbers, values, strict=True))
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
