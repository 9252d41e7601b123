"""The governor against its baselines, on the same bars, through the same decision rule.

Baselines: the class prior of the training labels, every single ensemble (GLOBAL and one
per regime, each on every bar), the best single ensemble (chosen by validation
log-loss), and a single global LightGBM without regimes. Each model's probabilities go
through the governor's decision rule and sizing (:func:`~.decisions.governor_decisions`
with the chosen margin and sizing): each model gets its **own** expected-return map, fitted
on its own validation-period predictions exactly as the governor's is
(:func:`strategy_gates`), because the edges of two models are not on one scale. They are
traded the same way (:func:`~.final_parameters.sized_performance`), so differences come
from the probabilities alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.labels import LABELS, PROBABILITY_COLUMNS
from ares_kedro.analyst.regime_training import classification_metrics
from ares_kedro.governor.decisions import EdgeGate, expected_return_map
from ares_kedro.governor.final_parameters import (
    DecisionInputs,
    evaluate,
    margin_gate,
    opinion_probabilities,
    opinion_probability_columns,
)
from ares_kedro.governor.inputs import ENSEMBLES
from ares_kedro.governor.policy import DecisionPolicy


def rival_probabilities(governor_inputs: pd.DataFrame, governor_proba: np.ndarray,
                        training_labels: np.ndarray, single_lightgbm_proba: np.ndarray
                        ) -> dict[str, np.ndarray]:
    """(n, 3) probabilities on the rows of ``governor_inputs`` of the governor (its followed
    opinion) and every rival it is compared with: the training labels' class prior, the
    single LightGBM and each ensemble alone."""
    return {"governor": governor_proba,
            "class_prior": prior_probabilities(training_labels, len(governor_inputs)),
            "single_lightgbm": single_lightgbm_proba,
            **{f"ensemble_{name}": ensemble_probabilities(governor_inputs, name)
               for name in ENSEMBLES}}


def out_of_fold_where_learned(meta_proba: np.ndarray, governor_inputs: pd.DataFrame,
                              oof_probabilities: pd.DataFrame,
                              learning_periods: tuple[str, ...]) -> np.ndarray:
    """The meta-learner's (n, 3) probabilities with its out-of-fold ones on the bars of the
    periods it learned from (NaN where no purged fold tested a bar)."""
    meta = np.array(meta_proba, dtype=float)
    learned = governor_inputs["period"].isin(learning_periods).to_numpy()
    oof = oof_probabilities.reindex(governor_inputs.index)[PROBABILITY_COLUMNS].to_numpy()
    meta[learned] = oof[learned]
    return meta


def ensemble_probabilities(rows: pd.DataFrame, name: str) -> np.ndarray:
    """(n, 3) LABELS-order probabilities of ensemble ``name`` from governor input rows."""
    return rows[[f"{name}_p_{c.lower()}" for c in LABELS]].to_numpy(dtype=float)


def prior_probabilities(training_labels: np.ndarray, n: int) -> np.ndarray:
    shares = np.array([(np.asarray(training_labels) == c).mean() for c in LABELS])
    return np.tile(shares, (n, 1))


def best_single_ensemble(rows: pd.DataFrame, labels: np.ndarray) -> str:
    """The ensemble with the lowest log-loss on ``rows`` (the validation bars)."""
    losses = {name: classification_metrics(labels, ensemble_probabilities(rows, name))["log_loss"]
              for name in ENSEMBLES}
    return min(losses, key=losses.get)


def strategy_gates(validation_proba: dict[str, np.ndarray], bar_rows: np.ndarray,
                   trades: pd.DataFrame, final_params: dict[str, Any]) -> dict[str, EdgeGate]:
    """Each model's gate from its own expected-return map on the validation rows
    ``bar_rows`` (rows without a prediction are left out), at the governor's margin
    (``governor_final_params``; 0 round-trip costs when it chose none, so that the
    baselines still say what they would have done)."""
    margin = final_params.get("expected_return_margin")
    margin = 0.0 if margin is None else float(margin)
    bin_rows = int(final_params["expected_return_bin_rows"])
    gates = {}
    for name, proba in validation_proba.items():
        known = ~np.isnan(proba).any(axis=1)
        if known.sum() < 2:
            gates[name] = EdgeGate.never()
            continue
        returns = expected_return_map(proba[known], np.asarray(bar_rows)[known], trades,
                                      bin_rows)
        gates[name] = margin_gate(returns, margin, trades)
    return gates


def compare(models: dict[str, np.ndarray], labels: np.ndarray, labelled: np.ndarray,
            inputs: DecisionInputs, gates: dict[str, EdgeGate], policy: DecisionPolicy,
            trades: pd.DataFrame, bars_per_year: float) -> dict[str, Any]:
    """Per model: classification metrics on the labelled rows and net trading metrics on all
    rows (``inputs`` carries the rows; ``models`` maps a name to its (n, 3) probabilities,
    ``gates`` to its gate; every model sized as ``policy`` sizes the governor)."""
    out = {}
    for name, proba in models.items():
        scored = labelled & ~np.isnan(proba).any(axis=1)
        out[name] = {
            "classification": (classification_metrics(labels[scored], proba[scored])
                               if scored.any() else None),
            "trading": evaluate(DecisionInputs(proba, inputs.bar_rows, inputs.volatility,
                                               inputs.trend_1d, inputs.index),
                                gates[name], policy.sizing, policy.context,
                                policy.payoff_ratio, trades, bars_per_year),
        }
    return out


def decision_table(governor_inputs: pd.DataFrame, meta_proba: np.ndarray,
                   final_params: dict[str, Any], inputs: DecisionInputs, policy: DecisionPolicy
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """``governor_decisions``: per bar the period, regime and label, the followed opinion's
    probabilities (``p_long`` ...), each candidate opinion's (``opinion_<name>_p_long``
    ...) and the decision of ``policy``; and the followed opinion's (n, 3) probabilities.
    ``meta_proba`` are the meta-learner's (out of fold where it learned)."""
    proba, decided = policy.decide(meta_proba, governor_inputs, inputs.volatility,
                                   inputs.trend_1d)
    opinions = {name: opinion_probabilities(final_params, meta_proba, governor_inputs, name)
                for name in final_params.get("opinions", ["governor"])}
    table = pd.concat([governor_inputs[["period", "regime", "label", "is_labelled"]],
                       pd.DataFrame(proba, columns=PROBABILITY_COLUMNS,
                                    index=governor_inputs.index),
                       *[pd.DataFrame(p, columns=opinion_probability_columns(name),
                                      index=governor_inputs.index)
                         for name, p in opinions.items()],
                       pd.DataFrame(decided, index=governor_inputs.index)], axis=1)
    return table, proba


