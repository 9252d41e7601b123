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

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.regimes import REGIMES
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
    ``ensemble`` and the :data:`OPINION_COLUMNS`."""
    regime = predictions["regime"].astype(str).to_numpy()
    out = pd.DataFrame({"regime": regime, "ensemble": regime}, index=predictions.index)
    for column in OPINION_COLUMNS:
        values = np.empty(len(predictions), dtype=object if column == "prediction" else float)
        for name in REGIMES:
            rows = regime == name
            values[rows] = predictions[f"{name}_{column}"].to_numpy()[rows]
        out[column] = values
    return out


def signal_side(opinions: pd.DataFrame, min_directional_edge: float) -> np.ndarray:
    """+1 / -1 / 0 per opinion: LONG / SHORT predicted, else the leading direction when
    ``|p_long - p_short| >= min_directional_edge``, else no signal."""
    prediction = opinions["prediction"].astype(str)
    unknown = sorted(set(prediction) - set(LABELS))
    if unknown:
        raise ValueError(f"analyst predictions hold unknown labels {unknown}")
    side = prediction.map(SIDES).fillna(0).to_numpy(dtype=int)
    edge = opinions["p_long"].to_numpy(dtype=float) - opinions["p_short"].to_numpy(dtype=float)
    leads = np.abs(edge) >= min_directional_edge
    return np.where(side != 0, side, np.where(leads, np.sign(edge), 0)).astype(int)
