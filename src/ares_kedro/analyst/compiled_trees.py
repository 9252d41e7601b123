"""Fitted tree ensembles flattened into arrays and scored by one compiled kernel.

LightGBM, XGBoost and scikit-learn random forests each walk their trees in their own
library, behind per-call input checks (a pandas frame is converted, validated, copied):
milliseconds for one row, and for a decision that asks 6 ensembles of 3 members, most of
its time. :class:`CompiledTrees` reads a fitted model's trees once (LightGBM's model
text, XGBoost's JSON model, scikit-learn's node arrays) into flat node arrays and scores
rows with compiled kernels, blocks of rows split over threads for large batches.

Two scorers give the same sums:

* **Leaf bitvectors** (the QuickScorer idea of Lucchese et al., 2015), for models whose
  trees have at most ``MAX_LEAVES_FOR_BITVECTORS`` leaves (every boosted member Ares
  trains): each tree's leaves are numbered left to right and every split node keeps a bit
  mask that clears the leaves of its left subtree. For a row, every node the row leaves to
  the right (``x > threshold``; found per feature by running up that feature's thresholds
  in ascending order until one is not below ``x``) clears its mask from its tree's word;
  the exit leaf is the lowest bit left standing. No branch depends on where a row goes in
  a tree, and a block of consecutive bars shares each threshold read, since neighbouring
  bars have close feature values. Five to seven times faster than walking on the
  analyst's boosted members (``docs/decisions.md``).
* **Tree walks**, for deep trees (a random forest grown to depth 14 has hundreds of
  leaves, where walking 14 nodes is cheaper than clearing hundreds of masks): rows in
  blocks, every tree over a block while its nodes are in cache.

It reproduces each library's own rules, so its probabilities equal the library's:

* LightGBM: ``x <= threshold`` goes left, in double precision; NaN takes the node's
  default side (``missing_type=NaN``) or counts as 0 (``missing_type=None``); leaf values
  summed in tree order per class, then softmax (multiclass) or sigmoid (binary), as
  LightGBM computes them (DART's tree weights are already in its leaf values);
* XGBoost: inputs and thresholds in single precision, ``x < threshold`` goes left, NaN
  takes the default side; margins from the model's intercept, summed in single precision
  in tree order (DART: each leaf times its tree's weight), then softmax or the logistic
  link;
* random forests: inputs in single precision compared with double thresholds, ``x <=
  threshold`` goes left, NaN as the node records; the mean over trees of each leaf's
  class fractions.

``tests/analyst/test_compiled_trees.py`` checks the equality against each library on
data with missing values. Categorical splits, linear trees, LightGBM's
``zero_as_missing`` and an XGBoost ``missing`` other than NaN are not part of any model
Ares trains; a model using them is refused.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from ares_kedro.analyst.labels import in_label_order

LEAF = -1
ROWS_PER_BLOCK = 64  # rows walked together while a tree's nodes stay in cache
ROWS_PER_BITVECTOR_BLOCK = 64  # rows sharing each threshold read of the bitvector scorer
ROWS_PER_THREAD = 4096  # batches smaller than this are scored on one thread
# Trees with more leaves are walked: the bitvector scorer's cost grows with a tree's nodes,
# a walk's with its depth; measured break-even near 400 leaves (docs/decisions.md)
MAX_LEAVES_FOR_BITVECTORS = 256
WORD_BITS = 64
ALL_LEAVES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


@numba.njit(cache=True, nogil=True)
def _accumulate(rows, first_row, last_row, single_precision, roots, tree_output, feature,
                threshold, left, right, nan_child, leaf_value, out):  # pragma: no cover
    """Add every tree's leaf value to ``out`` for rows ``first_row:last_row``: a row goes
    left when its value (rounded to float32 first when ``single_precision``) is at most
    the node's threshold, to ``nan_child`` when missing."""
    for block in range(first_row, last_row, ROWS_PER_BLOCK):
        block_end = min(block + ROWS_PER_BLOCK, last_row)
        for tree in range(roots.size):
            target = tree_output[tree]
            for i in range(block, block_end):
                node = roots[tree]
                while left[node] != node:
                    x = rows[i, feature[node]]
                    if single_precision:
                        x = np.float64(np.float32(x))
                    if np.isnan(x):
                        node = nan_child[node]
                    elif x <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                if target >= 0:
                    out[i, target] += leaf_value[node, 0]
                else:
                    for k in range(out.shape[1]):
                        out[i, k] += leaf_value[node, k]


