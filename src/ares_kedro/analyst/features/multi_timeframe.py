"""Multi-timeframe features: key features on 4h and 1d bars, aligned causally."""

from __future__ import annotations
