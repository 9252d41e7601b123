"""The governor: trained only on out-of-sample opinions, one Pipeline from raw row to
decision, trades the direction of its edge where the expected net return clears the gate,
sizes from the tactician's rules, and a final-parameter study that records its Pareto
front, its trial count and why it acts or holds."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest

from ares_kedro.analyst.labels import LABELS, BarrierParams, barrier_trades
from ares_kedro.analyst.regime_training import GLOBAL
from ares_kedro.governor.decisions import (
    EdgeGate,
    ExpectedReturnMap,
    expected_return_map,
    governor_decisions,
)
from ares_kedro.governor.final_parameters import (
    DecisionInputs,
    FinalOptimisationParams,
    decision_gate,
    opinion_probabilities,
    optimise_final_parameters,
)
from ares_kedro.governor.inputs import ENSEMBLES, feature_columns, governor_inputs
from ares_kedro.governor.model import (
    GovernorModelParams,
    class_probabilities,
    fit_governor,
    prepared_rows,
)
from ares_kedro.regimes import REGIMES
from ares_kedro.studies import StudySettings
from tests.conftest import load_parameters
from tests.tactician.test_no_lookahead import CONTEXT
from tests.tactician.test_sizing import PARAMS as SIZING

MODEL = GovernorModelParams(cv_folds=3, early_stopping_rounds=10, early_stopping_share=0.2,
                            seed=1, lightgbm={"n_estimators": 200, "learning_rate": 0.05,
                                              "num_leaves": 7, "min_child_samples": 20,
                                              "n_jobs": 1})


def opinions(n: int, seed: int = 0, periods=("validation", "test")) -> pd.DataFrame:
    """``analyst_predictions``-like rows whose ensembles know the label a little."""
    rng = np.random.default_rng(seed)
    label = rng.choice(LABELS, n, p=[0.3, 0.3, 0.4])
    truth = np.stack([label == c for c in LABELS], axis=1).astype(float)
    table = {"period": np.where(np.arange(n) < n // 2, periods[0], periods[1]),
             "regime": rng.choice(REGIMES, n), "label": label, "is_labelled": True}
    for k, name in enumerate(ENSEMBLES):
        logits = (0.8 + 0.2 * k) * truth + rng.normal(0, 1, (n, 3))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for column, c in enumerate(LABELS):
            table[f"{name}_p_{c.lower()}"] = proba[:, column]
        table[f"{name}_prediction"] = np.array(LABELS)[proba.argmax(axis=1)]
        table[f"{name}_confidence"] = proba.max(axis=1)
        table[f"{name}_spread"] = rng.uniform(0, 0.1, n)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(table, index=index)


def no_signals(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"side": [], "p_win": [], "p_wait": [], "size": []},
                        index=index[:0])


def test_the_governor_trades_the_direction_of_its_edge_beyond_the_gate():
    """HOLD is the most probable class of every row but the third: the argmax would never
    trade; the edge p_long - p_short does, where it clears the gate."""
    proba = np.array([[0.35, 0.05, 0.6], [0.3, 0.25, 0.45], [0.1, 0.7, 0.2],
                      [0.2, 0.2, 0.6], [np.nan, np.nan, np.nan], [0.05, 0.25, 0.7]])
    gate = EdgeGate(long_edge=0.1, short_edge=0.3)
    decided = governor_decisions(proba, gate, np.full(6, 0.5), np.zeros(6), 1.0, SIZING,
                                 CONTEXT, pd.RangeIndex(6))
    assert list(decided["prediction"]) == ["LONG", "LONG", "SHORT", "HOLD", "HOLD", "SHORT"]
    assert list(decided["decision"]) == ["LONG", "HOLD", "SHORT", "HOLD", "HOLD", "HOLD"]
    assert list(decided["side"]) == [1, 0, -1, 0, 0, 0]
    np.testing.assert_allclose(decided["edge"].iloc[[0, 2]], [0.3, -0.6])
    # confidence: the predicted side's share of the two directional outcomes
    assert decided["confidence"].iloc[0] == pytest.approx(0.35 / 0.4)
    assert decided["size"].iloc[0] > 0 > decided["size"].iloc[2]
    assert (decided["size"].iloc[[1, 3, 4, 5]] == 0).all()
    assert decided["size"].abs().max() <= SIZING.max_position


def test_a_gate_that_never_opens_holds_everywhere():
    proba = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    decided = governor_decisions(proba, EdgeGate.never(), np.full(2, 0.5), np.zeros(2), 1.0,
                                 SIZING, CONTEXT, pd.RangeIndex(2))
    assert (decided["decision"] == "HOLD").all() and (decided["size"] == 0).all()
    assert EdgeGate.from_record(EdgeGate.never().record()) == EdgeGate.never()


def test_the_gate_opens_where_the_expected_net_return_beats_the_margin():
    """Net returns rise with the edge for the long and fall for the short: the fitted map
    is monotone and the gate sits where the expected net return crosses the margin."""
    rng = np.random.default_rng(0)
    edge = rng.uniform(-0.5, 0.5, 20_000)
    long_return = 0.01 * edge - 0.002 + rng.normal(0, 0.002, edge.size)
    short_return = -0.01 * edge - 0.002 + rng.normal(0, 0.002, edge.size)
    returns = ExpectedReturnMap.fit(edge, long_return, short_return, bin_rows=200)
    assert (np.diff(returns.long_return) >= 0).all() and (np.diff(returns.short_return) <= 0).all()
    assert returns.rows == edge.size and len(returns.edge_low) == edge.size // 200
    gate = returns.gate(margin=0.0)
    assert gate.long_edge == pytest.approx(0.2, abs=0.03)
    assert gate.short_edge == pytest.approx(0.2, abs=0.03)
    stricter = returns.gate(margin=0.001)
    assert stricter.long_edge > gate.long_edge and stricter.short_edge > gate.short_edge
    assert returns.gate(margin=0.01) == EdgeGate.never()  # no edge earns 1 % a trade
    again = ExpectedReturnMap.from_record(returns.record())
    assert again.gate(0.0) == gate


def test_an_edge_that_does_not_pay_its_costs_opens_no_gate():
    rng = np.random.default_rng(1)
    edge = rng.uniform(-0.5, 0.5, 5_000)
    noise = rng.normal(0, 0.004, (2, edge.size))
    returns = ExpectedReturnMap.fit(edge, noise[0] - 0.002, noise[1] - 0.002, bin_rows=50)
    assert returns.gate(margin=0.0) == EdgeGate.never()
    assert returns.best_expected_return() < 0.001


CALIBRATION = {"method": "sigmoid", "bins": 10, "min_samples": 200, "min_probability": 0.001,
               "training_rows": "validation"}


def _oof_table(index: pd.Index, seed: int) -> pd.DataFrame:
    """``analyst_oof_predictions``-like rows: GLOBAL on every bar, BULL_TREND's specialist
    on the first half."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, bars in ((GLOBAL, index), ("BULL_TREND", index[: len(index) // 2])):
        proba = rng.dirichlet([2, 2, 3], len(bars))
        parts.append(pd.DataFrame({"ensemble": name, "p_long": proba[:, 0],
                                   "p_short": proba[:, 1], "p_hold": proba[:, 2],
                                   "prediction": np.array(LABELS)[proba.argmax(axis=1)],
                                   "confidence": proba.max(axis=1),
                                   "spread": rng.uniform(0, 0.1, len(bars)),
                                   "label": "HOLD"}, index=bars))
    return pd.concat(parts)


