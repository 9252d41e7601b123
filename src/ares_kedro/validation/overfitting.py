"""Overfitting statistics: is the out-of-sample Sharpe ratio more than luck and search?

* **Probabilistic Sharpe ratio** (Bailey & López de Prado, 2012): the probability that the
  true Sharpe ratio exceeds a benchmark ``SR*`` given the observed one, the number of bars
  and the returns' skewness and kurtosis (per-bar Sharpe ratios)::

      PSR(SR*) = Φ((SR - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR + (γ4 - 1) / 4 SR²))

* **Deflated Sharpe ratio** (2014): the PSR against the Sharpe ratio the best of ``N``
  trials would reach by luck alone::

      SR* = sqrt(V) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))),  γ = 0.5772 (Euler)

  with ``N`` the number of trials actually run (every Optuna trial of the studies behind
  the model) and ``V`` the variance of the trials' Sharpe ratios: the larger of their
  measured variance (when given) and the estimator's variance under no skill, 1/(T - 1).
  The edge is significant at level α when DSR > 1 - α (the p-value is 1 - DSR).

* **Probability of backtest overfitting** by combinatorially symmetric cross-validation
  (Bailey, Borwein, López de Prado & Zhu, 2015): the bars are cut into S blocks; for every
  choice of S/2 blocks as in-sample, the configuration with the best in-sample Sharpe is
  ranked out of sample; PBO is the share of choices where it lands in the bottom half
  (exactly at the median counts one half).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import kurtosis, norm, skew

EULER_GAMMA = 0.5772156649015329


def per_bar_sharpe(returns: np.ndarray) -> float:
    returns = np.asarray(returns, float)
    std = returns.std(ddof=1) if returns.size > 1 else 0.0
    return float(returns.mean() / std) if std > 0 else 0.0


def probabilistic_sharpe(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """PSR of per-bar ``returns`` against a per-bar Sharpe ``benchmark`` (probability)."""
    returns = np.asarray(returns, float)
    n = returns.size
    sharpe = per_bar_sharpe(returns)
    if n < 3 or returns.std() == 0:
        return 0.5 if sharpe == benchmark else float(sharpe > benchmark)
    g3, g4 = float(skew(returns)), float(kurtosis(returns, fisher=False))
    spread = np.sqrt(max(1.0 - g3 * sharpe + (g4 - 1.0) / 4.0 * sharpe ** 2, 1e-12))
    return float(norm.cdf((sharpe - benchmark) * np.sqrt(n - 1) / spread))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """Per-bar Sharpe the best of ``trials`` skill-less trials reaches by luck."""
    if trials <= 1:
        return 0.0
    return float(np.sqrt(variance) * ((1 - EULER_GAMMA) * norm.ppf(1 - 1.0 / trials)
                                      + EULER_GAMMA * norm.ppf(1 - 1.0 / (trials * np.e))))


def deflated_sharpe(returns: np.ndarray, trials: int, trial_sharpes: np.ndarray | None = None,
                    alpha: float = 0.05) -> dict[str, Any]:
    """Deflated Sharpe ratio of per-bar ``returns`` after ``trials`` trials.

    Args:
        trial_sharpes: per-bar Sharpe ratios of the trials, when known (their variance).
        alpha: significance level.
    """
    returns = np.asarray(returns, float)
    null_variance = 1.0 / max(returns.size - 1, 1)
    measured = float(np.var(trial_sharpes, ddof=1)) if trial_sharpes is not None and \
        np.size(trial_sharpes) > 1 else 0.0
    variance = max(null_variance, measured)
    benchmark = expected_max_sharpe(int(trials), variance)
    dsr = probabilistic_sharpe(returns, benchmark)
    return {"sharpe_per_bar": per_bar_sharpe(returns), "trials": int(trials),
            "trial_sharpe_variance": variance, "expected_max_sharpe_per_bar": benchmark,
            "probabilistic_sharpe": probabilistic_sharpe(returns, 0.0),
            "deflated_sharpe": dsr, "p_value": 1.0 - dsr, "alpha": alpha,
            "significant": bool(dsr > 1.0 - alpha)}


def probability_of_backtest_overfitting(returns: np.ndarray, blocks: int) -> dict[str, Any]:
    """PBO by CSCV of a (bars, configurations) matrix of per-bar returns."""
    returns = np.asarray(returns, float)
    bars, configurations = returns.shape
    if configurations < 2:
        return {"pbo": None, "note": "needs at least two configurations"}
    if np.allclose(returns, returns[:, :1]):
        return {"pbo": None, "note": "every configuration trades identically (e.g. none trades)"}
    if blocks % 2 or blocks < 2 or bars < 2 * blocks:
        raise ValueError(f"CSCV needs an even number of blocks >= 2 and >= 2 bars per block; "
                         f"got {blocks} blocks for {bars} bars")
    edges = np.linspace(0, bars, blocks + 1).astype(int)
    sums = np.add.reduceat(returns, edges[:-1], axis=0)  # (blocks, configurations)
    squares = np.add.reduceat(returns ** 2, edges[:-1], axis=0)
    counts = np.diff(edges).astype(float)[:, None]
    chosen = np.array([np.isin(np.arange(blocks), c)
                       for c in combinations(range(blocks), blocks // 2)], dtype=float)

    def sharpe(mask: np.ndarray) -> np.ndarray:  # (combinations, configurations)
        n, total, square = mask @ counts, mask @ sums, mask @ squares
        mean = total / n
        var = np.maximum(square / n - mean ** 2, 0.0) * n / np.maximum(n - 1, 1)
        return np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)

    in_sample, out_of_sample = sharpe(chosen), sharpe(1.0 - chosen)
    best = np.argmax(in_sample, axis=1)
    oos_of_best = out_of_sample[np.arange(len(best)), best]
    rank = (out_of_sample < oos_of_best[:, None]).sum(axis=1) + \
        0.5 * ((out_of_sample == oos_of_best[:, None]).sum(axis=1) + 1)
    relative = rank / (configurations + 1)
    logit = np.log(relative / (1 - relative))
    return {"pbo": float((logit < 0).mean() + 0.5 * (logit == 0).mean()), "combinations": int(len(best)),
            "configurations": int(configurations), "blocks": int(blocks),
            "logit_median": float(np.median(logit))}
