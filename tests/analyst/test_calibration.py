"""Calibration repairs mis-stated confidence on held-out data, in LABELS column order."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import clone

from ares_kedro.analyst.baseline import log_loss
from ares_kedro.analyst.calibration import (
    METHODS,
    CalibrationParams,
    ProbabilityCalibrator,
    calibration_report,
    ensemble_spread,
    reliability_diagram,
)
from ares_kedro.analyst.labels import LABELS

BINS = 10


def synthetic(n: int, seed: int, exponent: float, alpha=(1.0, 1.0, 1.0)):
    """True class probabilities p (LABELS order), labels drawn from them, and reported
    probabilities p**exponent renormalised: > 1 over-confident, < 1 under-confident."""
    rng = np.random.default_rng(seed)
    true = rng.dirichlet(alpha, n)
    drawn = np.minimum((rng.random(n)[:, None] > true.cumsum(axis=1)).sum(axis=1), 2)
    reported = true**exponent
    return reported / reported.sum(axis=1, keepdims=True), np.array(LABELS)[drawn]


def halves(proba, labels):
    h = len(labels) // 2
    return (proba[:h], labels[:h]), (proba[h:], labels[h:])


def mean_confidence_minus_accuracy(proba, labels):
    return proba.max(axis=1).mean() - (np.array(LABELS)[proba.argmax(axis=1)] == labels).mean()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("exponent, over_confident", [(3.0, True), (0.3, False)])
def test_calibration_fitted_on_one_half_improves_brier_and_ece_on_the_other(
        method, exponent, over_confident):
    (fit_proba, fit_labels), (held_proba, held_labels) = halves(*synthetic(10_000, 0, exponent))
    assert (mean_confidence_minus_accuracy(held_proba, held_labels) > 0.1) == over_confident
    held_copy = held_proba.copy()

    calibrated = ProbabilityCalibrator(method).fit(fit_proba, fit_labels).transform(held_proba)

    before = calibration_report(held_proba, held_labels, BINS)
    after = calibration_report(calibrated, held_labels, BINS)
    assert after["brier_score"] < before["brier_score"] - 0.03
    assert after["expected_calibration_error"] < before["expected_calibration_error"] / 4
    assert after["log_loss"] < before["log_loss"]
    assert after["accuracy"] == pytest.approx(before["accuracy"], abs=0.01)
    assert np.allclose(calibrated.sum(axis=1), 1) and (calibrated >= 0).all()
    np.testing.assert_array_equal(held_proba, held_copy)  # the input is not modified


def test_perfectly_calibrated_probabilities_have_ece_close_to_zero():
    proba, labels = synthetic(100_000, 1, exponent=1.0)
    assert calibration_report(proba, labels, BINS)["expected_calibration_error"] < 0.01


@pytest.mark.parametrize("method", METHODS)
def test_calibration_leaves_calibrated_probabilities_nearly_unchanged(method):
    (fit_proba, fit_labels), (held_proba, held_labels) = halves(*synthetic(20_000, 2, 1.0))
    calibrated = ProbabilityCalibrator(method).fit(fit_proba, fit_labels).transform(held_proba)
    assert np.abs(calibrated - held_proba).mean() < 0.02
    before = calibration_report(held_proba, held_labels, BINS)["brier_score"]
    assert calibration_report(calibrated, held_labels, BINS)["brier_score"] < before + 0.002


@pytest.mark.parametrize("method", METHODS)
def test_calibrated_columns_follow_labels_order(method):
    # skewed class frequencies: LONG ~ 2/3, SHORT ~ 2/9, HOLD ~ 1/9; a column calibrated
    # against another class's outcomes (e.g. sorted order HOLD, LONG, SHORT) misses them
    proba, labels = synthetic(10_000, 3, 2.0, alpha=(3.0, 1.0, 0.5))
    (fit_proba, fit_labels), (held_proba, held_labels) = halves(proba, labels)
    calibrated = ProbabilityCalibrator(method).fit(fit_proba, fit_labels).transform(held_proba)
    frequency = np.array([(held_labels == name).mean() for name in LABELS])
    np.testing.assert_allclose(calibrated.mean(axis=0), frequency, atol=0.03)  # swapped: > 0.4
    predicted = np.array(LABELS)[calibrated.argmax(axis=1)]
    assert (predicted == held_labels).mean() > 0.7


def test_report_reads_columns_in_labels_order():
    labels = np.array(["LONG", "SHORT", "HOLD"])
    report = calibration_report(np.eye(3), labels, BINS)  # column k is LABELS[k]
    assert report["brier_score"] == 0 and report["accuracy"] == 1
    assert report["balanced_accuracy"] == 1 and report["log_loss"] == pytest.approx(0, abs=1e-9)


def test_report_matches_a_hand_computation_on_three_rows():
    proba = np.array([[0.7, 0.2, 0.1],   # LONG:  0.3² + 0.2² + 0.1² = 0.14, top LONG right
                      [0.1, 0.6, 0.3],   # HOLD:  0.1² + 0.6² + 0.7² = 0.86, top SHORT wrong
                      [0.2, 0.5, 0.3]])  # SHORT: 0.2² + 0.5² + 0.3² = 0.38, top SHORT right
    labels = np.array(["LONG", "HOLD", "SHORT"])
    report = calibration_report(proba, labels, bins=3)
    assert report["brier_score"] == pytest.approx((0.14 + 0.86 + 0.38) / 3)
    assert report["log_loss"] == pytest.approx(-np.log([0.7, 0.3, 0.5]).mean())
    assert report["log_loss"] == pytest.approx(log_loss(labels, proba))
    # bins [0, 1/3), [1/3, 2/3), [2/3, 1]: confidence 0.7 alone, right: |1 - 0.7|;
    # 0.6 (wrong) and 0.5 (right) pooled: accuracy 0.5, confidence 0.55
    assert report["expected_calibration_error"] == pytest.approx(1 / 3 * 0.3 + 2 / 3 * 0.05)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["balanced_accuracy"] == pytest.approx(2 / 3)  # recalls 1, 0, 1
    assert report["n"] == 3


@pytest.mark.parametrize("method", METHODS)
def test_a_class_missing_from_calibration_labels_gives_no_nan(method):
    proba, labels = synthetic(4_000, 4, 3.0)
    present = labels != "SHORT"
    calibrator = ProbabilityCalibrator(method).fit(proba[present], labels[present])
    calibrated = calibrator.transform(proba)
    assert calibrator.calibrated_.tolist() == [True, False, True]
    assert np.isfinite(calibrated).all() and np.allclose(calibrated.sum(axis=1), 1)
    assert (calibrated[:, LABELS.index("SHORT")] > 0).mean() > 0.99  # passed through, not 0


@pytest.mark.parametrize("method", METHODS)
def test_calibration_on_a_single_class_passes_probabilities_through(method):
    proba, _ = synthetic(500, 5, 3.0)
    calibrator = ProbabilityCalibrator(method).fit(proba, np.full(500, "HOLD"))
    np.testing.assert_allclose(calibrator.transform(proba), proba)


def test_a_row_every_calibrator_sends_to_zero_keeps_its_input_probabilities():
    # outcomes only ever follow a probability of 0.8: isotonic maps 0.1 and below to 0
    proba = np.tile(np.eye(3) * 0.7 + 0.1, (50, 1))
    labels = np.tile(np.array(LABELS), 50)
    calibrator = ProbabilityCalibrator("isotonic").fit(proba, labels)
    out = calibrator.transform(np.array([[0.05, 0.02, 0.01], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out, [[5 / 8, 2 / 8, 1 / 8], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("method", METHODS)
def test_calibrator_clones_and_survives_pickling(method):
    proba, labels = synthetic(2_000, 6, 3.0)
    calibrator = clone(ProbabilityCalibrator(method)).fit(proba, labels,
                                                          sample_weight=np.ones(len(labels)))
    restored = pickle.loads(pickle.dumps(calibrator))
    np.testing.assert_array_equal(restored.transform(proba), calibrator.transform(proba))


def test_calibrator_refuses_unknown_methods_and_labels():
    proba, labels = synthetic(100, 7, 1.0)
    with pytest.raises(ValueError, match="method"):
        ProbabilityCalibrator("platt").fit(proba, labels)
    with pytest.raises(ValueError, match="unknown labels"):
        ProbabilityCalibrator().fit(proba, np.where(labels == "HOLD", "FLAT", labels))
    with pytest.raises(ValueError, match="shape"):
        ProbabilityCalibrator().fit(proba[:, :2], labels)


def test_reliability_diagram_draws_before_and_after_with_bin_counts():
    proba, labels = synthetic(2_000, 8, 3.0)
    after = ProbabilityCalibrator("sigmoid").fit(proba, labels).transform(proba)
    figure = reliability_diagram(proba, after, labels, BINS, "BULL_TREND")
    assert isinstance(figure, Figure)
    curves, counts = figure.axes
    names = [line.get_label() for line in curves.get_lines()]
    assert names == ["perfect calibration", "before calibration", "after calibration"]
    assert curves.get_title() == "BULL_TREND"
    heights = [[bar.get_height() for bar in bars] for bars in counts.containers]
    assert [sum(h) for h in heights] == [2_000, 2_000]
    figure.savefig(io.BytesIO(), format="png")  # renders without pyplot


def test_ensemble_spread_is_zero_when_members_agree_and_positive_when_they_disagree():
    proba, _ = synthetic(50, 9, 1.0)
    np.testing.assert_allclose(ensemble_spread([proba, proba, proba]), 0, atol=1e-12)
    assert (ensemble_spread([proba, proba[::-1]])[proba.argmax(1) != proba[::-1].argmax(1)]
            > 0).all()
    # mean (0.5, 0.4, 0.1) decides LONG; members give LONG 0.6 and 0.4: std 0.1
    members = [np.array([[0.6, 0.3, 0.1]]), np.array([[0.4, 0.5, 0.1]])]
    np.testing.assert_allclose(ensemble_spread(members), [0.1])
    with pytest.raises(ValueError):
        ensemble_spread([])


def test_calibration_params_are_read_from_conf():
    assert CalibrationParams.from_params({"method": "sigmoid", "bins": 15, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}) == (
        CalibrationParams(method="sigmoid", bins=15, min_samples=50, min_probability=0.001,
                          training_rows="validation"))


@pytest.mark.parametrize("params, message", [
    ({"method": "isotonic", "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "missing keys"),
    ({"method": "isotonic", "bins": 10, "n_bins": 10, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "unknown keys"),
    ({"method": "platt", "bins": 10, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "method"),
    ({"method": "isotonic", "bins": 1, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "bins"),
    ({"method": "isotonic", "bins": 2.5, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "bins"),
    ({"method": "isotonic", "bins": True, "min_samples": 50, "min_probability": 0.001, "training_rows": "validation"}, "bins"),
    ({"method": "isotonic", "bins": 10, "min_samples": 50, "min_probability": 0.001,
      "training_rows": "in_sample"}, "training_rows"),
    ({"method": "isotonic", "bins": 10, "min_samples": 0, "min_probability": 0.0, "training_rows": "validation"},
     "min_samples"),
    ({"method": "isotonic", "bins": 10, "min_samples": 5, "min_probability": 0.5, "training_rows": "validation"},
     "min_probability"),
])
def test_bad_calibration_params_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        CalibrationParams.from_params(params)


def test_no_rows_in_gives_no_rows_out():
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]] * 20)
    labels = np.array(["LONG", "SHORT", "HOLD"] * 20)
    calibrator = ProbabilityCalibrator("isotonic").fit(proba, labels)
    assert calibrator.transform(np.empty((0, 3))).shape == (0, 3)


def test_a_probability_floor_keeps_log_loss_finite_after_isotonic_calibration():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet([1, 1, 1], 300)
    labels = np.array(LABELS)[rng.integers(0, 3, 300)]
    floored = ProbabilityCalibrator("isotonic", min_probability=0.01).fit(proba, labels)
    out = floored.transform(rng.dirichlet([1, 1, 1], 300))
    assert out.min() >= 0.01 / (1 + 3 * 0.01) and np.allclose(out.sum(axis=1), 1)
