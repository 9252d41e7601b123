"""Benchmark inputs in real Binance Vision layout, generated with numpy and cached on disk.

Each data set lives in ``$ARES_BENCH_DIR/<kind>-<digest of its parameters>``; a folder
with a ``manifest.json`` of the same parameters is reused, anything else is regenerated.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv

from ares_kedro.market.archives import stable_zip_bytes, write_checksum

GENERATOR_VERSION = 2
DAY_MS = 86_400_000
MINUTE_MS = 60_000


def bench_dir() -> Path:
    """Root folder of generated benchmark data (``ARES_BENCH_DIR``, default /tmp/ares_bench)."""
    return Path(os.environ.get("ARES_BENCH_DIR", "/tmp/ares_bench"))


@dataclass(frozen=True)
class KlineSpec:
    """Spot 1m klines, one monthly zip per month from January of ``year``."""

    symbol: str = "BTCUSDT"
    year: int = 2023
    months: int = 12
    seed: int = 7

    kind = "klines"


@dataclass(frozen=True)
class TradeSpec:
    """USDT-M aggTrades, one daily zip per day from ``first_day``."""

    symbol: str = "BTCUSDT"
    first_day: str = "2023-03-01"
    days: int = 10
    trades_per_day: int = 2_000_000
    seed: int = 11

    kind = "aggTrades"


@dataclass(frozen=True)
class Dataset:
    """A generated folder of Vision files and what it holds."""

    root: Path
    files: int
    rows: int
    zip_bytes: int
    csv_bytes: int


def _csv(table: pa.Table, header: bool) -> bytes:
    """CSV bytes as Binance writes them: unquoted, optional unquoted header line."""
    buffer = io.BytesIO()
    if header:
        buffer.write((",".join(table.column_names) + "\n").encode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(table, buffer, write_options=options)
    return buffer.getvalue()


def _write_zip(folder: Path, name: str, payload: bytes) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.zip"
    path.write_bytes(stable_zip_bytes(f"{name}.csv", payload))
    write_checksum(path)
    return path.stat().st_size


def _write_klines(spec: KlineSpec, root: Path) -> tuple[int, int, int, int]:
    """Valid OHLCV random walk, no header, ms timestamps, 12 columns (spot layout)."""
    rng = np.random.default_rng(spec.seed)
    edges = pd.date_range(f"{spec.year}-01-01", periods=spec.months + 1, freq="MS", tz="UTC")
    edges_ms = edges.as_unit("ms").asi8
    n = int((edges_ms[-1] - edges_ms[0]) // MINUTE_MS)
    open_time = edges_ms[0] + np.arange(n, dtype=np.int64) * MINUTE_MS
    close = np.round(16_500.0 * np.exp(np.cumsum(rng.normal(0.0, 8e-4, n))), 2)
    open_ = np.concatenate(([16_500.0], close[:-1]))
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.round(body_high * (1 + np.abs(rng.normal(0, 4e-4, n))), 2), body_high)
    low = np.minimum(np.round(body_low * (1 - np.abs(rng.normal(0, 4e-4, n))), 2), body_low)
    mid = (high + low) / 2
    volume = np.round(rng.lognormal(np.log(20.0), 0.8, n), 5)
    taker = np.round(volume * rng.uniform(0.3, 0.7, n), 5)
    table = pa.table(
        {
            "open_time": open_time,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "close_time": open_time + MINUTE_MS - 1,
            "quote_volume": np.round(volume * mid, 4),
            "count": rng.poisson(400, n).astype(np.int64) + 1,
            "taker_buy_volume": taker,
            "taker_buy_quote_volume": np.round(taker * mid, 4),
            "ignore": np.zeros(n, dtype=np.int64),
        }
    )
    folder = root / f"data/spot/monthly/klines/{spec.symbol}/1m"
    zip_bytes = csv_bytes = 0
    bounds = np.searchsorted(open_time, edges_ms)
    for month, lo, hi in zip(edges[:-1], bounds[:-1], bounds[1:], strict=True):
        payload = _csv(table.slice(lo, hi - lo), header=False)
        csv_bytes += len(payload)
        zip_bytes += _write_zip(folder, f"{spec.symbol}-1m-{month:%Y-%m}", payload)
    return spec.months, n, zip_bytes, csv_bytes


def _write_trades(spec: TradeSpec, root: Path) -> tuple[int, int, int, int]:
    """Sorted ms times, increasing ids, 0.1 price ticks near 30000, lognormal quantities."""
    rng = np.random.default_rng(spec.seed)
    folder = root / f"data/futures/um/daily/aggTrades/{spec.symbol}"
    first = pd.Timestamp(spec.first_day, tz="UTC")
    n = spec.trades_per_day
    next_agg, next_trade, tick = 1_500_000_000, 3_000_000_000, 300_000
    zip_bytes = csv_bytes = 0
    for offset in range(spec.days):
        day = first + pd.Timedelta(days=offset)
        day_ms = day.value // 1_000_000
        moves = rng.integers(-1, 2, n) * (rng.random(n) < 0.4)
        ticks = tick + np.cumsum(moves)
        tick = int(ticks[-1])
        fills = rng.geometric(0.6, n).astype(np.int64)
        last_id = next_trade + np.cumsum(fills) - 1
        quantity = np.maximum(1, np.rint(rng.lognormal(np.log(50.0), 1.6, n))) / 1000
        table = pa.table(
            {
                "agg_trade_id": next_agg + np.arange(n, dtype=np.int64),
                "price": ticks / 10,
                "quantity": quantity,
                "first_trade_id": last_id - fills + 1,
                "last_trade_id": last_id,
                "transact_time": np.sort(rng.integers(day_ms, day_ms + DAY_MS, n)),
                "is_buyer_maker": rng.random(n) < 0.5,
            }
        )
        next_agg, next_trade = next_agg + n, int(last_id[-1]) + 1
        payload = _csv(table, header=True)
        csv_bytes += len(payload)
        zip_bytes += _write_zip(folder, f"{spec.symbol}-aggTrades-{day:%Y-%m-%d}", payload)
        del table, payload
    return spec.days, spec.days * n, zip_bytes, csv_bytes


def ensure(spec: KlineSpec | TradeSpec, base: Path | None = None) -> tuple[Dataset, bool]:
    """The data set of ``spec``, generated unless cached; also whether it was generated now."""
    params = {"kind": spec.kind, "version": GENERATOR_VERSION, **asdict(spec)}
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    base = base or bench_dir()
    root = base / f"{spec.kind}-{digest}"
    manifest = root / "manifest.json"
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        if stored.get("params") == params:
            return Dataset(root=root, **stored["stats"]), False
    shutil.rmtree(root, ignore_errors=True)
    staging = base / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    writer = _write_klines if isinstance(spec, KlineSpec) else _write_trades
    files, rows, zip_bytes, csv_bytes = writer(spec, staging)
    stats = {"files": files, "rows": rows, "zip_bytes": zip_bytes, "csv_bytes": csv_bytes}
    (staging / "manifest.json").write_text(json.dumps({"params": params, "stats": stats}))
    staging.rename(root)
    return Dataset(root=root, **stats), True
