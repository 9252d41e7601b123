"""Project datasets beyond kedro-datasets."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_protocol_and_path,
)
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


class UnverifiedModelFile(ValueError):
    """A model file whose bytes do not match its recorded hash: it is not unpickled."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path: str | Path) -> Path:
    """The JSON file recording a model file's hash: ``<file>.sha256.json`` beside it."""
    return Path(f"{path}.sha256.json")


def load_verified_pickle(path: str | Path, expected_sha256: str | None = None) -> Any:
    """Unpickle ``path`` only after its SHA-256 matches ``expected_sha256`` (from a trusted
    record such as the MLflow run) or, when None, the manifest written beside it at save
    time. A file without a record, or with a different hash, is refused unread: unpickling
    runs code, so an unknown file is never unpickled."""
    path = Path(path)
    if expected_sha256 is None:
        record = manifest_path(path)
        if not record.is_file():
            raise UnverifiedModelFile(f"{path}: no hash record ({record.name}); refusing to "
                                      "unpickle a file of unknown origin")
        expected_sha256 = json.loads(record.read_text())["sha256"]
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise UnverifiedModelFile(f"{path}: SHA-256 {actual[:12]}... does not match the "
                                  f"recorded {expected_sha256[:12]}...; the file changed "
                                  "since it was saved: refusing to unpickle it")
    with open(path, "rb") as stream:
        return pickle.load(stream)  # noqa: S301 (verified above)


class HashedPickleDataset(AbstractVersionedDataset):
    """A pickle written with a ``.sha256.json`` record of its bytes, and loaded only when
    the bytes still match (local files). Versioned like Kedro's datasets."""

    def __init__(self, *, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol != "file":
            raise ValueError("HashedPickleDataset supports local files only")
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> Any:
        return load_verified_pickle(str(self._get_load_path()))

    def save(self, data: Any) -> None:
        path = Path(str(self._get_save_path()))
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        path.write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        manifest_path(path).write_text(json.dumps({"sha256": digest, "bytes": len(payload),
                                                   "file": path.name}, indent=2))

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_file()
        except DatasetError:
            return False


class HashedPickleDirectory(AbstractDataset):
    """A folder holding ``model.pkl`` and its ``model.pkl.sha256.json`` record: one path
    that carries the model and its hash together (what an MLflow model logs as one
    artifact). Loaded only when the bytes match the record; local files, unversioned."""

    FILE = "model.pkl"

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> Any:
        return load_verified_pickle(Path(str(self._filepath)) / self.FILE)

    def save(self, data: Any) -> None:
        folder = Path(str(self._filepath))
        folder.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / self.FILE).write_bytes(payload)
        manifest_path(folder / self.FILE).write_text(json.dumps(
            {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
             "file": self.FILE}, indent=2))

    def _exists(self) -> bool:
        return (Path(str(self._filepath)) / self.FILE).is_file()


class MlflowLoggedDataset(AbstractDataset):
    """A dataset whose every save is also logged as an artifact of the active MLflow run (a
    file, or a folder's files, under ``artifact_path``).

    The role of kedro-mlflow's ``MlflowArtifactDataset``, but an ordinary, picklable class
    (that one is built dynamically and cannot cross to Kedro's ``ParallelRunner`` worker
    processes). In a worker of :class:`ares_kedro.runner.ParallelRunner` the active run is
    the run of the ``kedro run``, resumed by the ``WorkerRun`` hook.
    """

    def __init__(self, *, dataset: dict[str, Any], artifact_path: str | None = None,
                 metadata: dict[str, Any] | None = None):
        self._dataset = AbstractDataset.from_config("logged", dict(dataset))
        self._artifact_path = artifact_path
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "artifact_path": self._artifact_path}

    def _exists(self) -> bool:
        return self._dataset.exists()

    def load(self) -> Any:
        return self._dataset.load()

    def save(self, data: Any) -> None:
        self._dataset.save(data)
        import mlflow

        if mlflow.active_run() is None:
            return  # no MLflow run (e.g. a bare runner): the file is saved, nothing to log
        path = Path(str(self._dataset._filepath))
        if path.is_dir():
            mlflow.log_artifacts(str(path), self._artifact_path)
        else:
            mlflow.log_artifact(str(path), self._artifact_path)
