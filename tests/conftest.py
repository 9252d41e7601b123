"""Shared fixtures: the project's real configuration, small synthetic markets, real data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "real"


def load_parameters(env: str = "base", data_root: Path | str = "data",
                    **runtime_params: Any) -> dict[str, Any]:
    """The project's parameters as Kedro resolves them (globals, runtime params, env merge)."""
    from ares_kedro.params import project_parameters

    return project_parameters(PROJECT_ROOT / "conf", env, data_root=str(data_root),
                              **runtime_params)


@pytest.fixture(autouse=True)
def signing_key_of_the_test_session(tmp_path_factory, monkeypatch) -> Path:
    """Model files saved by a test outside a Kedro session are signed with one key under
    the session's temporary folder, never the checkout's conf/local (a Kedro session in a
    test points the key at its own project)."""
    from ares_kedro.signing import KEY_FILE_VARIABLE

    path = tmp_path_factory.getbasetemp() / "artifact_signing.key"
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(path))
    return path


@pytest.fixture
def ingestion_params(tmp_path: Path) -> dict[str, Any]:
    """``params:ingestion`` from conf/base with every path under ``tmp_path``."""
    return load_parameters(data_root=tmp_path / "data")["ingestion"]


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real not found: real-data tests need the shared folder "
                    "beside the repository")
    return REAL_DATA
