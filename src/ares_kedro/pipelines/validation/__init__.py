"""Validation pipeline: cost-aware backtests, Monte Carlo, overfitting statistics, A/B."""

from ares_kedro.pipelines.validation.pipeline import (
    create_pipeline,
    create_walk_forward_pipeline,
)

__all__ = ["create_pipeline", "create_walk_forward_pipeline"]
