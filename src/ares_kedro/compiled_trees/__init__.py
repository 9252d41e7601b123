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

``tests/test_compiled_trees.py`` checks the equality against each library on
data with missing values. Categorical splits, linear trees, LightGBM's
``zero_as_missing`` and an XGBoost ``missing`` other than NaN are not part of any model
Ares trains; a model using them is refused.

The package: :mod:`~ares_kedro.compiled_trees.readers` (fitted models to flat node
arrays), :mod:`~ares_kedro.compiled_trees.kernels` (the compiled kernels) and
:mod:`~ares_kedro.compiled_trees.scorer` (the scorer every prediction path asks through).
It sits on the ground floor: the analyst, the tactician and the governor all score with it.
"""

from ares_kedro.compiled_trees.scorer import (
    MAX_LEAVES_FOR_BITVECTORS,
    ROWS_PER_THREAD,
    CompiledTrees,
    LeafBitvectors,
    columns_in_order,
    compiled,
    tree_probabilities,
)

__all__ = ["MAX_LEAVES_FOR_BITVECTORS", "ROWS_PER_THREAD", "CompiledTrees", "LeafBitvectors",
           "columns_in_order", "compiled", "tree_probabilities"]
