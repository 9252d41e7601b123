"""The feature registry: every feature is one entry (name, function, warm-up, inputs).

Importing this package registers every feature module's entries.
"""

from ares_kedro.analyst.features import (  # noqa: F401 (registration side effect)
    cross_asset,
    flow,
    futures,
    momentum,
    multi_timeframe,
    price_levels,
    spectral,
    statistics,
    time_of_day,
    trend_and_shape,
    trend_systems,
    volatility,
    volume,
)
from ares_kedro.analyst.features.registry import REGISTRY, Feature, compute_features

__all__ = ["REGISTRY", "Feature", "compute_features"]
