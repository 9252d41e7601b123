"""Monte Carlo of a backtest: how different could the same strategy's results have been?

Two resamplings, both vectorised over simulations:

* **bar returns, stationary block bootstrap** (Politis & Romano): paths of the same length
  made of blocks of consecutive bar returns whose lengths are geometric with mean
  ``mean_block_bars`` (keeps volatility clustering and autocorrelation);
* **trades**: the same number of trades drawn with replacement from the trade list, in
  random order (the order of wins and losses, hence the drawdown, changes).

Reported per resampling: percentiles of total return, Sharpe and maximum drawdown; Value at
Risk and Conditional VaR of the total return at 95 % and 99 % (losses, positive numbers);
the probability of a loss; the worst case; and a stability score, the 5th percentile of the
simulated Sharpe over its median clipped to [0, 1] (1: the bad case looks like the typical
one; 0: the bad case loses money).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ares_kedro.params import checked_keys
from ares_kedro.validation.metrics import sharpe_ratio, sharpe_ratios

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class MonteCarloParams:
    """``validation.monte_carlo`` in conf."""

    simulations: int
    mean_block_bars: int
    seed: int
    var_levels: list[float]  # e.g. [0.95, 0.99]
    chunk_bars: int  # simulations x bars held in memory at once, in bars per simulation

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MonteCarloParams:
        spec = cls(**checked_keys(cls, params, "validation.monte_carlo"))
        if spec.simulations < 10 or spec.mean_block_bars < 1 or spec.chunk_bars < 1:
            raise ValueError("validation.monte_carlo: simulations >= 10, mean_block_bars >= 1,"
                             " chunk_bars >= 1")
        if not all(0.5 < level < 1 for level in spec.var_levels):
            raise ValueError("validation.monte_carlo.var_levels: each in (0.5, 1)")
        return spec


def stationary_bootstrap_rows(n: int, simulations: int, mean_block: float,
                              rng: np.random.Generator) -> np.ndarray:
    """(simulations, n) row indices of stationary-bootstrap paths over ``n`` bars: each step
    starts a new block at a random row with probability ``1 / mean_block``, else moves to
    the next row (wrapping around)."""
    new_block = rng.random((simulations, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    block = np.cumsum(new_block, axis=1) - 1  # block number of each step
    starts = rng.integers(0, n, size=(simulations, n))  # a start per potential block
    block_first_step = np.maximum.accumulate(np.where(new_block, np.arange(n), 0), axis=1)
    start = np.take_along_axis(starts, block, axis=1)
    return (start + np.arange(n) - block_first_step) % n


def _summary(total: np.ndarray, sharpe: np.ndarray, drawdown: np.ndarray,
             levels: list[float]) -> dict[str, Any]:
    losses = -total
    out: dict[str, Any] = {
        "total_return": {f"p{q}": float(np.percentile(total, q)) for q in PERCENTILES},
        "sharpe": {f"p{q}": float(np.percentile(sharpe, q)) for q in PERCENTILES},
        "max_drawdown": {f"p{q}": float(np.percentile(drawdown, q)) for q in PERCENTILES},
        "probability_of_loss": float((total < 0).mean()),
        "worst_total_return": float(total.min()),
        "worst_max_drawdown": float(drawdown.max()),
    }
    for level in levels:
        var = float(np.quantile(losses, level))
        tail = losses[losses >= var]
        out[f"var_{round(level * 100)}"] = var
        out[f"cvar_{round(level * 100)}"] = float(tail.mean()) if tail.size else var
    median = np.median(sharpe)
    out["stability_score"] = float(np.clip(np.percentile(sharpe, 5) / median, 0.0, 1.0)) \
        if median > 0 else 0.0
    return out


def _path_statistics(paths: np.ndarray, bars_per_year: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total return, annualised Sharpe and maximum drawdown of each row of returns."""
    log_equity = np.cumsum(np.log1p(paths), axis=1)
    total = np.expm1(log_equity[:, -1])
    sharpe = sharpe_ratios(paths, bars_per_year)
    peak = np.maximum.accumulate(np.maximum(log_equity, 0.0), axis=1)
    drawdown = -np.expm1((log_equity - peak).min(axis=1))
    return total, sharpe, drawdown


def bootstrap_bar_returns(returns: np.ndarray, bars_per_year: float, params: MonteCarloParams,
                          progress: bool = False) -> dict[str, Any]:
    """Stationary block bootstrap of ``returns`` (net simple bar returns); ``progress``
    shows a progress bar over the simulations (they run in chunks of ``chunk_bars``)."""
    returns = np.asarray(returns, float)
    rng = np.random.default_rng(params.seed)
    per_chunk = max(1, params.chunk_bars // max(returns.size, 1))
    parts = []
    bar = tqdm(total=params.simulations, desc="Monte Carlo", unit="path", disable=not progress)
    for done in range(0, params.simulations, per_chunk):
        count = min(per_chunk, params.simulations - done)
        rows = stationary_bootstrap_rows(returns.size, count, params.mean_block_bars, rng)
        parts.append(_path_statistics(returns[rows], bars_per_year))
        bar.update(count)
    bar.close()
    total, sharpe, drawdown = (np.concatenate(p) for p in zip(*parts, strict=True))
    summary = _summary(total, sharpe, drawdown, params.var_levels)
    summary["observed_sharpe"] = sharpe_ratio(returns, bars_per_year)
    return {"summary": summary, "total_return": total, "sharpe": sharpe,
            "max_drawdown": drawdown}


def resample_trades(trade_returns: np.ndarray, years: float, params: MonteCarloParams
                    ) -> dict[str, Any]:
    """Trades drawn with replacement (net returns of equity per trade); Sharpe per trade
    annualised with the observed trades per year."""
    trade_returns = np.asarray(trade_returns, float)
    if trade_returns.size < 2:
        return {"summary": {"trades": int(trade_returns.size),
                            "note": "fewer than 2 trades: nothing to resample"}}
    rng = np.random.default_rng(params.seed + 1)
    draws = trade_returns[rng.integers(0, trade_returns.size,
                                       size=(params.simulations, trade_returns.size))]
    per_year = trade_returns.size / years if years > 0 else float(trade_returns.size)
    total, sharpe, drawdown = _path_statistics(draws, per_year)
    summary = _summary(total, sharpe, drawdown, params.var_levels)
    summary["trades"] = int(trade_returns.size)
    return {"summary": summary, "total_return": total, "sharpe": sharpe,
            "max_drawdown": drawdown}
