"""Download Binance Vision archives: plan, find what is missing, fetch it safely.

Binance Vision (https://data.binance.vision) publishes one zip per symbol, data kind and
period at ``{base}/data/{spot|futures/um}/{monthly|daily}/{kind}/{SYMBOL}/[{interval}/]``
with a ``.CHECKSUM`` companion. This module

* plans which archives cover a period (monthly files for complete past months, daily
  files for the rest, nothing for today, whose file is not published yet),
* finds the ones not on disk yet (any Vision file below the data folder counts, so a
  monthly file satisfies the daily files inside it),
* downloads them incrementally, in parallel, resumably (``.part`` files and HTTP Range
  requests) and atomically (renamed to the final name only after the SHA-256 matches).

Only the standard library is used for HTTP (``urllib.request``).
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ares_kedro.market.archives import (
    AGG_TRADES,
    DATA_KINDS,
    FUNDING_RATE,
    KLINES,
    METRICS,
    ArchiveFile,
    checksum_path,
    inventory_archives,
    parse_archive_name,
    verify_checksum,
)
from ares_kedro.market.errors import MarketDataError
from ares_kedro.market.timeframes import INTERVAL_US

logger = logging.getLogger(__name__)

BINANCE_VISION_URL = "https://data.binance.vision"
MONTHLY = "monthly"
DAILY = "daily"
GRANULARITIES = (MONTHLY, DAILY)

# Our market names -> Binance Vision folder below ``data/``.
MARKET_DIRS: dict[str, str] = {"spot": "spot", "um_futures": "futures/um"}
# What Binance Vision publishes, per kind: markets and granularities.
KIND_MARKETS: dict[str, tuple[str, ...]] = {
    KLINES: ("spot", "um_futures"),
    AGG_TRADES: ("spot", "um_futures"),
    FUNDING_RATE: ("um_futures",),
    METRICS: ("um_futures",),
}
KIND_GRANULARITIES: dict[str, tuple[str, ...]] = {
    KLINES: (MONTHLY, DAILY),
    AGG_TRADES: (MONTHLY, DAILY),
    FUNDING_RATE: (MONTHLY,),
    METRICS: (DAILY,),
}

PART_SUFFIX = ".part"
CHUNK_BYTES = 1 << 20  # 1 MiB read/write chunk
USER_AGENT = "ares-kedro (Binance Vision downloader)"
DOWNLOAD_SWITCH = (
    "set ingestion.download: true (kedro run --params 'ingestion.download=true') "
    "or download the files into"
)

_BYTES_PER_MB = 1e6
_HTTP_NOT_FOUND = 404
_HTTP_RANGE_NOT_SATISFIABLE = 416
_HTTP_PARTIAL = 206
_HTTP_RETRYABLE_4XX = (408, 425, 429)  # timeout, too early, too many requests
_HTTP_SERVER_ERROR = 500
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ArchiveSpec:
    """One Binance Vision archive we want (not necessarily on disk)."""

    market: str  # "spot" | "um_futures"
    kind: str  # archives.KLINES | AGG_TRADES | FUNDING_RATE | METRICS
    symbol: str
    interval: str | None  # kline interval for KLINES, else None
    granularity: str  # "monthly" | "daily"
    period: str  # "2024-01" (monthly) or "2024-01-31" (daily)

    def __post_init__(self) -> None:
        if self.market not in MARKET_DIRS:
            raise ValueError(f"Unknown market {self.market!r}; use one of {', '.join(MARKET_DIRS)}")
        if self.kind not in DATA_KINDS:
            raise ValueError(f"Unknown data kind {self.kind!r}; use one of {', '.join(DATA_KINDS)}")
        if (self.kind == KLINES) != (self.interval is not None):
            raise ValueError(
                f"Klines need an interval and other kinds none; got {self.kind} with {self.interval!r}"
            )
        if self.interval is not None and self.interval not in INTERVAL_US:
            raise ValueError(
                f"Unknown kline interval {self.interval!r}; use one of {', '.join(INTERVAL_US)}"
            )
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"Unknown granularity {self.granularity!r}; use monthly or daily")
        if parse_archive_name(self.file_name()) is None:
            raise ValueError(f"Not a Binance Vision archive name: {self.file_name()!r}")
        if self.archive().granularity != self.granularity:
            raise ValueError(
                f"Period {self.period!r} does not match granularity {self.granularity}"
            )

    @property
    def kind_token(self) -> str:
        """The kind as spelled in file names: the interval for klines, else the kind."""
        return self.interval if self.kind == KLINES else self.kind

    def file_name(self) -> str:
        """``<SYMBOL>-<kind token>-<period>.zip``, as Binance names it."""
        return f"{self.symbol}-{self.kind_token}-{self.period}.zip"

    def relative_path(self) -> str:
        """Path below the Vision root, ``data/...``, with forward slashes."""
        parts = ["data", MARKET_DIRS[self.market], self.granularity, self.kind, self.symbol]
        if self.interval is not None:
            parts.append(self.interval)
        parts.append(self.file_name())
        return "/".join(parts)

    def url(self, base_url: str) -> str:
        """Download address of the archive on ``base_url`` (e.g. data.binance.vision)."""
        return f"{base_url.rstrip('/')}/{self.relative_path()}"

    def local_path(self, root: Path) -> Path:
        """Where the download lands: ``root / data / <same path as in the URL>``."""
        return Path(root).joinpath(*self.relative_path().split("/"))

    def archive(self) -> ArchiveFile:
        """The spec as an ArchiveFile (period start/end in UTC), for coverage checks."""
        parsed = parse_archive_name(self.file_name())
        assert parsed is not None  # checked in __post_init__
        return parsed


def _utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in UTC; naive timestamps are taken as UTC."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _months(first_day: pd.Timestamp, end_day: pd.Timestamp) -> list[pd.Timestamp]:
    """Starts of the calendar months overlapping [first_day, end_day)."""
    month = first_day.replace(day=1)
    months = []
    while month < end_day:
        months.append(month)
        month = month + pd.offsets.MonthBegin(1)
    return months


def plan_archives(
    symbol: str,
    market: str,
    kinds: Iterable[str],
    interval: str | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    today: pd.Timestamp,
) -> list[ArchiveSpec]:
    """Archives that cover [start, end) for ``symbol`` on ``market``, oldest first per kind.

    Monthly archives for every calendar month inside [start, end) that ended before
    ``today``'s month; daily archives for the other days up to min(end, today), today
    excluded (its file is published tomorrow). Kinds Binance does not publish for a market
    are skipped (fundingRate and metrics are futures-only); metrics exist only daily, and
    fundingRate only monthly (so the days of the current month have none). ``interval``
    is the kline interval (e.g. ``"1h"``), needed when ``kinds`` has klines. Timestamps are
    UTC (naive ones are taken as UTC).
    """
    if market not in MARKET_DIRS:
        raise ValueError(f"Unknown market {market!r}; use one of {', '.join(MARKET_DIRS)}")
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in DATA_KINDS]
    if unknown:
        raise ValueError(f"Unknown data kinds {unknown}; use some of {', '.join(DATA_KINDS)}")
    if KLINES in kinds and interval is None:
        raise ValueError("Klines need a bar interval (e.g. '1h')")
    one_day = pd.Timedelta(days=1)
    today_day = _utc(today).floor("D")
    this_month = today_day.replace(day=1)
    first_day = _utc(start).floor("D")
    end_day = min(_utc(end), today_day).ceil("D")  # a partly wanted day needs its file
    if first_day >= end_day:
        return []

    # Complete months of the range that are over: published as one monthly file.
    complete = [
        m
        for m in _months(first_day, end_day)
        if m >= first_day and m + pd.offsets.MonthBegin(1) <= min(end_day, this_month)
    ]
    in_complete = {m.strftime("%Y-%m") for m in complete}
    days = pd.date_range(first_day, end_day - one_day, freq="D")

    specs: list[ArchiveSpec] = []
    for kind in kinds:
        if market not in KIND_MARKETS[kind]:
            logger.debug("Binance Vision has no %s for %s; skipped", kind, market)
            continue
        granularities = KIND_GRANULARITIES[kind]
        if granularities == (DAILY,):
            periods = [(DAILY, d.strftime("%Y-%m-%d")) for d in days]
        elif granularities == (MONTHLY,):
            # Partly wanted past months too: there is no daily file to use instead.
            months = [m for m in _months(first_day, end_day) if m < this_month]
            periods = [(MONTHLY, m.strftime("%Y-%m")) for m in months]
        else:
            periods = [(MONTHLY, m.strftime("%Y-%m")) for m in complete]
            periods += [
                (DAILY, d.strftime("%Y-%m-%d"))
                for d in days
                if d.strftime("%Y-%m") not in in_complete
            ]
        kind_interval = interval if kind == KLINES else None
        specs += [
            ArchiveSpec(market, kind, symbol, kind_interval, g, p)
            for g, p in sorted(periods, key=lambda gp: gp[1])
        ]
    return specs


# ------------------------------------------------------------------- what is missing


def _market_of(path: Path) -> str | None:
    """Our market name for a file inside a Vision tree (``.../data/spot/...``), else None."""
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part != "data":
            continue
        following = "/".join(parts[i + 1 : i + 3])
        for market, folder in MARKET_DIRS.items():
            if following == folder or following.startswith(folder + "/"):
                return market
        if parts[i + 1] == "futures":
            return "other"  # e.g. futures/cm: not one of ours
    return None


def missing_archives(specs: Iterable[ArchiveSpec], root: Path) -> list[ArchiveSpec]:
    """The specs with no usable file below ``root``, in the given order.

    Any Vision file of the symbol below ``root`` counts (zipped or plain csv, in the
    Vision tree or flat), and a monthly file satisfies every daily spec inside its month.
    Files inside a Vision tree of another market (``data/spot`` vs ``data/futures/um``) do
    not count; flat files, whose market is unknown, count for any market. ``.part``
    files never count.
    """
    specs = list(dict.fromkeys(specs))
    root = Path(root)
    if not root.is_dir():
        return specs
    on_disk: dict[str, list[tuple[ArchiveFile, str | None]]] = {}
    for symbol in dict.fromkeys(s.symbol for s in specs):
        inventory = inventory_archives(root, symbol)
        files = [f for kind_files in inventory.files.values() for f in kind_files]
        on_disk[symbol] = [
            (f, _market_of(f.path.relative_to(root))) for f in files + inventory.superseded
        ]
    missing = []
    for spec in specs:
        wanted = spec.archive()
        if not any(
            f.covers(wanted) and market in (None, spec.market) for f, market in on_disk[spec.symbol]
        ):
            missing.append(spec)
    return missing


def missing_data_message(
    missing: list[ArchiveSpec], root: Path, base_url: str = BINANCE_VISION_URL, limit: int = 10
) -> str:
    """Explain, offline, which archives are missing and how to get them."""
    if not missing:
        return f"All Binance Vision archives for the requested period are in {root}."
    lines = [
        f"{len(missing)} Binance Vision archive(s) needed for the requested period "
        f"are not in {root} (download is off):"
    ]
    lines += [f"  - {spec.file_name()}  {spec.url(base_url)}" for spec in missing[:limit]]
    if len(missing) > limit:
        lines.append(f"  ... and {len(missing) - limit} more")
    lines.append(
        f"To get them, {DOWNLOAD_SWITCH} {root} "
        f"(any layout below it, e.g. {missing[0].local_path(root)})."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------ download


@dataclass
class DownloadReport:
    """What download_archives did, by file name."""

    downloaded: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    not_published: list[str] = field(default_factory=list)  # 404 on the server
    failed: dict[str, str] = field(default_factory=dict)  # file name -> last error text
    bytes_downloaded: int = 0  # bytes received in this run (resumed parts not counted twice)

    @property
    def ok(self) -> bool:
        """True when nothing failed (not-published files are not failures)."""
        return not self.failed


class _NotPublished(Exception):
    """The server answered 404: the archive does not exist (yet)."""


class _Transient(Exception):
    """A failure worth retrying: network error, 5xx, short body, bad checksum."""


class _Permanent(Exception):
    """A failure retrying will not fix (e.g. 403, no checksum published)."""


@dataclass
class _Outcome:
    name: str
    status: str  # "downloaded" | "not_published" | "failed"
    bytes_received: int = 0
    error: str = ""


def _http_error(error: urllib.error.HTTPError, url: str) -> Exception:
    """Classify an HTTP error answer."""
    if error.code == _HTTP_NOT_FOUND:
        return _NotPublished(url)
    text = f"HTTP {error.code} {error.reason} for {url}"
    if error.code >= _HTTP_SERVER_ERROR or error.code in _HTTP_RETRYABLE_4XX:
        return _Transient(text)
    return _Permanent(text)


def _open(
    opener: urllib.request.OpenerDirector, url: str, timeout: float, headers: dict[str, str]
) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    return opener.open(request, timeout=timeout)


def _fetch_checksum(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> bytes:
    """The ``.CHECKSUM`` companion of ``url`` (``<sha256>  <name>``)."""
    checksum_url = url + ".CHECKSUM"
    try:
        with _open(opener, checksum_url, timeout, {}) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code == _HTTP_NOT_FOUND:
            raise _Permanent(
                f"the server has no {checksum_url}; download with verify_checksums=False "
                "to accept the archive unverified"
            ) from error
        raise _http_error(error, checksum_url) from error


def _fetch_into_part(
    opener: urllib.request.OpenerDirector, url: str, part: Path, timeout: float
) -> int:
    """Download ``url`` into ``part``, resuming what is already there; bytes received.

    Sends ``Range: bytes=<size>-`` when ``part`` has data: 206 appends, 200 (server
    ignores ranges) restarts from zero, 416 means the part is already complete. A body
    shorter than announced raises _Transient, keeping what arrived for the next resume.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = _open(opener, url, timeout, headers)
    except urllib.error.HTTPError as error:
        if error.code == _HTTP_RANGE_NOT_SATISFIABLE and have:
            return 0  # nothing after ``have`` bytes: complete (the checksum will tell)
        raise _http_error(error, url) from error
    received = 0
    with response:
        offset = 0
        if response.status == _HTTP_PARTIAL:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            offset = int(match[1]) if match else -1
            if offset != have:
                part.unlink(missing_ok=True)  # start over on the next attempt
                raise _Transient(f"server resumed at byte {offset} instead of {have} for {url}")
        expected = response.headers.get("Content-Length")
        with part.open("r+b" if offset else "wb") as handle:
            handle.seek(offset)
            handle.truncate()
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                received += len(chunk)
    if expected is not None and received < int(expected):
        raise _Transient(f"connection closed after {received} of {expected} bytes of {url}")
    return received


