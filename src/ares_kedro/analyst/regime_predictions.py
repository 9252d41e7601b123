"""Every regime ensemble's calibrated opinion on the bars after training.

For each ensemble (one per regime, and GLOBAL), on every bar of the validation and test
periods: class probabilities, the predicted label, its confidence (the largest calibrated
probability) and the members' spread (:func:`~.calibration.ensemble_spread`), the
uncertainty carried to the governor beside the confidence.

Calibration is fitted on the validation period only (it lies after training), on the
ensemble's own regime's bars there (all validation bars when its regime has fewer than
``min_samples``):

* validation rows are **cross-fitted**: the first half is calibrated by a calibrator
  fitted on the second half and vice versa, so no row is calibrated with its own label and
  later stages can learn from these rows honestly;
* test rows use a calibrator fitted on the whole validation set;
* the report scores calibration on held-out rows only (fit on one half, score the other),
  before and after; when it worsens the held-out Brier score, calibration is not applied
  for that ensemble (its calibrator is None, recorded as ``applied: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ares_kedro.analyst.calibration import (
    ProbabilityCalibrator,
    calibration_report,
    cross_fitted,
    ensemble_spread,
)
from ares_kedro.analyst.ensembles import RegimeEnsemble, feature_matrix
from ares_kedro.analyst.labels import LABELS
from ares_kedro.analyst.regime_training import GLOBAL


@dataclass(frozen=True)
class RegimeOpinion:
    """One ensemble's raw probabilities and member spread on some bars."""

    proba: np.ndarray  # (n, 3) LABELS order, uncalibrated
    spread: np.ndarray  # (n,)


def ensemble_opinion(ensemble: RegimeEnsemble, features: pd.DataFrame) -> RegimeOpinion:
    """Raw probabilities and member spread of ``ensemble`` on ``features`` rows."""
    return members_opinion(ensemble, ensemble.member_probabilities(features))


def members_opinion(ensemble: RegimeEnsemble, members: dict[str, np.ndarray]
                    ) -> RegimeOpinion:
    """The opinion of ``ensemble`` from its members' (n, 3) probabilities (asked once:
    combined and spread from them)."""
    return RegimeOpinion(ensemble.combine(members), ensemble_spread(list(members.values())))


def regime_predictions(ensembles: dict[str, RegimeEnsemble], features: pd.DataFrame,
                       labels: pd.DataFrame, regimes: pd.Series, periods: pd.Series,
                       method: str, min_samples: int, bins: int, min_probability: float
                       ) -> tuple[pd.DataFrame, dict[str, ProbabilityCalibrator],
                                  dict[str, Any], dict[str, tuple[np.ndarray, ...]]]:
    """Calibrated predictions of every ensemble on the validation and test bars.

    Args:
        ensembles: {name: fitted ensemble}; name is a regime or GLOBAL.
        features: feature table of every bar (each ensemble picks its own columns).
        labels: ``analyst_labels`` of every bar.
        regimes: regime of every bar (strings).
        periods: "train" / "validation" / "test" / "" (gap) of every bar.

    Returns:
        (predictions, calibrators, report, chart_inputs): predictions indexed by the
        validation and test bars with ``period``, ``regime``, ``label``, ``is_labelled``
        and per ensemble ``<name>_p_long``, ``_p_short``, ``_p_hold``, ``_prediction``,
        ``_confidence``, ``_spread``; the calibrators fitted on all validation rows; per
        ensemble the held-out calibration report; per ensemble (before, after, labels) of
        the held-out rows for reliability diagrams (after = cross-fitted, even when not
        applied, so the diagram shows why).
    """
    keep = periods.isin(["validation", "test"]).to_numpy()
    rows_index = features.index[keep]
    period = periods.to_numpy()[keep]
    label = labels["label"].astype(str).to_numpy()[keep]
    labelled = labels["is_labelled"].to_numpy(dtype=bool)[keep]
    regime = regimes.astype(str).to_numpy()[keep]
    table: dict[str, Any] = {"period": period, "regime": regime, "label": label,
                             "is_labelled": labelled}
    calibrators: dict[str, ProbabilityCalibrator] = {}
    report: dict[str, Any] = {}
    charts: dict[str, tuple[np.ndarray, ...]] = {}
    validation = (period == "validation") & labelled
    for name, ensemble in ensembles.items():
        opinion = ensemble_opinion(ensemble, features.loc[rows_index])
        own, scope = validation & (regime == name), "own regime"
        if name == GLOBAL:
            own, scope = validation, "all validation bars"
        if own.sum() < min_samples and name != GLOBAL:
            own, scope = validation, "all validation bars"
        fit_rows = np.flatnonzero(own)
        if fit_rows.size < 2 * bins:
            raise ValueError(f"calibrating {name}: only {fit_rows.size} labelled validation "
                             "bars; use more data or a larger time_splits.validation_fraction")
        cross = cross_fitted(opinion.proba, label, fit_rows, method, min_probability)
        before = calibration_report(opinion.proba[fit_rows], label[fit_rows], bins)
        after = calibration_report(cross[fit_rows], label[fit_rows], bins)
        # calibration must not worsen the held-out Brier score: otherwise it is not applied
        applied = after["brier_score"] <= before["brier_score"]
        final = ProbabilityCalibrator(method, min_probability).fit(opinion.proba[fit_rows],
                                                                   label[fit_rows])
        calibrated = opinion.proba.copy()
        if applied:
            rest = np.setdiff1d(np.arange(len(period)), fit_rows)
            calibrated[fit_rows] = cross[fit_rows]
            calibrated[rest] = final.transform(opinion.proba[rest])
        calibrators[name] = final if applied else None
        report[name] = {
            "calibration_rows": int(fit_rows.size), "calibration_scope": scope,
            "method": method, "applied": bool(applied),
            "held_out_before": before, "held_out_after": after,
        }
        charts[name] = (opinion.proba[fit_rows], cross[fit_rows], label[fit_rows])
        table |= opinion_columns(name, calibrated, opinion.spread)
    return pd.DataFrame(table, index=rows_index), calibrators, report, charts


