"""Price-action features from the regimes pipeline's support/resistance zones."""

from __future__ import annotations
