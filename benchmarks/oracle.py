"""Reference strategies for the planted-signal benchmark (issue #10, item 1).

The built-in market plants its edge in the taker-flow imbalance: the latent imbalance of
bar t adds ``strength x volatility x imbalance`` to the return of bar t + ``lead_bars``
(:mod:`ares_kedro.market.synthetic`). The **oracle** reads that latent imbalance from the
generator's side file and holds ``sign(imbalance[t])`` through bar t + lead: long when it
is positive, short when negative. Bars with the same side in a row are one trade (no
costs in between); a change of side closes the trade and opens the next at the same close.

Every trade goes through the validation backtester's own :func:`run_trades`, so the oracle
pays exactly what the governor pays: taker fills with slippage at entry and exit, and
funding at every funding time it holds a position. It trades at a size of 1 (all equity);
Sharpe ratios do not depend on the size.

The **observable rule** is the same with the imbalance a trader can see: the bar's
buy-minus-sell share of aggressive (taker) quote volume. Its gap to the oracle is what the
trades' noise hides; the governor's gap to it is what learning leaves on the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ares_kedro.validation.backtest import TIME_EXIT, Backtest, run_trades
from ares_kedro.validation.costs import CostModel


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
                      np.full(side.size, TIME_EXIT), costs, funding, first_row, last_row,
                      bars_per_year)


def observed_taker_imbalance(bars: pd.DataFrame) -> np.ndarray:
    """(n,) (buy - sell) / (buy + sell) of the bar's taker quote volume from aggregated
    trades; NaN where the bar has none."""
    buy = bars["buy_quote_volume"].to_numpy(float)
    sell = bars["sell_quote_volume"].to_numpy(float)
    total = buy + sell
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (buy - sell) / total, np.nan)