def test_training_bars_reach_the_governor_only_as_out_of_fold_opinions():
    """The training rows of ``governor_inputs`` are the ensembles' out-of-fold opinions
    (the bar's own regime's specialist where it has one, GLOBAL's elsewhere), never an
    in-sample prediction; a predictions table that carries training bars is refused."""
    from ares_kedro.pipelines.governor import nodes

    later = opinions(400)
    train_index = later.index[:200] - pd.Timedelta(hours=400)
    oof = _oof_table(train_index, seed=3)
    regimes = pd.Series("BULL_TREND", index=train_index.append(later.index))
    regimes.iloc[100:200] = "BEAR_TREND"  # no specialist: GLOBAL's opinion stands in
    labels = pd.DataFrame({"label": "HOLD", "is_labelled": True}, index=regimes.index)
    table = nodes.assemble_governor_inputs(later, oof, {}, labels,
                                           pd.DataFrame({"regime": regimes}),
                                           no_signals(later.index), CALIBRATION)
    train = table[table["period"] == "train"]
    assert len(train) == 200 and len(table) == 600
    bull, global_ = oof[oof["ensemble"] == "BULL_TREND"], oof[oof["ensemble"] == GLOBAL]
    np.testing.assert_array_equal(train["own_p_long"].iloc[:100], bull["p_long"])
    np.testing.assert_array_equal(train["own_p_long"].iloc[100:], global_["p_long"].iloc[100:])
    np.testing.assert_array_equal(train["GLOBAL_p_long"], global_["p_long"])
    np.testing.assert_allclose(train["GLOBAL_edge"], global_["p_long"] - global_["p_short"])
    leaked = opinions(200, seed=5, periods=("train", "train"))
    leaked.index = train_index
    with pytest.raises(ValueError, match="out-of-fold"):
        nodes.assemble_governor_inputs(pd.concat([leaked, later]), oof, {}, labels,
                                       pd.DataFrame({"regime": regimes}),
                                       no_signals(later.index), CALIBRATION)


