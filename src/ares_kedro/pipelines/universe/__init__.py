"""Universe pipeline: every market of ``universe.markets`` trained and validated by its own
run, and one table across them."""

from ares_kedro.pipelines.universe.pipeline import create_pipeline

__all__ = ["create_pipeline"]