LABEL_STRINGS = pd.array(np.array(LABELS, dtype=object), dtype=str)  # taken, not converted


def opinion_columns(name: str, proba: np.ndarray, spread: np.ndarray) -> dict[str, Any]:
    """The ``analyst_predictions`` columns of ensemble ``name``: ``<name>_p_long``,
    ``_p_short``, ``_p_hold``, ``_prediction`` (a pandas string array: a table takes it as
    it is), ``_confidence``, ``_spread``."""
    columns: dict[str, Any] = {f"{name}_p_{c.lower()}": proba[:, k]
                               for k, c in enumerate(LABELS)}
    columns[f"{name}_prediction"] = LABEL_STRINGS.take(proba.argmax(axis=1))
    columns[f"{name}_confidence"] = proba.max(axis=1)
    columns[f"{name}_spread"] = spread
    return columns


def calibrated_opinions(ensembles: dict[str, RegimeEnsemble],
                        calibrators: dict[str, ProbabilityCalibrator | None],
                        features: pd.DataFrame) -> pd.DataFrame:
    """Every ensemble's calibrated opinion on ``features`` rows, in the
    ``analyst_predictions`` layout: what the test period gets, and live prediction too (a
    calibrator of None was not applied: raw probabilities)."""
    return pd.DataFrame(calibrated_opinion_columns(ensembles, calibrators, features),
                        index=features.index)


def calibrated_opinion_columns(ensembles: dict[str, RegimeEnsemble],
                               calibrators: dict[str, ProbabilityCalibrator | None],
                               features: pd.DataFrame) -> dict[str, Any]:
    """The columns of :func:`calibrated_opinions` as arrays (for a caller adding its own,
    e.g. the bars' regimes, before making one table)."""
    unique = {id(ensemble): ensemble for ensemble in ensembles.values()}
    columns = list(dict.fromkeys(name for ensemble in unique.values()
                                 for name in ensemble.feature_names_in_))
    values = feature_matrix(features, columns)  # read once for every ensemble
    position = {name: k for k, name in enumerate(columns)}
    table: dict[str, Any] = {}
    seen: dict[int, RegimeOpinion] = {}  # a stand-in shared by several regimes: asked once
    for name, ensemble in ensembles.items():
        if id(ensemble) not in seen:
            rows = values[:, [position[column] for column in ensemble.feature_names_in_]]
            seen[id(ensemble)] = members_opinion(ensemble,
                                                 ensemble.member_row_probabilities(rows))
        opinion = seen[id(ensemble)]
        calibrator = calibrators.get(name)
        proba = opinion.proba if calibrator is None else calibrator.transform(opinion.proba)
        table |= opinion_columns(name, proba, opinion.spread)
    return table


def out_of_fold_predictions(ensembles: dict[str, RegimeEnsemble], reports: dict[str, Any],
                            labels: pd.DataFrame) -> pd.DataFrame:
    """Each trained ensemble's out-of-fold opinion on its own training bars (long format:
    one row per ensemble and bar): ``ensemble``, ``p_long``, ``p_short``, ``p_hold``,
    ``prediction``, ``confidence``, ``spread`` (of the members' out-of-fold opinions),
    ``label``. Regimes using the GLOBAL stand-in are not
    repeated. Rows no fold tested are left out. What the tactician learns from."""
    parts = []
    for name, ensemble in ensembles.items():
        if reports[name]["model"] != "specialist":
            continue
        tested = ensemble.oof_tested_
        proba = ensemble.oof_proba_[tested]
        index = ensemble.sample_index_[tested]
        spread = ensemble_spread([member[tested]
                                  for member in ensemble.oof_member_proba_.values()])
        parts.append(pd.DataFrame({
            "ensemble": name,
            **{f"p_{c.lower()}": proba[:, k] for k, c in enumerate(LABELS)},
            "prediction": np.array(LABELS)[proba.argmax(axis=1)],
            "confidence": proba.max(axis=1),
            "spread": spread,
            "label": labels.loc[index, "label"].astype(str).to_numpy(),
        }, index=index))
    return pd.concat(parts).rename_axis("bar_time")
