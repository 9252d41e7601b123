"""Validation: cost-aware backtests, Monte Carlo, overfitting statistics and A/B tests
(pure functions, no Kedro)."""