def test_out_of_fold_training_opinions_go_through_the_validation_calibrator_by_default():
    """The default (``training_rows: validation``): one map for every row the governor
    learns from and decides on, the validation calibrator later rows go through, so a
    training row and a test row with the same raw opinion get the same calibrated one."""
    from ares_kedro.analyst.calibration import CalibrationParams, ProbabilityCalibrator
    from ares_kedro.governor.inputs import training_opinions

    n = 600
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    label = np.random.default_rng(5).choice(LABELS, n, p=[0.3, 0.3, 0.4])
    oof = _oof_table(index, seed=5)
    oof = oof[oof["ensemble"] == GLOBAL]
    raw = oof[["p_long", "p_short", "p_hold"]].to_numpy()
    labels = pd.DataFrame({"label": label, "is_labelled": True}, index=index)
    validation = ProbabilityCalibrator("sigmoid", 0.001).fit(
        np.tile([0.5, 0.2, 0.3], (n, 1)), label)  # shrinks every opinion towards the prior
    rows = CalibrationParams.from_params(
        {**load_parameters()["analyst"]["calibration"]}).training_rows
    assert rows == "validation"
    table = training_opinions(oof, {GLOBAL: validation}, pd.Series("BULL_TREND", index=index),
                              labels, min_rows=200, calibration_rows=rows)
    np.testing.assert_allclose(
        table[["GLOBAL_p_long", "GLOBAL_p_short", "GLOBAL_p_hold"]].to_numpy(),
        validation.transform(raw))
    with pytest.raises(ValueError, match="training_rows"):
        CalibrationParams.from_params({**load_parameters()["analyst"]["calibration"],
                                       "training_rows": "in_sample"})


