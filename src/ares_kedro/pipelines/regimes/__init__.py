"""Regimes: every bar's market regime, support/resistance levels, per-regime splits."""

from ares_kedro.pipelines.regimes.pipeline import create_pipeline

__all__ = ["create_pipeline"]
