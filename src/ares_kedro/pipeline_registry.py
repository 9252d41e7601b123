"""The project's pipelines, registered explicitly and in run order."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from ares_kedro.pipelines import (
    analyst,
    governor,
    ingestion,
    regimes,
    tactician,
    universe,
    validation,
)

# Run order of the whole system.
# A pipeline is registered only once it exists: `kedro run --pipelines=<name>` of one
# that is not built yet fails with Kedro's "pipeline not found", never runs a stub.
PIPELINE_ORDER = ("ingestion", "regimes", "analyst", "tactician", "governor", "validation",
                  "walk_forward", "universe")
ON_DEMAND = ("walk_forward", "universe")  # not in __default__: `kedro run --pipelines=<name>`


class UnknownPipeline(SystemExit):
    """``kedro run --pipelines=<name>`` of a name not registered: a ``SystemExit``, so the
    command line prints the one line that says which names exist, not a traceback."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RegisteredPipelines(dict):
    """The registry's mapping; a missing name stops the run with the registered names."""

    def __missing__(self, name: str) -> Pipeline:
        known = ", ".join(n for n in self if n != "__default__")
        raise UnknownPipeline(f"kedro run: no pipeline named {name!r}; the registered ones "
                              f"are {known} (and __default__, every one of them but "
                              f"{', '.join(ON_DEMAND)}, in that order)")


def with_served_model(training: Pipeline) -> Pipeline:
    """``training`` that, when run, logs the governor's inference pipeline as an MLflow
    model (kedro-mlflow's ``pipeline_ml_factory``): it loads with
    ``mlflow.pyfunc.load_model`` and serves with ``mlflow models serve``
    (docs/governor.md)."""
    from kedro_mlflow.pipeline import pipeline_ml_factory

    from ares_kedro.pipelines.governor.pipeline import create_inference_pipeline
    from ares_kedro.run_tracking import REGISTERED_MODEL

    return pipeline_ml_factory(training=training, inference=create_inference_pipeline(),
                               input_name="recent_bars",
                               log_model_kwargs={"name": "governor", "signature": None,
                                                 "registered_model_name": REGISTERED_MODEL,
                                                 "pip_requirements": served_requirements()})


def served_requirements() -> list[str]:
    """The packages the served model imports, at the versions installed (given explicitly:
    MLflow would otherwise load the model in a subprocess to guess them)."""
    from importlib.metadata import version

    names = ("kedro", "kedro-datasets", "kedro-mlflow", "mlflow", "pandas", "numpy",
             "scikit-learn", "lightgbm", "xgboost-cpu", "numba", "ta", "PyWavelets", "scipy")
    return [f"{name}=={version(name)}" for name in names]


def register_pipelines() -> dict[str, Pipeline]:
    """Map pipeline names to pipelines; ``__default__`` runs all of them in order but the
    on-demand walk-forward. Runs that end with the governor log its inference pipeline as an
    MLflow model."""
    built = {
        "ingestion": ingestion.create_pipeline(),
        "regimes": regimes.create_pipeline(),
        "analyst": analyst.create_pipeline(),
        "tactician": tactician.create_pipeline(),
        "governor": governor.create_pipeline(),
        "validation": validation.create_pipeline(),
        "walk_forward": validation.create_walk_forward_pipeline(),
        "universe": universe.create_pipeline(),
    }
    pipelines = RegisteredPipelines(
        (name, built[name]) for name in PIPELINE_ORDER if name in built)
    # walk-forward and the universe retrain everything once per fold or market: run on
    # demand, not by a plain `kedro run`
    everything = sum((p for name, p in pipelines.items() if name not in ON_DEMAND), Pipeline([]))
    pipelines["governor"] = with_served_model(pipelines["governor"])
    pipelines["__default__"] = with_served_model(everything)
    return pipelines
