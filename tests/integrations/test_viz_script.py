"""`make viz` serves the pipeline graph, and stopping it stops kedro-viz's server child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.pipelines.conftest import make_project

pytestmark = pytest.mark.slow


def _free_port() -> int:
    """A free port kedro-viz accepts (it refuses ports above 49151, where the system's
    ephemeral ports often are)."""
    import random

    for port in random.Random().sample(range(20000, 49152), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 49151")


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            return page.status == 200
    except OSError:
        return False


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        found |= children
        frontier = children
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()
            and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[:1]}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    return make_project(tmp_path, monkeypatch)


def test_stopping_make_viz_stops_the_server_it_started(project):
    port = _free_port()
    kedro = str(Path(sys.executable).parent / "kedro")
    said = (project / "viz.log").open("w")
    script = subprocess.Popen([str(PROJECT_ROOT / "scripts" / "viz.sh"), kedro,
                               "--port", str(port), "--pipeline", "regimes"],
                              cwd=project, stdout=said, stderr=subprocess.STDOUT,
                              env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    try:
        deadline = time.monotonic() + 180
        while not _serving(port):
            assert script.poll() is None, ("kedro viz stopped before serving: "
                                           + (project / "viz.log").read_text()[-3000:])
            assert time.monotonic() < deadline, "kedro viz did not serve within 3 minutes"
            time.sleep(1)
        started = _descendants(script.pid)  # kedro viz and its server child
        assert len(started) >= 2
    finally:
        script.send_signal(signal.SIGTERM)  # what make passes on when it is stopped
        script.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (_alive(started) or _serving(port)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(started), "kedro-viz's processes outlived make viz"
    assert not _serving(port)
