"""The analyst's data side: time splits, purged cross-validation, triple-barrier labels.

Pure domain code (no Kedro).
"""
