"""The compiled tree scorer: :class:`CompiledTrees` (a fitted classifier as flat node
arrays, scored by the kernels of :mod:`~ares_kedro.compiled_trees.kernels`, in threads for
large batches), its leaf-bitvector form :class:`LeafBitvectors`, and :func:`compiled`,
the one compiled form per fitted model that every prediction path asks for."""

from __future__ import annotations

import functools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ares_kedro.compiled_trees.kernels import (
    ALL_LEAVES,
    ROWS_PER_BITVECTOR_BLOCK,
    WORD_BITS,
    add_exit_values,
    leaves_in_order,
    walk_trees,
)
from ares_kedro.compiled_trees.readers import read_lightgbm, read_sklearn, read_xgboost

ROWS_PER_THREAD = 4096  # batches smaller than this are scored on one thread
# Trees with more leaves are walked: the bitvector scorer's cost grows with a tree's nodes,
# a walk's with its depth; measured break-even near 400 leaves (docs/decisions.md)
MAX_LEAVES_FOR_BITVECTORS = 256


@dataclass
class CompiledTrees:
    """A fitted tree classifier as flat node arrays (every tree's nodes concatenated; a
    leaf's ``left`` and ``right`` are itself). ``tree_output`` is the output column a
    tree adds to (-1: every column, a random forest's class fractions); ``link`` turns the
    summed scores into probabilities."""

    classes_: np.ndarray  # class labels, in the order of predict_proba's columns
    n_features: int
    roots: np.ndarray  # (trees,) int64: each tree's first node
    tree_output: np.ndarray  # (trees,) int64
    feature: np.ndarray  # (nodes,) int64
    threshold: np.ndarray  # (nodes,) float64: at most this goes left
    left: np.ndarray  # (nodes,) int64
    right: np.ndarray  # (nodes,) int64
    nan_child: np.ndarray  # (nodes,) int64: where a missing value goes
    leaf_value: np.ndarray  # (nodes, width) float64 (float32 for XGBoost)
    base_score: np.ndarray  # (outputs,) added before the trees (XGBoost's intercept)
    link: str  # softmax | sigmoid | xgboost_softmax | xgboost_sigmoid | mean
    single_precision_inputs: bool  # XGBoost and scikit-learn compare float32 inputs
    sigmoid_scale: float = 1.0  # LightGBM's binary ``sigmoid`` parameter
    # the same trees as leaf bitvectors; None when a tree is too large for them
    bitvectors: LeafBitvectors | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.bitvectors = LeafBitvectors.from_trees(self)

    @classmethod
    def from_model(cls, model: Any) -> CompiledTrees:
        """Flatten a fitted LightGBM, XGBoost (ours or ``xgboost.XGBClassifier``) or
        scikit-learn random forest / decision tree classifier."""
        import lightgbm as lgb
        import xgboost as xgb
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.tree import DecisionTreeClassifier

        if isinstance(model, lgb.LGBMClassifier):
            return cls(**read_lightgbm(model))
        inner = model if isinstance(model, xgb.XGBClassifier) else getattr(model, "model_", None)
        if isinstance(inner, xgb.XGBClassifier):
            missing = inner.get_params().get("missing", np.nan)
            if missing is not None and not np.isnan(missing):
                raise ValueError(f"compiled trees: XGBoost with missing={missing!r} is not "
                                 "supported (only NaN marks a missing value)")
            return cls(**read_xgboost(inner.get_booster(), np.asarray(model.classes_)))
        if isinstance(model, RandomForestClassifier | DecisionTreeClassifier):
            return cls(**read_sklearn(model))
        raise TypeError(f"cannot compile a {type(model).__name__}: LightGBM, XGBoost and "
                        "scikit-learn random forest classifiers are supported")

    def raw_scores(self, rows: np.ndarray) -> np.ndarray:
        """(n, outputs) summed leaf values plus the base score, before the link."""
        rows = self._checked(rows)
        dtype = self.leaf_value.dtype
        out = np.empty((len(rows), self.base_score.size), dtype=dtype)
        out[:] = self.base_score.astype(dtype)
        n = len(rows)
        single = self.single_precision_inputs  # rounded to float32 as the kernels read them
        if self.bitvectors is not None:
            b = self.bitvectors
            block = min(ROWS_PER_BITVECTOR_BLOCK, max(n, 1))

            def score(first: int, last: int) -> None:
                add_exit_values(
                    rows, first, last, single, block, b.feature_start, b.threshold, b.word,
                    b.keep, b.missing_start, b.missing_word, b.missing_keep,
                    b.tree_word_start, b.tree_leaf_start, self.tree_output, b.leaf_value, out)
        else:
            def score(first: int, last: int) -> None:
                walk_trees(rows, first, last, single, self.roots, self.tree_output,
                            self.feature, self.threshold, self.left, self.right,
                            self.nan_child, self.leaf_value, out)
        threads = n // ROWS_PER_THREAD  # a live decision's few rows: no thread, no cpu_count
        if threads > 1:
            threads = min(os.cpu_count() or 1, threads)
        if threads <= 1:
            score(0, n)
            return out
        bounds = np.linspace(0, n, threads + 1).astype(int)
        # the kernels release the GIL
        list(_scoring_threads().map(lambda k: score(bounds[k], bounds[k + 1]), range(threads)))
        return out

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities in ``classes_`` order, as the library gives them."""
        scores = self.raw_scores(rows)
        if self.link == "softmax":  # LightGBM: double precision, max subtracted
            exp = np.exp(scores - _row_max(scores))
            return exp / _row_sum(exp)
        if self.link == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-self.sigmoid_scale * scores[:, 0]))
            return np.column_stack([1.0 - p, p])
        if self.link == "xgboost_softmax":  # single precision, the sum in double
            exp = _expf(scores - _row_max(scores))
            total = _row_sum(exp.astype(np.float64))
            return exp / total.astype(np.float32)
        if self.link == "xgboost_sigmoid":
            p = np.float32(1.0) / (np.float32(1.0) + _expf(-scores[:, 0]))
            return np.column_stack([np.float32(1.0) - p, p])
        return scores / self.roots.size  # mean of the trees' class fractions

    def _checked(self, rows: Any) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(f"compiled trees: rows must be (n, {self.n_features}), got "
                             f"shape {rows.shape}")
        if rows.flags.c_contiguous or rows.flags.f_contiguous:
            return rows  # either layout: a feature matrix is not copied once per member
        return np.ascontiguousarray(rows)


@dataclass
class LeafBitvectors:
    """A forest's split nodes as leaf bitvectors, grouped by feature, thresholds ascending.

    Each tree's leaves are numbered left to right and held in ``ceil(leaves / 64)`` words
    (tree t's words are ``tree_word_start[t]:tree_word_start[t + 1]``; none for a tree
    that never split). An entry is one word of one split node's mask: when a row goes
    right at that node (``x > threshold``, or a missing ``x`` where the node sends missing
    values right), ``word &= keep`` clears the leaves of its left subtree. A row's exit
    leaf is the lowest leaf no entry cleared.
    """

    feature_start: np.ndarray  # (features + 1,) entries of feature f: [start[f], start[f+1])
    threshold: np.ndarray  # (entries,) float64, ascending within a feature
    word: np.ndarray  # (entries,) int64: the tree word an entry masks
    keep: np.ndarray  # (entries,) uint64: the bits that survive a row going right
    missing_start: np.ndarray  # (features + 1,) as feature_start, entries sending NaN right
    missing_word: np.ndarray  # (missing entries,) int64
    missing_keep: np.ndarray  # (missing entries,) uint64
    tree_word_start: np.ndarray  # (trees + 1,) int64
    tree_leaf_start: np.ndarray  # (trees + 1,) int64
    leaf_value: np.ndarray  # (leaves, width): every tree's leaves, left to right

    @classmethod
    def from_trees(cls, trees: CompiledTrees) -> LeafBitvectors | None:
        """The bitvector form of flat trees, or None when a tree has more than
        ``MAX_LEAVES_FOR_BITVECTORS`` leaves (it is then walked)."""
        rank, first, split, leaves = leaves_in_order(trees.roots, trees.left, trees.right)
        if leaves.max(initial=0) > MAX_LEAVES_FOR_BITVECTORS:
            return None
        nodes = trees.left.size
        tree_of = np.repeat(np.arange(trees.roots.size),
                            np.diff(np.append(trees.roots, nodes)))
        # a tree that never split needs no word: its one leaf is its exit
        words = np.where(leaves > 1, (leaves + WORD_BITS - 1) // WORD_BITS, 0)
        tree_word_start = np.concatenate([[0], np.cumsum(words)]).astype(np.int64)
        tree_leaf_start = np.concatenate([[0], np.cumsum(leaves)]).astype(np.int64)

        # split nodes a row can reach (XGBoost's JSON keeps the nodes pruning removed)
        split_nodes = np.flatnonzero(first >= 0)
        low, high = first[split_nodes], split[split_nodes]  # left subtree: [low, high)
        first_word, last_word = low // WORD_BITS, (high - 1) // WORD_BITS
        span = last_word - first_word + 1  # a left subtree may cross word boundaries
        node = np.repeat(split_nodes, span)
        within = np.arange(node.size) - np.repeat(np.cumsum(span) - span, span)
        w = np.repeat(first_word, span) + within
        lo = np.maximum(np.repeat(low, span), w * WORD_BITS) - w * WORD_BITS
        hi = np.minimum(np.repeat(high, span), (w + 1) * WORD_BITS) - w * WORD_BITS
        cleared = ((ALL_LEAVES >> (WORD_BITS - (hi - lo)).astype(np.uint64))
                   << lo.astype(np.uint64))
        feature = trees.feature[node]
        order = np.lexsort((trees.threshold[node], feature))
        node, feature = node[order], feature[order]
        word = (tree_word_start[tree_of[node]] + w[order]).astype(np.int64)
        keep = ~cleared[order]
        missing_right = trees.nan_child[node] == trees.right[node]
        bounds = np.arange(trees.n_features + 1)
        leaf_nodes = np.empty(tree_leaf_start[-1], dtype=np.int64)
        leaf = rank >= 0
        leaf_nodes[tree_leaf_start[tree_of[leaf]] + rank[leaf]] = np.flatnonzero(leaf)
        return cls(
            feature_start=np.searchsorted(feature, bounds).astype(np.int64),
            threshold=np.ascontiguousarray(trees.threshold[node]), word=word, keep=keep,
            missing_start=np.searchsorted(feature[missing_right], bounds).astype(np.int64),
            missing_word=word[missing_right], missing_keep=keep[missing_right],
            tree_word_start=tree_word_start, tree_leaf_start=tree_leaf_start,
            leaf_value=np.ascontiguousarray(trees.leaf_value[leaf_nodes]))


SEQUENTIAL_SUM_WIDTH = 8  # NumPy adds fewer numbers than this one after another


def _row_max(scores: np.ndarray) -> np.ndarray:
    """(n, 1) ``scores.max(axis=1, keepdims=True)``, column by column: the same numbers, a
    tenth of the time on a few columns (NumPy reduces short rows slowly)."""
    if scores.shape[1] >= SEQUENTIAL_SUM_WIDTH:
        return scores.max(axis=1, keepdims=True)
    return functools.reduce(np.maximum, scores.T)[:, None]


def _row_sum(values: np.ndarray) -> np.ndarray:
    """(n, 1) ``values.sum(axis=1, keepdims=True)``, bit for bit: NumPy adds a row of
    fewer than ``SEQUENTIAL_SUM_WIDTH`` numbers one after another, as this does column by
    column; wider rows go to NumPy's pairwise sum."""
    if values.shape[1] >= SEQUENTIAL_SUM_WIDTH:
        return values.sum(axis=1, keepdims=True)
    return functools.reduce(np.add, values.T)[:, None]


