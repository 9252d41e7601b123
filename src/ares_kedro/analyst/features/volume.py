"""Volume features: OBV and its divergence from price, rolling VWAP and its bands."""

from __future__ import annotations
