"""Cross-asset features: rolling correlation and beta to a reference asset."""

from __future__ import annotations
