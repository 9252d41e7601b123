"""What the governor reads at a bar: every ensemble's opinion, the regime, the tactician.

One row per bar. For each ensemble (GLOBAL and one per regime) its calibrated class
probabilities, predicted label, confidence and member spread; the bar's regime; the
tactician's view of the analyst's signal at that bar (side, win and wait probabilities,
size; no signal: all 0, and side 0 says so). The same function builds the rows in
training (from ``analyst_predictions`` and ``tactician_signals``) and in live prediction,
so the columns cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES

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
            ``size`` per signal bar); bars without a signal get 0 everywhere.

    Returns:
        :func:`feature_columns` (plus the carried columns), indexed like ``predictions``.
    """
    missing = sorted(set(feature_columns()) - {f"tactician_{c}" for c in TACTICIAN_COLUMNS}
                     - set(predictions.columns))
    if missing:
        raise ValueError(f"governor inputs: the analyst's predictions lack {missing}")
    table = predictions[[c for c in feature_columns() if c in predictions]].copy()
    for column in categorical_columns():
        table[column] = table[column].astype(str)
    signals = tactician_signals.reindex(predictions.index)
    for column in TACTICIAN_COLUMNS:
        table[f"tactician_{column}"] = np.nan_to_num(signals[column].to_numpy(dtype=float),
                                                     nan=0.0)
    for column in ("period", "label", "is_labelled"):
        if column in predictions:
            table[column] = predictions[column].to_numpy()
    return table