def _download_one(
    spec: ArchiveSpec,
    root: Path,
    base_url: str,
    opener: urllib.request.OpenerDirector,
    retries: int,
    backoff_seconds: float,
    timeout_seconds: float,
    verify_checksums: bool,
) -> _Outcome:
    """Fetch one archive with retries; never raises for download problems."""
    name = spec.file_name()
    url = spec.url(base_url)
    final = spec.local_path(root)
    part = final.with_name(final.name + PART_SUFFIX)
    part_checksum = checksum_path(part)
    final.parent.mkdir(parents=True, exist_ok=True)
    received = 0
    checksum: bytes | None = None
    error_text = ""
    for attempt in range(retries + 1):
        try:
            received += _fetch_into_part(opener, url, part, timeout_seconds)
            if verify_checksums:
                if checksum is None:
                    checksum = _fetch_checksum(opener, url, timeout_seconds)
                part_checksum.write_bytes(checksum)
                try:
                    verify_checksum(part)
                except MarketDataError as error:
                    part.unlink(missing_ok=True)
                    checksum = None  # a garbled checksum file is fetched again too
                    raise _Transient(str(error)) from error
                os.replace(part_checksum, checksum_path(final))
            os.replace(part, final)
            size = final.stat().st_size
            resumed = f", resumed: {received} received" if received < size else ""
            logger.info("Downloaded %s (%d bytes%s)", name, size, resumed)
            return _Outcome(name, "downloaded", received)
        except _NotPublished:
            logger.info("Not published (404): %s", url)
            return _Outcome(name, "not_published", received)
        except _Permanent as error:
            error_text = str(error)
            break
        except (_Transient, urllib.error.URLError, http.client.HTTPException, OSError) as error:
            error_text = f"{type(error).__name__}: {error}"
            if attempt < retries:
                delay = backoff_seconds * 2**attempt
                logger.debug("Retrying %s in %.3g s after %s", name, delay, error_text)
                time.sleep(delay)
        finally:
            part_checksum.unlink(missing_ok=True)
    logger.warning("Failed to download %s: %s", name, error_text)
    return _Outcome(name, "failed", received, error_text)