_POOL: dict[int, ThreadPoolExecutor] = {}  # process id -> its scoring threads
_POOL_LOCK = threading.Lock()


def _scoring_threads() -> ThreadPoolExecutor:
    """One pool of scoring threads per process (starting threads per call costs about a
    millisecond each, on a batch that asks a dozen models). Keyed by process id: a forked
    child (a parallel runner, a serving worker) inherits the parent's pool object but not
    its threads, and would wait on it forever. Callers never score from inside the pool
    (a task waiting on tasks queued behind it would wait forever)."""
    pid = os.getpid()
    pool = _POOL.get(pid)
    if pool is not None:
        return pool
    with _POOL_LOCK:  # several threads' first calls make one pool
        if pid not in _POOL:
            _POOL.clear()
            _POOL[pid] = ThreadPoolExecutor(os.cpu_count() or 1,
                                            thread_name_prefix="compiled-trees")
        return _POOL[pid]


def _expf(x: np.ndarray) -> np.ndarray:
    """Single-precision exp as C's ``expf`` gives it (rounded from double precision;
    NumPy's own float32 exp differs in the last bit more often)."""
    return np.exp(x.astype(np.float64)).astype(np.float32)


# ---- one compiled form per fitted model

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fitted_state(model: Any) -> int:
    """Identity of what a fit produced (a refit replaces it, so a stale form is never used)."""
    inner = getattr(model, "model_", model)
    for name in ("_Booster", "estimators_", "tree_"):
        if hasattr(inner, name):
            return id(getattr(inner, name))
    return id(inner)