def test_out_of_fold_training_opinions_may_be_calibrated_on_their_own_labels_cross_fitted():
    """``training_rows: own_labels``: a fold model's opinion on its own scale (here: far
    too sure of LONG) is calibrated on the training rows themselves, each half by a
    calibrator of the other half, with the validation calibrator's method."""
    from ares_kedro.analyst.calibration import ProbabilityCalibrator
    from ares_kedro.governor.inputs import training_opinions

    n = 2000
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    rng = np.random.default_rng(4)
    label = rng.choice(LABELS, n, p=[0.3, 0.3, 0.4])
    oof = _oof_table(index, seed=4)
    oof = oof[oof["ensemble"] == GLOBAL].assign(p_long=0.8, p_short=0.1, p_hold=0.1)
    labels = pd.DataFrame({"label": label, "is_labelled": True}, index=index)
    identity = ProbabilityCalibrator("sigmoid", 0.001).fit(
        np.tile([1 / 3, 1 / 3, 1 / 3], (n, 1)), label)  # what validation would give
    table = training_opinions(oof, {GLOBAL: identity}, pd.Series("BULL_TREND", index=index),
                              labels, min_rows=200, calibration_rows="own_labels")
    assert abs(table["GLOBAL_p_long"].mean() - 0.3) < 0.03  # the LONG frequency, not 0.8
    first, second = np.array_split(np.arange(n), 2)
    assert table["GLOBAL_p_long"].iloc[first].nunique() == 1  # one map per half
    own_half = ProbabilityCalibrator("sigmoid", 0.001).fit(
        oof[["p_long", "p_short", "p_hold"]].to_numpy()[second], label[second])
    np.testing.assert_allclose(
        table[["GLOBAL_p_long", "GLOBAL_p_short", "GLOBAL_p_hold"]].iloc[first].to_numpy(),
        own_half.transform(oof[["p_long", "p_short", "p_hold"]].to_numpy()[first]))
    few = training_opinions(oof.iloc[:100], {GLOBAL: identity},
                            pd.Series("BULL_TREND", index=index), labels, min_rows=200,
                            calibration_rows="own_labels")
    np.testing.assert_allclose(few["GLOBAL_p_long"],  # too few rows: validation's calibrator
                               identity.transform(np.tile([0.8, 0.1, 0.1], (100, 1)))[:, 0])


def test_the_governor_learns_from_training_and_validation_bars_never_from_test(monkeypatch):
    from ares_kedro.pipelines.governor import nodes

    later = opinions(400)
    earlier = opinions(300, seed=7, periods=("train", "train"))
    earlier.index = later.index[:300] - pd.Timedelta(hours=400)
    table = governor_inputs(pd.concat([earlier, later]), no_signals(later.index))
    labels = pd.DataFrame({"label": table["label"], "is_labelled": True,
                           "label_end": np.arange(len(table)), "uniqueness": 1.0},
                          index=table.index)
    seen = {}

    def spy(rows, *args, **kwargs):
        seen["rows"] = rows
        return fit_governor(rows, *args, **kwargs)

    monkeypatch.setattr(nodes, "fit_governor", spy)
    model = {"cv_folds": 3, "early_stopping_rounds": 10, "early_stopping_share": 0.2,
             "seed": 1, "lightgbm": MODEL.lightgbm, "learners": ["lightgbm", "logistic"],
             "logistic": {"C": 0.1, "max_iter": 500}}
    _, oof, report = nodes.train_governor(table, labels, model, {"embargo_bars": 2})
    learned = table[table["period"] != "test"]
    assert seen["rows"].index.equals(learned.index)
    assert report["rows_per_period"] == {"train": 300, "validation": 200}
    assert oof.index.equals(learned.index)
    pd.testing.assert_frame_equal(seen["rows"], learned[feature_columns()], check_freq=False)


def test_one_pipeline_from_raw_row_to_probabilities_same_for_one_row_or_many():
    rows = opinions(600)
    table = governor_inputs(rows, no_signals(rows.index))[feature_columns()]
    labels = rows["label"].to_numpy()
    pipeline, oof, report = fit_governor(table, labels, np.ones(len(rows)),
                                         np.arange(len(rows)), MODEL, embargo=2)
    assert [name for name, _ in pipeline.steps] == ["prepare", "model"]
    assert 1 <= report["n_estimators"] <= MODEL.lightgbm["n_estimators"]
    assert np.isfinite(oof).all(axis=1).mean() > 0.95
    batch = class_probabilities(pipeline, table)
    one_by_one = np.vstack([class_probabilities(pipeline, table.iloc[[k]]) for k in range(5)])
    np.testing.assert_allclose(batch[:5], one_by_one)
    # the ensembles know the label: so does the governor, out of fold
    hits = np.array(LABELS)[np.nanargmax(np.nan_to_num(oof, nan=-1), axis=1)] == labels
    assert hits.mean() > 0.5


