"""Price-action features from the regimes pipeline's support/resistance zones.

They read ``nearest_support`` and ``nearest_resistance``, which
:func:`~ares_kedro.analyst.features.inputs.feature_inputs` joins onto the bars from the
``sr_levels`` table (only levels confirmed by the bar's close; a level is support below the
price and resistance above it, whichever side it was found on). Without that table the
features are skipped; where no zone is known on a side, the distance is NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register
from ares_kedro.analyst.features.shared import bar_atr_values, column
from ares_kedro.analyst.features.statistics import feature_series


@register("support_distance_atr", "price_action", 14,
          ["high", "low", "close", "nearest_support"])
def support_distance_atr(bars: pd.DataFrame) -> pd.Series:
    """(close - nearest_support) in ATRs (14), >= 0; 0 inside a zone, NaN if none below."""
    distance = column(bars, "close") - column(bars, "nearest_support")
    with np.errstate(divide="ignore", invalid="ignore"):  # no ATR yet on flat bars
        return feature_series(distance / bar_atr_values(bars), bars)


@register("resistance_distance_atr", "price_action", 14,
          ["high", "low", "close", "nearest_resistance"])
def resistance_distance_atr(bars: pd.DataFrame) -> pd.Series:
    """(nearest_resistance - close) in ATRs (14), >= 0; 0 inside a zone, NaN if none above."""
    distance = column(bars, "nearest_resistance") - column(bars, "close")
    with np.errstate(divide="ignore", invalid="ignore"):  # no ATR yet on flat bars
        return feature_series(distance / bar_atr_values(bars), bars)
