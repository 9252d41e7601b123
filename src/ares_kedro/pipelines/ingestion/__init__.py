"""Ingestion: raw archives in, one tidy bar table ``market_bars`` and a quality report out."""

from ares_kedro.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