BOTH = GovernorModelParams(**{**MODEL.__dict__, "learners": ("lightgbm", "logistic"),
                              "logistic": {"C": 0.1, "max_iter": 2000}})


def test_the_learner_with_the_lower_out_of_fold_log_loss_is_the_governor():
    """Both candidates predict the same purged folds; the report keeps both scores, the
    governor is the better one, and its out-of-fold probabilities are that learner's."""
    rows = opinions(600, seed=3)
    table = governor_inputs(rows, no_signals(rows.index))[feature_columns()]
    labels = rows["label"].to_numpy()
    pipeline, oof, report = fit_governor(table, labels, np.ones(len(rows)),
                                         np.arange(len(rows)), BOTH, embargo=2)
    losses = report["out_of_fold_log_loss"]
    assert set(losses) == {"lightgbm", "logistic"}
    assert report["learner"] == min(losses, key=losses.get)
    alone = GovernorModelParams(**{**BOTH.__dict__, "learners": (report["learner"],)})
    _, oof_alone, _ = fit_governor(table, labels, np.ones(len(rows)), np.arange(len(rows)),
                                   alone, embargo=2)
    np.testing.assert_allclose(oof, oof_alone)
    batch = class_probabilities(pipeline, table)
    np.testing.assert_allclose(batch[:3], np.vstack(
        [class_probabilities(pipeline, table.iloc[[k]]) for k in range(3)]))


def test_a_linear_stacker_copies_the_one_opinion_that_knows():
    """When one input knows the label and the rest is noise, the logistic stacker's
    out-of-fold predictions are as good as that input (a weight on it) and it wins."""
    rows = opinions(900, seed=4)
    rng = np.random.default_rng(4)
    for name in ENSEMBLES:  # noise everywhere ...
        noise = rng.dirichlet([2, 2, 2], len(rows))
        for column, c in enumerate(LABELS):
            rows[f"{name}_p_{c.lower()}"] = noise[:, column]
    truth = np.stack([rows["label"].to_numpy() == c for c in LABELS], axis=1)
    knows = np.where(truth, 0.7, 0.15)  # ... but GLOBAL knows
    for column, c in enumerate(LABELS):
        rows[f"GLOBAL_p_{c.lower()}"] = knows[:, column]
    table = governor_inputs(rows, no_signals(rows.index))[feature_columns()]
    labels = rows["label"].to_numpy()
    logistic = GovernorModelParams(**{**BOTH.__dict__, "learners": ("logistic",)})
    _, oof, report = fit_governor(table, labels, np.ones(len(rows)), np.arange(len(rows)),
                                  logistic, embargo=2)
    tested = np.isfinite(oof).all(axis=1)
    hits = np.array(LABELS)[oof[tested].argmax(axis=1)] == labels[tested]
    assert hits.mean() > 0.95
    assert report["out_of_fold_log_loss"]["logistic"] < np.log(3) / 2


@pytest.mark.parametrize("model", [{"learners": ["forest"]}, {"learners": []},
                                   {"learners": ["logistic"], "logistic": {"max_iter": 10}},
                                   {"learners": ["logistic"], "logistic": {"C": 1, "tol": 1,
                                                                           "colour": 2}}])
def test_the_governor_learners_are_checked(model):
    base = {"cv_folds": 3, "early_stopping_rounds": 10, "early_stopping_share": 0.2,
            "seed": 1, "lightgbm": {"n_estimators": 10}, "learners": ["lightgbm"],
            "logistic": {}}
    with pytest.raises(ValueError, match="governor.model"):
        GovernorModelParams.from_params({**base, **model})