@numba.njit(cache=True, nogil=True)
def _accumulate_exits(rows, first_row, last_row, single_precision, block_rows,
                      feature_start, threshold, word, keep, missing_start, missing_word,
                      missing_keep, tree_word_start, tree_leaf_start, tree_output,
                      leaf_value, out):  # pragma: no cover (compiled)
    """Add every tree's exit-leaf value to ``out`` for rows ``first_row:last_row``, found
    with leaf bitvectors (see the module docstring and :class:`LeafBitvectors`). A block's
    sums are kept beside its words and added in tree order, as the walk adds them."""
    n_features = feature_start.size - 1
    n_trees = tree_word_start.size - 1
    width = out.shape[1]
    alive = np.empty((tree_word_start[n_trees], block_rows), np.uint64)
    shared = np.empty(tree_word_start[n_trees], np.uint64)  # what every row of a block clears
    values = np.empty(block_rows)
    sums = np.empty((width, block_rows), out.dtype)
    for block in range(first_row, last_row, block_rows):
        m = min(block_rows, last_row - block)
        alive[:, :m] = ALL_LEAVES
        shared[:] = ALL_LEAVES
        for f in range(n_features):
            if feature_start[f] == feature_start[f + 1]:
                continue  # no split on this feature (nor any missing-value entry)
            highest = -np.inf
            lowest = np.inf
            missing = False
            for r in range(m):
                x = rows[block + r, f]
                if single_precision:
                    x = np.float64(np.float32(x))
                if np.isnan(x):
                    missing = True
                    x = -np.inf  # right of no threshold; its default sides follow
                values[r] = x
                highest = max(highest, x)
                lowest = min(lowest, x)
            k = feature_start[f]
            end = feature_start[f + 1]
            while k < end and lowest > threshold[k]:  # every row goes right
                shared[word[k]] &= keep[k]
                k += 1
            while k < end and highest > threshold[k]:  # some rows go right
                w, mask, t = word[k], keep[k], threshold[k]
                for r in range(m):
                    if values[r] > t:
                        alive[w, r] &= mask
                k += 1
            if missing:
                for r in range(m):
                    if np.isnan(rows[block + r, f]):
                        for k in range(missing_start[f], missing_start[f + 1]):
                            alive[missing_word[k], r] &= missing_keep[k]
        for w in range(tree_word_start[n_trees]):
            for r in range(m):
                alive[w, r] &= shared[w]
        for c in range(width):
            for r in range(m):
                sums[c, r] = out[block + r, c]
        for tree in range(n_trees):
            target = tree_output[tree]
            first_word = tree_word_start[tree]
            first_leaf = tree_leaf_start[tree]
            n_words = tree_word_start[tree + 1] - first_word
            if n_words == 0:  # a tree that never split: its one leaf
                if target >= 0:
                    for r in range(m):
                        sums[target, r] += leaf_value[first_leaf, 0]
                else:
                    for c in range(width):
                        for r in range(m):
                            sums[c, r] += leaf_value[first_leaf, c]
                continue
            if n_words == 1 and target >= 0:
                for r in range(m):  # one word, one output: the common case, vectorised
                    sums[target, r] += leaf_value[
                        first_leaf + trailing_zeros(alive[first_word, r]), 0]
                continue
            for r in range(m):
                w = first_word
                while alive[w, r] == 0:
                    w += 1
                leaf = first_leaf + (w - first_word) * WORD_BITS + trailing_zeros(alive[w, r])
                if target >= 0:
                    sums[target, r] += leaf_value[leaf, 0]
                else:
                    for c in range(width):
                        sums[c, r] += leaf_value[leaf, c]
        for c in range(width):
            for r in range(m):
                out[block + r, c] = sums[c, r]


