"""Market regimes: causal indicators, support/resistance levels and the classifiers.

Pure domain code (no Kedro): the regimes pipeline and live prediction call the same
functions, so a bar is labelled the same way in training and in production.
"""

REGIMES = ("BULL_TREND", "BEAR_TREND", "SIDEWAYS_RANGE", "SR_ZONE_ACTION", "HIGH_IMPACT_CANDLE")
