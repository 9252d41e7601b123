"""A pipeline run alone needs its upstream pipelines' outputs: say so before it starts.

``kedro run --pipelines=governor`` on a fresh checkout would otherwise fail deep inside a
dataset load with a traceback about a missing Parquet file. The :class:`UpstreamChecks`
hook looks, before the run, at every dataset the run reads but does not make; the
missing ones stop it with a message naming them, the pipelines that make them and the
command to run first. Optional datasets (an absent file loads as an empty table) are not
required.
"""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from ares_kedro.datasets import OptionalParquetDataset


class MissingUpstreamData(SystemExit):
    """The run reads datasets that no earlier run has written. A ``SystemExit``: the
    command line prints the message and exits with status 1, without a traceback (the
    fix is in the message, the stack would only hide it)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def producers(pipelines: dict, order: tuple[str, ...]) -> dict[str, str]:
    """{dataset: the first pipeline (in run order) that writes it}."""
    out: dict[str, str] = {}
    for name in order:
        if name in pipelines:
            for dataset in pipelines[name].all_outputs():
                out.setdefault(dataset, name)
    return out


def missing_upstream_message(missing: list[str], made_by: dict[str, str],
                             order: tuple[str, ...]) -> str:
    """The error text: what is missing, who makes it, what to run."""
    needed = [p for p in order if p in {made_by.get(d) for d in missing}]
    lines = [f"  - {d} (made by the {made_by[d]} pipeline)" if d in made_by
             else f"  - {d} (no pipeline makes it: provide the file)" for d in missing]
    # from the first pipeline that makes a missing dataset to the last, every one in
    # between too (the analyst needs the regimes' outputs, not only ingestion's)
    chain = list(order[order.index(needed[0]): order.index(needed[-1]) + 1]) if needed else []
    command = (f"kedro run --pipelines={','.join(chain)}   (or `kedro run` for everything)"
               if chain else "provide the files listed above")
    return ("This run reads datasets that no earlier run has written:\n" + "\n".join(lines)
            + f"\nRun the pipelines that make them first, e.g.\n  {command}\n"
            "with the same --env and --params as this run.")


class UpstreamChecks:
    """Kedro hook: stop a run whose upstream datasets are missing, with the fix."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from ares_kedro.pipeline_registry import PIPELINE_ORDER, register_pipelines

        required = [name for name in sorted(pipeline.inputs())
                    if not name.startswith("params:") and name != "parameters"]
        missing = []
        for name in required:
            dataset = catalog.get(name)  # resolves dataset factory patterns too
            if dataset is None or isinstance(dataset, OptionalParquetDataset):
                continue  # memory or optional: nothing to check
            if not catalog.exists(name):
                missing.append(name)
        if missing:
            message = missing_upstream_message(missing, producers(register_pipelines(),
                                                                  PIPELINE_ORDER),
                                               PIPELINE_ORDER)
            _fail_open_run(f"missing upstream data: {', '.join(missing)}")
            raise MissingUpstreamData(message)


def _fail_open_run(reason: str) -> None:
    """End the MLflow run kedro-mlflow opened for this pipeline run as FAILED, with the
    reason as a tag: a run stopped before any node is not a finished run (Kedro calls no
    error hook for a stop in ``before_pipeline_run``)."""
    import mlflow

    run = mlflow.active_run()
    if run is not None:
        mlflow.set_tag("ares.stopped", reason[:5000])
        mlflow.end_run(status="FAILED")
