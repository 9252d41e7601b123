"""Governor: one LONG / SHORT / HOLD decision from every ensemble and the tactician (#7)."""

from ares_kedro.pipelines.governor.pipeline import create_pipeline

__all__ = ["create_pipeline"]
