"""Monte Carlo, overfitting statistics and A/B tests: analytic cases, null markets and
planted edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from ares_kedro.validation.ab_test import ABTestParams, ab_test
from ares_kedro.validation.monte_carlo import (
    MonteCarloParams,
    bootstrap_bar_returns,
    resample_trades,
    stationary_bootstrap_rows,
)
from ares_kedro.validation.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    probability_of_backtest_overfitting,
)

HOURS = 8760.0
MC = MonteCarloParams(simulations=4000, mean_block_bars=1, seed=7, var_levels=[0.95, 0.99],
                      chunk_bars=2_000_000)
AB = ABTestParams(control="champion", fallback_control="single_lightgbm", primary_metric="sharpe", alpha=0.05,
                  simulations=1000, mean_block_bars=24, seed=3,
                  rollout_shares=[0.1, 0.5, 1.0], stage_bars=168, stop_drawdown=0.1,
                  stop_sharpe_gap=1.0)


def test_stationary_bootstrap_keeps_blocks_of_consecutive_bars_of_the_given_mean_length():
    rows = stationary_bootstrap_rows(1000, 200, 20.0, np.random.default_rng(0))
    assert rows.shape == (200, 1000) and rows.min() >= 0 and rows.max() < 1000
    continues = (np.diff(rows, axis=1) % 1000) == 1
    assert 1 / (1 - continues.mean()) == pytest.approx(20.0, rel=0.1)


def test_monte_carlo_var_matches_the_normal_case_analytically():
    returns = np.random.default_rng(1).normal(0.0002, 0.01, 2000)
    result = bootstrap_bar_returns(returns, HOURS, MC)["summary"]
    logs = np.log1p(returns)
    n, m, s = logs.size, logs.mean(), logs.std()
    for level in (0.95, 0.99):
        analytic = -np.expm1(n * m + norm.ppf(1 - level) * np.sqrt(n) * s)
        assert result[f"var_{round(level * 100)}"] == pytest.approx(analytic, rel=0.1, abs=0.01)
        assert result[f"cvar_{round(level * 100)}"] >= result[f"var_{round(level * 100)}"]
    assert result["probability_of_loss"] == pytest.approx(norm.cdf(-n * m / (np.sqrt(n) * s)),
                                                          abs=0.04)


def test_monte_carlo_of_a_steady_winner_is_stable_and_of_a_coin_flip_is_not():
    rng = np.random.default_rng(2)
    steady = bootstrap_bar_returns(rng.normal(0.002, 0.01, 3000), HOURS, MC)["summary"]
    coin = bootstrap_bar_returns(rng.normal(0.0, 0.01, 3000), HOURS, MC)["summary"]
    assert steady["stability_score"] > 0.5 and steady["probability_of_loss"] < 0.01
    assert coin["stability_score"] < steady["stability_score"]
    assert coin["probability_of_loss"] > steady["probability_of_loss"]


def test_trade_resampling_keeps_the_trade_count_and_reorders_the_drawdowns():
    trades = np.array([0.05, -0.02, 0.03, -0.04, 0.01] * 10)
    result = resample_trades(trades, 1.0, MC)
    assert result["summary"]["trades"] == 50
    assert result["max_drawdown"].min() < result["max_drawdown"].max()
    assert resample_trades(np.array([0.1]), 1.0, MC)["summary"]["trades"] == 1


def test_deflated_sharpe_finds_no_edge_in_noise_after_many_trials():
    noise = np.random.default_rng(4).normal(0, 0.01, 2000)
    result = deflated_sharpe(noise, trials=200)
    assert not result["significant"] and result["p_value"] > 0.05
    assert result["expected_max_sharpe_per_bar"] > 0


def test_deflated_sharpe_keeps_a_strong_edge_and_deflates_more_with_more_trials():
    edge = np.random.default_rng(5).normal(0.002, 0.01, 2000)
    few, many = deflated_sharpe(edge, trials=2), deflated_sharpe(edge, trials=10_000)
    assert few["significant"] and many["deflated_sharpe"] < few["deflated_sharpe"]
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert expected_max_sharpe(100, 1.0) > expected_max_sharpe(10, 1.0) > 0


def test_probabilistic_sharpe_is_one_half_at_the_benchmark_and_penalises_fat_tails():
    rng = np.random.default_rng(6)
    normal = rng.normal(0.001, 0.01, 5000)
    assert probabilistic_sharpe(normal, normal.mean() / normal.std(ddof=1)) == \
        pytest.approx(0.5, abs=1e-6)
    fat = rng.standard_t(3, 5000) * 0.01 / np.sqrt(3) + 0.001
    fat *= normal.std() / fat.std()
    fat += normal.mean() - fat.mean()
    assert probabilistic_sharpe(fat, 0.0) < probabilistic_sharpe(normal, 0.0)


def test_pbo_is_near_one_half_for_pure_noise_and_low_for_a_true_winner():
    rng = np.random.default_rng(8)
    noise = rng.normal(0, 0.01, (1600, 20))
    assert 0.2 < probability_of_backtest_overfitting(noise, 10)["pbo"] < 0.8
    winner = noise.copy()
    winner[:, 3] += 0.004
    assert probability_of_backtest_overfitting(winner, 10)["pbo"] < 0.05
    with pytest.raises(ValueError, match="even number of blocks"):
        probability_of_backtest_overfitting(noise, 7)


def test_ab_test_promotes_a_better_treatment_keeps_a_worse_one_and_is_inconclusive_on_ties():
    rng = np.random.default_rng(9)
    market = rng.normal(0, 0.01, 4000)
    control = 0.5 * market + rng.normal(0, 0.002, 4000)
    better = control + 0.0015 + rng.normal(0, 0.002, 4000)
    assert ab_test(control, better, HOURS, AB)["decision"] == "promote"
    assert ab_test(better, control, HOURS, AB)["decision"] == "keep"
    tie = ab_test(control, control, HOURS, AB)
    assert tie["decision"] == "inconclusive" and tie["rollout"]["stages"] == []
    promoted = ab_test(control, better, HOURS, AB)
    assert [s["treatment_share"] for s in promoted["rollout"]["stages"]] == [0.1, 0.5, 1.0]
    assert "back to the control" in promoted["rollout"]["stop_rules"]


def test_ab_test_on_two_skill_less_strategies_is_inconclusive():
    rng = np.random.default_rng(10)
    market = rng.normal(0, 0.01, 3000)
    a = np.sign(rng.normal(size=3000)) * market * 0.5
    b = np.sign(rng.normal(size=3000)) * market * 0.5
    assert ab_test(a, b, HOURS, AB)["decision"] == "inconclusive"


def test_bad_statistics_parameters_are_refused():
    with pytest.raises(ValueError, match="rollout_shares"):
        ABTestParams.from_params({**AB.__dict__, "rollout_shares": [0.5, 0.2]})
    with pytest.raises(ValueError, match="var_levels"):
        MonteCarloParams.from_params({**MC.__dict__, "var_levels": [95]})