@numba.njit(cache=True)
def _leaves_in_order(roots, left, right):  # pragma: no cover (compiled)
    """Each leaf's left-to-right rank in its tree (-1 at split nodes); for each split node
    the ranks ``[first, split)`` of its left subtree's leaves; each tree's leaf count.
    Nodes of tree t are ``roots[t]:roots[t + 1]``; a leaf's ``left`` is itself."""
    n = left.size
    rank = np.full(n, -1, np.int64)
    first = np.full(n, -1, np.int64)
    split = np.full(n, -1, np.int64)
    leaves = np.zeros(roots.size, np.int64)
    pending = np.empty(n, np.int64)  # split nodes whose right subtree is still to visit
    for tree in range(roots.size):
        count = 0
        depth = 0
        node = roots[tree]
        while True:
            while left[node] != node:
                first[node] = count
                pending[depth] = node
                depth += 1
                node = left[node]
            rank[node] = count
            count += 1
            if depth == 0:
                break
            depth -= 1
            split[pending[depth]] = count
            node = right[pending[depth]]
        leaves[tree] = count
    return rank, first, split, leaves


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
            return _from_lightgbm(model)
        inner = model if isinstance(model, xgb.XGBClassifier) else getattr(model, "model_", None)
        if isinstance(inner, xgb.XGBClassifier):
            missing = inner.get_params().get("missing", np.nan)
            if missing is not None and not np.isnan(missing):
                raise ValueError(f"compiled trees: XGBoost with missing={missing!r} is not "
                                 "supported (only NaN marks a missing value)")
            return _from_xgboost(inner.get_booster(), np.asarray(model.classes_))
        if isinstance(model, RandomForestClassifier | DecisionTreeClassifier):
            return _from_sklearn(model)
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
                _accumulate_exits(
                    rows, first, last, single, block, b.feature_start, b.threshold, b.word,
                    b.keep, b.missing_start, b.missing_word, b.missing_keep,
                    b.tree_word_start, b.tree_leaf_start, self.tree_output, b.leaf_value, out)
        else:
            def score(first: int, last: int) -> None:
                _accumulate(rows, first, last, single, self.roots, self.tree_output,
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
        rank, first, split, leaves = _leaves_in_order(trees.roots, trees.left, trees.right)
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


def _flat(trees: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-tree node arrays (``feature`` LEAF and children -1 at a leaf;
    ``nan_child`` local) into global ones where a leaf points to itself."""
    offsets = np.cumsum([0] + [t["feature"].size for t in trees[:-1]]).astype(np.int64)
    out = {"roots": offsets}
    for key in ("feature", "threshold", "leaf_value"):
        out[key] = np.concatenate([t[key] for t in trees])
    leaf = out["feature"] == LEAF
    position = np.arange(leaf.size, dtype=np.int64)
    for key in ("left", "right", "nan_child"):
        child = np.concatenate([t[key] + o for t, o in zip(trees, offsets, strict=True)])
        out[key] = np.where(leaf, position, child).astype(np.int64)
    out["feature"] = np.where(leaf, 0, out["feature"]).astype(np.int64)
    out["threshold"] = np.where(leaf, np.nan, out["threshold"])
    return out


# ---- LightGBM: its model text (full-precision thresholds)

def _lightgbm_tree(block: dict[str, str]) -> dict[str, np.ndarray]:
    """One LightGBM tree as nodes: its internal nodes first, then its leaves."""
    if int(block.get("num_cat", "0")) > 0 or int(block.get("is_linear", "0")) > 0:
        raise ValueError("compiled trees: LightGBM categorical splits and linear trees are "
                         "not supported")
    leaves = np.array(block["leaf_value"].split(), dtype=np.float64)
    n_leaves = leaves.size
    if n_leaves == 1:  # a tree that never split
        return {"feature": np.array([LEAF]), "threshold": np.zeros(1),
                "left": np.array([-1]), "right": np.array([-1]),
                "nan_child": np.array([-1]), "leaf_value": leaves.reshape(1, 1)}
    internal = n_leaves - 1

    def position(child: np.ndarray) -> np.ndarray:  # a leaf is ~leaf_index in the text
        return np.where(child >= 0, child, internal + ~child)

    decision = np.array(block["decision_type"].split(), dtype=np.int64)
    missing_type = (decision >> 2) & 3  # 0 None (NaN counts as 0), 1 Zero, 2 NaN
    if (missing_type == 1).any():
        raise ValueError("compiled trees: LightGBM's zero_as_missing is not supported")
    threshold = np.array(block["threshold"].split(), dtype=np.float64)
    left = position(np.array(block["left_child"].split(), dtype=np.int64))
    right = position(np.array(block["right_child"].split(), dtype=np.int64))
    nan_child = np.where(missing_type == 2, np.where(decision & 2, left, right),
                         np.where(0.0 <= threshold, left, right))
    none = np.full(n_leaves, -1)
    return {
        "feature": np.concatenate([np.array(block["split_feature"].split(), dtype=np.int64),
                                   np.full(n_leaves, LEAF)]),
        "threshold": np.concatenate([threshold, np.zeros(n_leaves)]),
        "left": np.concatenate([left, none]), "right": np.concatenate([right, none]),
        "nan_child": np.concatenate([nan_child, none]),
        "leaf_value": np.concatenate([np.zeros(internal), leaves]).reshape(-1, 1),
    }


def _from_lightgbm(model: Any) -> CompiledTrees:
    best = int(getattr(model, "best_iteration_", 0) or 0)
    text = model.booster_.model_to_string(num_iteration=best if best > 0 else None)
    header, *tree_texts = re.split(r"\n(?=Tree=\d+\n)", text.split("\nend of trees")[0])
    head = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    if "average_output" in header.split():
        raise ValueError("compiled trees: LightGBM's random-forest mode is not supported")
    objective = head["objective"].split()
    per_iteration = int(head["num_tree_per_iteration"])
    trees = [_lightgbm_tree(dict(line.split("=", 1) for line in t.splitlines()[1:]
                                 if "=" in line)) for t in tree_texts]
    if objective[0] == "multiclass":
        link, outputs, scale = "softmax", per_iteration, 1.0
    elif objective[0] == "binary":
        options = dict(o.split(":") for o in objective[1:])
        link, outputs, scale = "sigmoid", 1, float(options.get("sigmoid", 1.0))
    else:
        raise ValueError(f"compiled trees: LightGBM objective {objective[0]!r} is not "
                         "supported (multiclass or binary)")
    return CompiledTrees(
        classes_=np.asarray(model.classes_), n_features=int(head["max_feature_idx"]) + 1,
        tree_output=np.arange(len(trees), dtype=np.int64) % per_iteration,
        base_score=np.zeros(outputs), link=link, single_precision_inputs=False,
        sigmoid_scale=scale, **_flat(trees))


# ---- XGBoost: its JSON model

def _from_xgboost(booster: Any, classes: np.ndarray) -> CompiledTrees:
    model = json.loads(booster.save_raw("json"))["learner"]
    objective = model["objective"]["name"]
    booster_kind = model["gradient_booster"]["name"]
    if booster_kind == "gbtree":
        forest = model["gradient_booster"]["model"]
        weights = np.ones(len(forest["trees"]), dtype=np.float32)
    elif booster_kind == "dart":
        forest = model["gradient_booster"]["gbtree"]["model"]
        weights = np.array(model["gradient_booster"]["weight_drop"], dtype=np.float32)
    else:
        raise ValueError(f"compiled trees: XGBoost booster {booster_kind!r} is not "
                         "supported (gbtree or dart)")
    trees = []
    for tree, weight in zip(forest["trees"], weights, strict=True):
        if any(tree["split_type"]):
            raise ValueError("compiled trees: XGBoost categorical splits are not supported")
        left = np.array(tree["left_children"], dtype=np.int64)
        right = np.array(tree["right_children"], dtype=np.int64)
        leaf = left == -1
        conditions = np.array(tree["split_conditions"], dtype=np.float32)
        # XGBoost sends x < threshold left; for single-precision x that is x <= the
        # largest float32 below the threshold
        below = np.nextafter(conditions, np.float32(-np.inf)).astype(np.float64)
        trees.append({
            "feature": np.where(leaf, LEAF, np.array(tree["split_indices"], np.int64)),
            "threshold": np.where(leaf, 0.0, below), "left": left, "right": right,
            "nan_child": np.where(np.array(tree["default_left"], bool), left, right),
            "leaf_value": (np.where(leaf, conditions, 0).astype(np.float32)
                           * weight).reshape(-1, 1),
        })
    base = np.array(re.findall(r"[-+0-9.eE]+", model["learner_model_param"]["base_score"]),
                    dtype=np.float32)
    if objective == "multi:softprob":
        link = "xgboost_softmax"
        outputs = int(model["learner_model_param"]["num_class"])
        base = np.broadcast_to(base, (outputs,)).copy()
    elif objective == "binary:logistic":  # its intercept is a probability
        link = "xgboost_sigmoid"
        base = np.log(base / (np.float32(1.0) - base)).astype(np.float32)
    else:
        raise ValueError(f"compiled trees: XGBoost objective {objective!r} is not supported "
                         "(multi:softprob or binary:logistic)")
    return CompiledTrees(
        classes_=classes, n_features=int(model["learner_model_param"]["num_feature"]),
        tree_output=np.array(forest["tree_info"], dtype=np.int64), base_score=base,
        link=link, single_precision_inputs=True, **_flat(trees))


# ---- scikit-learn trees: their node arrays

def _sklearn_tree(estimator: Any) -> dict[str, np.ndarray]:
    nodes = estimator.tree_.__getstate__()["nodes"]
    leaf = nodes["left_child"] == -1
    fractions = estimator.tree_.value[:, 0, :].astype(np.float64)
    total = fractions.sum(axis=1, keepdims=True)
    fractions = fractions / np.where(total == 0, 1.0, total)
    left, right = nodes["left_child"].astype(np.int64), nodes["right_child"].astype(np.int64)
    return {
        "feature": np.where(leaf, LEAF, nodes["feature"]).astype(np.int64),
        "threshold": np.where(leaf, 0.0, nodes["threshold"]), "left": left, "right": right,
        "nan_child": np.where(nodes["missing_go_to_left"].astype(bool), left, right),
        "leaf_value": np.where(leaf[:, None], fractions, 0.0),
    }


def _from_sklearn(model: Any) -> CompiledTrees:
    estimators = getattr(model, "estimators_", [model])
    if getattr(model, "n_outputs_", 1) != 1:
        raise ValueError("compiled trees: multi-output trees are not supported")
    trees = [_sklearn_tree(e) for e in estimators]
    return CompiledTrees(
        classes_=np.asarray(model.classes_), n_features=int(model.n_features_in_),
        tree_output=np.full(len(trees), -1, dtype=np.int64),
        base_score=np.zeros(len(model.classes_)), link="mean",
        single_precision_inputs=True, **_flat(trees))


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
    return in_label_order(trees.classes_, trees.predict_proba(rows), labels)