def download_archives(
    specs: Sequence[ArchiveSpec],
    root: Path,
    base_url: str = BINANCE_VISION_URL,
    max_workers: int = 4,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    timeout_seconds: float = 60.0,
    verify_checksums: bool = True,
) -> DownloadReport:
    """Download the archives of ``specs`` not yet below ``root`` into its Vision tree.

    Incremental (only missing_archives are fetched), parallel (``max_workers`` threads),
    resumable (data goes to ``<file>.part``; a leftover part is continued with an HTTP
    Range request) and atomic (the part is renamed to the final name only after its
    SHA-256 matches the downloaded ``.CHECKSUM``, which is stored beside it). Network
    errors, 5xx answers and checksum mismatches are retried ``retries`` times, waiting
    ``backoff_seconds * 2**attempt`` seconds; ``timeout_seconds`` bounds each connect and
    read. A 404 means not published. Failures are reported, never raised.
    """
    root = Path(root)
    specs = list(dict.fromkeys(specs))
    missing = missing_archives(specs, root)
    missing_set = set(missing)
    report = DownloadReport(already_present=[s.file_name() for s in specs if s not in missing_set])
    if missing:
        logger.info(
            "Downloading %d Binance Vision archive(s) from %s into %s (%d already present)",
            len(missing),
            base_url,
            root,
            len(report.already_present),
        )
    opener = urllib.request.build_opener()

    def task(spec: ArchiveSpec) -> _Outcome:
        try:
            return _download_one(
                spec,
                root,
                base_url,
                opener,
                retries,
                backoff_seconds,
                timeout_seconds,
                verify_checksums,
            )
        except Exception as error:  # one file's bug must not lose the others
            logger.warning("Failed to download %s: %s", spec.file_name(), error)
            return _Outcome(spec.file_name(), "failed", 0, f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        outcomes = list(pool.map(task, missing))
    for outcome in outcomes:
        report.bytes_downloaded += outcome.bytes_received
        if outcome.status == "downloaded":
            report.downloaded.append(outcome.name)
        elif outcome.status == "not_published":
            report.not_published.append(outcome.name)
        else:
            report.failed[outcome.name] = outcome.error
    log = logger.warning if report.failed else logger.info
    log(
        "Binance Vision download: %d downloaded (%.1f MB), %d already present, "
        "%d not published, %d failed",
        len(report.downloaded),
        report.bytes_downloaded / _BYTES_PER_MB,
        len(report.already_present),
        len(report.not_published),
        len(report.failed),
    )
    return report
