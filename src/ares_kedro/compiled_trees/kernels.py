"""The compiled kernels of the tree scorer (numba, no Python objects): tree walks, leaf
bitvectors and the leaves' left-to-right order. They read only flat node arrays; the
readers (:mod:`~ares_kedro.compiled_trees.readers`) make those from fitted models and the
scorer (:mod:`~ares_kedro.compiled_trees.scorer`) chooses and threads the kernels."""

from __future__ import annotations

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

LEAF = -1
ROWS_PER_BLOCK = 64  # rows walked together while a tree's nodes stay in cache
ROWS_PER_BITVECTOR_BLOCK = 64  # rows sharing each threshold read of the bitvector scorer
WORD_BITS = 64
ALL_LEAVES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


@numba.njit(cache=True, nogil=True)
def walk_trees(rows, first_row, last_row, single_precision, roots, tree_output, feature,
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
def _clear_right_leaves(rows, block, m, single_precision, feature_start, threshold, word,
                        keep, missing_start, missing_word, missing_keep, alive, shared,
                        values):  # pragma: no cover (compiled)
    """For rows ``block:block + m``, clear in ``alive`` (a word per tree word and row) the
    leaves every split a row goes right at rules out; ``shared`` collects what all rows
    clear (thresholds below the block's lowest value), applied once per word."""
    n_features = feature_start.size - 1
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
    for w in range(alive.shape[0]):
        for r in range(m):
            alive[w, r] &= shared[w]


@numba.njit(cache=True, nogil=True)
def _add_exit_leaves(alive, m, tree_word_start, tree_leaf_start, tree_output, leaf_value,
                     sums):  # pragma: no cover (compiled)
    """Add each tree's exit-leaf value (the lowest leaf left in its words) to ``sums``
    (outputs x rows), tree by tree as the walk adds them."""
    n_trees = tree_word_start.size - 1
    width = sums.shape[0]
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


@numba.njit(cache=True, nogil=True)
def add_exit_values(rows, first_row, last_row, single_precision, block_rows,
                    feature_start, threshold, word, keep, missing_start, missing_word,
                    missing_keep, tree_word_start, tree_leaf_start, tree_output,
                    leaf_value, out):  # pragma: no cover (compiled)
    """Add every tree's exit-leaf value to ``out`` for rows ``first_row:last_row``, found
    with leaf bitvectors (see the package docstring and ``LeafBitvectors``), in blocks of
    ``block_rows`` rows. A block's sums are kept beside its words and added in tree order,
    as the walk adds them."""
    width = out.shape[1]
    n_words = tree_word_start[tree_word_start.size - 1]
    alive = np.empty((n_words, block_rows), np.uint64)
    shared = np.empty(n_words, np.uint64)  # what every row of a block clears
    values = np.empty(block_rows)
    sums = np.empty((width, block_rows), out.dtype)
    for block in range(first_row, last_row, block_rows):
        m = min(block_rows, last_row - block)
        _clear_right_leaves(rows, block, m, single_precision, feature_start, threshold, word,
                            keep, missing_start, missing_word, missing_keep, alive, shared,
                            values)
        for c in range(width):
            for r in range(m):
                sums[c, r] = out[block + r, c]
        _add_exit_leaves(alive, m, tree_word_start, tree_leaf_start, tree_output, leaf_value,
                         sums)
        for c in range(width):
            for r in range(m):
                out[block + r, c] = sums[c, r]


@numba.njit(cache=True)
def leaves_in_order(roots, left, right):  # pragma: no cover (compiled)
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
