"""The governor's decision: LONG / SHORT / HOLD, a confidence and a size.

The direction a model sees lives in its directional edge ``p_long - p_short``: HOLD is
usually the most probable class, so the argmax of the three would hide it. A decision is
gated by the **expected net return** of acting on that edge:

* :class:`ExpectedReturnMap`: the net return (costs in) of a long and of a short trade as
  monotone step functions of the edge (bins of enough rows, isotonic), fitted on rows the
  model did not learn from (out-of-fold or held-out predictions of the validation period);
* :class:`EdgeGate`: the edges beyond which the expected net return exceeds a margin
  (searched out of fold by the final-parameter study); LONG at or above ``long_edge``,
  SHORT at or below ``-short_edge``, HOLD between them (and always, with the gate
  :meth:`EdgeGate.never`, when the governor does not act);
* ``prediction`` is the direction of the edge, ``confidence`` the probability of the
  predicted side winning among the two directional outcomes, ``p_side / (p_long +
  p_short)``, which is also the win probability the tactician's sizing
  (:mod:`~ares_kedro.tactician.sizing`, its limits and the daily-trend coordination of
  :mod:`~ares_kedro.tactician.decisions`) turns into a size; 0 for HOLD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from ares_kedro.analyst.labels import HOLD, LABELS
from ares_kedro.analyst.trade_scoring import directional_edge
from ares_kedro.tactician.context import ContextParams
from ares_kedro.tactician.sizing import SizingParams, position_sizes

SIDE = {"LONG": 1, "SHORT": -1, "HOLD": 0}
NEVER = float("inf")


@dataclass(frozen=True)
class EdgeGate:
    """LONG when ``p_long - p_short >= long_edge``, SHORT when ``p_short - p_long >=
    short_edge`` (both >= 0; infinity: never)."""

    long_edge: float
    short_edge: float

    @classmethod
    def never(cls) -> EdgeGate:
        return cls(NEVER, NEVER)

    def record(self) -> dict[str, float | None]:
        """JSON-able (an infinite edge as None)."""
        return {"long_edge": None if np.isinf(self.long_edge) else float(self.long_edge),
                "short_edge": None if np.isinf(self.short_edge) else float(self.short_edge)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EdgeGate:
        def edge(value: Any) -> float:
            return NEVER if value is None else float(value)
        return cls(edge(record["long_edge"]), edge(record["short_edge"]))

    def sides(self, edge: np.ndarray) -> np.ndarray:
        """(n,) +1 / -1 / 0 of directional edges (NaN: 0)."""
        edge = np.asarray(edge, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(edge >= self.long_edge, 1,
                            np.where(-edge >= self.short_edge, -1, 0)).astype(int)


@dataclass(frozen=True)
class ExpectedReturnMap:
    """Expected net return (fraction of price, costs in) of a long and of a short trade
    against the directional edge, as steps over bins of the edge.

    The rows are sorted by edge and cut into bins of at least ``bin_rows`` rows each (a
    step never rests on a handful of lucky trades); the bins' mean returns are made
    monotone by isotonic regression weighted by their rows (non-decreasing in the edge for
    the long, non-increasing for the short)."""

    edge_low: np.ndarray  # (k,) lowest edge of each bin, sorted
    edge_high: np.ndarray  # (k,) highest edge of each bin
    long_return: np.ndarray  # (k,) expected net return of the long trade in each bin
    short_return: np.ndarray  # (k,) of the short trade
    rows: int  # rows it was fitted on

    @classmethod
    def fit(cls, edge: np.ndarray, long_return: np.ndarray, short_return: np.ndarray,
            bin_rows: int) -> ExpectedReturnMap:
        """Fit on rows with a known edge and both trades' net returns (others dropped)."""
        edge, long_return, short_return = (np.asarray(a, dtype=float)
                                           for a in (edge, long_return, short_return))
        known = np.isfinite(edge) & np.isfinite(long_return) & np.isfinite(short_return)
        if known.sum() < 2:
            raise ValueError("expected-return map: fewer than 2 rows with an edge and a "
                             "known trade outcome")
        if int(bin_rows) < 1:
            raise ValueError(f"expected-return map: bin_rows must be >= 1, got {bin_rows}")
        order = np.argsort(edge[known], kind="stable")
        bins = np.array_split(order, max(1, int(known.sum()) // int(bin_rows)))
        values = [a[known] for a in (edge, long_return, short_return)]
        weight = np.array([b.size for b in bins], dtype=float)
        centre = np.array([values[0][b].mean() for b in bins])
        fitted = [IsotonicRegression(increasing=up).fit(
            centre, np.array([returns[b].mean() for b in bins]), sample_weight=weight
        ).predict(centre) for up, returns in ((True, values[1]), (False, values[2]))]
        return cls(np.array([values[0][b].min() for b in bins]),
                   np.array([values[0][b].max() for b in bins]), fitted[0], fitted[1],
                   int(known.sum()))

    def gate(self, margin: float) -> EdgeGate:
        """The edges beyond which a trade's expected net return exceeds ``margin``
        (fraction of price): the lowest edge of the first bin where the long pays, the
        highest edge of the last bin where the short pays; never 0 or less (a model's edge
        is traded in its own direction only)."""
        longs = np.flatnonzero(self.long_return > margin)
        shorts = np.flatnonzero(self.short_return > margin)
        long_edge = max(float(self.edge_low[longs[0]]), 0.0) if longs.size else NEVER
        short_edge = max(-float(self.edge_high[shorts[-1]]), 0.0) if shorts.size else NEVER
        if long_edge == 0.0 and short_edge == 0.0:  # both sides at a zero edge: no view
            long_edge = short_edge = float(np.nextafter(0.0, 1.0))
        return EdgeGate(long_edge, short_edge)

    def best_expected_return(self) -> float:
        """The highest expected net return of any trade at any edge (fraction of price)."""
        return float(max(self.long_return.max(initial=-np.inf),
                         self.short_return.max(initial=-np.inf)))

    def record(self) -> dict[str, Any]:
        return {"edge_low": self.edge_low.tolist(), "edge_high": self.edge_high.tolist(),
                "long_return": self.long_return.tolist(),
                "short_return": self.short_return.tolist(), "rows": self.rows}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ExpectedReturnMap:
        return cls(*(np.asarray(record[k], float) for k in ("edge_low", "edge_high",
                                                             "long_return", "short_return")),
                   int(record["rows"]))


def expected_return_map(proba: np.ndarray, bar_rows: np.ndarray, trades: pd.DataFrame,
                        bin_rows: int) -> ExpectedReturnMap:
    """:class:`ExpectedReturnMap` of (n, 3) probabilities at ``bar_rows`` against the net
    returns of the trades entered there (:func:`~ares_kedro.analyst.labels.barrier_trades`,
    every cost of the round trip in), in bins of ``bin_rows`` rows."""
    rows = np.asarray(bar_rows, dtype=np.int64)
    return ExpectedReturnMap.fit(directional_edge(proba),
                                 trades["long_return"].to_numpy(dtype=float)[rows],
                                 trades["short_return"].to_numpy(dtype=float)[rows], bin_rows)


def governor_decisions(proba: np.ndarray, gate: EdgeGate, volatility: np.ndarray,
                       trend_1d: np.ndarray, payoff_ratio: float, sizing: SizingParams,
                       context: ContextParams, index: pd.Index) -> pd.DataFrame:
    """Decisions for (n, 3) LABELS-order probabilities (rows with NaN: HOLD, size 0).

    Args:
        gate: the edges a decision needs (:class:`EdgeGate`).
        volatility: annualised realised volatility per row; trend_1d: +1 / -1 / 0.
        payoff_ratio: win / loss of a trade (take-profit / stop-loss; 1 for fixed-horizon
            labels).

    Returns:
        ``prediction``, ``confidence``, ``edge``, ``decision``, ``side`` (+1 / -1 / 0) and
        ``size``, indexed by ``index``.
    """
    return pd.DataFrame(governor_decision_columns(proba, gate, volatility, trend_1d,
                                                  payoff_ratio, sizing, context), index=index)


def governor_decision_columns(proba: np.ndarray, gate: EdgeGate, volatility: np.ndarray,
                              trend_1d: np.ndarray, payoff_ratio: float, sizing: SizingParams,
                              context: ContextParams) -> dict[str, np.ndarray]:
    """The columns of :func:`governor_decisions` as arrays."""
    proba = np.asarray(proba, dtype=float)
    known = ~np.isnan(proba).any(axis=1)
    edge = np.where(known, directional_edge(np.where(known[:, None], proba, 0.0)), np.nan)
    p_long = proba[:, LABELS.index("LONG")]
    p_short = proba[:, LABELS.index("SHORT")]
    directional = p_long + p_short
    with np.errstate(invalid="ignore", divide="ignore"):
        win_long = np.where(directional > 0, p_long / directional, 0.5)
    looks = np.where(edge > 0, "LONG", np.where(edge < 0, "SHORT", HOLD))
    prediction = np.where(known, looks, HOLD)
    confidence = np.where(known, np.where(edge < 0, 1.0 - win_long, win_long), np.nan)
    side = np.where(known, gate.sides(edge), 0).astype(float)
    acting = side != 0
    decision = np.where(side > 0, "LONG", np.where(side < 0, "SHORT", HOLD))
    win = np.where(acting, confidence, np.nan)
    size = position_sizes(side, win, volatility, payoff_ratio, sizing)
    size = np.where(side * np.asarray(trend_1d, dtype=float) < 0,
                    size * context.against_daily_trend_scale, size)
    return {"prediction": prediction, "confidence": confidence, "edge": edge,
            "decision": decision, "side": side.astype(int),
            "size": np.where(acting, size, 0.0)}
