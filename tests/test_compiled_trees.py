"""Compiled trees give each library's own probabilities, on data with missing values."""

from __future__ import annotations

import copy
import multiprocessing
import sys
import threading

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier

from ares_kedro.analyst.models import XGBoostClassifier
from ares_kedro.compiled_trees import scorer as compiled_trees
from ares_kedro.compiled_trees.scorer import (
    MAX_LEAVES_FOR_BITVECTORS,
    ROWS_PER_BITVECTOR_BLOCK,
    ROWS_PER_THREAD,
    CompiledTrees,
    _row_max,
    _row_sum,
    compiled,
    tree_probabilities,
)

CLASSES = np.array(["HOLD", "LONG", "SHORT"])


def market_like(rows: int, seed: int, missing_share: float = 0.05) -> tuple[pd.DataFrame,
                                                                             np.ndarray]:
    """Features with heavy tails, repeated values, exact zeros and NaN; a label that
    depends on them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "trend": rng.standard_t(3, rows),
        "flow": np.round(rng.normal(0, 1, rows), 1),  # ties on split thresholds
        "volume": np.where(rng.random(rows) < 0.2, 0.0, rng.lognormal(0, 1, rows)),
        "noise": rng.normal(0, 1e-3, rows),
    })
    score = frame["trend"] + 0.5 * frame["flow"] + rng.normal(0, 1, rows)
    labels = np.where(score > 0.8, "LONG", np.where(score < -0.8, "SHORT", "HOLD"))
    values = frame.to_numpy().copy()
    values[rng.random(values.shape) < missing_share] = np.nan
    return pd.DataFrame(values, columns=frame.columns), labels


def fitted_models(features: pd.DataFrame, labels: np.ndarray) -> dict[str, object]:
    binary = labels == "LONG"
    codes = np.unique(labels, return_inverse=True)[1]
    return {
        "lightgbm": lgb.LGBMClassifier(n_estimators=60, num_leaves=15, verbose=-1,
                                       random_state=0).fit(features, labels),
        "lightgbm dart": lgb.LGBMClassifier(n_estimators=30, boosting_type="dart",
                                            drop_rate=0.2, verbose=-1,
                                            random_state=0).fit(features, labels),
        "lightgbm binary": lgb.LGBMClassifier(n_estimators=40, verbose=-1,
                                              random_state=0).fit(features, binary),
        "lightgbm without missing values": lgb.LGBMClassifier(
            n_estimators=40, verbose=-1, random_state=0).fit(features.fillna(0.0), labels),
        "lightgbm early stopped": lgb.LGBMClassifier(
            n_estimators=200, verbose=-1, random_state=0).fit(
                features[:1500], codes[:1500], eval_X=(features[1500:],),
                eval_y=(codes[1500:],), callbacks=[lgb.early_stopping(5, verbose=False)]),
        "xgboost (ours)": XGBoostClassifier({"n_estimators": 60, "max_depth": 4,
                                             "random_state": 0}).fit(features, labels),
        "xgboost dart": XGBoostClassifier({"n_estimators": 30, "booster": "dart",
                                           "rate_drop": 0.2, "random_state": 0}
                                          ).fit(features, labels),
        "xgboost binary": xgb.XGBClassifier(n_estimators=40, random_state=0).fit(
            features, binary.astype(int)),
        "random forest": RandomForestClassifier(n_estimators=25, min_samples_leaf=5,
                                                random_state=0).fit(features, labels),
    }


@pytest.fixture(scope="module")
def market():
    train, labels = market_like(2_000, seed=1)
    unseen, _ = market_like(600, seed=2, missing_share=0.15)
    return fitted_models(train, labels), unseen


@pytest.mark.parametrize("name", ["lightgbm", "lightgbm dart", "lightgbm binary",
                                  "lightgbm without missing values", "lightgbm early stopped",
                                  "xgboost (ours)", "xgboost dart", "xgboost binary",
                                  "random forest"])
def test_probabilities_equal_the_librarys_own(market, name):
    models, unseen = market
    model = models[name]
    native = model.predict_proba(unseen)
    ours = CompiledTrees.from_model(model).predict_proba(unseen.to_numpy())
    assert ours.shape == native.shape
    # double-precision libraries agree to the last bits; XGBoost computes in float32
    tolerance = 1e-6 if "xgboost" in name else 1e-12
    np.testing.assert_allclose(ours, native, rtol=0, atol=tolerance)
    assert (ours.argmax(axis=1) == native.argmax(axis=1)).all()


def test_missing_values_follow_each_nodes_default_side(market):
    """A row of NaN only walks the default sides: still the library's answer."""
    models, unseen = market
    empty = pd.DataFrame(np.full((3, unseen.shape[1]), np.nan), columns=unseen.columns)
    for name, model in models.items():
        tolerance = 1e-6 if "xgboost" in name else 1e-12
        np.testing.assert_allclose(
            CompiledTrees.from_model(model).predict_proba(empty.to_numpy()),
            model.predict_proba(empty), atol=tolerance, err_msg=name)


