"""Binance Vision archive files: names, inventory of a folder, checksums, opening.

Binance Vision (https://data.binance.vision) publishes one file per symbol, data kind
and period, named ``<SYMBOL>-<kind>-<YYYY-MM>[-DD].zip`` with a ``.CHECKSUM`` companion
(``<sha256>  <file name>``). ``kind`` is a kline interval (``1m``, ``1h`` ...),
``aggTrades``, ``fundingRate`` or ``metrics``. Files may sit anywhere below the folder
(the official tree ``data/spot/monthly/klines/BTCUSDT/1h/`` or flat) and may be
unzipped ``.csv`` files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from isal import isal_zlib

from ares_kedro.market.errors import ChecksumMismatchError, MarketDataError
from ares_kedro.market.timeframes import INTERVAL_US

logger = logging.getLogger(__name__)

KLINES = "klines"
AGG_TRADES = "aggTrades"
FUNDING_RATE = "fundingRate"
METRICS = "metrics"
DATA_KINDS = (KLINES, AGG_TRADES, FUNDING_RATE, METRICS)

_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>aggTrades|fundingRate|metrics|"
    + "|".join(re.escape(i) for i in INTERVAL_US)
    + r")-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?P<ext>zip|csv)$"
)

_REDOWNLOAD = "delete the file and download it again (ingestion.download: true), or remove it"


@dataclass(frozen=True)
class ArchiveFile:
    """One Binance Vision file on disk and what its name says it holds."""

    path: Path
    symbol: str
    kind: str  # one of DATA_KINDS
    interval: str | None  # kline interval, None for other kinds
    granularity: str  # "monthly" or "daily"
    period_start: pd.Timestamp  # UTC, inclusive
    period_end: pd.Timestamp  # UTC, exclusive

    @property
    def name(self) -> str:
        return self.path.name

    def covers(self, other: ArchiveFile) -> bool:
        """True when this file's period contains the other's (same symbol and kind)."""
        return (
            self.kind == other.kind
            and self.interval == other.interval
            and self.period_start <= other.period_start
            and other.period_end <= self.period_end
        )


def parse_archive_name(path: str | Path) -> ArchiveFile | None:
    """Read symbol, kind and period from a Vision file name; None if it is not one."""
    path = Path(path)
    match = _NAME.match(path.name)
    if match is None:
        return None
    kind_token = match["kind"]
    is_kline = kind_token in INTERVAL_US
    period = match["period"]
    start = pd.Timestamp(period if len(period) > 7 else f"{period}-01", tz="UTC")
    if len(period) > 7:
        granularity, end = "daily", start + pd.Timedelta(days=1)
    else:
        granularity, end = "monthly", start + pd.offsets.MonthBegin(1)
    return ArchiveFile(
        path=path,
        symbol=match["symbol"],
        kind=KLINES if is_kline else kind_token,
        interval=kind_token if is_kline else None,
        granularity=granularity,
        period_start=start,
        period_end=end,
    )


@dataclass
class Inventory:
    """The usable archives of one symbol in a folder, per kind, oldest first."""

    files: dict[str, list[ArchiveFile]]
    superseded: list[ArchiveFile]  # daily files whose period a monthly file covers
    other_symbols: int  # Vision files of other symbols, ignored
    duplicates: list[dict[str, str]] = field(default_factory=list)  # identical copies dropped

    def of(self, kind: str, interval: str | None = None) -> list[ArchiveFile]:
        return [f for f in self.files.get(kind, []) if interval is None or f.interval == interval]

    def kline_intervals(self) -> list[str]:
        return sorted({f.interval for f in self.of(KLINES)}, key=INTERVAL_US.__getitem__)


def inventory_archives(root: str | Path, symbol: str) -> Inventory:
    """List the Vision files of ``symbol`` below ``root``.

    Two files of the same name (a zipped and an unzipped copy, or the same file in two
    folders) must hold the same CSV content: one is kept (the zip, else the first path)
    and the other is counted in ``duplicates``; copies that differ are an error naming
    both, since picking one would decide silently which data is true. A daily file whose
    day is inside a monthly file of the same kind is superseded (listed, not read), so
    that overlapping downloads never count a trade twice.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Market data folder {root} does not exist. Put Binance Vision files there, "
            "set ingestion.paths.binance_vision to the folder that has them, "
            "or set ingestion.download: true to fetch them."
        )
    by_name: dict[str, ArchiveFile] = {}
    duplicates: list[dict[str, str]] = []
    other_symbols = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parsed = parse_archive_name(path)
        if parsed is None:
            continue
        if parsed.symbol != symbol:
            other_symbols += 1
            continue
        stem = path.name.rsplit(".", 1)[0]
        if stem in by_name:
            earlier = by_name[stem]
            if content_digest(earlier.path) != content_digest(path):
                raise MarketDataError(
                    f"{earlier.path} and {path}", "two copies of the same period hold "
                    "different data", "keep the right one (compare them, or download the "
                    "period again) and remove the other")
            kept, dropped = ((earlier, parsed) if earlier.path.suffix == ".zip"
                             or parsed.path.suffix != ".zip" else (parsed, earlier))
            duplicates.append({"kept": str(kept.path), "dropped": str(dropped.path)})
            logger.info("%s is an identical copy of %s: read once", dropped.path, kept.path)
            by_name[stem] = kept
            continue
        by_name[stem] = parsed
    files: dict[str, list[ArchiveFile]] = {}
    superseded: list[ArchiveFile] = []
    for kind in DATA_KINDS:
        of_kind = sorted(
            (f for f in by_name.values() if f.kind == kind),
            key=lambda f: (f.interval or "", f.period_start, f.granularity != "monthly"),
        )
        monthly = [f for f in of_kind if f.granularity == "monthly"]
        kept = []
        for f in of_kind:
            if f.granularity == "daily" and any(m.covers(f) for m in monthly):
                superseded.append(f)
            else:
                kept.append(f)
        if kept:
            files[kind] = sorted(kept, key=lambda f: (f.interval or "", f.period_start))
    return Inventory(files=files, superseded=superseded, other_symbols=other_symbols,
                     duplicates=duplicates)


