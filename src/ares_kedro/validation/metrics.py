"""Performance of a backtest: returns, risk, and trading statistics.

Returns are compounded; annualised figures use a 365-day year (crypto trades every day):
``bars_per_year = 365 days / bar interval``. Sharpe and Sortino are computed on the net
bar returns, flat bars included (0), with a zero risk-free rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ares_kedro.validation.backtest import Backtest


def sharpe_ratios(paths: np.ndarray, bars_per_year: float) -> np.ndarray:
    """Annualised Sharpe ratio of each row of a (k, n) array of simple bar returns, n >= 2
    (0 for a row that does not vary)."""
    std = paths.std(axis=1, ddof=1)
    return np.where(std > 0, paths.mean(axis=1) / np.where(std > 0, std, 1.0), 0.0) * \
        np.sqrt(bars_per_year)


def sharpe_ratio(returns: np.ndarray, bars_per_year: float) -> float:
    """Annualised Sharpe ratio of simple bar returns (0 when they do not vary)."""
    returns = np.asarray(returns, float)
    return float(sharpe_ratios(returns[None], bars_per_year)[0]) if returns.size > 1 else 0.0


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of equity from its running peak (fraction, >= 0); equity starts at 1."""
    equity = np.cumprod(1.0 + np.asarray(returns, float))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return float((1.0 - equity / peak).max(initial=0.0))


def performance(backtest: Backtest) -> dict[str, Any]:
    """Every headline metric of ``backtest`` (fractions, not percent)."""
    returns = backtest.bar_returns.to_numpy()
    trades = backtest.trades
    years = returns.size / backtest.bars_per_year
    total = float(np.prod(1.0 + returns) - 1.0) if returns.size else 0.0
    with np.errstate(over="ignore"):  # a few bars of a big gain annualise to infinity
        annual = float(np.expm1(np.log1p(total) / years)) if years > 0 and total > -1 else -1.0
    downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)) if returns.size else 0.0
    drawdown = max_drawdown(returns)
    net = trades["net_return"].to_numpy()
    wins, losses = net[net > 0].sum(), -net[net < 0].sum()
    return {
        "total_return": total,
        "annualised_return": annual,
        "sharpe": sharpe_ratio(returns, backtest.bars_per_year),
        "sortino": float(returns.mean() / downside * np.sqrt(backtest.bars_per_year))
        if downside > 0 else 0.0,
        "max_drawdown": drawdown,
        "calmar": float(annual / drawdown) if drawdown > 0 else 0.0,
        "win_rate": float((net > 0).mean()) if net.size else 0.0,
        "profit_factor": float(wins / losses) if losses > 0 else (float("inf") if wins > 0
                                                                    else 0.0),
        "turnover": float(2.0 * trades["size"].sum() / years) if years > 0 else 0.0,
        "exposure": float((backtest.positions.to_numpy() != 0).mean()) if returns.size else 0.0,
        "trades": int(net.size),
        "fees": float(trades["fees"].sum()),
        "slippage": float(trades["slippage"].sum()),
        "funding": float(trades["funding"].sum()),
        "short_interest": float(trades["short_interest"].sum()),
        "bars": int(returns.size),
    }
