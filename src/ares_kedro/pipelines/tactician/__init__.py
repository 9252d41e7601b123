"""Tactician: whether, when and how much to act on the analyst's signals (issue #6)."""

from ares_kedro.pipelines.tactician.pipeline import create_pipeline

__all__ = ["create_pipeline"]
