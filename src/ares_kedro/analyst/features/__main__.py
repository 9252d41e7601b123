"""Print docs/features.md from the registry."""

import sys

import ares_kedro.analyst.features  # noqa: F401 (registers every feature)
from ares_kedro.analyst.features.registry import features_markdown

sys.stdout.write(features_markdown())
