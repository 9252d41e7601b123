"""Trend-following systems: Parabolic SAR, Ichimoku, SuperTrend (windows in bars)."""

from __future__ import annotations