def test_a_large_batch_split_over_threads_equals_one_thread(market):
    models, _ = market
    big, _ = market_like(2 * ROWS_PER_THREAD + 7, seed=3)
    trees = CompiledTrees.from_model(models["lightgbm"])
    together = trees.predict_proba(big.to_numpy())
    one_by_one = np.vstack([trees.predict_proba(big.to_numpy()[k: k + 1000])
                            for k in range(0, len(big), 1000)])
    np.testing.assert_array_equal(together, one_by_one)


def test_probabilities_in_labels_order_and_unseen_class_zero(market):
    models, unseen = market
    order = ("LONG", "SHORT", "HOLD")
    proba = tree_probabilities(models["random forest"], unseen.to_numpy(), order)
    native = models["random forest"].predict_proba(unseen)
    for k, label in enumerate(order):
        np.testing.assert_allclose(proba[:, k], native[:, list(CLASSES).index(label)],
                                   atol=1e-12)
    two_classes = tree_probabilities(models["lightgbm binary"], unseen.to_numpy(),
                                     (True, False, "HOLD"))
    assert (two_classes[:, 2] == 0).all()


def test_a_refitted_model_is_compiled_again():
    features, labels = market_like(500, seed=4)
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(features, labels)
    first = compiled(model)
    assert compiled(model) is first  # kept while the fit stands
    model.fit(features, np.roll(labels, 7))
    again = compiled(model)
    assert again is not first
    np.testing.assert_allclose(again.predict_proba(features.to_numpy()),
                               model.predict_proba(features), atol=1e-12)


def test_wrong_shapes_and_unknown_models_are_refused(market):
    models, unseen = market
    trees = CompiledTrees.from_model(models["lightgbm"])
    with pytest.raises(ValueError, match=r"rows must be \(n, 4\)"):
        trees.predict_proba(unseen.to_numpy()[:, :3])
    features, labels = market_like(300, seed=10)
    zero_is_missing = xgb.XGBClassifier(n_estimators=3, missing=0.0).fit(
        features, np.unique(labels, return_inverse=True)[1])
    with pytest.raises(ValueError, match=r"missing=0\.0 is not supported"):
        CompiledTrees.from_model(zero_is_missing)
    with pytest.raises(TypeError, match="cannot compile a LogisticRegression"):
        from sklearn.linear_model import LogisticRegression

        CompiledTrees.from_model(LogisticRegression())


def walked(trees: CompiledTrees) -> CompiledTrees:
    """The same trees scored by walking them, node by node."""
    walker = copy.copy(trees)
    walker.bitvectors = None
    return walker


@pytest.mark.parametrize("rows", [1, ROWS_PER_BITVECTOR_BLOCK - 1, ROWS_PER_BITVECTOR_BLOCK + 1,
                                  600])
def test_leaf_bitvectors_find_the_exit_leaves_a_walk_finds(market, rows):
    """Bit for bit, for every kind of model, on rows with missing values, in whole and
    partial blocks of rows."""
    models, unseen = market
    values = unseen.to_numpy()[:rows]
    for name, model in models.items():
        trees = CompiledTrees.from_model(model)
        assert trees.bitvectors is not None, name
        np.testing.assert_array_equal(trees.raw_scores(values),
                                      walked(trees).raw_scores(values), err_msg=name)