def content_digest(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a Vision file's CSV content (a zip's member, or the CSV itself)."""
    digest = hashlib.sha256()
    with open_archive(path) as handle:
        try:
            while chunk := handle.read(chunk_bytes):
                digest.update(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise MarketDataError(path, f"unreadable zip archive ({error})", _REDOWNLOAD) from error
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".CHECKSUM")


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path) -> bool | None:
    """Check ``path`` against its ``.CHECKSUM`` file.

    Returns True when it matches, None when there is no checksum file, and raises
    ChecksumMismatchError when it differs (a truncated or corrupted download).
    """
    companion = checksum_path(path)
    if not companion.exists():
        return None
    text = companion.read_text(encoding="ascii", errors="replace").split()
    if not text or not re.fullmatch(r"[0-9a-fA-F]{64}", text[0]):
        raise MarketDataError(
            companion, "not a Binance checksum file ('<sha256>  <name>')", _REDOWNLOAD
        )
    expected = text[0].lower()
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatchError(
            path,
            f"SHA-256 {actual[:16]}... differs from {companion.name} ({expected[:16]}...)",
            _REDOWNLOAD,
        )
    return True


class _InflatedMember(io.RawIOBase):
    """The CSV inside a one-member zip, inflated in chunks with ISA-L (about twice as fast
    as zlib), its CRC-32 and size checked at the end like ``zipfile`` does."""

    _LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # zip local file header, 30 bytes

    def __init__(self, path: Path, member: zipfile.ZipInfo, chunk_bytes: int = 256 << 10):
        super().__init__()
        self._path, self._member, self._chunk = path, member, chunk_bytes
        self._file = path.open("rb")
        self._file.seek(member.header_offset)
        header = self._file.read(self._LOCAL_HEADER.size)
        if len(header) != self._LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            self._file.close()
            raise MarketDataError(path, "unreadable zip archive (bad local header)", _REDOWNLOAD)
        name_length, extra_length = self._LOCAL_HEADER.unpack(header)[-2:]
        self._file.seek(name_length + extra_length, io.SEEK_CUR)
        self._left = member.compress_size
        self._inflater = isal_zlib.decompressobj(-15)  # raw deflate, as in zip
        self._crc = self._size = 0
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_piece(self) -> bytes:
        if self._left <= 0:
            return b""
        compressed = self._file.read(min(self._chunk, self._left))
        if not compressed:
            raise MarketDataError(self._path, "unreadable zip archive (truncated)", _REDOWNLOAD)
        self._left -= len(compressed)
        try:
            piece = self._inflater.decompress(compressed)
            if self._left <= 0:
                piece += self._inflater.flush()
        except (isal_zlib.error, zlib.error) as error:
            raise MarketDataError(self._path, f"unreadable zip archive ({error})",
                                  _REDOWNLOAD) from error
        self._crc = isal_zlib.crc32(piece, self._crc)
        self._size += len(piece)
        if self._left <= 0 and (self._crc != self._member.CRC
                                or self._size != self._member.file_size):
            raise MarketDataError(self._path, "unreadable zip archive (CRC or size mismatch)",
                                  _REDOWNLOAD)
        return piece

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all when negative), joined from whole pieces."""
        parts, have = [], 0
        while not self._done and (size < 0 or have < size):
            piece = self._pending or self._next_piece()
            self._pending = b""
            if not piece:
                self._done = True
                break
            if size >= 0 and have + len(piece) > size:
                cut = size - have
                piece, self._pending = piece[:cut], piece[cut:]
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_archive(path: Path) -> BinaryIO:
    """Open a Vision file for reading its CSV bytes, zipped or not.

    Raises MarketDataError for a zip that cannot be read or holds no single CSV.
    """
    if path.suffix != ".zip":
        return path.open("rb")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise MarketDataError(path, f"unreadable zip archive ({error})", _REDOWNLOAD) from error
    if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
        names = ", ".join(m.filename for m in members) or "nothing"
        raise MarketDataError(
            path, f"a Vision archive holds exactly one CSV file, this one holds {names}", _REDOWNLOAD
        )
    member = members[0]
    if member.compress_type == zipfile.ZIP_DEFLATED and not member.flag_bits & 0x1:
        return _InflatedMember(path, member)
    try:  # stored or other methods: the standard library
        return zipfile.ZipFile(path).open(member)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
        raise MarketDataError(path, f"unreadable zip archive ({error})", _REDOWNLOAD) from error


def read_archive_bytes(path: Path) -> bytes:
    """The whole CSV content of a Vision file (for the small kinds: klines, funding)."""
    with open_archive(path) as handle:
        try:
            return handle.read()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise MarketDataError(path, f"unreadable zip archive ({error})", _REDOWNLOAD) from error


def first_line(data: bytes) -> str:
    """The first line of CSV bytes, decoded, without its newline."""
    end = data.find(b"\n")
    return data[: end if end >= 0 else len(data)].decode("utf-8", errors="replace").strip()


BYTE_ORDER_MARK = "\ufeff"


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_checksum(path: Path) -> Path:
    """Write ``<sha256>  <name>`` beside ``path``, as Binance does."""
    companion = checksum_path(path)
    companion.write_text(f"{sha256_of(path)}  {path.name}\n", encoding="ascii")
    return companion


def stable_zip_bytes(member_name: str, payload: bytes) -> bytes:
    """Zip ``payload`` as one member with a fixed timestamp, so equal input gives equal bytes."""
    buffer = io.BytesIO()
    info = zipfile.ZipInfo(member_name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, payload, compresslevel=1)
    return buffer.getvalue()
