"""A seeded synthetic crypto market, written as Binance Vision archives.

So that ``kedro run`` works offline on a fresh machine, and so that later stages can be
tested against known truth, this module generates a market and writes it in the exact
layout of Binance Vision (klines, aggTrades, fundingRate, metrics): it then goes through
the same reader as real data.

The market (``mode: regimes``):
  * regimes as a Markov chain of segments: bull trends, bear trends and ranges; a range
    bounces between support and resistance (its path is folded into a band), and bars
    near the band's edges are SR_ZONE_ACTION; rare jumps with heavy volume are
    HIGH_IMPACT_CANDLE;
  * fat-tailed shocks (Student t) and clustered volatility (AR(1) log-volatility);
  * taker order flow: each bar has a flow imbalance (AR(1)) that sets the share of
    taker-buy trades;
  * three planted edges (``edges``), each off at strength 0, each a known drift added to
    a later bar's return on top of the regime path (:class:`PlantedEdges`):
    ``order_flow`` (the imbalance of bar t moves bar t + ``lead_bars``: visible in the
    trades' taker sides), ``mean_reversion`` (the next bar takes back a share of the
    close's distance from an exponential moving average of past closes: visible in
    closes only) and ``trend_persistence`` (the next bar continues the trailing
    ``lookback_bars`` move, bounded by a tanh: visible in closes only);
  * every trade (time, price, size, side): bars are built from the trades, so klines,
    order flow and volume agree exactly;
  * 8-hourly funding rates that follow the trailing trend, and open interest.
The true regime of every bar and the planted edges' exact drifts (the oracle) are written
to a side file (``*-true_regimes.parquet``).

``mode: random_walk`` is a pure random walk: i.i.d. fat-tailed returns, constant
volatility, no regimes, order flow independent of prices and no planted edge whatever
``edges`` says. Models must find no edge there.

Every random draw comes from its own stream (seeded by ``seed`` and the draw's name) and
is made bar by bar (trade by trade) in time order, so a shorter market of the same seed is
exactly the first bars of a longer one: the future never changes the past.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv
from scipy.signal import lfilter

from ares_kedro.market.archives import stable_zip_bytes, write_checksum
from ares_kedro.market.timeframes import bars_per_day, interval_us

logger = logging.getLogger(__name__)

BULL, BEAR, RANGE = "BULL_TREND", "BEAR_TREND", "SIDEWAYS_RANGE"
SR_ZONE, HIGH_IMPACT = "SR_ZONE_ACTION", "HIGH_IMPACT_CANDLE"
NO_REGIME = "NONE"  # random_walk mode
SEGMENT_STATES = (BULL, BEAR, RANGE)
GENERATOR_VERSION = "2"  # 2: planted edges, one random stream per draw
_SPOT_MICROSECONDS_FROM = pd.Timestamp("2025-01-01", tz="UTC")  # Binance spot switched to µs


EDGE_KINDS = ("order_flow", "mean_reversion", "trend_persistence")
_EDGE_WINDOWS = {"order_flow": "lead_bars", "mean_reversion": "anchor_bars",
                 "trend_persistence": "lookback_bars"}
_EDGE_MIN_WINDOW = {"lead_bars": 1, "anchor_bars": 2, "lookback_bars": 1}
EDGE_REGIMES = {"all": SEGMENT_STATES, "trends": (BULL, BEAR), "ranges": (RANGE,)}


@dataclass(frozen=True)
class OrderFlowEdge:
    """The taker-flow imbalance of bar t adds ``strength x volatility[t] x imbalance[t]``
    to the return of bar t + ``lead_bars``, in every regime."""

    strength: float  # return per unit imbalance, in bar volatilities (of bar t)
    lead_bars: int  # >= 1


@dataclass(frozen=True)
class MeanReversionEdge:
    """The next bar takes back ``strength`` of the close's distance from its anchor:
    ``-strength x (log close[t] - anchor[t])`` is added to the return of bar t + 1, the
    anchor being the exponential moving average (span ``anchor_bars``) of log closes up
    to t. Equivalently: ``strength x volatility`` per bar volatility of distance. Planted
    by bars of the segments ``regimes`` names (:data:`EDGE_REGIMES`)."""

    strength: float  # share of the distance taken back per bar, 0 <= strength < 1
    anchor_bars: int  # EMA span, >= 2
    regimes: str  # where it acts: "all", "trends" (bull and bear) or "ranges"


@dataclass(frozen=True)
class TrendPersistenceEdge:
    """Momentum: ``strength x volatility[t] x tanh(trailing / (volatility[t] x
    sqrt(lookback_bars)))`` is added to the return of bar t + 1, ``trailing`` being the
    log return of the ``lookback_bars`` bars up to t's close (0 before that many bars).
    Planted by bars of the segments ``regimes`` names (:data:`EDGE_REGIMES`)."""

    strength: float  # return at a saturated trend, in bar volatilities
    lookback_bars: int  # >= 1
    regimes: str  # where it acts: "all", "trends" (bull and bear) or "ranges"


@dataclass(frozen=True)
class PlantedEdges:
    """The planted edges (``ingestion.synthetic.edges``); a kind is off at strength 0.

    Each edge is a drift known at bar t's close and added to a later bar's return, on
    top of the regime path (after the range fold and the jumps), so its size is exact:
    the side file holds it per bar (``edge_<kind>``) for the oracle. The two price edges
    act in the bars of their ``regimes`` only (``all``, ``trends`` or ``ranges``, by the
    bar's segment: SR_ZONE_ACTION and HIGH_IMPACT_CANDLE bars count as their segment's);
    the default market reverts in ranges and persists in trends, since momentum inside
    ranges turns them into trends and reversion inside trends stalls them, which leaves
    the true regimes meaningless.
    """

    order_flow: OrderFlowEdge
    mean_reversion: MeanReversionEdge
    trend_persistence: TrendPersistenceEdge

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PlantedEdges:
        section = "ingestion.synthetic.edges"
        params = dict(params or {})
        unknown = sorted(set(params) - set(EDGE_KINDS))
        if unknown:
            raise ValueError(f"{section}: unknown edge kind(s) {unknown}; the kinds are "
                             f"{list(EDGE_KINDS)}")
        kinds = {}
        for kind, edge_cls in zip(EDGE_KINDS, (OrderFlowEdge, MeanReversionEdge,
                                                TrendPersistenceEdge), strict=True):
            if kind not in params:
                raise ValueError(f"{section}.{kind} is missing; every kind needs its block "
                                 "(strength 0 turns it off), see "
                                 "conf/base/parameters_ingestion.yml")
            block = dict(params[kind] or {})
            names = [f.name for f in fields(edge_cls)]
            missing = [n for n in names if n not in block]
            extra = sorted(set(block) - set(names))
            if missing or extra:
                raise ValueError(f"{section}.{kind}: missing keys {missing}, unknown keys "
                                 f"{extra}; it takes {names}")
            strength = block["strength"]
            if isinstance(strength, bool) or not isinstance(strength, int | float) or \
                    not np.isfinite(strength) or strength < 0:
                raise ValueError(f"{section}.{kind}.strength must be a number >= 0 (0 turns "
                                 f"the edge off), got {strength!r}")
            if kind == "mean_reversion" and strength >= 1:
                raise ValueError(f"{section}.mean_reversion.strength is the share of the "
                                 f"distance from the anchor taken back per bar: it must be "
                                 f"< 1, got {strength!r}")
            window = _EDGE_WINDOWS[kind]
            bars = block[window]
            if isinstance(bars, bool) or not isinstance(bars, int | np.integer) or \
                    bars < _EDGE_MIN_WINDOW[window]:
                raise ValueError(f"{section}.{kind}.{window} must be an integer >= "
                                 f"{_EDGE_MIN_WINDOW[window]}, got {bars!r}")
            values = {"strength": float(strength), window: int(bars)}
            if "regimes" in names:
                regimes = block["regimes"]
                if not isinstance(regimes, str) or regimes not in EDGE_REGIMES:
                    raise ValueError(f"{section}.{kind}.regimes must be one of "
                                     f"{list(EDGE_REGIMES)}, got {regimes!r}")
                values["regimes"] = regimes
            kinds[kind] = edge_cls(**values)
        return cls(**kinds)

    def updated(self, changes: dict[str, dict[str, Any]]) -> PlantedEdges:
        """These edges with some settings changed (``{"order_flow": {"strength": 1.0}}``),
        validated like conf."""
        merged = asdict(self)
        unknown = sorted(set(changes) - set(EDGE_KINDS))
        if unknown:
            raise ValueError(f"ingestion.synthetic.edges: unknown edge kind(s) {unknown}; "
                             f"the kinds are {list(EDGE_KINDS)}")
        for kind, block in changes.items():
            merged[kind] = {**merged[kind], **block}
        return PlantedEdges.from_params(merged)

    def only(self, kind: str) -> PlantedEdges:
        """These edges with every kind but ``kind`` switched off (strength 0)."""
        if kind not in EDGE_KINDS:
            raise ValueError(f"unknown edge kind {kind!r}; the kinds are {list(EDGE_KINDS)}")
        return self.updated({other: {"strength": 0.0} for other in EDGE_KINDS if other != kind})

    def enabled(self) -> tuple[str, ...]:
        """The kinds planted (strength > 0), in :data:`EDGE_KINDS` order."""
        return tuple(kind for kind in EDGE_KINDS if getattr(self, kind).strength > 0)

    def lead_bars(self, kind: str) -> int:
        """Bars from the bar whose close knows the drift to the bar whose return it moves."""
        return self.order_flow.lead_bars if kind == "order_flow" else 1


@dataclass(frozen=True)
class SyntheticMarketSpec:
    """Every knob of the generator (``ingestion.synthetic`` in conf). Units in comments."""

    seed: int
    mode: str  # "regimes" or "random_walk" (no regimes, no edge: the null market)
    start: str  # first bar, UTC date
    days: int
    interval: str  # bar interval, e.g. "1h"
    start_price: float  # quote currency
    annual_volatility: float  # fraction per sqrt(year) in calm conditions
    tail_dof: float  # Student-t degrees of freedom of shocks (> 2)
    volatility_persistence: float  # AR(1) coefficient of log-volatility per bar
    volatility_of_volatility: float  # std of log-volatility shocks per bar
    mean_segment_bars: dict[str, float]  # mean length of each regime segment, bars
    min_segment_bars: int
    transition: dict[str, dict[str, float]]  # P(next segment state | state)
    trend_annual_drift: float  # |drift| of trends, fraction per year
    regime_volatility: dict[str, float]  # volatility multiplier per regime
    range_half_width_bar_vols: float  # half width of a range band, in calm bar vols
    range_mean_reversion: float  # pull toward the band centre per bar (0..1)
    sr_zone_fraction: float  # outer fraction of the band labelled SR_ZONE_ACTION
    high_impact_probability: float  # per bar
    high_impact_size_bar_vols: tuple[float, float]  # jump size range, in bar vols
    high_impact_volume_multiple: float
    flow_persistence: float  # AR(1) coefficient of taker flow imbalance per bar
    flow_price_impact: float  # same-bar return per unit imbalance, in bar vols
    flow_side_sensitivity: float  # logit of taker-buy share per unit imbalance
    edges: PlantedEdges  # the planted edges (mode regimes only)
    trades_per_bar: float  # mean aggregated trades per bar
    trade_notional_log_mean: float  # log of a trade's notional, quote currency
    trade_notional_log_std: float
    volume_volatility_coupling: float  # extra volume per unit |shock|
    funding_base_rate: float  # fraction per 8 h
    funding_trend_sensitivity: float  # fraction per 8 h at a strong trailing trend
    funding_trend_bars: int  # trailing window for the funding trend
    funding_max_rate: float
    open_interest_base: float  # base units
    open_interest_volatility: float  # std of log changes per metrics interval
    metrics_interval: str  # open-interest snapshot interval (Vision: 5m)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SyntheticMarketSpec:
        params = dict(params)
        if "signal" in params:
            raise ValueError("ingestion.synthetic.signal was replaced by "
                             "ingestion.synthetic.edges.order_flow (same strength and "
                             "lead_bars; e.g. --params ingestion.synthetic.edges.order_flow."
                             "strength=1.0); see docs/data.md")
        if "edges" in params and not isinstance(params["edges"], PlantedEdges):
            params["edges"] = PlantedEdges.from_params(params["edges"])
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names if params.get(n) is None)
        unknown = sorted(set(params) - names)
        if missing or unknown:
            raise ValueError(
                f"ingestion.synthetic: missing keys {missing}, unknown keys {unknown}; "
                "see conf/base/parameters_ingestion.yml"
            )
        params["high_impact_size_bar_vols"] = tuple(params["high_impact_size_bar_vols"])
        spec = cls(**{n: params[n] for n in names})
        spec.validate()
        return spec

    def validate(self) -> None:
        if self.mode not in ("regimes", "random_walk"):
            raise ValueError("ingestion.synthetic.mode must be 'regimes' or 'random_walk' (the "
                             f"null market), got {self.mode!r}")
        if self.tail_dof <= 2:
            raise ValueError("ingestion.synthetic.tail_dof must be > 2 (finite variance)")
        for state in SEGMENT_STATES:
            row = self.transition.get(state)
            if row is None or abs(sum(row.values()) - 1) > 1e-9:
                raise ValueError(f"ingestion.synthetic.transition.{state} must sum to 1")
        if self.days < 1 or self.trades_per_bar < 1:
            raise ValueError("ingestion.synthetic.days and trades_per_bar must be >= 1")

    def with_edges(self, **changes: dict[str, Any]) -> SyntheticMarketSpec:
        """This spec with some edge settings changed, e.g.
        ``spec.with_edges(order_flow={"strength": 1.0})``."""
        return replace(self, edges=self.edges.updated(changes))

    def planted_edges(self) -> tuple[str, ...]:
        """The edge kinds this market plants: none in the null market."""
        return () if self.mode == "random_walk" else self.edges.enabled()

    def fingerprint(self, symbol: str, market: str) -> str:
        text = json.dumps([asdict(self), symbol, market, GENERATOR_VERSION], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


EDGE_COLUMNS = tuple(f"edge_{kind}" for kind in EDGE_KINDS) + ("edge_total",)
_STREAMS = ("shocks", "segments", "log_volatility", "flow", "jump_times", "jump_sizes",
            "jump_signs", "volume", "trade_counts", "trade_steps", "trade_spacing",
            "trade_sides", "trade_notional", "trade_fills", "funding_delay", "funding_noise",
            "open_interest")


@dataclass
class SyntheticMarket:
    """Generated bars (for tests), trades, futures data, the true regime per bar and the
    planted edges' drifts."""

    bar_open_ns: np.ndarray  # (n_bars,)
    close: np.ndarray  # (n_bars,)
    true_regime: np.ndarray  # (n_bars,) regime names
    flow_imbalance: np.ndarray  # (n_bars,) the latent taker-flow imbalance
    edges: pd.DataFrame  # (n_bars,) EDGE_COLUMNS, log-return units, see planted_edge_drifts
    trades: pd.DataFrame  # transact_time (ns), price, quantity, is_buyer_maker, trade_count
    funding: pd.DataFrame  # funding_time (ns), funding_rate
    open_interest: pd.DataFrame  # metric_time (ns), open_interest, open_interest_value


