"""A real PostgreSQL server for the team set-up's tests: Debian's postgresql package (found,
or installed with apt-get when the tests run as root), a fresh cluster in a temporary
folder, listening on 127.0.0.1 at a free port, stopped afterwards. Skipped, with the
reason, only where no server can be had."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _server_binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _install_postgresql() -> str:
    """apt-get install postgresql (root only); what went wrong, or ""."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root, or no apt-get: cannot install Debian's postgresql package"
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(command, capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://ares@127.0.0.1:<port>``: a server with databases ``optuna`` and
    ``mlflow``, trust authentication from 127.0.0.1 only."""
    binaries = _server_binaries()
    if binaries is None:
        problem = _install_postgresql()
        binaries = _server_binaries()
        if binaries is None:
            pytest.skip(f"no PostgreSQL server here: {problem or 'installed, not found'}")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="ares_pg_"))
    folder.chmod(0o755)  # the server's user must reach its data folder
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    user = "ares"
    subprocess.run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", user,
                    "-A", "trust", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(folder / "server.log"), "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, capture_output=True)
    try:
        for database in ("optuna", "mlflow"):
            subprocess.run([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                            "-U", user, database], check=True, capture_output=True)
        yield f"postgresql://{user}@127.0.0.1:{port}"
    finally:
        subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)



