"""Project datasets beyond kedro-datasets."""

from __future__ import annotations

import logging

import pandas as pd
from kedro_datasets.pandas import ParquetDataset

logger = logging.getLogger(__name__)


class OptionalParquetDataset(ParquetDataset):
    """A Parquet dataset that may not exist yet: loading it then gives an empty DataFrame
    (and a log line) instead of an error. For optional inputs such as the reference
    market's bars of the cross-asset features; a file that exists but cannot be read still
    raises."""

    def load(self) -> pd.DataFrame:
        if not self.exists():
            logger.info("Optional dataset %s not found: using an empty table", self._filepath)
            return pd.DataFrame()
        return super().load()
