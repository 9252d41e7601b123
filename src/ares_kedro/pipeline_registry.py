"""The project's pipelines, registered explicitly and in run order."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from ares_kedro.pipelines import analyst, governor, ingestion, regimes, tactician

# Run order of the whole system. Each later issue adds its pipeline here:
# validation (#8).
# A pipeline is registered only once it exists: `kedro run --pipelines=<name>` of one
# that is not built yet fails with Kedro's "pipeline not found", never runs a stub.
PIPELINE_ORDER = ("ingestion", "regimes", "analyst", "tactician", "governor", "validation")


def register_pipelines() -> dict[str, Pipeline]:
    """Map pipeline names to pipelines; ``__default__`` runs all of them in order."""
    built = {
        "ingestion": ingestion.create_pipeline(),
        "regimes": regimes.create_pipeline(),
        "analyst": analyst.create_pipeline(),
        "tactician": tactician.create_pipeline(),
        "governor": governor.create_pipeline(),
    }
    pipelines = {name: built[name] for name in PIPELINE_ORDER if name in built}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
