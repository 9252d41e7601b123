"""Shadow (paper) trading: decide bars as they arrive, keep a ledger, book net P&L.

Nothing here knows Kedro or MLflow (``ares_kedro.shadow.__main__`` wires them). A
**ledger** is one row per decided bar and model role (``champion``, ``challenger``): the
live predictor's decision, side, size and confidence, the model's version and hash. It
only grows: a bar already in the ledger for a role is never decided again, so a restarted
session resumes where it stopped and counts no bar twice.

Fills are the backtester's, never a second implementation: the ledger's decisions go
through :func:`~ares_kedro.validation.backtest.backtest_decisions` with the decision
system's exit rule (its take-profit, stop and holding period), the validation cost model
(fees, slippage, funding) and the tactician's daily loss limit. So replaying the test
period bar by bar gives the trades validation reported for it (a parity test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.features import REGISTRY
from ares_kedro.analyst.labels import BarrierParams, barrier_trades
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.governor.live import DecisionSystem, Governor
from ares_kedro.market.timeframes import bar_interval, bars_per_year
from ares_kedro.validation.backtest import (
    Backtest,
    ScoredPeriod,
    backtest_decisions,
    funding_by_bar,
)
from ares_kedro.validation.costs import CostModel
from ares_kedro.validation.metrics import performance

LEDGER_COLUMNS = ("bar_time", "role", "model_version", "sha256", "decision", "side", "size",
                  "confidence", "primary_regime", "raw_prediction", "decided_at")
SIDES = {"LONG": 1, "SHORT": -1, "HOLD": 0}


def ledger_path(folder: str | Path, market: dict[str, Any]) -> Path:
    """``<folder>/<exchange>-<market>-<symbol>-<timeframe>/ledger.parquet``."""
    return Path(folder) / "-".join(str(market[k]) for k in (
        "exchange", "market", "symbol", "timeframe")) / "ledger.parquet"


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({
        "bar_time": pd.Series([], dtype="datetime64[ns, UTC]"), "role": pd.Series([], dtype=str),
        "model_version": pd.Series([], dtype=str), "sha256": pd.Series([], dtype=str),
        "decision": pd.Series([], dtype=str), "side": pd.Series([], dtype="int8"),
        "size": pd.Series([], dtype=float), "confidence": pd.Series([], dtype=float),
        "primary_regime": pd.Series([], dtype=str), "raw_prediction": pd.Series([], dtype=str),
        "decided_at": pd.Series([], dtype="datetime64[ns, UTC]")})


def last_decided(ledger: pd.DataFrame, role: str) -> pd.Timestamp | None:
    """The newest bar ``role`` decided in ``ledger`` (None: none yet)."""
    times = ledger.loc[ledger["role"] == role, "bar_time"]
    return None if times.empty else pd.Timestamp(times.max())


def bars_to_decide(bars: pd.DataFrame, governor: Governor, after: pd.Timestamp | None,
                   first: pd.Timestamp | None = None) -> np.ndarray:
    """Rows of ``bars`` still to decide: after the ledger's last bar (``after``), from
    ``first`` on when given, and past the features' warm-up; the last bar is decided too
    (its close is known: bars are closed bars)."""
    rows = np.arange(governor.system.warmup_bars(), len(bars))
    times = bars.index[rows]
    keep = np.ones(rows.size, dtype=bool)
    if after is not None:
        keep &= times > after
    if first is not None:
        keep &= times >= first
    return rows[keep]


def reads_reference(governor: Governor) -> bool:
    """Whether the decision system's features read the reference market's close (the
    cross-asset features)."""
    return any("reference_close" in REGISTRY[name].inputs
               for name in governor.system.feature_names)


def covered_by_reference(bars: pd.DataFrame, rows: np.ndarray,
                         reference_bars: pd.DataFrame | None) -> np.ndarray:
    """The ``rows`` of ``bars`` the reference market's bars reach (a bar later than the
    reference's last one waits for the reference to be ingested, never decided on a stale
    reference)."""
    if reference_bars is None or reference_bars.empty:
        return rows[:0]
    return rows[bars.index[rows] <= reference_bars.index[-1]]


def decide_new_bars(governor: Governor, role: str, bars: pd.DataFrame, rows: np.ndarray,
                    reference_bars: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ledger rows for ``rows`` of ``bars``: one vectorised call of the live predictor
    (:meth:`~ares_kedro.governor.live.Governor.decide_batch`) over the history so far,
    which decides each bar from the bars up to it, exactly as one :meth:`decide` per bar
    would."""
    if rows.size == 0:
        return empty_ledger()
    table = governor.decide_batch(bars, rows, reference_bars)
    decision = table["decision"].astype(str).to_numpy()
    opinions = {}  # every ensemble's, as the seeds' get_all_predictions gives them
    for name in ENSEMBLES:
        opinions[f"{name}_prediction"] = table[f"{name}_prediction"].astype(str).to_numpy()
        opinions[f"{name}_confidence"] = table[f"{name}_confidence"].to_numpy(dtype=float)
    return pd.DataFrame({
        "bar_time": table.index, "role": role, "model_version": governor.model_version,
        "sha256": governor.sha256 or "", "decision": decision,
        "side": np.array([SIDES[d] for d in decision], dtype=np.int8),
        "size": table["size"].to_numpy(dtype=float),
        "confidence": table["confidence"].to_numpy(dtype=float),
        "primary_regime": table["regime"].astype(str).to_numpy(),
        "raw_prediction": table["prediction"].astype(str).to_numpy(),
        "decided_at": pd.Timestamp.now(tz="UTC"), **opinions}).reset_index(drop=True)


