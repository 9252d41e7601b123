"""Cross-asset features: rolling correlation and beta to a reference asset.

They read ``reference_close``, the reference market's close at the same bar, which
:func:`~ares_kedro.analyst.features.inputs.feature_inputs` joins onto the bars (skipped
without it). A bar the reference lacks makes its return and the next one NaN, so the
windows that contain them are NaN too (nothing is filled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.analyst.features.registry import register


def _log_returns(bars: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return np.log(bars["close"]).diff(), np.log(bars["reference_close"]).diff()


@register("reference_correlation_96", "cross_asset", 96, ["close", "reference_close"])
def reference_correlation_96(bars: pd.DataFrame) -> pd.Series:
    """Correlation of the bar's log returns with the reference asset's over 96 bars, -1..1."""
    returns, reference = _log_returns(bars)
    return returns.rolling(96).corr(reference)


@register("reference_beta_96", "cross_asset", 96, ["close", "reference_close"])
def reference_beta_96(bars: pd.DataFrame) -> pd.Series:
    """Beta of log returns to the reference asset's over 96 bars: cov / var(reference)."""
    returns, reference = _log_returns(bars)
    variance = reference.rolling(96).var()
    return returns.rolling(96).cov(reference) / variance.where(variance > 0)