def test_prepared_rows_are_the_fitted_encoder_and_scalers_numbers():
    """The NumPy encoding equals scikit-learn's ``transform`` bit for bit, from a table or
    from its columns as arrays, with a category the encoder never saw (all zeros)."""
    rows = opinions(300)
    table = governor_inputs(rows, no_signals(rows.index))[feature_columns()]
    pipeline, _, _ = fit_governor(table, rows["label"].to_numpy(), np.ones(len(rows)),
                                  np.arange(len(rows)), MODEL, embargo=2)
    prepare = pipeline.named_steps["prepare"]
    unseen = table.copy()
    unseen.iloc[:7, unseen.columns.get_loc("regime")] = "NOT_A_REGIME"
    for frame in (table, unseen):
        expected = prepare.transform(frame)
        np.testing.assert_array_equal(prepared_rows(prepare, frame), expected)
        columns = {name: frame[name].to_numpy() for name in frame.columns}
        np.testing.assert_array_equal(prepared_rows(prepare, columns), expected)
    encoder = prepare.named_transformers_["categories"]
    widths = [len(known) for known in encoder.categories_]
    regime_at = list(encoder.feature_names_in_).index("regime")
    first = sum(widths[:regime_at])
    regime_block = prepared_rows(prepare, unseen)[:, first:first + widths[regime_at]]
    assert (regime_block[:7] == 0).all() and (regime_block[7:].sum(axis=1) == 1).all()


def _market(n: int, seed: int, step: float = 0.004) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random-walk hourly bars (``step`` = log-return sd; 0 = flat) and their barrier trades
    (0.4 % take-profit and stop, 6 bars, 0.1 % costs)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, step, n))) if step else np.full(n, 100.0)
    bars = pd.DataFrame({"open": close, "high": close * (1 + step / 2),
                         "low": close * (1 - step / 2), "close": close},
                        index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    return bars, barrier_trades(bars, BarrierParams(0.004, 0.004, 6, 0.001))[0]


def _leaning_towards(outcome: np.ndarray, seed: int, noise: float) -> np.ndarray:
    """(n, 3) probabilities whose p_long rises where ``outcome`` is true."""
    rng = np.random.default_rng(seed)
    p_long = np.clip(0.33 + 0.3 * outcome + rng.normal(0, noise, outcome.size), 0.01, 0.9)
    return np.stack([p_long, (1 - p_long) / 2, (1 - p_long) / 2], axis=1)


def _study(n_trials: int, min_trades: int) -> FinalOptimisationParams:
    return FinalOptimisationParams(n_trials=n_trials, seed=1, expected_return_margin=[-0.5, 2.0],
                                   target_volatility=[0.2, 1.0], max_position=[0.2, 1.0],
                                   max_drawdown_limit=0.3, min_trades=min_trades,
                                   min_validation_sharpe=0.0)


def test_the_final_parameter_study_reports_its_front_and_resumes(tmp_path):
    n = 800
    bars, trades = _market(n, seed=3)
    # probabilities that lean towards the long trade's outcome (an edge to find)
    proba = _leaning_towards((trades["long_outcome"] == 1).to_numpy(), seed=3, noise=0.1)
    inputs = DecisionInputs(proba, np.arange(n), np.full(n, 0.5), np.zeros(n), bars.index)
    params = _study(8, min_trades=5)
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0, params,
                                       StudySettings(storage, False))
    assert result["trials_run"] == 8 and result["pareto_front"]
    assert -0.5 <= result["expected_return_margin"] <= 2.0
    assert result["chosen_trial"] in {t["trial"] for t in result["pareto_front"]}
    assert result["chosen_metrics"]["sharpe"] > 0  # the edge is found, net of costs
    assert result["acts"] and decision_gate(result) == EdgeGate.from_record(result["gate"])
    assert decision_gate(result).long_edge < float("inf")
    assert "out-of-fold net Sharpe" in result["why"]
    assert result["significance"]["p_value"] < 0.05 and result["significance"]["trials"] == 8
    again = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0, params,
                                      StudySettings(storage, False))
    assert again["trials_run"] == 8 and again["chosen_trial"] == result["chosen_trial"]