def appended(ledger: pd.DataFrame, new_rows: pd.DataFrame) -> pd.DataFrame:
    """``ledger`` with ``new_rows``; refuses a (bar, role) pair already booked (a bar is
    never counted twice)."""
    if new_rows.empty:
        return ledger
    both = pd.concat([ledger, new_rows], ignore_index=True) if len(ledger) else new_rows
    twice = both.duplicated(["bar_time", "role"])
    if twice.any():
        row = both[twice].iloc[0]
        raise ValueError(f"shadow ledger: bar {row['bar_time']} is already booked for the "
                         f"{row['role']}; a bar is decided once")
    return both.sort_values(["role", "bar_time"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class PaperFills:
    """How the ledger's decisions are filled: the decision system's exits, the cost model,
    the daily loss limit (the same settings validation's backtest uses)."""

    barriers: BarrierParams
    costs: CostModel
    max_daily_loss: float | None
    market: str  # spot | um_futures (what the fees and funding are of)

    @classmethod
    def of(cls, system: DecisionSystem, costs: dict[str, Any]) -> PaperFills:
        """From the decision system (its exit rule and sizing) and ``validation.costs``."""
        if not getattr(system, "exit_rule", None):
            raise ValueError("shadow: this decision system carries no exit rule (it was "
                             "packaged before shadow mode); re-run `kedro run "
                             "--pipelines=governor` to package it again")
        return cls(BarrierParams.from_params(system.exit_rule),
                   CostModel.from_params(costs, system.market["market"]),
                   system.policy.sizing.max_daily_loss, system.market["market"])


def paper_backtest(bars: pd.DataFrame, ledger: pd.DataFrame, role: str, fills: PaperFills,
                   funding_rates: pd.DataFrame | None = None) -> Backtest | None:
    """The ``role``'s paper trades and equity over its decided bars (None: no bar decided
    yet): its decisions at their bars, traded one position at a time by the backtester
    (a trade still open at the last decided bar is marked out at its close)."""
    mine = ledger[ledger["role"] == role].sort_values("bar_time")
    if len(mine) < 2:
        return None
    rows = bars.index.get_indexer(pd.DatetimeIndex(mine["bar_time"]))
    if (rows < 0).any():
        missing = mine["bar_time"].iloc[int(np.flatnonzero(rows < 0)[0])]
        raise ValueError(f"shadow ledger: bar {missing} is not among the bars read; the bar "
                         "source lost history the ledger booked (restore it, or start a new "
                         "ledger)")
    interval = bar_interval(bars.index)
    trades = barrier_trades(bars, fills.barriers)[0]
    funding = funding_by_bar(bars.index, interval, funding_rates)
    if fills.costs.funding and (funding_rates is None or funding_rates.empty):
        raise ValueError(f"shadow: the {fills.market} market pays funding but no funding "
                         "rates were read; ingest them, or set validation.costs.funding: false")
    return backtest_decisions(bars, rows, mine["side"].to_numpy(), mine["size"].to_numpy(),
                              trades, fills.barriers, fills.costs, funding,
                              ScoredPeriod.of_rows(rows, bars_per_year(interval)),
                              fills.max_daily_loss)


def paper_summary(result: Backtest | None) -> dict[str, Any]:
    """Net figures of a paper backtest (every cost in, validation's own
    :func:`~ares_kedro.validation.metrics.performance`): bars, trades, total return,
    annualised Sharpe, maximum drawdown, the position held at the last bar."""
    if result is None:
        return {"bars": 0, "trades": 0, "net_return": 0.0, "sharpe": 0.0,
                "max_drawdown": 0.0, "position": 0.0}
    figures = performance(result)
    return {"bars": int(len(result.bar_returns)), "trades": int(figures["trades"]),
            "net_return": float(figures["total_return"]), "sharpe": float(figures["sharpe"]),
            "max_drawdown": float(figures["max_drawdown"]),
            "position": float(result.positions.iloc[-1])}


def paired_returns(bars: pd.DataFrame, ledger: pd.DataFrame, control: str, treatment: str,
                   fills: PaperFills, funding_rates: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """Net paper bar returns of two roles on the bars both decided (columns ``control``
    and ``treatment``): what an A/B test on live bars compares."""
    both = {}
    for column, role in (("control", control), ("treatment", treatment)):
        result = paper_backtest(bars, ledger, role, fills, funding_rates)
        if result is None:
            raise ValueError(f"shadow ledger: the {role} has fewer than two decided bars; "
                             "let shadow mode run longer")
        both[column] = result.bar_returns
    return pd.DataFrame(both).dropna()
