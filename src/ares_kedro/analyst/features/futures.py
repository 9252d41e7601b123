"""Futures features: funding rate and open interest, and their divergence from price."""

from __future__ import annotations
