"""Cross-asset features: rolling correlation and beta to a reference asset.

They read ``reference_close``, the reference market's close at the same bar, which
:func:`~ares_kedro.analyst.features.inputs.feature_inputs` joins onto the bars (skipped
without it). A bar the reference lacks makes its return and the next one NaN, so the
windows that contain them are NaN too (nothing is filled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import memoised, register
from ares_kedro.analyst.features.shared import column
from ares_kedro.analyst.features.statistics import (
    feature_series,
    log_returns,
    window_correlation,
    window_moments,
)

REFERENCE_WINDOW = 96


def _reference_moments(bars: pd.DataFrame) -> np.ndarray:
    """:func:`window_moments` of the bar's log returns (x) and the reference's (y) over
    REFERENCE_WINDOW bars, once per call (read-only)."""
    def fresh() -> np.ndarray:
        reference = np.empty(len(bars))
        reference[:1] = np.nan
        reference[1:] = np.diff(np.log(column(bars, "reference_close")))
        moments = window_moments(log_returns(bars), REFERENCE_WINDOW, reference)
        return moments

    return memoised("reference_moments", bars, fresh)


@register("reference_correlation_96", "cross_asset", 96, ["close", "reference_close"])
def reference_correlation_96(bars: pd.DataFrame) -> pd.Series:
    """Correlation of the bar's log returns with the reference asset's over 96 bars, -1..1."""
    return feature_series(window_correlation(_reference_moments(bars)), bars)


@register("reference_beta_96", "cross_asset", 96, ["close", "reference_close"])
def reference_beta_96(bars: pd.DataFrame) -> pd.Series:
    """Beta of log returns to the reference asset's over 96 bars: cov / var(reference)."""
    moments = _reference_moments(bars)
    reference_spread = moments[:, 4]
    return feature_series(moments[:, 5] / np.where(reference_spread > 0, reference_spread,
                                                   np.nan), bars)
