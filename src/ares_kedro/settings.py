"""Kedro project settings."""

import os

from kedro.config import OmegaConfigLoader

# Telemetry must never prompt or reach the network; `.telemetry` also says `consent: false`.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An env (blank, test, local) overrides single nested keys and keeps their siblings;
    # Kedro's default would replace the whole top-level block.
    "merge_strategy": {"parameters": "soft", "catalog": "soft", "mlflow": "soft"},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}

# Bad parameters stop a run at start-up, before any node (src/ares_kedro/parameter_checks.py).
from ares_kedro.parameter_checks import ParameterChecks  # noqa: E402
from ares_kedro.run_tracking import (  # noqa: E402
    ModelRegistry,
    NodeTimings,
    PipelineMetrics,
    RunManifest,
    RunSummary,
    RunTags,
    WorkerRun,
)
from ares_kedro.signing import ProjectSigningKey  # noqa: E402
from ares_kedro.tracking_paths import CopiedProjectArtifacts  # noqa: E402
from ares_kedro.upstream_checks import UpstreamChecks  # noqa: E402

_TAGS = RunTags()  # shared: the manifest and the registry need the run's tags
HOOKS = (ProjectSigningKey(), CopiedProjectArtifacts(), ParameterChecks(), UpstreamChecks(),
         _TAGS, WorkerRun(),
         NodeTimings(), PipelineMetrics(), RunManifest(_TAGS), ModelRegistry(_TAGS),
         RunSummary())
