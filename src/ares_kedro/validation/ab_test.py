"""A/B test of two models on the same out-of-sample bars, and the rollout that follows.

Control (the model in use, or a baseline) and treatment (the new model) are backtested on
the same bars. A **paired** stationary block bootstrap (the same resampled bars for both,
so their common market moves cancel) gives confidence intervals of the difference in
annualised Sharpe ratio and in mean bar return (annualised). The decision, on the primary
metric at significance ``alpha``: **promote** when the whole interval is above zero,
**keep** (the control) when it is below, **inconclusive** otherwise.

A promotion comes with a staged rollout plan: the treatment's share of traffic (capital)
per stage, the bars each stage lasts, and the stop rules that send everything back to the
control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ares_kedro.params import checked_keys
from ares_kedro.validation.metrics import sharpe_ratio, sharpe_ratios
from ares_kedro.validation.monte_carlo import stationary_bootstrap_rows

METRICS = ("sharpe", "mean_return")


EVIDENCE = ("test_period", "shadow_ledger")


@dataclass(frozen=True)
class ABTestParams:
    """``validation.ab_test`` in conf."""

    control: str  # champion (the registered model in use) or a baseline, e.g. single_lightgbm
    fallback_control: str  # a baseline, when there is no other champion to compare with
    primary_metric: str  # sharpe | mean_return
    alpha: float
    simulations: int
    mean_block_bars: int
    seed: int
    rollout_shares: list[float]  # treatment's share per stage, ending at 1
    stage_bars: int  # bars each stage lasts at least
    stop_drawdown: float  # a stage's treatment drawdown beyond this: back to control
    stop_sharpe_gap: float  # treatment's Sharpe this far below control's in a stage: back
    evidence: str = "test_period"  # test_period | shadow_ledger (paper bars, docs/shadow.md)
    shadow_folder: str = "data/11_shadow"  # shadow ledgers, one folder per market

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ABTestParams:
        spec = cls(**checked_keys(cls, params, "validation.ab_test"))
        if spec.evidence not in EVIDENCE:
            raise ValueError(f"validation.ab_test.evidence must be one of {EVIDENCE}")
        if spec.primary_metric not in METRICS or not 0 < spec.alpha < 0.5:
            raise ValueError(f"validation.ab_test: primary_metric in {METRICS}, alpha in "
                             "(0, 0.5)")
        if spec.fallback_control == "champion":
            raise ValueError("validation.ab_test.fallback_control must be a baseline, not "
                             "champion")
        shares = spec.rollout_shares
        if not shares or shares[-1] != 1 or any(b <= a for a, b in zip(shares, shares[1:],
                                                                         strict=False)):
            raise ValueError("validation.ab_test.rollout_shares must increase and end at 1")
        return spec


def ab_test(control: np.ndarray, treatment: np.ndarray, bars_per_year: float,
            params: ABTestParams) -> dict[str, Any]:
    """Paired bootstrap comparison of two (n,) net bar-return series on the same bars."""
    control, treatment = np.asarray(control, float), np.asarray(treatment, float)
    if control.shape != treatment.shape or control.size < 2:
        raise ValueError("A/B test: control and treatment need the same bars (>= 2)")
    rng = np.random.default_rng(params.seed)
    rows = stationary_bootstrap_rows(control.size, params.simulations,
                                     params.mean_block_bars, rng)
    a, b = control[rows], treatment[rows]
    differences = {
        "sharpe": sharpe_ratios(b, bars_per_year) - sharpe_ratios(a, bars_per_year),
        "mean_return": (b.mean(axis=1) - a.mean(axis=1)) * bars_per_year}
    observed = {
        "sharpe": sharpe_ratio(treatment, bars_per_year) - sharpe_ratio(control, bars_per_year),
        "mean_return": float((treatment.mean() - control.mean()) * bars_per_year)}
    out: dict[str, Any] = {"control_sharpe": sharpe_ratio(control, bars_per_year),
                           "treatment_sharpe": sharpe_ratio(treatment, bars_per_year),
                           "bars": int(control.size), "alpha": params.alpha,
                           "primary_metric": params.primary_metric}
    for name, values in differences.items():
        low, high = np.quantile(values, [params.alpha / 2, 1 - params.alpha / 2])
        out[f"{name}_difference"] = {
            "observed": observed[name], "ci_low": float(low), "ci_high": float(high),
            "p_value": float(min(1.0, 2 * min((values <= 0).mean(), (values >= 0).mean())))}
    primary = out[f"{params.primary_metric}_difference"]
    out["decision"] = ("promote" if primary["ci_low"] > 0 else
                       "keep" if primary["ci_high"] < 0 else "inconclusive")
    out["rollout"] = rollout_plan(out["decision"], params)
    return out


def rollout_plan(decision: str, params: ABTestParams) -> dict[str, Any]:
    """What happens next: staged rollout after a promotion, else why not."""
    if decision != "promote":
        return {"stages": [], "plan": (
            "keep the control; the treatment does not go live" if decision == "keep" else
            "keep the control; run the treatment in shadow (paper) mode beside it and repeat "
            "the test when more out-of-sample bars exist")}
    stop = (f"back to the control at once if the treatment's drawdown in a stage exceeds "
            f"{params.stop_drawdown:.1%} or its Sharpe ratio falls {params.stop_sharpe_gap} "
            "below the control's over the stage")
    return {"stages": [{"stage": k + 1, "treatment_share": share,
                        "min_bars": params.stage_bars} for k, share in
                       enumerate(params.rollout_shares)], "stop_rules": stop,
            "plan": "raise the treatment's share stage by stage while no stop rule fires"}
