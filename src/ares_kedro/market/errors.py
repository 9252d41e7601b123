"""Errors raised on bad market data: each names the file, the row and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MarketDataError(ValueError):
    """A market data file cannot be used as it is.

    The message always says which file, where in it (1-based line number as a text
    editor shows it, header included), what is wrong and how to fix it.
    """

    def __init__(
        self,
        file: str | Path,
        problem: str,
        fix: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.file = str(file)
        self.problem = problem
        self.fix = fix
        self.row = row
        self.column = column
        self.value = value
        where = self.file
        if row is not None:
            where += f", line {row}"
        if column is not None:
            where += f", column '{column}'"
        found = f" (found {value!r})" if value is not None else ""
        super().__init__(f"{where}: {problem}{found}. Fix: {fix}")


class MissingMarketDataError(FileNotFoundError):
    """Archives needed for the requested period are not on disk (and download is off)."""


class ChecksumMismatchError(MarketDataError):
    """A file's SHA-256 differs from its ``.CHECKSUM`` companion."""
