"""Statistical features of returns: rolling quantiles and the Hurst exponent."""

from __future__ import annotations