def compiled(model: Any) -> CompiledTrees:
    """The compiled form of a fitted tree classifier, made once per fit and kept while the
    model lives (every prediction path asks through here)."""
    state = _fitted_state(model)
    entry = _COMPILED.get(model)
    if entry is None or entry[0] != state:
        entry = (state, CompiledTrees.from_model(model))
        _COMPILED[model] = entry
    return entry[1]


def tree_probabilities(model: Any, rows: Any, labels: tuple[str, ...] | list[str]
                       ) -> np.ndarray:
    """(n, len(labels)) probabilities of a fitted tree classifier on ``rows`` (a numeric
    array or table in the model's feature order), columns in ``labels`` order; a label the
    model never saw gets 0."""
    trees = compiled(model)
    return columns_in_order(trees.classes_, trees.predict_proba(rows), labels)


def columns_in_order(classes: Any, proba: np.ndarray, labels: Any) -> np.ndarray:
    """(n, len(labels)) class probabilities whose columns follow ``labels``, from a model's
    ``proba`` whose columns follow its ``classes``; a label the model never saw gets 0."""
    out = np.zeros((len(proba), len(labels)))
    position = {name: k for k, name in enumerate(labels)}
    for column, name in enumerate(classes):
        out[:, position[name]] = proba[:, column]
    return out
