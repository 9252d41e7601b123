"""Shadow (paper) trading beside the live market: ``python -m ares_kedro.shadow``."""