def _stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one kind of draw: its values do not depend on how many draws
    of other kinds were made (or on the market's length)."""
    return np.random.default_rng([seed, _STREAMS.index(name)])


def _student_t(rng: np.random.Generator, dof: float, size: int) -> np.ndarray:
    """Student-t shocks scaled to unit variance."""
    return rng.standard_t(dof, size) * np.sqrt((dof - 2) / dof)


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """x_t = phi x_{t-1} + shock_t, started at 0."""
    return lfilter([1.0], [1.0, -phi], shocks)


def _segments(spec: SyntheticMarketSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Regime state (index into SEGMENT_STATES) of each bar, from a Markov chain of segments."""
    states = np.empty(n, dtype=np.int8)
    position, state = 0, int(rng.integers(len(SEGMENT_STATES)))
    while position < n:  # one iteration per segment (tens), not per bar
        name = SEGMENT_STATES[state]
        mean = spec.mean_segment_bars[name]
        length = max(spec.min_segment_bars, int(rng.gamma(2.0, mean / 2.0)))
        states[position : position + length] = state
        position += length
        row = spec.transition[name]
        state = SEGMENT_STATES.index(rng.choice(list(row), p=list(row.values())))
    return states


def _fold(x: np.ndarray, half_width: float) -> np.ndarray:
    """Reflect a path into [-half_width, half_width] (a range bouncing off its edges)."""
    period = 4 * half_width
    y = np.mod(x + half_width, period)
    return half_width - np.abs(y - 2 * half_width)


@numba.njit(cache=True)
def _planted_path(base_returns, volatility, order_flow_drift, lead_bars, mean_reversion,
                  anchor_alpha, trend, lookback_bars, log_start, reverting_gate,
                  persisting_gate):  # pragma: no cover (compiled)
    """Log closes of bars whose returns are ``base_returns`` plus the planted drifts, and
    the mean-reversion and trend-persistence drifts known at each close (they feed back
    into later prices, hence the loop); a gate (0 or 1 per bar) switches each of those
    two on in the bars of its regimes."""
    n = base_returns.size
    log_close = np.empty(n)
    reverting = np.zeros(n)
    persisting = np.zeros(n)
    previous, anchor = log_start, log_start
    scale = np.sqrt(lookback_bars)
    for t in range(n):
        step = base_returns[t]
        if t >= lead_bars:
            step += order_flow_drift[t - lead_bars]
        if t >= 1:
            step += reverting[t - 1] + persisting[t - 1]
        price = previous + step
        log_close[t] = price
        anchor += anchor_alpha * (price - anchor)
        reverting[t] = -mean_reversion * (price - anchor) * reverting_gate[t]
        if trend > 0 and t >= lookback_bars:
            persisting[t] = persisting_gate[t] * trend * volatility[t] * np.tanh(
                (price - log_close[t - lookback_bars]) / (volatility[t] * scale))
        previous = price
    return log_close, reverting, persisting


def planted_edge_drifts(order_flow: np.ndarray, mean_reversion: np.ndarray,
                        trend_persistence: np.ndarray, lead_bars: int) -> pd.DataFrame:
    """The oracle's table: per bar t, what bar t's close knows of later returns.

    ``edge_<kind>[t]``: the drift (log return) that bar t adds to the return of bar
    t + lead (lead = ``order_flow.lead_bars`` for order flow, 1 for the other kinds).
    ``edge_total[t]``: the whole planted drift of bar t + 1's return, also known at t's
    close: mean reversion and trend persistence of bar t plus the order-flow drift of bar
    t + 1 - lead (that of bar t itself when lead is 1). An oracle per kind trades
    ``sign(edge_<kind>)`` with the kind's lead; the oracle of every edge together trades
    ``sign(edge_total)`` one bar ahead.
    """
    total = mean_reversion + trend_persistence
    flow_next = np.zeros(order_flow.size)
    source = np.arange(order_flow.size) + 1 - lead_bars
    known = source >= 0
    flow_next[known] = order_flow[source[known]]
    return pd.DataFrame({"edge_order_flow": order_flow, "edge_mean_reversion": mean_reversion,
                         "edge_trend_persistence": trend_persistence,
                         "edge_total": total + flow_next})


def generate_market(spec: SyntheticMarketSpec) -> SyntheticMarket:
    """Generate bars, trades, funding and open interest; deterministic for a seed, and a
    shorter market is the start of a longer one of the same seed."""
    bar_us = interval_us(spec.interval)
    bar_ns = bar_us * 1_000
    n = int(round(spec.days * bars_per_day(spec.interval)))
    start_ns = pd.Timestamp(spec.start, tz="UTC").value
    bar_open_ns = start_ns + np.arange(n, dtype=np.int64) * bar_ns
    bars_per_year = 365 * bars_per_day(spec.interval)
    calm_bar_vol = spec.annual_volatility / np.sqrt(bars_per_year)
    shocks = _student_t(_stream(spec.seed, "shocks"), spec.tail_dof, n)
    null = spec.mode == "random_walk"
    flow = _ar1(_stream(spec.seed, "flow").standard_normal(n), spec.flow_persistence) \
        * np.sqrt(1 - spec.flow_persistence**2)
    log_start = np.log(spec.start_price)

    if null:
        volatility = np.full(n, calm_bar_vol)
        returns = volatility * shocks
        regime = np.full(n, NO_REGIME, dtype=object)
        jump = np.zeros(n, dtype=bool)
        log_close = log_start + np.cumsum(returns)
        zeros = np.zeros(n)
        edges = planted_edge_drifts(zeros, zeros, zeros, 1)
    else:
        states = _segments(spec, _stream(spec.seed, "segments"), n)
        names = np.array(SEGMENT_STATES, dtype=object)[states]
        phi = spec.volatility_persistence
        log_vol = _ar1(_stream(spec.seed, "log_volatility").standard_normal(n)
                       * spec.volatility_of_volatility, phi)
        log_vol -= 0.5 * spec.volatility_of_volatility**2 / (1 - phi**2)  # keep mean vol
        regime_multiple = np.array([spec.regime_volatility[s] for s in SEGMENT_STATES])[states]
        volatility = calm_bar_vol * np.exp(log_vol) * regime_multiple
        innovation = volatility * (shocks + spec.flow_price_impact * flow)
        drift = spec.trend_annual_drift / bars_per_year
        returns = innovation + np.where(names == BULL, drift, 0.0) - np.where(names == BEAR, drift, 0.0)
        regime = names.copy()
        half_width = spec.range_half_width_bar_vols * calm_bar_vol
        change = np.flatnonzero(np.diff(states, prepend=-1))
        ends = np.append(change[1:], n)
        for a, b in zip(change, ends, strict=True):  # one iteration per segment
            if SEGMENT_STATES[states[a]] != RANGE:
                continue
            deviation = lfilter([1.0], [1.0, -(1 - spec.range_mean_reversion)], innovation[a:b])
            folded = _fold(deviation, half_width)
            returns[a:b] = np.diff(folded, prepend=0.0)
            in_zone = np.abs(folded) >= (1 - spec.sr_zone_fraction) * half_width
            regime[a:b] = np.where(in_zone, SR_ZONE, RANGE)
        jump = _stream(spec.seed, "jump_times").random(n) < spec.high_impact_probability
        low, high = spec.high_impact_size_bar_vols
        size = _stream(spec.seed, "jump_sizes").uniform(low, high, n) * calm_bar_vol \
            * _stream(spec.seed, "jump_signs").choice([-1.0, 1.0], n)
        returns = returns + np.where(jump, size, 0.0)
        regime[jump] = HIGH_IMPACT
        # The planted edges, on top of the regime path: exact drifts, known at a close.
        planted = spec.edges
        order_flow = planted.order_flow.strength * volatility * flow
        log_close, reverting, persisting = _planted_path(
            returns, volatility, order_flow, planted.order_flow.lead_bars,
            planted.mean_reversion.strength, 2.0 / (planted.mean_reversion.anchor_bars + 1),
            planted.trend_persistence.strength, planted.trend_persistence.lookback_bars,
            log_start,
            np.isin(names, EDGE_REGIMES[planted.mean_reversion.regimes]).astype(float),
            np.isin(names, EDGE_REGIMES[planted.trend_persistence.regimes]).astype(float))
        edges = planted_edge_drifts(order_flow, reverting, persisting,
                                    planted.order_flow.lead_bars)

    log_open = np.concatenate(([log_start], log_close[:-1]))
    volume_factor = np.exp(0.3 * _stream(spec.seed, "volume").standard_normal(n)) * (
        1 + spec.volume_volatility_coupling * np.abs(shocks))
    volume_factor = np.where(jump, volume_factor * spec.high_impact_volume_multiple, volume_factor)
    trades = _trades(spec, bar_open_ns, bar_ns, log_open, log_close, volatility, flow,
                     volume_factor)
    funding = _funding(spec, bar_open_ns, bar_ns, log_close, volatility, null)
    open_interest = _open_interest(spec, bar_open_ns, bar_ns, np.exp(log_close))
    return SyntheticMarket(bar_open_ns=bar_open_ns, close=np.exp(log_close),
                           true_regime=regime.astype(str), flow_imbalance=flow, edges=edges,
                           trades=trades, funding=funding, open_interest=open_interest)


def _trades(spec, bar_open_ns, bar_ns, log_open, log_close, volatility, flow,
            volume_factor) -> pd.DataFrame:
    """Trades of every bar: a Brownian bridge from the bar's open to its close."""
    n = bar_open_ns.size
    counts = _stream(spec.seed, "trade_counts").poisson(spec.trades_per_bar * volume_factor) + 2
    bar_of = np.repeat(np.arange(n), counts)  # the first and last trades: open and close
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(bar_of.size) - first[bar_of]  # 0..k-1 within the bar
    k = counts[bar_of]
    steps = _stream(spec.seed, "trade_steps").standard_normal(bar_of.size) \
        * (volatility[bar_of] / np.sqrt(k))
    steps[first] = 0.0
    walk = np.cumsum(steps)
    walk -= walk[first][bar_of]  # restart at 0 in every bar
    walk_end = walk[first + counts - 1][bar_of]
    fraction = position / (k - 1)
    bridge = walk - fraction * (walk_end - (log_close - log_open)[bar_of])
    price = np.exp(log_open[bar_of] + bridge)
    # Sorted uniform times within the bar from exponential spacings; the last trade
    # closes the bar just before its end.
    spacing = _stream(spec.seed, "trade_spacing").exponential(size=bar_of.size)
    cum = np.cumsum(spacing)
    cum -= (cum[first] - spacing[first])[bar_of]
    total = cum[first + counts - 1][bar_of]
    offset_ns = (cum / (total * (1 + 1e-6)) * (bar_ns - 1_000_000)).astype(np.int64)
    offset_ns[first] = 0
    transact_ns = bar_open_ns[bar_of] + offset_ns
    buy_share = 1.0 / (1.0 + np.exp(-spec.flow_side_sensitivity * flow))
    taker_buys = _stream(spec.seed, "trade_sides").random(bar_of.size) < buy_share[bar_of]
    notional = np.exp(spec.trade_notional_log_mean + spec.trade_notional_log_std
                      * _stream(spec.seed, "trade_notional").standard_normal(bar_of.size))
    quantity = np.round(notional / price, 6)
    quantity = np.maximum(quantity, 1e-6)
    return pd.DataFrame({
        "transact_time": transact_ns,
        "price": np.round(price, 2),
        "quantity": quantity,
        "is_buyer_maker": ~taker_buys,
        "trade_count": _stream(spec.seed, "trade_fills").poisson(1.0, bar_of.size) + 1,
    })


def _funding(spec, bar_open_ns, bar_ns, log_close, volatility, null) -> pd.DataFrame:
    """8-hourly funding: base rate plus the trailing trend, known at its own time."""
    eight_hours = 8 * 3600 * 10**9
    first = -(-bar_open_ns[0] // eight_hours) * eight_hours
    times = np.arange(first, bar_open_ns[-1] + bar_ns, eight_hours, dtype=np.int64)
    delay = _stream(spec.seed, "funding_delay").integers(1, 20, times.size)
    times = times + delay * 1_000_000  # Binance stamps a few ms late
    # The last bar that closed before each funding time.
    last_closed = np.searchsorted(bar_open_ns + bar_ns, times, side="right") - 1
    window = spec.funding_trend_bars
    trailing = log_close[last_closed] - log_close[np.clip(last_closed - window, 0, None)]
    scale = volatility[last_closed] * np.sqrt(window)
    trend = 0.0 if null else np.tanh(trailing / np.where(scale > 0, scale, 1.0))
    rate = spec.funding_base_rate + spec.funding_trend_sensitivity * trend
    rate = rate + _stream(spec.seed, "funding_noise").normal(0, spec.funding_base_rate / 4,
                                                               times.size)
    rate = np.clip(rate, -spec.funding_max_rate, spec.funding_max_rate)
    keep = last_closed >= 0
    return pd.DataFrame({"funding_time": times[keep], "funding_rate": np.round(rate[keep], 8)})


def _open_interest(spec, bar_open_ns, bar_ns, close) -> pd.DataFrame:
    step = interval_us(spec.metrics_interval) * 1_000
    times = np.arange(bar_open_ns[0], bar_open_ns[-1] + bar_ns, step, dtype=np.int64)
    log_oi = np.log(spec.open_interest_base) + np.cumsum(
        _stream(spec.seed, "open_interest").normal(0, spec.open_interest_volatility, times.size))
    oi = np.exp(log_oi)
    bar = np.clip(np.searchsorted(bar_open_ns, times, side="right") - 1, 0, bar_open_ns.size - 1)
    previous_close = np.where(bar > 0, close[np.clip(bar - 1, 0, None)], close[0])
    return pd.DataFrame({"metric_time": times, "open_interest": np.round(oi, 3),
                         "open_interest_value": np.round(oi * previous_close, 4)})


# --------------------------------------------------------------------------- writing


def _period_slices(times_ns: np.ndarray, freq: str) -> list[tuple[pd.Timestamp, slice]]:
    """Row slices of sorted times per calendar month (freq "MS") or day ("D")."""
    if times_ns.size == 0:
        return []
    first = pd.Timestamp(int(times_ns[0]), tz="UTC").floor("D")
    if freq == "MS":
        first = first.replace(day=1)
    edges = pd.date_range(first, pd.Timestamp(int(times_ns[-1]), tz="UTC") + pd.Timedelta(days=32), freq=freq)
    positions = np.searchsorted(times_ns, edges.as_unit("ns").asi8)
    out = []
    for i in range(len(edges) - 1):
        if positions[i] < positions[i + 1]:
            out.append((edges[i], slice(positions[i], positions[i + 1])))
    return out


def _csv_bytes(table: pa.Table, header: bool) -> bytes:
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, write_options=pa_csv.WriteOptions(include_header=header, quoting_style="none"))
    return buffer.getvalue()


def _write(root: Path, relative: str, name: str, payload: bytes) -> None:
    folder = root / relative
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.zip"
    path.write_bytes(stable_zip_bytes(f"{name}.csv", payload))
    write_checksum(path)


def _epoch(ns: np.ndarray, period: pd.Timestamp, spot: bool) -> np.ndarray:
    """Timestamps as Binance writes them: ms, or µs in spot files from 2025."""
    if spot and period >= _SPOT_MICROSECONDS_FROM:
        return ns // 1_000
    return ns // 1_000_000


def write_vision_archives(market: SyntheticMarket, spec: SyntheticMarketSpec, symbol: str,
                          market_type: str, root: Path) -> dict[str, int]:
    """Write the market as Vision monthly klines/aggTrades/fundingRate and daily metrics."""
    spot = market_type == "spot"
    tree = "spot" if spot else "futures/um"
    bars = _bars_from_trades(market, spec)
    bar_ns = interval_us(spec.interval) * 1_000
    counts = {"klines": 0, "aggTrades": 0, "fundingRate": 0, "metrics": 0}
    for month, rows in _period_slices(bars["open_time"], "MS"):
        period = f"{month:%Y-%m}"
        open_time = _epoch(bars["open_time"][rows], month, spot)
        step = bar_ns // (1_000 if spot and month >= _SPOT_MICROSECONDS_FROM else 1_000_000)
        table = pa.table({
            "open_time": open_time, "open": bars["open"][rows], "high": bars["high"][rows],
            "low": bars["low"][rows], "close": bars["close"][rows],
            "volume": np.round(bars["volume"][rows], 6), "close_time": open_time + step - 1,
            "quote_volume": np.round(bars["quote_volume"][rows], 4),
            "count": bars["trade_count"][rows],
            "taker_buy_volume": np.round(bars["taker_buy_volume"][rows], 6),
            "taker_buy_quote_volume": np.round(bars["taker_buy_quote_volume"][rows], 4),
            "ignore": np.zeros(rows.stop - rows.start, dtype=np.int64),
        })
        _write(root, f"data/{tree}/monthly/klines/{symbol}/{spec.interval}",
               f"{symbol}-{spec.interval}-{period}", _csv_bytes(table, header=not spot))
        counts["klines"] += 1
    trades = market.trades
    ids = np.arange(len(trades), dtype=np.int64) + 1_000_000
    last_ids = np.cumsum(trades["trade_count"].to_numpy()) + 5_000_000
    first_ids = last_ids - trades["trade_count"].to_numpy() + 1
    trade_ns = trades["transact_time"].to_numpy()
    for month, rows in _period_slices(trade_ns, "MS"):
        maker = trades["is_buyer_maker"].to_numpy()[rows]
        columns = {
            "agg_trade_id": ids[rows], "price": trades["price"].to_numpy()[rows],
            "quantity": trades["quantity"].to_numpy()[rows], "first_trade_id": first_ids[rows],
            "last_trade_id": last_ids[rows], "transact_time": _epoch(trade_ns[rows], month, spot),
            "is_buyer_maker": np.where(maker, "True", "False") if spot else maker,
        }
        if spot:
            columns["is_best_match"] = np.full(rows.stop - rows.start, "True")
        _write(root, f"data/{tree}/monthly/aggTrades/{symbol}", f"{symbol}-aggTrades-{month:%Y-%m}",
               _csv_bytes(pa.table(columns), header=not spot))
        counts["aggTrades"] += 1
    if spot:
        return counts
    funding_ns = market.funding["funding_time"].to_numpy()
    for month, rows in _period_slices(funding_ns, "MS"):
        table = pa.table({
            "calc_time": funding_ns[rows] // 1_000_000,
            "funding_interval_hours": np.full(rows.stop - rows.start, 8, dtype=np.int64),
            "last_funding_rate": market.funding["funding_rate"].to_numpy()[rows],
        })
        _write(root, f"data/{tree}/monthly/fundingRate/{symbol}", f"{symbol}-fundingRate-{month:%Y-%m}",
               _csv_bytes(table, header=True))
        counts["fundingRate"] += 1
    oi = market.open_interest
    metric_ns = oi["metric_time"].to_numpy()
    stamps = pd.DatetimeIndex(metric_ns).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    for day, rows in _period_slices(metric_ns, "D"):
        m = rows.stop - rows.start
        table = pa.table({
            "create_time": stamps[rows], "symbol": np.full(m, symbol),
            "sum_open_interest": oi["open_interest"].to_numpy()[rows],
            "sum_open_interest_value": oi["open_interest_value"].to_numpy()[rows],
            "count_toptrader_long_short_ratio": np.ones(m), "sum_toptrader_long_short_ratio": np.ones(m),
            "count_long_short_ratio": np.ones(m), "sum_taker_long_short_vol_ratio": np.ones(m),
        })
        _write(root, f"data/{tree}/daily/metrics/{symbol}", f"{symbol}-metrics-{day:%Y-%m-%d}",
               _csv_bytes(table, header=True))
        counts["metrics"] += 1
    return counts


def _bars_from_trades(market: SyntheticMarket, spec: SyntheticMarketSpec) -> dict[str, np.ndarray]:
    """OHLCV klines that agree exactly with the trades written beside them."""
    trades = market.trades
    bar_ns = interval_us(spec.interval) * 1_000
    t = trades["transact_time"].to_numpy()
    price = trades["price"].to_numpy()
    qty = trades["quantity"].to_numpy()
    buy = ~trades["is_buyer_maker"].to_numpy()
    bucket = t // bar_ns
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))
    ends = np.append(starts[1:], t.size) - 1

    def total(values):
        return np.add.reduceat(values, starts)

    return {
        "open_time": bucket[starts] * bar_ns,
        "open": price[starts], "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts), "close": price[ends],
        "volume": total(qty), "quote_volume": total(price * qty),
        "trade_count": total(trades["trade_count"].to_numpy()),
        "taker_buy_volume": total(np.where(buy, qty, 0.0)),
        "taker_buy_quote_volume": total(np.where(buy, price * qty, 0.0)),
    }


