"""SHAP values of every model family in the model's margin (log-odds), through the shap package.

- LightGBM: exact path-dependent TreeSHAP, ``Booster.predict(pred_contrib=True)`` (the shap
  package's ``TreeExplainer`` calls the same code for a LightGBM booster; a test checks they
  agree). Interventional TreeSHAP is not used: the shap package cannot follow LightGBM's native
  categorical splits.
- HistGradientBoosting: ``shap.TreeExplainer`` (path-dependent) on the model's trees. The shap
  package reads this model's categorical splits as numeric thresholds, which breaks additivity,
  so the trees are handed to it with each categorical split as an indicator column of its own
  (0 when the row goes left, 1 when right, split at 0.5, decided by scikit-learn's own rule for
  missing, negative and unknown categories); a categorical feature's value is the sum of its
  splits' values. That equals the feature's TreeSHAP value whenever no root-to-leaf path splits
  the same categorical feature twice, and stays additive when one does.
- Logistic regression: ``shap.LinearExplainer`` on the regression's own inputs (after median
  imputation, standardisation and one-hot coding) with the training rows as background
  (interventional: the value of input k is ``coef_k * (x_k - mean of x_k over the training
  rows)``); one-hot and standardised columns are summed back to the feature they come from.

Values are then summed by attribute group (the usual grouped SHAP: a group's value is the sum
of its features' values, not the Shapley value of a game whose players are the groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

#: Largest gap allowed between (base value + sum of the SHAP values) and the model's margin.
ADDITIVITY_TOL = 1e-6


@dataclass(frozen=True)
class GroupAttribution:
    """SHAP values of rows, in the model's margin (log-odds), per feature and per group.

    Attributes
    ----------
    feature_values : (n_rows, n_features) SHAP value of each encoded feature.
    values : (n_rows, n_groups) sum of ``feature_values`` over each group's features.
    groups : group names, in feature order (columns of ``values``).
    feature_names, feature_groups : per encoded feature, its name and group.
    base_value : the expected margin (the margin of the average row, as the explainer sees it).
    margin : (n_rows,) the model's margin; ``base_value + values.sum(axis=1)`` equals it to
        ``max_additivity_error``.
    X : (n_rows, n_features) the encoded rows (for dependence plots).
    kind : the model family.
    method : how the values were computed.
    """

    feature_values: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    groups: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_groups: tuple[str, ...]
    base_value: float
    margin: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    kind: str
    method: str

    @property
    def max_additivity_error(self) -> float:
        if self.margin.size == 0:
            return 0.0
        return float(np.max(np.abs(self.base_value + self.values.sum(axis=1) - self.margin)))

    def frame(self) -> pd.DataFrame:
        """The group values as a data frame (rows x groups)."""
        return pd.DataFrame(self.values, columns=list(self.groups))


def group_columns(fitted) -> dict[str, np.ndarray]:
    """Group -> column positions in the encoded matrix, in feature order."""
    groups: dict[str, list[int]] = {}
    for j, spec in enumerate(fitted.features):
        groups.setdefault(spec.group, []).append(j)
    return {g: np.asarray(cols, dtype=np.intp) for g, cols in groups.items()}


def explainable(fitted) -> str | None:
    """None if :func:`shap_values` can explain ``fitted``, else the reason it cannot."""
    kind = fitted.model_cfg.kind
    if kind == "logistic" and _linear_background(fitted) is None:
        return ("the logistic model was saved without its SHAP background (the training rows' "
                "mean input): retrain it with this version")
    if kind not in ("lightgbm", "hist_gb", "logistic"):
        return f"no SHAP explainer for model kind {kind!r}"
    return None


def shap_values(fitted, frame=None, *, X: np.ndarray | None = None,
                num_threads: int | None = None) -> GroupAttribution:
    """SHAP values of raw rows (or of an encoded matrix), per feature and per attribute group.

    Parameters
    ----------
    fitted : nsf.models.FittedModel
        A fitted model of any family (``lightgbm``, ``hist_gb``, ``logistic``).
    frame : pandas.DataFrame or pyarrow.Table, optional
        Raw rows (``fitted.input_columns``).
    X : numpy.ndarray, optional
        The encoded rows instead (``fitted.encoder.transform(frame)``).
    num_threads : int, optional
        Threads of the explainer (default: the model config's).

    Returns
    -------
    GroupAttribution

    Raises
    ------
    ValueError
        If the model cannot be explained (see :func:`explainable`), or the values do not add up
        to the margin within ``ADDITIVITY_TOL`` (a defect, never expected).
    """
    reason = explainable(fitted)
    if reason is not None:
        raise ValueError(f"cannot explain this model: {reason}")
    if (frame is None) == (X is None):
        raise ValueError("pass exactly one of frame (raw rows) and X (encoded rows)")
    if X is None:
        X = fitted.encoder.transform(frame)
    X = np.asarray(X)
    threads = num_threads or fitted.model_cfg.num_threads
    kind = fitted.model_cfg.kind
    if kind == "lightgbm":
        feature_values, base, margin, method = _lightgbm(fitted, X, threads)
    elif kind == "hist_gb":
        feature_values, base, margin, method = _hist_gb(fitted, X, threads)
    else:
        feature_values, base, margin, method = _logistic(fitted, X)
    cols = group_columns(fitted)
    values = np.empty((X.shape[0], len(cols)), dtype=np.float64)
    for k, idx in enumerate(cols.values()):
        values[:, k] = feature_values[:, idx].sum(axis=1)
    out = GroupAttribution(
        feature_values=feature_values, values=values, groups=tuple(cols),
        feature_names=tuple(fitted.feature_names),
        feature_groups=tuple(s.group for s in fitted.features), base_value=float(base),
        margin=np.asarray(margin, dtype=np.float64), X=X, kind=kind, method=method)
    error = out.max_additivity_error
    if not error <= ADDITIVITY_TOL * max(1.0, float(np.max(np.abs(out.margin), initial=0.0))):
        raise ValueError(f"SHAP values of the {kind} model miss its margin by {error:.3g} "
                         f"(tolerance {ADDITIVITY_TOL})")
    return out


def _lightgbm(fitted, X, threads):
    booster = fitted.estimator_.booster_
    with threadpool_limits(threads):
        contrib = np.asarray(booster.predict(X, pred_contrib=True, num_threads=threads),
                             dtype=np.float64)
        margin = booster.predict(X, raw_score=True, num_threads=threads)
    if contrib.shape != (X.shape[0], X.shape[1] + 1):
        raise ValueError(f"pred_contrib returned shape {contrib.shape} for {X.shape} rows x "
                         "features (expected one column per feature plus the expected value)")
    # The last column is the expected value, the same on every row.
    base = float(contrib[0, -1]) if contrib.shape[0] else _lightgbm_base(booster, X.shape[1])
    return contrib[:, :-1], base, margin, "lightgbm pred_contrib (path-dependent TreeSHAP)"


def _lightgbm_base(booster, n_features: int) -> float:
    probe = np.full((1, n_features), np.nan)
    return float(booster.predict(probe, pred_contrib=True)[0, -1])


def hist_gb_trees(estimator) -> tuple[dict, list[tuple[int, np.ndarray, np.ndarray, bool]]]:
    """A HistGradientBoostingClassifier as the shap package's tree dictionary.

    Returns
    -------
    (model, indicators)
        ``model`` for ``shap.TreeExplainer``; ``indicators``: per indicator column (numbered
        after the model's features), ``(feature, bitset row, known-category bitset, missing
        goes left)`` of the categorical split it stands for.
    """
    n_features = int(estimator.n_features_in_)  # columns of hist_gb_input's matrix
    known: np.ndarray | None = None
    f_idx_map: np.ndarray | None = None
    if estimator.is_categorical_ is not None and estimator.is_categorical_.any():
        known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
    indicators: list[tuple[int, np.ndarray, np.ndarray, bool]] = []
    trees = []
    if len(estimator._predictors[0]) != 1:
        raise ValueError("expected a binary HistGradientBoostingClassifier (one tree per round)")
    for (predictor,) in estimator._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        features = np.where(leaf, -2, nodes["feature_idx"]).astype(np.int64)
        thresholds = nodes["num_threshold"].astype(np.float64).copy()
        for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
            j = int(nodes["feature_idx"][i])
            # A categorical split exists only where the model has categorical features.
            assert known is not None and f_idx_map is not None
            indicators.append((j, predictor.raw_left_cat_bitsets[nodes["bitset_idx"][i]].copy(),
                               known[f_idx_map[j]].copy(), bool(nodes["missing_go_to_left"][i])))
            features[i] = n_features + len(indicators) - 1
            thresholds[i] = 0.5
        left = np.where(leaf, -1, nodes["left"].astype(np.int64))
        right = np.where(leaf, -1, nodes["right"].astype(np.int64))
        trees.append({
            "children_left": left, "children_right": right,
            "children_default": np.where(nodes["missing_go_to_left"].astype(bool), left, right),
            "features": features, "thresholds": thresholds,
            "values": nodes["value"].astype(np.float64).reshape(-1, 1),
            "node_sample_weight": nodes["count"].astype(np.float64),
        })
    base = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    model = {"trees": trees, "base_offset": float(base[0]), "tree_output": "log_odds",
             "objective": "binary_crossentropy", "input_dtype": np.float64,
             "internal_dtype": np.float64}
    return model, indicators


def _in_bitset(bitset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """scikit-learn's ``in_bitset``: bit ``c`` of a 256-bit set held in eight uint32 words."""
    word = bitset[codes >> 5]
    return ((word >> (codes & 31).astype(np.uint32)) & 1).astype(bool)


def _indicator_columns(X: np.ndarray, indicators) -> np.ndarray:
    """0.0 where the row goes left at the categorical split, 1.0 where it goes right.

    The rule of scikit-learn's ``_predict_one_from_raw_data``: NaN and negative values, and
    categories unknown at fit time, follow the missing-value direction; categories in the
    split's set go left, the other known ones right.
    """
    out = np.empty((X.shape[0], len(indicators)), dtype=np.float64)
    for k, (j, left_set, known, missing_left) in enumerate(indicators):
        x = X[:, j].astype(np.float64)
        special = np.isnan(x) | (x < 0)
        codes = np.where(special, 0, x).astype(np.int64).astype(np.uint8)  # as the uint8 cast
        goes_left = np.where(_in_bitset(left_set, codes), True,
                             np.where(_in_bitset(known, codes), False, missing_left))
        goes_left = np.where(special, missing_left, goes_left)
        out[:, k] = np.where(goes_left, 0.0, 1.0)
    return out


def hist_gb_input(estimator, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The matrix a HistGradientBoostingClassifier's trees see, and each column's source.

    With categorical features the estimator first passes its input through an internal
    ``ColumnTransformer`` (an ordinal encoder of the categorical columns, placed first, then
    the numerical ones); its trees index that output's columns.
    """
    X64 = np.asarray(X, dtype=np.float64)
    pre = getattr(estimator, "_preprocessor", None)
    if pre is None:
        return X64, np.arange(X64.shape[1], dtype=np.intp)
    source = np.empty(X64.shape[1], dtype=np.intp)
    for name, _part, cols in pre.transformers_:
        if name == "remainder":
            continue
        positions = np.flatnonzero(np.asarray(cols, dtype=bool)) if np.asarray(cols).dtype \
            == bool else np.asarray(cols, dtype=np.intp)
        out = pre.output_indices_[name]
        source[out] = positions
    return np.asarray(pre.transform(X64), dtype=np.float64), source


def _hist_gb(fitted, X, threads):
    import shap

    estimator = fitted.estimator_
    model, indicators = hist_gb_trees(estimator)
    seen, source = hist_gb_input(estimator, X)
    full = np.hstack([seen, _indicator_columns(seen, indicators)]) if indicators else seen
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    with threadpool_limits(threads):
        values = np.asarray(explainer.shap_values(full, check_additivity=False), np.float64)
        margin = estimator.decision_function(np.asarray(X, dtype=np.float64))
    values = values.reshape(full.shape[0], full.shape[1])
    n_seen = seen.shape[1]
    by_seen = values[:, :n_seen].copy()
    for k, (j, *_rest) in enumerate(indicators):
        by_seen[:, j] += values[:, n_seen + k]
    feature_values = np.zeros((X.shape[0], X.shape[1]), dtype=np.float64)
    feature_values[:, source] = by_seen
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    return feature_values, base, margin, "shap TreeExplainer (path-dependent)"


def _linear_background(fitted):
    return getattr(fitted, "background_", None)


def logistic_input_map(pipeline) -> np.ndarray:
    """For each input column of the logistic regression, the encoded feature it comes from."""
    columns = pipeline.named_steps["columns"]
    source: list[int] = []
    for name, part, idx in columns.transformers_:
        if name == "remainder" or part == "drop":
            continue
        idx = np.asarray(idx, dtype=np.intp)
        if name == "numeric":
            imputer = part.steps[0][1]
            kept = ~np.isnan(imputer.statistics_)  # all-missing columns are dropped
            source.extend(idx[kept].tolist())
        elif name == "categorical":
            onehot = part.steps[-1][1]
            for j, levels in zip(idx, onehot.categories_, strict=True):
                source.extend([int(j)] * len(levels))
        else:
            raise ValueError(f"unexpected column block {name!r} in the logistic pipeline")
    return np.asarray(source, dtype=np.intp)


def _logistic(fitted, X):
    import shap

    pipeline = fitted.estimator_
    mean = np.asarray(_linear_background(fitted), dtype=np.float64)
    regression = pipeline.named_steps["logistic"]
    Z = pipeline.named_steps["columns"].transform(np.asarray(X, dtype=np.float64))
    source = logistic_input_map(pipeline)
    if Z.shape[1] != source.size or mean.shape != (source.size,):
        raise ValueError(f"the logistic pipeline gives {Z.shape[1]} inputs, its map "
                         f"{source.size} and its background {mean.shape}")
    # The background is the training rows' mean input, given as one row: for the interventional
    # linear explainer that is exactly the same as passing all the training rows.
    explainer = shap.LinearExplainer(regression, mean.reshape(1, -1))
    values = np.asarray(explainer.shap_values(Z), dtype=np.float64).reshape(Z.shape)
    feature_values = np.zeros((X.shape[0], X.shape[1]), dtype=np.float64)
    np.add.at(feature_values.T, source, values.T)
    margin = regression.decision_function(Z)
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    return feature_values, base, margin, "shap LinearExplainer (interventional, training rows)"
