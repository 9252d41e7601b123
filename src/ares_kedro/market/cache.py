"""A cache of parsed market files, so that re-running ingestion re-reads only new files.

Per data kind, one table holds the parsed rows of every file (column ``source_file``)
and a JSON index records, per file, its key (name, size, modification time, parser
version and result-changing settings) and any per-file metadata. A file whose key is
unchanged is taken from the table; a new or changed file is parsed. One table per kind
keeps a warm re-run to a couple of reads even with hundreds of daily files.

Entries are written atomically (temporary name, then rename) and checkpointed while a
long kind is read, so an interrupted run resumes from the files already parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PARSER_VERSION = "2"
SOURCE_FILE = "source_file"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


class KindCache:
    """The cached files of one data kind; look files up, add new results, then ``save``."""

    def __init__(self, folder: Path | None, checkpoint_seconds: float):
        self.folder = folder
        self.checkpoint_seconds = checkpoint_seconds
        self.index: dict[str, dict[str, Any]] = {}
        self.table: pd.DataFrame | None = None  # stored rows of every cached file
        self.new_frames: dict[str, pd.DataFrame] = {}
        self.arrays: dict[str, dict[str, np.ndarray]] = {}
        self._last_save = time.monotonic()
        self._dirty = False
        if folder is None or not (folder / "index.json").exists():
            return
        self.index = json.loads((folder / "index.json").read_text())
        self.table = pd.read_parquet(folder / "rows.parquet")
        arrays_path = folder / "arrays.npz"
        if arrays_path.exists():
            with np.load(arrays_path) as stored:
                for compound in stored.files:
                    name, _, field = compound.rpartition("::")
                    self.arrays.setdefault(name, {})[field] = stored[compound]

    def meta(self, name: str, key: str) -> dict[str, Any] | None:
        """The metadata of a cached file whose key is unchanged, else None."""
        entry = self.index.get(name)
        if entry is None or entry["key"] != key:
            return None
        return entry["meta"]

    def rows(self, names: list[str]) -> pd.DataFrame:
        """Cached rows of these files in one table, with their ``source_file``."""
        parts = []
        if self.table is not None:
            old = [n for n in names if n not in self.new_frames]
            parts.append(self.table.loc[self.table[SOURCE_FILE].isin(old)])
        parts += [self.new_frames[n].assign(**{SOURCE_FILE: n}) for n in names if n in self.new_frames]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts) if parts else pd.DataFrame({SOURCE_FILE: pd.Series(dtype=str)})

    def put(self, name: str, key: str, frame: pd.DataFrame, meta: dict[str, Any],
            arrays: dict[str, np.ndarray] | None = None) -> None:
        self.index[name] = {"key": key, "meta": meta}
        self.new_frames[name] = frame
        if arrays is not None:
            self.arrays[name] = arrays
        self._dirty = True
        if time.monotonic() - self._last_save > self.checkpoint_seconds:
            self.save()

    def keep_only(self, names: set[str]) -> None:
        """Forget files that are no longer in the folder."""
        for name in set(self.index) - names:
            self.index.pop(name, None)
            self.new_frames.pop(name, None)
            self.arrays.pop(name, None)
            self._dirty = True

    def save(self) -> None:
        self._last_save = time.monotonic()
        if self.folder is None or not self._dirty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.table = self.rows(list(self.index))
        self.new_frames = {}
        _atomic_write(self.folder / "rows.parquet", self.table.to_parquet)
        flat = {f"{n}::{field}": v for n, fields in self.arrays.items() if n in self.index
                for field, v in fields.items()}

        def write_arrays(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, **flat)

        _atomic_write(self.folder / "arrays.npz", write_arrays)
        index = dict(self.index)
        _atomic_write(self.folder / "index.json",
                      lambda tmp: tmp.write_text(json.dumps(index, default=str)))
        self._dirty = False


class ParsedFileCache:
    """Parsed files under ``root``, one KindCache per data kind (root None: no caching)."""

    def __init__(self, root: str | Path | None, checkpoint_seconds: float = 30.0):
        self.root = Path(root) if root is not None else None
        self.checkpoint_seconds = checkpoint_seconds

    @staticmethod
    def key(path: Path, **settings: Any) -> str:
        stat = path.stat()
        text = json.dumps(
            [path.name, stat.st_size, stat.st_mtime_ns, PARSER_VERSION, settings],
            sort_keys=True, default=str,
        )
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def kind(self, kind: str) -> KindCache:
        return KindCache(self.root / kind if self.root is not None else None,
                         self.checkpoint_seconds)
