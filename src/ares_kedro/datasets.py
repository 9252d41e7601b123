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

from ares_kedro.signing import (
    MissingSigningKey,
    key_path,
    signature,
    signature_matches,
    signing_key,
)

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
    """A model file whose bytes do not match its recorded signature or hash: it is not
    unpickled."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path: str | Path) -> Path:
    """The JSON file recording a model file's hash and signature: ``<file>.sha256.json``
    beside it."""
    return Path(f"{path}.sha256.json")


def save_signed_pickle(data: Any, path: str | Path) -> None:
    """Pickle ``data`` to ``path`` with its record: SHA-256 and HMAC-SHA256 under the
    project's signing key (:mod:`ares_kedro.signing`; created on the first save)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    key = signing_key(create=True)
    path.write_bytes(payload)
    manifest_path(path).write_text(json.dumps(
        {"sha256": hashlib.sha256(payload).hexdigest(), "hmac_sha256": signature(payload, key),
         "bytes": len(payload), "file": path.name}, indent=2))


def load_verified_pickle(path: str | Path, expected_sha256: str | None = None) -> Any:
    """Unpickle ``path`` only after its bytes are proven to be the ones saved.

    With ``expected_sha256`` (from a record the data folder's writer cannot change, such as
    the MLflow run of a registered model), the bytes' SHA-256 must equal it. Otherwise the
    record beside the file must carry an HMAC that matches under the project's signing
    key: a record rewritten by whoever swapped the file cannot. The bytes checked are the
    bytes unpickled (read once). Anything else is refused unread, with the reason."""
    path = Path(path)
    payload = path.read_bytes()
    if expected_sha256 is not None:
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected_sha256:
            raise UnverifiedModelFile(f"{path}: SHA-256 {actual[:12]}... does not match the "
                                      f"recorded {expected_sha256[:12]}...; the file changed "
                                      "since it was saved: refusing to unpickle it")
    else:
        record = manifest_path(path)
        if not record.is_file():
            raise UnverifiedModelFile(f"{path}: no signature record ({record.name}); "
                                      "refusing to unpickle a file of unknown origin")
        recorded = json.loads(record.read_text()).get("hmac_sha256")
        if recorded is None:
            raise UnverifiedModelFile(
                f"{path}: its record {record.name} has no signature (saved before model "
                "files were signed, or written by hand); refusing to unpickle it. Re-run "
                "the pipeline that saves it")
        try:
            key = signing_key()
        except MissingSigningKey as error:
            raise UnverifiedModelFile(f"{path}: {error}") from error
        if not signature_matches(payload, recorded, key):
            raise UnverifiedModelFile(
                f"{path}: its signature does not match: the file or its record changed "
                f"since this project saved it (or it was signed with another key than "
                f"{key_path()}); refusing to unpickle it. Re-run the pipeline that saves it")
    return pickle.loads(payload)  # noqa: S301 (verified above)


class SignedPickleDataset(AbstractVersionedDataset):
    """A pickle written with a record of its SHA-256 and its HMAC under the project's
    signing key, and unpickled only when the signature matches (local files; versioned
    like Kedro's datasets). For every model file: a swapped pickle never runs."""

    def __init__(self, *, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol != "file":
            raise ValueError("SignedPickleDataset supports local files only")
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> Any:
        return load_verified_pickle(str(self._get_load_path()))

    def save(self, data: Any) -> None:
        save_signed_pickle(data, str(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_file()
        except DatasetError:
            return False


class SignedPickleDirectory(AbstractDataset):
    """A folder holding ``model.pkl`` and its ``model.pkl.sha256.json`` record: one path
    that carries the model and its signature together (what an MLflow model logs as one
    artifact). Unpickled only when the signature matches; local files, unversioned."""

    FILE = "model.pkl"

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> Any:
        return load_verified_pickle(Path(str(self._filepath)) / self.FILE)

    def save(self, data: Any) -> None:
        save_signed_pickle(data, Path(str(self._filepath)) / self.FILE)

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