def test_a_governor_without_an_edge_holds_and_says_why(tmp_path):
    n = 300
    bars, trades = _market(n, seed=0, step=0.0)  # a flat market: every trade loses its costs
    proba = np.tile([0.45, 0.1, 0.45], (n, 1))
    inputs = DecisionInputs(proba, np.arange(n), np.full(n, 0.5), np.zeros(n), bars.index)
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0,
                                       _study(4, min_trades=1),
                                       StudySettings(f"sqlite:///{tmp_path / 's.db'}", False))
    assert not result["acts"] and result["chosen_trial"] is None and result["gate"] is None
    assert result["trials_run"] == 4 and result["pareto_front"] == []
    assert "min_trades" in result["why"] and "round-trip cost" in result["why"]
    assert result["best_expected_net_return"] == pytest.approx(-0.001)
    assert decision_gate(result) == EdgeGate.never()


def test_a_profitable_looking_choice_that_is_not_significant_does_not_act(tmp_path):
    """On a random walk, probabilities that know nothing: whatever the study finds, it
    must beat what the best of its trials would show by chance, or the governor holds."""
    n = 800
    bars, trades = _market(n, seed=8)
    proba = _leaning_towards(np.random.default_rng(9).random(n) < 0.3, seed=9, noise=0.1)
    inputs = DecisionInputs(proba, np.arange(n), np.full(n, 0.5), np.zeros(n), bars.index)
    any_sharpe = replace(_study(12, min_trades=5), min_validation_sharpe=-1e9)
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0,
                                       any_sharpe,
                                       StudySettings(f"sqlite:///{tmp_path / 's.db'}", False))
    assert not result["acts"] and decision_gate(result) == EdgeGate.never()
    assert result["significance"]["p_value"] >= 0.05 and "not significant" in result["why"]


def test_a_governor_that_loses_on_validation_does_not_trade(tmp_path):
    n = 800
    bars, trades = _market(n, seed=4)
    # confident, and wrong: it leans towards the long trade exactly when it loses
    proba = _leaning_towards((trades["long_outcome"] != 1).to_numpy(), seed=4, noise=0.05)
    inputs = DecisionInputs(proba, np.arange(n), np.full(n, 0.5), np.zeros(n), bars.index)
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0,
                                       _study(6, min_trades=5),
                                       StudySettings(f"sqlite:///{tmp_path / 's.db'}", False))
    assert not result["acts"]
    assert decision_gate(result) == EdgeGate.never()
    decided = governor_decisions(proba, decision_gate(result), np.full(n, 0.5),
                                 np.zeros(n), 1.0, SIZING, CONTEXT, bars.index)
    assert (decided["decision"] == "HOLD").all() and (decided["size"] == 0).all()


def test_the_expected_return_map_reads_the_trades_at_the_rows():
    bars, trades = _market(50, seed=2)
    proba = np.tile([0.5, 0.2, 0.3], (10, 1))
    returns = expected_return_map(proba, np.arange(10, 20), trades, bin_rows=50)
    assert returns.rows == 10
    assert returns.long_return[0] == pytest.approx(trades["long_return"].iloc[10:20].mean())


def test_the_study_follows_the_opinion_that_trades_best_out_of_fold(tmp_path):
    """A meta-learner that knows nothing beside an ensemble that leans towards the winning
    side: the decisions follow the ensemble, and the choice is recorded and counted."""
    n = 800
    bars, trades = _market(n, seed=3)
    knows = _leaning_towards((trades["long_outcome"] == 1).to_numpy(), seed=3, noise=0.1)
    noise = _leaning_towards(np.random.default_rng(5).random(n) < 0.3, seed=5, noise=0.1)
    inputs = DecisionInputs(noise, np.arange(n), np.full(n, 0.5), np.zeros(n), bars.index)
    params = replace(_study(24, min_trades=5), opinions=("governor", "GLOBAL"))
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0, params,
                                       StudySettings(f"sqlite:///{tmp_path / 's.db'}", False),
                                       {"GLOBAL": knows})
    assert result["opinion"] == "GLOBAL" and result["acts"]
    assert "following the GLOBAL opinion" in result["why"]
    assert set(result["expected_return_maps"]) == {"governor", "GLOBAL"}
    best = result["best_sharpe_by_opinion"]
    assert best["GLOBAL"] > max(best["governor"] or 0.0, 0.0)
    assert result["significance"]["trials"] == 24  # every trial of both opinions counted
    rows = pd.DataFrame({f"GLOBAL_p_{c.lower()}": knows[:, k] for k, c in enumerate(LABELS)})
    np.testing.assert_array_equal(opinion_probabilities(result, noise, rows), knows)
    np.testing.assert_array_equal(opinion_probabilities({}, noise, rows), noise)


