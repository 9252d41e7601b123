"""Binance Vision downloads against a local HTTP server laid out like data.binance.vision."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from ares_kedro.market import archives
from ares_kedro.market.archives import (
    AGG_TRADES,
    FUNDING_RATE,
    KLINES,
    METRICS,
    checksum_path,
    sha256_of,
    stable_zip_bytes,
    verify_checksum,
)
from ares_kedro.market.download import (
    ArchiveSpec,
    download_archives,
    missing_archives,
    missing_data_message,
    plan_archives,
)

UTC = "UTC"
FAST = {"backoff_seconds": 0.001, "timeout_seconds": 5.0}
POLL_SECONDS = 0.01  # server shutdown latency
RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def kline(period: str, market: str = "um_futures", symbol: str = "BTCUSDT") -> ArchiveSpec:
    granularity = "daily" if len(period) > len("2024-01") else "monthly"
    return ArchiveSpec(market, KLINES, symbol, "1h", granularity, period)


# ---------------------------------------------------------------- local Vision server


@dataclass
class VisionState:
    """What the fake server serves and how it misbehaves; paths are URL paths."""

    root: Path
    fail_500: dict[str, int] = field(default_factory=dict)  # answer 500 this many times
    corrupt: dict[str, int] = field(default_factory=dict)  # serve a damaged body this often
    truncate: dict[str, int] = field(default_factory=dict)  # close after half the body
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, table: dict[str, int], path: str) -> bool:
        with self.lock:
            if table.get(path, 0) > 0:
                table[path] -= 1
                return True
            return False

    def hits(self, path: str) -> list[str | None]:
        """Range headers of the requests for ``path`` (None: no Range)."""
        with self.lock:
            return [rng for p, rng in self.requests if p == path]


class VisionHandler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=a-[b]`` support and scripted failures."""

    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        state: VisionState = self.server.state  # type: ignore[attr-defined]
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        with state.lock:
            state.requests.append((path, range_header))
        if state.take(state.fail_500, path):
            self.send_error(500, "scripted failure")
            return
        file = state.root / path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        if state.take(state.corrupt, path):
            data = bytes(b ^ 0xFF for b in data)
        start, status = 0, 200
        match = RANGE.fullmatch(range_header or "")
        if match and not state.ignore_range:
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = int(match[2]) + 1 if match[2] else len(data)
            data, status = data[start:end], 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(data) - 1}/*")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if state.take(state.truncate, path):
            data = data[: len(data) // 2]
            self.close_connection = True
        self.wfile.write(data)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never go through a proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)


@pytest.fixture
def vision(tmp_path: Path) -> Iterator[tuple[VisionState, str]]:
    """A Binance Vision look-alike on 127.0.0.1 serving ``tmp_path / "server"``."""
    state = VisionState(root=tmp_path / "server")
    state.root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), VisionHandler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def publish(state: VisionState, spec: ArchiveSpec, rows: int = 200) -> bytes:
    """Put a valid zip and its ``.CHECKSUM`` on the server; returns the zip bytes."""
    csv = "".join(f"{i},{i * 7 % 101},{spec.period}\n" for i in range(rows)).encode()
    data = stable_zip_bytes(spec.file_name().replace(".zip", ".csv"), csv)
    target = spec.local_path(state.root)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    checksum_path(target).write_text(f"{sha256_of(target)}  {target.name}\n", encoding="ascii")
    return data


def url_path(spec: ArchiveSpec) -> str:
    return "/" + spec.relative_path()


# ------------------------------------------------------------------------- specs


def test_spec_url_and_local_path_follow_the_vision_tree(tmp_path: Path) -> None:
    spot = ArchiveSpec("spot", KLINES, "BTCUSDT", "1h", "monthly", "2024-01")
    funding = ArchiveSpec("um_futures", FUNDING_RATE, "BTCUSDT", None, "monthly", "2024-01")
    trades = ArchiveSpec("um_futures", AGG_TRADES, "BTCUSDT", None, "daily", "2024-01-31")

    assert spot.file_name() == "BTCUSDT-1h-2024-01.zip"
    assert spot.url("https://data.binance.vision/") == (
        "https://data.binance.vision/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    )
    assert funding.url("https://data.binance.vision") == (
        "https://data.binance.vision/data/futures/um/monthly/fundingRate/BTCUSDT/"
        "BTCUSDT-fundingRate-2024-01.zip"
    )
    assert trades.local_path(tmp_path) == (
        tmp_path / "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-31.zip"
    )
    parsed = archives.parse_archive_name(trades.local_path(tmp_path))
    assert parsed is not None and (parsed.kind, parsed.granularity) == (AGG_TRADES, "daily")


@pytest.mark.parametrize(
    "args",
    [
        ("spot", KLINES, "BTCUSDT", None, "monthly", "2024-01"),  # klines without interval
        ("spot", AGG_TRADES, "BTCUSDT", "1h", "monthly", "2024-01"),  # interval on trades
        ("spot", KLINES, "BTCUSDT", "1h", "daily", "2024-01"),  # period vs granularity
        ("cm_futures", KLINES, "BTCUSDT", "1h", "monthly", "2024-01"),  # unknown market
    ],
)
def test_inconsistent_spec_is_rejected(args: tuple) -> None:
    with pytest.raises(ValueError):
        ArchiveSpec(*args)


# -------------------------------------------------------------------------- plan


def test_plan_uses_monthly_for_complete_past_months_and_daily_for_the_current_month() -> None:
    specs = plan_archives(
        "BTCUSDT",
        "um_futures",
        [KLINES],
        "1h",
        ts("2024-01-01"),
        ts("2024-04-01"),
        today=ts("2024-03-15 10:30"),
    )

    assert [(s.granularity, s.period) for s in specs] == [
        ("monthly", "2024-01"),
        ("monthly", "2024-02"),
        *[("daily", f"2024-03-{d:02d}") for d in range(1, 15)],  # today (15th) excluded
    ]
    assert all(s.interval == "1h" and s.market == "um_futures" for s in specs)


def test_plan_covers_partial_months_and_partial_days_with_daily_files() -> None:
    specs = plan_archives(
        "ETHUSDT",
        "spot",
        [AGG_TRADES],
        None,
        ts("2024-01-30"),
        ts("2024-03-02 06:00"),
        today=ts("2024-06-01"),
    )

    assert [s.period for s in specs] == [
        "2024-01-30",
        "2024-01-31",
        "2024-02",
        "2024-03-01",
        "2024-03-02",
    ]


def test_plan_for_spot_skips_futures_only_kinds() -> None:
    specs = plan_archives(
        "BTCUSDT",
        "spot",
        [KLINES, AGG_TRADES, FUNDING_RATE, METRICS],
        "4h",
        ts("2024-01-01"),
        ts("2024-02-01"),
        today=ts("2024-05-01"),
    )

    assert {s.kind for s in specs} == {KLINES, AGG_TRADES}
    assert all(s.market == "spot" for s in specs)


def test_plan_metrics_are_daily_only_and_funding_monthly_only() -> None:
    specs = plan_archives(
        "BTCUSDT",
        "um_futures",
        [METRICS, FUNDING_RATE],
        None,
        ts("2024-01-01"),
        ts("2024-03-10"),
        today=ts("2024-03-05"),
    )

    metrics = [s for s in specs if s.kind == METRICS]
    funding = [s for s in specs if s.kind == FUNDING_RATE]
    assert {s.granularity for s in metrics} == {"daily"}
    assert len(metrics) == 31 + 29 + 4  # Jan, Feb (leap year), 1-4 March
    assert [s.period for s in funding] == ["2024-01", "2024-02"]  # no March: not over yet


def test_plan_is_empty_when_the_period_starts_today_and_needs_an_interval_for_klines() -> None:
    assert (
        plan_archives(
            "BTCUSDT", "spot", [KLINES], "1h", ts("2024-03-05"), ts("2024-04-01"), ts("2024-03-05")
        )
        == []
    )
    with pytest.raises(ValueError, match="interval"):
        plan_archives(
            "BTCUSDT", "spot", [KLINES], None, ts("2024-01-01"), ts("2024-02-01"), ts("2024-03-01")
        )


# ----------------------------------------------------------------------- missing


def test_monthly_file_anywhere_on_disk_satisfies_daily_specs_inside_it(tmp_path: Path) -> None:
    manual = tmp_path / "my_downloads"
    manual.mkdir()
    (manual / "BTCUSDT-1h-2024-01.csv").write_text("1,2,3\n")  # flat, unzipped
    specs = [kline("2024-01"), kline("2024-01-05"), kline("2024-02-01")]

    assert missing_archives(specs, tmp_path) == [kline("2024-02-01")]


def test_part_files_and_other_markets_do_not_count_as_present(tmp_path: Path) -> None:
    futures = kline("2024-01-05")
    part = futures.local_path(tmp_path).with_name(futures.file_name() + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    spot_copy = kline("2024-01-05", market="spot").local_path(tmp_path)
    spot_copy.parent.mkdir(parents=True)
    spot_copy.write_bytes(b"spot data")

    assert missing_archives([futures], tmp_path) == [futures]
    assert missing_archives([futures], tmp_path / "does_not_exist") == [futures]


def test_missing_data_message_names_files_urls_and_the_download_switch(tmp_path: Path) -> None:
    missing = [kline(f"2024-01-{d:02d}") for d in range(1, 13)]

    text = missing_data_message(missing, tmp_path, "https://data.binance.vision", limit=10)

    assert "12 Binance Vision archive(s)" in text
    assert missing[0].file_name() in text and missing[9].file_name() in text
    assert missing[10].file_name() not in text and "and 2 more" in text
    assert missing[0].url("https://data.binance.vision") in text
    assert "ingestion.download: true" in text
    assert "kedro run --params 'ingestion.download=true'" in text
    assert str(tmp_path) in text


# ---------------------------------------------------------------------- download


def test_only_missing_files_are_downloaded_and_a_second_call_fetches_nothing(
    vision: tuple[VisionState, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, base = vision
    specs = [kline("2024-01-01"), kline("2024-01-02"), kline("2024-01-03")]
    payloads = {s: publish(state, s) for s in specs}
    root = tmp_path / "vision"
    caplog.set_level(logging.INFO, logger="ares_kedro.market.download")

    first = download_archives(specs, root, base, **FAST)

    assert sorted(first.downloaded) == sorted(s.file_name() for s in specs)
    assert first.bytes_downloaded == sum(len(p) for p in payloads.values())
    for spec, payload in payloads.items():
        final = spec.local_path(root)
        assert final.read_bytes() == payload
        assert verify_checksum(final) is True  # .CHECKSUM stored beside the zip
    assert sum("Downloaded BTCUSDT-1h-2024-01-0" in r.message for r in caplog.records) == 3

    requests_before = len(state.requests)
    second = download_archives(specs, root, base, **FAST)

    assert second.downloaded == [] and second.bytes_downloaded == 0
    assert sorted(second.already_present) == sorted(s.file_name() for s in specs)
    assert len(state.requests) == requests_before


def test_monthly_file_on_disk_means_its_days_are_not_downloaded(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    root = tmp_path / "vision"
    (root / "flat").mkdir(parents=True)
    (root / "flat" / "BTCUSDT-1h-2024-01.zip").write_bytes(stable_zip_bytes("x.csv", b"1\n"))
    wanted = [kline("2024-01-30"), kline("2024-01-31"), kline("2024-02-01")]
    for spec in wanted:
        publish(state, spec)

    report = download_archives(wanted, root, base, **FAST)

    assert report.downloaded == ["BTCUSDT-1h-2024-02-01.zip"]
    assert report.already_present == ["BTCUSDT-1h-2024-01-30.zip", "BTCUSDT-1h-2024-01-31.zip"]
    assert {p for p, _ in state.requests} == {
        url_path(kline("2024-02-01")),
        url_path(kline("2024-02-01")) + ".CHECKSUM",
    }


def test_interrupted_download_resumes_with_a_range_request(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    spec = kline("2024-01")
    payload = publish(state, spec, rows=2000)
    root = tmp_path / "vision"
    final = spec.local_path(root)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True)
    half = len(payload) // 2
    part.write_bytes(payload[:half])  # left over by an interrupted run

    report = download_archives([spec], root, base, **FAST)

    assert report.downloaded == [spec.file_name()]
    assert state.hits(url_path(spec)) == [f"bytes={half}-"]
    assert report.bytes_downloaded == len(payload) - half
    assert sha256_of(final) == hashlib.sha256(payload).hexdigest()
    assert not part.exists()


def test_connection_dropped_mid_body_is_resumed_on_retry(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    spec = kline("2024-01")
    payload = publish(state, spec, rows=2000)
    state.truncate[url_path(spec)] = 1
    root = tmp_path / "vision"

    report = download_archives([spec], root, base, **FAST)

    assert report.downloaded == [spec.file_name()] and report.failed == {}
    first, second = state.hits(url_path(spec))
    assert first is None and second == f"bytes={len(payload) // 2}-"
    assert spec.local_path(root).read_bytes() == payload


def test_complete_part_answered_with_416_is_verified_and_kept(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    spec = kline("2024-01-07")
    payload = publish(state, spec)
    root = tmp_path / "vision"
    final = spec.local_path(root)
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(payload)

    report = download_archives([spec], root, base, **FAST)

    assert report.downloaded == [spec.file_name()] and report.bytes_downloaded == 0
    assert final.read_bytes() == payload


def test_server_ignoring_range_restarts_the_part_from_zero(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    state.ignore_range = True
    spec = kline("2024-01-08")
    payload = publish(state, spec)
    root = tmp_path / "vision"
    final = spec.local_path(root)
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(b"stale bytes from another file")

    report = download_archives([spec], root, base, **FAST)

    assert report.downloaded == [spec.file_name()]
    assert final.read_bytes() == payload


def test_transient_server_error_is_retried_and_succeeds(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    spec = kline("2024-01-02")
    payload = publish(state, spec)
    state.fail_500[url_path(spec)] = 2

    report = download_archives([spec], tmp_path / "vision", base, retries=3, **FAST)

    assert report.downloaded == [spec.file_name()] and report.failed == {}
    assert len(state.hits(url_path(spec))) == 3
    assert spec.local_path(tmp_path / "vision").read_bytes() == payload


def test_unpublished_file_is_reported_without_retry(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    published, absent = kline("2024-01-02"), kline("2024-01-03")
    publish(state, published)

    report = download_archives([published, absent], tmp_path / "vision", base, **FAST)

    assert report.downloaded == [published.file_name()]
    assert report.not_published == [absent.file_name()] and report.failed == {}
    assert len(state.hits(url_path(absent))) == 1
    assert list(absent.local_path(tmp_path / "vision").parent.glob("*.part")) == []


def test_corrupted_body_is_caught_by_the_checksum_and_retried(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    spec = kline("2024-01-04")
    payload = publish(state, spec)
    state.corrupt[url_path(spec)] = 1
    root = tmp_path / "vision"

    report = download_archives([spec], root, base, **FAST)

    assert report.downloaded == [spec.file_name()]
    assert len(state.hits(url_path(spec))) == 2
    assert spec.local_path(root).read_bytes() == payload


def test_persistent_failures_are_reported_without_final_files_or_losing_others(
    vision: tuple[VisionState, str], tmp_path: Path
) -> None:
    state, base = vision
    corrupted, broken, good = kline("2024-01-04"), kline("2024-01-05"), kline("2024-01-06")
    for spec in (corrupted, broken, good):
        publish(state, spec)
    state.corrupt[url_path(corrupted)] = 99
    state.fail_500[url_path(broken)] = 99
    root = tmp_path / "vision"

    report = download_archives([corrupted, broken, good], root, base, retries=2, **FAST)

    assert report.downloaded == [good.file_name()]
    assert set(report.failed) == {corrupted.file_name(), broken.file_name()}
    assert "SHA-256" in report.failed[corrupted.file_name()]
    assert "500" in report.failed[broken.file_name()]
    assert len(state.hits(url_path(corrupted))) == 3  # first try + 2 retries
    folder = good.local_path(root).parent
    assert sorted(p.name for p in folder.iterdir()) == [
        good.file_name(),
        good.file_name() + ".CHECKSUM",
    ]  # no final file, part or checksum left for the failures
