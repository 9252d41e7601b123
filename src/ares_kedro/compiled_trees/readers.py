"""Readers of fitted tree models: LightGBM's model text, XGBoost's JSON model and
scikit-learn's node arrays, each turned into the flat node arrays the compiled kernels
read (the fields of :class:`~ares_kedro.compiled_trees.scorer.CompiledTrees`). They follow
each library's own rules (see the package docstring) and refuse what no Ares model uses."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ares_kedro.compiled_trees.kernels import LEAF


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


def read_lightgbm(model: Any) -> dict[str, Any]:
    """A fitted ``lightgbm.LGBMClassifier``'s trees (its model text, full-precision
    thresholds, up to its best iteration) as the fields of a ``CompiledTrees``."""
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
    return dict(
        classes_=np.asarray(model.classes_), n_features=int(head["max_feature_idx"]) + 1,
        tree_output=np.arange(len(trees), dtype=np.int64) % per_iteration,
        base_score=np.zeros(outputs), link=link, single_precision_inputs=False,
        sigmoid_scale=scale, **_flat(trees))


# ---- XGBoost: its JSON model

def read_xgboost(booster: Any, classes: np.ndarray) -> dict[str, Any]:
    """A fitted XGBoost booster's trees (its JSON model) as the fields of a
    ``CompiledTrees`` whose classes are ``classes``."""
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
    return dict(
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


def read_sklearn(model: Any) -> dict[str, Any]:
    """A fitted scikit-learn random forest's or decision tree's node arrays as the fields
    of a ``CompiledTrees``."""
    estimators = getattr(model, "estimators_", [model])
    if getattr(model, "n_outputs_", 1) != 1:
        raise ValueError("compiled trees: multi-output trees are not supported")
    trees = [_sklearn_tree(e) for e in estimators]
    return dict(
        classes_=np.asarray(model.classes_), n_features=int(model.n_features_in_),
        tree_output=np.full(len(trees), -1, dtype=np.int64),
        base_score=np.zeros(len(model.classes_)), link="mean",
        single_precision_inputs=True, **_flat(trees))
