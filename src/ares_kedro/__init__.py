"""Ares: regime-aware machine-learning trading models for crypto markets, as a Kedro project."""

__version__ = "0.1.0"
