"""Confidence calibration of class probabilities, its report, and the ensemble's spread.

Probabilities are (n, 3) arrays whose columns follow :data:`~ares_kedro.analyst.labels.LABELS`
("LONG", "SHORT", "HOLD"; not sorted order), labels are arrays of those strings. The
calibrator is fitted on the validation period only, which lies after training (the caller
guarantees it); :func:`calibration_report` and :func:`reliability_diagram` compare before
and after on any period; :func:`ensemble_spread` is the uncertainty carried beside the
confidence to the governor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.validation import check_is_fitted

from ares_kedro.analyst.baseline import log_loss
from ares_kedro.analyst.labels import LABELS
from ares_kedro.params import checked_keys

logger = logging.getLogger(__name__)

METHODS = ("isotonic", "sigmoid")
_LOGIT_EPS = 1e-9  # probabilities are clipped to [eps, 1 - eps] before the logit


TRAINING_ROW_CALIBRATIONS = ("own_labels", "validation")
"""How the ensembles' out-of-fold opinions on the training bars are calibrated for the
governor: on their own labels, cross-fitted in two halves of time, or by the validation
calibrator that later rows go through (docs/decisions.md, "Governor")."""


@dataclass(frozen=True)
class CalibrationParams:
    """``analyst.calibration`` in conf."""

    method: str  # "isotonic" | "sigmoid" (Platt scaling)
    bins: int  # equal-width confidence bins of the calibration error and reliability diagram
    min_samples: int  # fewer validation bars of an ensemble's regime: calibrate on all of them
    min_probability: float  # floor of a calibrated class probability (before renormalising)
    training_rows: str  # TRAINING_ROW_CALIBRATIONS: the map of the out-of-fold training rows

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CalibrationParams:
        spec = cls(**checked_keys(cls, params, "analyst.calibration"))
        if spec.training_rows not in TRAINING_ROW_CALIBRATIONS:
            raise ValueError(f"analyst.calibration.training_rows must be one of "
                             f"{TRAINING_ROW_CALIBRATIONS}, got {spec.training_rows!r}")
        if spec.method not in METHODS:
            raise ValueError(f"analyst.calibration.method must be one of {METHODS}, got "
                             f"{spec.method!r}")
        if isinstance(spec.bins, bool) or not isinstance(spec.bins, Integral) or spec.bins < 2:
            raise ValueError(f"analyst.calibration.bins must be an integer >= 2, got "
                             f"{spec.bins!r}")
        if int(spec.min_samples) < 1:
            raise ValueError("analyst.calibration.min_samples must be >= 1")
        if not 0 <= spec.min_probability < 1 / len(LABELS):
            raise ValueError("analyst.calibration.min_probability must be in [0, 1/3)")
        return spec


def _checked_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(LABELS):
        raise ValueError(f"probabilities must be (n, {len(LABELS)}) with columns {LABELS}, "
                         f"got shape {proba.shape}")
    if not np.isfinite(proba).all() or (proba < 0).any():
        raise ValueError("probabilities must be finite and >= 0")
    return proba


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) bool truth in LABELS order; unknown label names are an error."""
    labels = np.asarray(labels).astype(str)
    if labels.shape != (n,):
        raise ValueError(f"labels must be a 1-D array of {n} class names, got shape "
                         f"{labels.shape}")
    truth = labels[:, None] == np.array(LABELS)[None, :]
    if not truth.any(axis=1).all():
        raise ValueError(f"unknown labels {sorted(set(labels) - set(LABELS))}, expected {LABELS}")
    return truth


def logit(p: np.ndarray) -> np.ndarray:
    """(n, 1) log-odds of probabilities ``p``, clipped away from 0 and 1."""
    return log_odds(p).reshape(-1, 1)


