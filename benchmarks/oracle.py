"""Reference strategies for the planted-edge benchmark (issue #10, item 1; issue #20).

The built-in market plants up to three edges (:class:`~ares_kedro.market.synthetic.PlantedEdges`),
each a drift known at a bar's close and added to a later bar's return: ``order_flow`` (the
latent taker-flow imbalance of bar t moves bar t + ``lead_bars``), ``mean_reversion`` (the
next bar takes back a share of the close's distance from its moving-average anchor) and
``trend_persistence`` (the next bar continues the trailing move). The generator's side file
holds each drift per bar (``edge_<kind>``, and ``edge_total``: every drift of the next bar).

The **oracle** of a kind holds ``sign(edge_<kind>[t])`` through bar t + lead (the kind's
lead); the oracle of every planted edge together holds ``sign(edge_total[t])`` through bar
t + 1. Bars with the same side in a row are one trade (no costs in between); a change of
side closes the trade and opens the next at the same close.

Every trade goes through the validation backtester's own :func:`run_trades`, so the oracle
pays exactly what the governor pays: taker fills with slippage at entry and exit, and
funding at every funding time it holds a position. It trades at a size of 1 (all equity);
Sharpe ratios do not depend on the size.

The **observable rules** trade the same way on what a trader sees: for order flow the bar's
buy-minus-sell share of aggressive (taker) quote volume (``observable_rule``); for mean
reversion ``-sign(log close - EMA(anchor_bars) of log closes)``; for trend persistence
``sign`` of the trailing ``lookback_bars`` log return. Their gap to the oracle is what the
noise hides: for order flow, the trades' sampling of the latent imbalance; for the price
edges, whatever the rule cannot know (the regimes the edge acts in, when it acts in some
only; the anchor's start and price rounding otherwise, nearly nothing). The governor's gap
to them is what learning leaves on the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.market.synthetic import PlantedEdges
from ares_kedro.validation.backtest import TIME_EXIT, Backtest, ScoredPeriod, run_trades
from ares_kedro.validation.costs import CostModel
from ares_kedro.windows import ewm_mean, shift


def signal_trades(signal: np.ndarray, first_row: int, last_row: int, lead_bars: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trades holding ``sign(signal[r - lead_bars])`` through each bar r of
    ``first_row + 1 .. last_row`` (a position needs a close to enter at, so none is held
    through ``first_row`` itself).

    Args:
        signal: (n,) the signal per bar, known at the bar's close (NaN = no position).
        first_row, last_row: the period's rows (inclusive).
        lead_bars: bars between the signal and the return it moves (>= 1).

    Returns:
        entry_row, exit_row, side: (k,) each; runs of the same side are one trade, entered
        at the close before its first bar and left at the close of its last.
    """
    if lead_bars < 1:
        raise ValueError(f"lead_bars must be >= 1, got {lead_bars}")
    held = np.arange(first_row + 1, last_row + 1)
    source = held - lead_bars
    side = np.zeros(held.size)
    known = source >= 0
    side[known] = np.sign(np.nan_to_num(np.asarray(signal, float)[source[known]]))
    if side.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    starts = np.flatnonzero(np.diff(side, prepend=np.nan) != 0)
    ends = np.append(starts[1:], side.size) - 1
    trading = side[starts] != 0
    starts, ends = starts[trading], ends[trading]
    return held[starts] - 1, held[ends], side[starts]


def signal_backtest(bars: pd.DataFrame, signal: np.ndarray, first_row: int, last_row: int,
                    lead_bars: int, costs: CostModel, funding: np.ndarray,
                    bars_per_year: float) -> Backtest:
    """The backtest of :func:`signal_trades` at size 1, time exits at the close, all costs
    in (``funding``: :func:`~ares_kedro.validation.backtest.funding_by_bar`)."""
    entry, exit_, side = signal_trades(signal, first_row, last_row, lead_bars)
    close = bars["close"].to_numpy(float)
    return run_trades(bars, entry, exit_, side, np.ones(side.size), close[exit_],
                      np.full(side.size, TIME_EXIT), costs, funding,
                      ScoredPeriod(first_row, last_row, bars_per_year))


def observed_taker_imbalance(bars: pd.DataFrame) -> np.ndarray:
    """(n,) (buy - sell) / (buy + sell) of the bar's taker quote volume from aggregated
    trades; NaN where the bar has none."""
    buy = bars["buy_quote_volume"].to_numpy(float)
    sell = bars["sell_quote_volume"].to_numpy(float)
    total = buy + sell
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (buy - sell) / total, np.nan)


OBSERVABLE_RULES = {"order_flow": "observable_rule",
                    "mean_reversion": "observable_mean_reversion",
                    "trend_persistence": "observable_trend_persistence"}


def planted_signals(truth: pd.DataFrame, edges: PlantedEdges
                    ) -> dict[str, tuple[np.ndarray, int]]:
    """The oracles' signals and leads: ``oracle`` (every planted edge, ``edge_total``, one
    bar ahead) and ``oracle_<kind>`` for each kind planted (``edge_<kind>``, its own lead).

    Args:
        truth: the generator's side file on the bars' index (``edge_*`` columns; NaN where
            a bar is missing: no position).
        edges: what the market plants (``ingestion.synthetic.edges``).
    """
    out = {"oracle": (truth["edge_total"].to_numpy(float), 1)}
    for kind in edges.enabled():
        out[f"oracle_{kind}"] = (truth[f"edge_{kind}"].to_numpy(float), edges.lead_bars(kind))
    return out


def observable_signals(bars: pd.DataFrame, edges: PlantedEdges
                       ) -> dict[str, tuple[np.ndarray, int]]:
    """What a trader can see of each planted kind, computed causally from ``bars``
    (signal at bar t from bars up to t), with the kind's lead: ``observable_rule`` (taker
    imbalance, order flow), ``observable_mean_reversion`` (minus the log close's distance
    from its EMA of span ``anchor_bars``) and ``observable_trend_persistence`` (trailing
    ``lookback_bars`` log return; NaN before that many bars)."""
    log_close = np.log(bars["close"].to_numpy(float))
    out = {}
    enabled = edges.enabled()
    if "order_flow" in enabled:
        out[OBSERVABLE_RULES["order_flow"]] = (observed_taker_imbalance(bars),
                                               edges.lead_bars("order_flow"))
    if "mean_reversion" in enabled:
        anchor = ewm_mean(log_close, span=edges.mean_reversion.anchor_bars)
        out[OBSERVABLE_RULES["mean_reversion"]] = (anchor - log_close, 1)
    if "trend_persistence" in enabled:
        lookback = edges.trend_persistence.lookback_bars
        out[OBSERVABLE_RULES["trend_persistence"]] = (log_close - shift(log_close, lookback), 1)
    return out
