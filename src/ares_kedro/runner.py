"""Kedro's ParallelRunner with spawned worker processes that are set up as the project.

``kedro run --runner=ares_kedro.runner.ParallelRunner``. Two problems of the stock runner
in this stack (Kedro 1.7, Linux):

* its workers are **forked** by default, and a forked worker inherits the locks the
  parent's threads held at that moment (logging, MLflow, OpenMP, progress bars): the test
  suite once hung for good in such a worker, in a process that had trained models before;
* with ``KEDRO_MP_CONTEXT=spawn`` its workers start clean but are **not set up**: Kedro
  reads the project's package name inside the fresh worker, where it is not configured
  yet, so the project's settings, hooks and logging never load there (the project's hooks
  do not run, and MLflow calls open stray runs); and when it is configured, Kedro's
  re-bootstrap recurses (see :func:`_set_up_worker`).

This runner spawns its workers and configures each one as the project (settings, hooks,
logging) before it takes a node; everything else is Kedro's runner.
"""

from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from kedro.runner import ParallelRunner as KedroParallelRunner


def _set_up_worker(package_name: str | None, logging_config: dict[str, Any] | None) -> None:
    """Configure a fresh worker process as the project (runs once per worker): its
    settings (hooks), pipelines and logging.

    ``PACKAGE_NAME`` is left unset on purpose: when it is set in a spawned worker, Kedro's
    task re-bootstraps the worker for every node and hands the worker's own logging object
    to itself as the configuration, which recurses without end (Kedro 1.7)."""
    from kedro.framework.project import configure_logging, pipelines, settings

    if package_name:
        settings.configure(f"{package_name}.settings")
        pipelines.configure(f"{package_name}.pipeline_registry")
    if logging_config:
        configure_logging(logging_config)


class ParallelRunner(KedroParallelRunner):
    """Kedro's ParallelRunner, its workers spawned and set up as the project."""

    def _get_executor(self, max_workers: int) -> Executor:
        from kedro.framework.project import LOGGING, PACKAGE_NAME

        return ProcessPoolExecutor(max_workers=max_workers, mp_context=get_context("spawn"),
                                   initializer=_set_up_worker,
                                   initargs=(PACKAGE_NAME, dict(LOGGING)))