def test_trees_with_more_than_64_leaves_span_several_words(market):
    """A left subtree whose leaves cross a word boundary clears bits in both words."""
    train, labels = market_like(4_000, seed=5)
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=200, min_child_samples=3,
                               verbose=-1, random_state=0).fit(train, labels)
    trees = CompiledTrees.from_model(model)
    bitvectors = trees.bitvectors
    assert bitvectors is not None
    assert (np.diff(bitvectors.tree_word_start) >= 3).any()  # more than 128 leaves
    _, unseen = market
    np.testing.assert_allclose(trees.predict_proba(unseen.to_numpy()),
                               model.predict_proba(unseen), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(trees.raw_scores(unseen.to_numpy()),
                                  walked(trees).raw_scores(unseen.to_numpy()))


def test_deep_trees_are_walked_and_still_give_the_librarys_answer(market):
    train, labels = market_like(3_000, seed=6)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(train, labels)
    assert max(e.get_n_leaves() for e in forest.estimators_) > MAX_LEAVES_FOR_BITVECTORS
    trees = CompiledTrees.from_model(forest)
    assert trees.bitvectors is None
    _, unseen = market
    np.testing.assert_allclose(trees.predict_proba(unseen.to_numpy()),
                               forest.predict_proba(unseen), rtol=0, atol=1e-12)


def test_trees_that_never_split_give_their_one_leaf():
    features, labels = market_like(300, seed=7)
    boosted = lgb.LGBMClassifier(n_estimators=5, min_child_samples=1_000, verbose=-1
                                 ).fit(features, labels)  # too few rows for any split
    forest = RandomForestClassifier(n_estimators=5, min_samples_split=1_000,
                                    random_state=0).fit(features, labels)
    for model in (boosted, forest):  # one output per tree; every class per tree
        trees = CompiledTrees.from_model(model)
        assert trees.bitvectors is not None and trees.bitvectors.threshold.size == 0
        assert trees.bitvectors.tree_word_start[-1] == 0  # no leaf words at all
        np.testing.assert_allclose(trees.predict_proba(features.to_numpy()),
                                   model.predict_proba(features), rtol=0, atol=1e-12)


@pytest.mark.parametrize("width", range(1, 12))
def test_row_max_and_sum_equal_numpys_bit_for_bit(width):
    rng = np.random.default_rng(width)
    for dtype in (np.float64, np.float32):
        values = np.exp(rng.normal(0, 3, (5_000, width))).astype(dtype)
        values[rng.random(values.shape) < 0.01] = np.nan
        np.testing.assert_array_equal(_row_sum(values), values.sum(axis=1, keepdims=True))
        np.testing.assert_array_equal(_row_max(values), values.max(axis=1, keepdims=True))


def _probabilities_in_child(trees: CompiledTrees, values: np.ndarray) -> np.ndarray:
    return trees.predict_proba(values)


def test_a_forked_process_scores_with_threads_of_its_own(market):
    """A child forked after the parent started its scoring threads (a parallel runner, a
    serving worker) starts its own instead of waiting on threads it does not have."""
    models, _ = market
    trees = CompiledTrees.from_model(models["lightgbm"])
    values = market_like(2 * ROWS_PER_THREAD + 7, seed=8)[0].to_numpy()
    expected = trees.predict_proba(values)  # the parent's threads now exist
    with multiprocessing.get_context("fork").Pool(1) as child:
        scored = child.apply_async(_probabilities_in_child, (trees, values)).get(timeout=120)
    np.testing.assert_array_equal(scored, expected)


def test_nodes_pruning_removed_are_left_out_of_the_bitvectors():
    """XGBoost's model keeps the nodes its pruning removed (``gamma``); no row reaches
    them, so they must not become entries (a word index of -1 would wrap around)."""
    features, labels = market_like(3_000, seed=9, missing_share=0.1)
    model = XGBoostClassifier({"n_estimators": 10, "max_depth": 8, "gamma": 1.0,
                               "tree_method": "exact", "random_state": 0}
                              ).fit(features, labels)
    trees = CompiledTrees.from_model(model)
    bitvectors = trees.bitvectors
    reached = np.zeros(trees.left.size, dtype=bool)
    for root in trees.roots:
        stack = [root]
        while stack:
            node = stack.pop()
            reached[node] = True
            if trees.left[node] != node:
                stack += [trees.left[node], trees.right[node]]
    assert not reached.all()  # the model does hold pruned nodes
    for words, keeps in ((bitvectors.word, bitvectors.keep),
                         (bitvectors.missing_word, bitvectors.missing_keep)):
        assert ((words >= 0) & (words < bitvectors.tree_word_start[-1])).all()
        assert (keeps != compiled_trees.ALL_LEAVES).all()  # each clears a leaf
    np.testing.assert_array_equal(trees.raw_scores(features.to_numpy()),
                                  walked(trees).raw_scores(features.to_numpy()))


def test_threads_asking_at_once_share_one_scoring_pool(monkeypatch):
    """The first calls of several threads in a new process make one pool, not one each
    (without the lock about 2 % of such rounds made two)."""
    monkeypatch.setattr(compiled_trees, "_POOL", {})
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(2_000):
            compiled_trees._POOL.clear()  # as in a process that has no pool yet
            barrier, pools = threading.Barrier(8), []

            def ask(barrier=barrier, pools=pools):
                barrier.wait()
                pools.append(compiled_trees._scoring_threads())

            callers = [threading.Thread(target=ask) for _ in range(8)]
            for caller in callers:
                caller.start()
            for caller in callers:
                caller.join()
            assert len({id(pool) for pool in pools}) == 1
    finally:
        sys.setswitchinterval(interval)
