"""The analyst's signal at each bar: the opinion of the ensemble of the bar's regime.

Training bars take the out-of-fold opinion (``analyst_oof_predictions``): the specialist
of the bar's regime when that regime has one, else the GLOBAL ensemble. Validation and
test bars take the calibrated opinion of the bar's regime's ensemble
(``analyst_predictions``; a regime served by the GLOBAL stand-in carries its opinion).
So every opinion the tactician learns from or is judged on comes from a model that never
saw that bar's label.

A bar is a **signal** when the analyst predicts LONG or SHORT, or when one direction's
probability leads the other's by at least ``min_directional_edge`` (its side is then the
leading direction). Meta-labelling wants a primary signal with high recall: the analyst's
three-class argmax says HOLD on most bars (HOLD is the commonest label), and the
tactician's meta-model is the filter that buys back precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
from ares_kedro.tactician.context import as_strings
from ares_kedro.tactician.labels import SIDES

OPINION_COLUMNS = ("p_long", "p_short", "p_hold", "prediction", "confidence")


def analyst_signals(oof_predictions: pd.DataFrame, predictions: pd.DataFrame,
                    regimes: pd.Series, min_directional_edge: float) -> pd.DataFrame:
    """One analyst opinion per bar that has one, sorted by bar time.

    Args:
        oof_predictions: ``analyst_oof_predictions`` (long: ``ensemble`` per row).
        predictions: ``analyst_predictions`` (wide: ``<ensemble>_<column>``, ``period``).
        regimes: regime name of every bar.

    Returns:
        ``period`` (train / validation / test), ``regime``, ``ensemble``, the
        :data:`OPINION_COLUMNS` and ``side`` (+1 long signal, -1 short signal, 0 none).
    """
    oof = oof_predictions.rename_axis("bar_time").reset_index()
    oof["regime"] = regimes.reindex(pd.DatetimeIndex(oof["bar_time"])).astype(str).to_numpy()
    own = oof[oof["ensemble"] == oof["regime"]]
    fallback = oof[(oof["ensemble"] == GLOBAL) & ~oof["bar_time"].isin(own["bar_time"])]
    train = pd.concat([own, fallback]).set_index("bar_time")
    train = train.assign(period="train")[["period", "regime", "ensemble", *OPINION_COLUMNS]]

    later = own_regime_opinions(predictions)
    later.insert(0, "period", predictions["period"].to_numpy())
    table = pd.concat([train, later]).sort_index()
    if table.index.has_duplicates:
        raise ValueError("analyst predictions overlap: a bar has both an out-of-fold and a "
                         "validation/test opinion; re-run the analyst pipeline")
    table["side"] = signal_side(table, min_directional_edge)
    return table.rename_axis("bar_time")


def own_regime_opinions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per bar of a wide opinions table (``analyst_predictions`` layout: ``regime`` and
    ``<ensemble>_<column>``), the opinion of the bar's regime's ensemble: ``regime``,
    ``ensemble`` and the :data:`OPINION_COLUMNS` (NaN for a regime with no ensemble)."""
    return pd.DataFrame(own_regime_columns(predictions), index=predictions.index)


def own_regime_columns(predictions: pd.DataFrame | Mapping[str, Any],
                       columns: tuple[str, ...] = OPINION_COLUMNS) -> dict[str, np.ndarray]:
    """The columns of :func:`own_regime_opinions` as arrays, from the opinions table or its
    columns as arrays (one value per bar); ``columns`` chooses which opinion columns."""
    regime = np.asarray(as_strings(predictions["regime"]), dtype=object)
    out: dict[str, np.ndarray] = {"regime": regime, "ensemble": regime}
    for column in columns:
        out[column] = (np.full(len(regime), None, dtype=object) if column == "prediction"
                       else np.full(len(regime), np.nan))
    for name in REGIMES:
        rows = regime == name
        if not rows.any():  # only the regimes present are read (one on a live decision)
            continue
        for column in columns:
            out[column][rows] = np.asarray(predictions[f"{name}_{column}"])[rows]
    return out


def signal_side(opinions: pd.DataFrame, min_directional_edge: float) -> np.ndarray:
    """+1 / -1 / 0 per opinion (``prediction``, ``p_long``, ``p_short`` columns): see
    :func:`signal_sides`."""
    return signal_sides(opinions["prediction"].to_numpy(), opinions["p_long"].to_numpy(),
                        opinions["p_short"].to_numpy(), min_directional_edge)


def signals_at_bars(opinions: Mapping[str, Any], index: pd.Index, min_directional_edge: float
                    ) -> tuple[np.ndarray, pd.DataFrame]:
    """The analyst's signals among live opinions: the rows of ``opinions`` (columns as
    arrays, one per bar of ``index``, ``regime`` included) where the bar's own regime's
    ensemble gives a signal, and those signals as a ``tactician_signals``-like table (the
    own-regime opinion columns and ``side``)."""
    own = own_regime_columns(opinions)
    side = signal_sides(own["prediction"], own["p_long"], own["p_short"],
                        min_directional_edge)
    rows = np.flatnonzero(side != 0)
    return rows, pd.DataFrame({**{column: values[rows] for column, values in own.items()},
                               "side": side[rows]}, index=index[rows])


def signal_sides(prediction: np.ndarray, p_long: np.ndarray, p_short: np.ndarray,
                 min_directional_edge: float) -> np.ndarray:
    """+1 / -1 / 0 per opinion: LONG / SHORT predicted, else the leading direction when
    ``|p_long - p_short| >= min_directional_edge``, else no signal."""
    prediction = np.asarray(prediction, dtype=object)
    unknown = set(pd.unique(prediction)) - set(LABELS)
    if unknown:
        raise ValueError(f"analyst predictions hold unknown labels {sorted(map(str, unknown))}")
    side = np.zeros(len(prediction), dtype=int)
    for label, direction in SIDES.items():
        side[prediction == label] = direction
    edge = np.asarray(p_long, dtype=float) - np.asarray(p_short, dtype=float)
    leads = np.abs(edge) >= min_directional_edge
    return np.where(side != 0, side, np.where(leads, np.sign(edge), 0)).astype(int)