def true_regimes_path(root: Path, symbol: str, interval: str) -> Path:
    """The side file of the true regime, latent flow imbalance and planted edges per bar
    (columns ``true_regime``, ``flow_imbalance`` and :data:`EDGE_COLUMNS`)."""
    return Path(root) / f"{symbol}-{interval}-true_regimes.parquet"


def ensure_synthetic_archives(spec: SyntheticMarketSpec, symbol: str, market_type: str,
                              root: str | Path) -> dict[str, Any]:
    """Generate and write the synthetic market under ``root`` unless the same market
    (same spec, symbol and market type) is already there. Returns its manifest."""
    root = Path(root)
    manifest_path = root / f"{symbol}-{spec.interval}-synthetic_manifest.json"
    fingerprint = spec.fingerprint(symbol, market_type)
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == fingerprint:
            logger.info("Synthetic market %s already written (fingerprint %s)", symbol, fingerprint)
            return manifest
    tree = root / "data" / ("spot" if market_type == "spot" else "futures/um")
    for stale in tree.rglob(f"{symbol}-*"):  # a different market: replace it entirely
        stale.unlink()
    started = time.perf_counter()
    market = generate_market(spec)
    counts = write_vision_archives(market, spec, symbol, market_type, root)
    index = pd.DatetimeIndex(market.bar_open_ns.astype("datetime64[ns]"),
                             name="open_time").tz_localize("UTC")
    regimes = pd.DataFrame({"true_regime": market.true_regime,
                            "flow_imbalance": market.flow_imbalance,
                            **{c: market.edges[c].to_numpy() for c in EDGE_COLUMNS}}, index=index)
    regimes.to_parquet(true_regimes_path(root, symbol, spec.interval))
    manifest = {"fingerprint": fingerprint, "symbol": symbol, "market": market_type,
                "spec": asdict(spec), "files": counts, "bars": int(market.bar_open_ns.size),
                "trades": len(market.trades)}
    manifest_path.write_text(json.dumps(manifest, indent=2, default=str))
    logger.info("Generated synthetic %s market: %d bars, %d trades, files %s in %.1f s", symbol,
                market.bar_open_ns.size, len(market.trades), counts, time.perf_counter() - started)
    return manifest