def metrics_against_baselines(governor_inputs: pd.DataFrame, decisions: pd.DataFrame,
                              models: dict[str, np.ndarray], final_params: dict[str, Any],
                              inputs: DecisionInputs, policy: DecisionPolicy,
                              trades: pd.DataFrame, bars_per_year: float) -> dict[str, Any]:
    """``governor_metrics``: per period (validation out of fold, test) the classification
    and net trading metrics of every model of ``models`` (name -> (n, 3) on the rows of
    ``governor_inputs``; "governor" the chosen opinion), each gated by its own map from
    the validation rows, the governor by its tuned gate; the best single ensemble by
    validation log-loss."""
    validation = (governor_inputs["period"] == "validation").to_numpy()
    labels = governor_inputs["label"].astype(str).to_numpy()
    labelled = governor_inputs["is_labelled"].to_numpy(dtype=bool)
    best = best_single_ensemble(governor_inputs[validation & labelled],
                                labels[validation & labelled])
    gates = strategy_gates({name: p[validation] for name, p in models.items()},
                           inputs.bar_rows[validation], trades, final_params)
    gates["governor"] = policy.gate
    metrics: dict[str, Any] = {"best_single_ensemble": best, "periods": {},
                               "acts": bool(final_params.get("acts", False)),
                               "why": final_params.get("why"),
                               "gates": {name: g.record() for name, g in gates.items()}}
    for period in ("validation", "test"):
        rows = (governor_inputs["period"] == period).to_numpy()
        sub = DecisionInputs(None, inputs.bar_rows[rows], inputs.volatility[rows],
                             inputs.trend_1d[rows], governor_inputs.index[rows])
        metrics["periods"][period] = compare(
            {name: p[rows] for name, p in models.items()}, labels[rows], labelled[rows], sub,
            gates, policy, trades, bars_per_year)
        counts = decisions.loc[rows, "decision"].value_counts().to_dict()
        metrics["periods"][period]["governor"]["decisions"] = {k: int(v)
                                                               for k, v in counts.items()}
    metrics["note"] = ("validation: governor out of fold (it is trained there); test: never "
                       "trained, tuned or calibrated on. Trading: one position at a time, "
                       "the labels' exits, net of costs, sized; every model gated by its own "
                       "expected-return map from the validation period at the governor's "
                       "margin (0 when the governor chose none).")
    return metrics