def test_the_mean_opinion_averages_the_meta_learner_global_and_own_regime():
    """``mean`` is the equal-weight average of the three opinions, with nothing fitted; a
    bar where one of them is missing has no mean opinion either."""
    governor = np.array([[0.6, 0.1, 0.3], [0.2, 0.5, 0.3]])
    global_, own = [[0.3, 0.3, 0.4], [np.nan, 0.2, 0.3]], [[0.0, 0.6, 0.4], [0.5, 0.2, 0.3]]
    rows = {f"{name}_p_{c.lower()}": np.array(table)[:, k]
            for name, table in (("GLOBAL", global_), ("own", own)) for k, c in enumerate(LABELS)}
    mean = opinion_probabilities({"opinion": "mean"}, governor, rows)
    np.testing.assert_allclose(mean[0], [0.3, 1 / 3, 1 / 3 + 1 / 30])
    assert np.isnan(mean[1]).any()
    np.testing.assert_allclose(mean[0].sum(), 1.0)


@pytest.mark.parametrize("opinions", [("GLOBAL",), ("governor", "best_guess"), ()])
def test_the_opinions_to_choose_from_are_checked(opinions):
    with pytest.raises(ValueError, match="opinions"):
        FinalOptimisationParams.from_params({**asdict(_study(4, 1)), "opinions": list(opinions)})


@pytest.mark.parametrize("shuffled", [False, True])
def test_an_ensemble_trained_on_shuffled_labels_gives_the_governor_nothing_to_trade(
        tmp_path, shuffled):
    """From labels to decisions: an ensemble learns, out of fold, from a feature that leads
    the next trade's outcome, and the final study acts on it; with the same labels shuffled
    in time, the out-of-fold opinion is chance and the governor holds."""
    from tests.analyst.test_ensembles import ensemble

    n = 1500
    bars, trades = _market(n, seed=11)
    rng = np.random.default_rng(12)
    wins = (trades["long_outcome"] == 1).to_numpy()
    features = pd.DataFrame({"lead": wins + rng.normal(0, 0.6, n),
                             **{f"noise_{k}": rng.normal(size=n) for k in range(4)}},
                            index=bars.index)
    labels = np.where(wins, "LONG", np.where(trades["short_outcome"] == 1, "SHORT", "HOLD"))
    if shuffled:
        labels = rng.permutation(labels)
    model = ensemble().fit(features, labels)
    tested = model.oof_tested_
    proba = model.oof_proba_[tested]
    rows = np.flatnonzero(tested)
    inputs = DecisionInputs(proba, rows, np.full(rows.size, 0.5), np.zeros(rows.size),
                            bars.index[rows])
    result = optimise_final_parameters(inputs, SIZING, CONTEXT, 1.0, trades, 8760.0,
                                       replace(_study(12, min_trades=5),
                                               min_validation_sharpe=-1e9),
                                       StudySettings(f"sqlite:///{tmp_path / 's.db'}", False))
    if shuffled:
        assert not result["acts"] and decision_gate(result) == EdgeGate.never()
        assert (result.get("significance") or {"p_value": 1.0})["p_value"] >= 0.05
    else:
        assert result["acts"] and result["significance"]["p_value"] < 0.01
