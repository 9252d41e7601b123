"""Analyst: time splits and labels (issue #4, first slice); features, target optimisation,
pruning and the per-regime ensembles follow."""

from ares_kedro.pipelines.analyst.pipeline import create_pipeline

__all__ = ["create_pipeline"]
