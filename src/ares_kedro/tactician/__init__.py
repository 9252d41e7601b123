"""Tactician (issue #6): whether, when and how much to trade on the analyst's signals."""