def log_odds(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities ``p`` (any shape), clipped away from 0 and 1."""
    p = np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def platt_probability(model: LogisticRegression, p: np.ndarray) -> np.ndarray:
    """(n,) probability a Platt calibrator (:func:`platt_scaling`) gives raw probabilities
    ``p``: ``model.predict_proba(logit(p))[:, 1]`` computed as scikit-learn does
    (``expit`` of the linear score), without its per-call input checks."""
    return expit(logit(p)[:, 0] * model.coef_[0, 0] + model.intercept_[0])


def platt_scaling(p: np.ndarray, y: np.ndarray, weight: np.ndarray) -> LogisticRegression:
    """Platt scaling: unpenalised logistic regression of ``y`` on logit(p), with Platt's
    smoothed targets (N+ + 1)/(N+ + 2) and 1/(N- + 2), which keep the fit finite when the
    class is separable. Each row enters twice, once per target value, weighted by how much
    of the smoothed target it carries."""
    positives = int(y.sum())
    target = np.where(y, (positives + 1) / (positives + 2), 1 / (y.size - positives + 2))
    x = logit(p)
    model = LogisticRegression(C=np.inf)
    return model.fit(np.vstack([x, x]), np.r_[np.ones(y.size), np.zeros(y.size)],
                     sample_weight=np.r_[weight * target, weight * (1 - target)])


class ProbabilityCalibrator(TransformerMixin, BaseEstimator):
    """One-vs-rest calibration of (n, 3) class probabilities in LABELS order.

    Each class column is mapped by its own 1-D calibrator, fitted on (probability of the
    class, whether it is the true class): ``method="isotonic"`` (monotone step function,
    clipped outside the fitted range) or ``"sigmoid"`` (Platt scaling on the logit). Rows
    are then renormalised to sum to 1; a row the calibrators send to all zeros keeps its
    input probabilities (renormalised). A class that is absent from the calibration labels,
    or is the only one present, has nothing to calibrate against: its column passes through
    unchanged (``calibrated_`` is False for it) instead of becoming 0 or NaN.
    ``min_probability`` floors every calibrated class probability before renormalising: an
    isotonic step fitted on a few hundred rows otherwise says 0 for outcomes that do happen
    (infinite log-loss).
    """

    def __init__(self, method: str = "isotonic", min_probability: float = 0.0):
        self.method = method
        self.min_probability = min_probability

    def fit(self, proba: np.ndarray, labels: np.ndarray,
            sample_weight: np.ndarray | None = None) -> ProbabilityCalibrator:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        proba = _checked_proba(proba)
        truth = _one_hot(labels, len(proba))
        weight = (np.ones(len(proba)) if sample_weight is None
                  else np.asarray(sample_weight, dtype=float))
        calibrators: list[Any] = []
        for k in range(len(LABELS)):
            y = truth[:, k]
            if y.all() or not y.any():
                calibrators.append(None)
            elif self.method == "isotonic":
                calibrators.append(IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                                   .fit(proba[:, k], y.astype(float), sample_weight=weight))
            else:
                calibrators.append(platt_scaling(proba[:, k], y, weight))
        self.calibrators_ = calibrators
        self.calibrated_ = np.array([c is not None for c in calibrators])
        if not self.calibrated_.all():
            logger.warning("calibration (%s): classes %s are absent from (or alone in) the %d "
                           "calibration labels and stay uncalibrated", self.method,
                           [name for name, ok in zip(LABELS, self.calibrated_, strict=True)
                            if not ok], len(proba))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated (n, 3) probabilities in LABELS order, rows summing to 1."""
        check_is_fitted(self, "calibrators_")
        proba = _checked_proba(proba)
        out = proba.copy()
        if len(proba) == 0:
            return out
        platt = []
        for k, calibrator in enumerate(self.calibrators_):
            if isinstance(calibrator, IsotonicRegression):
                out[:, k] = calibrator.predict(proba[:, k])
            elif calibrator is not None:
                platt.append(k)
        if platt:  # platt_probability of every Platt column at once (the same arithmetic)
            models = [self.calibrators_[k] for k in platt]
            out[:, platt] = expit(log_odds(proba[:, platt])
                                  * np.array([model.coef_[0, 0] for model in models])
                                  + np.array([model.intercept_[0] for model in models]))
        calibrated = np.asarray(self.calibrated_)
        out[:, calibrated] = np.maximum(out[:, calibrated], self.min_probability)
        degenerate = out.sum(axis=1) <= 0
        out[degenerate] = proba[degenerate]  # all calibrated to 0: keep the input row
        total = out.sum(axis=1, keepdims=True)  # still 0 only for an all-zero input row
        return np.divide(out, total, out=np.full_like(out, 1 / len(LABELS)), where=total > 0)


def cross_fitted(proba: np.ndarray, labels: np.ndarray, fit_rows: np.ndarray, method: str,
                 min_probability: float) -> np.ndarray:
    """A copy of (n, 3) ``proba`` where the rows ``fit_rows`` (sorted positions) are
    calibrated in two halves, each by a :class:`ProbabilityCalibrator` fitted on the other
    half's rows and ``labels``: no row is calibrated with its own label."""
    out = np.array(proba, dtype=float, copy=True)
    halves = np.array_split(np.asarray(fit_rows), 2)
    for k, part in enumerate(halves):
        other = halves[1 - k]
        out[part] = ProbabilityCalibrator(method, min_probability).fit(
            proba[other], labels[other]).transform(proba[part])
    return out


def _reliability(proba: np.ndarray, labels: np.ndarray, bins: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of top-label confidence on [0, 1]: (count, mean confidence,
    accuracy); empty bins give NaN means."""
    proba = _checked_proba(proba)
    truth = _one_hot(labels, len(proba))
    top = proba.argmax(axis=1)
    confidence = proba[np.arange(len(proba)), top]
    correct = truth[np.arange(len(proba)), top].astype(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # bin k: [k, k+1) / bins
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, minlength=bins) / count
        accuracy = np.bincount(which, correct, minlength=bins) / count
    return count, mean_confidence, accuracy


def calibration_report(proba: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, float]:
    """Scores of (n, 3) probabilities (LABELS order) against ``labels``; all fractions.

    ``brier_score``: mean over rows of the sum over classes of (p - one-hot truth)^2, in
    [0, 2]; ``log_loss``: natural log; ``expected_calibration_error``: over ``bins``
    equal-width bins of the top-label confidence, the share-weighted |accuracy - mean
    confidence|; ``accuracy`` and ``balanced_accuracy`` of the most probable class; ``n``.
    """
    proba = _checked_proba(proba)
    if len(proba) == 0:
        raise ValueError("calibration_report needs at least one row")
    truth = _one_hot(labels, len(proba))
    count, mean_confidence, accuracy = _reliability(proba, labels, bins)
    filled = count > 0
    predicted = np.array(LABELS)[proba.argmax(axis=1)]
    labels = np.asarray(labels).astype(str)
    return {
        "brier_score": float(np.mean(np.sum((proba - truth) ** 2, axis=1))),
        "log_loss": log_loss(labels, proba),
        "expected_calibration_error": float(np.sum(
            count[filled] / len(proba) * np.abs(accuracy[filled] - mean_confidence[filled]))),
        "accuracy": float(np.mean(predicted == labels)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "n": len(proba),
    }


def reliability_diagram(before: np.ndarray, after: np.ndarray, labels: np.ndarray, bins: int,
                        title: str) -> Figure:
    """Top-label confidence against accuracy per bin, before and after calibration, with
    the diagonal of perfect calibration above and the bin counts below."""
    figure = Figure(figsize=(6, 6.5), layout="constrained")
    curves, counts = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    curves.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    width = 1.0 / bins
    centres = (np.arange(bins) + 0.5) * width
    for name, proba, offset in (("before", before, -0.2), ("after", after, 0.2)):
        count, mean_confidence, accuracy = _reliability(proba, labels, bins)
        filled = count > 0
        line = curves.plot(mean_confidence[filled], accuracy[filled], marker="o",
                           label=f"{name} calibration")[0]
        counts.bar(centres + offset * width, count, width=0.4 * width, color=line.get_color(),
                   label=name)
    curves.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy (fraction correct)", title=title)
    curves.legend(loc="upper left")
    counts.set(xlabel="top-label confidence", ylabel="rows per bin")
    return figure


def ensemble_spread(member_probas: list[np.ndarray]) -> np.ndarray:
    """Disagreement of an ensemble's members about its own decision, per row (n,).

    Each member gives (n, 3) probabilities in LABELS order. The ensemble's decision is the
    most probable class of the members' mean; the spread is the standard deviation (over
    members, ddof=0, a fraction in [0, 0.5]) of the probability each member gives to that
    class. 0 means every member is equally confident in the decision (a single member gives
    0); a high value means the mean confidence hides members that disagree, which the
    governor can treat as uncertainty beside the (calibrated) confidence.
    """
    if len(member_probas) == 0:
        raise ValueError("ensemble_spread needs at least one member's probabilities")
    stacked = np.stack([_checked_proba(p) for p in member_probas])  # (members, n, 3)
    decision = stacked.mean(axis=0).argmax(axis=1)
    return stacked[:, np.arange(stacked.shape[1]), decision].std(axis=0)
