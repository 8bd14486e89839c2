"""Group SHAP and grouped permutation importance of a fitted model (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nsf.explain._shap import group_columns, shap_values
from nsf.metrics import auc, check_rng


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _stratified_sample(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` row indices drawn within each outcome class in proportion to its share, and at
    least one row of every class present, so an AUC on the sample is defined whenever it is on
    the whole frame (a plain sample of 1,000 rows at a 0.5% rate holds no NSF row one time in
    150)."""
    n = y.shape[0]
    if size >= n:
        return np.arange(n)
    _, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse)
    share = size * counts / n
    quota = np.floor(share).astype(int)
    # Largest remainders first, so the quotas add up to ``size`` exactly.
    quota[np.argsort(quota - share, kind="stable")[: size - quota.sum()]] += 1
    short = (quota == 0) & (counts > 0)
    quota[short] = 1
    quota[np.argmax(quota)] -= int(short.sum())
    picked = [np.flatnonzero(inverse == k)[np.sort(rng.choice(c, size=q, replace=False))]
              for k, (c, q) in enumerate(zip(counts, quota, strict=True))]
    return np.sort(np.concatenate(picked))


def group_shap(fitted, frame: pd.DataFrame) -> pd.DataFrame:
    """SHAP values of a fitted model of any family, summed by attribute group.

    Parameters
    ----------
    fitted : nsf.models.FittedModel
        LightGBM, HistGradientBoosting or logistic regression (see :func:`shap_values`).
    frame : pandas.DataFrame
        Raw rows (``fitted.input_columns``), e.g. a sample of test rows.

    Returns
    -------
    pandas.DataFrame
        Indexed by group (feature order): ``mean_abs`` (mean over rows of the absolute group
        value, log-odds), ``share`` (``mean_abs`` over its sum across groups), ``mean`` (signed
        mean), ``n_features``. The frame's ``attrs["expected_value"]`` holds the base value
        (expected log-odds), ``attrs["max_additivity_error"]`` the largest gap between the base
        value plus the values and the model's log-odds, ``attrs["method"]`` the explainer.
    """
    attribution = shap_values(fitted, frame)
    sizes = {g: int(c.size) for g, c in group_columns(fitted).items()}
    mean_abs = np.abs(attribution.values).mean(axis=0) if len(frame) else \
        np.zeros(len(attribution.groups))
    mean = attribution.values.mean(axis=0) if len(frame) else np.zeros(len(attribution.groups))
    table = pd.DataFrame({"mean_abs": mean_abs, "mean": mean,
                          "n_features": [sizes[g] for g in attribution.groups]},
                         index=pd.Index(attribution.groups, name="group"))
    total = table["mean_abs"].sum()
    table["share"] = table["mean_abs"] / total if total > 0 else np.nan
    table.attrs["expected_value"] = attribution.base_value
    table.attrs["max_additivity_error"] = attribution.max_additivity_error
    table.attrs["method"] = attribution.method
    return table[["mean_abs", "share", "mean", "n_features"]]


def grouped_permutation_importance(fitted, frame: pd.DataFrame, y_true, *, n_repeats: int = 5,
                                   rng: np.random.Generator) -> pd.DataFrame:
    """Fall of the test AUC when a group's columns are permuted together.

    Every repeat draws one permutation of the rows and applies it to all the group's columns,
    so relations within the group are kept and only its link to the other groups and to the
    outcome is broken (grouped permutation importance; cf. Au et al. 2022, "Grouped feature
    importance and combined features effect plot", Data Min. Knowl. Disc. 36:1401-1450).

    Parameters
    ----------
    fitted : nsf.models.FittedModel
    frame : pandas.DataFrame
        Raw rows, e.g. a sample of test rows.
    y_true : array-like of shape (n_rows,)
        Observed outcome, 1 = NSF (both classes needed).
    n_repeats : int, default=5
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``auc_drop`` (mean over repeats of the AUC on intact rows minus the
        AUC with the group permuted), ``auc_drop_sd`` (over repeats), ``n_features``.
        ``attrs["auc"]`` holds the AUC on intact rows.
    """
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int | np.integer) \
            or n_repeats < 1:
        raise ValueError(f"n_repeats must be an integer >= 1, got {n_repeats!r}")
    check_rng(rng)
    y = np.asarray(y_true)
    X = fitted.encoder.transform(frame)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y_true has shape {y.shape} but frame has {X.shape[0]} rows")

    def predict(matrix: np.ndarray) -> np.ndarray:
        return fitted.calibrator_.transform(fitted.raw_proba(matrix))

    base = auc(y, predict(X))
    rows = []
    for group, cols in group_columns(fitted).items():
        drops = np.empty(n_repeats)
        for r in range(n_repeats):
            permuted = X.copy()
            order = rng.permutation(X.shape[0])
            permuted[:, cols] = X[order][:, cols]
            drops[r] = base - auc(y, predict(permuted))
        rows.append({"group": group, "auc_drop": float(drops.mean()),
                     "auc_drop_sd": float(drops.std(ddof=1)) if n_repeats > 1 else 0.0,
                     "n_features": int(cols.size)})
    table = pd.DataFrame(rows).set_index("group")
    table.attrs["auc"] = float(base)
    return table


def group_reliance(fitted, frame: pd.DataFrame, y_true, *, shap_rows: int,
                   permutation_rows: int, n_repeats: int, rng: np.random.Generator) -> dict:
    """Group SHAP and grouped permutation importance on samples of ``frame``.

    Returns
    -------
    dict
        ``{"groups": {group: {"shap_mean_abs", "shap_share", "shap_mean",
        "permutation_auc_drop", "permutation_auc_drop_sd", "n_features"}}, "shap_rows",
        "permutation_rows", "n_repeats", "expected_log_odds", "auc", "shap_method"}``.
    """
    check_rng(rng)
    y = np.asarray(y_true)
    shap_rng, perm_rng = rng.spawn(2)
    shap_idx = _sample(len(frame), shap_rows, shap_rng)
    perm_idx = _stratified_sample(y, permutation_rows, perm_rng)
    shap = group_shap(fitted, frame.iloc[shap_idx])
    perm = grouped_permutation_importance(fitted, frame.iloc[perm_idx], y[perm_idx],
                                          n_repeats=n_repeats, rng=perm_rng)
    groups = {}
    for group in perm.index:
        s = shap.loc[group]
        groups[group] = {
            "shap_mean_abs": float(s["mean_abs"]),
            "shap_share": float(s["share"]),
            "shap_mean": float(s["mean"]),
            "permutation_auc_drop": float(perm.loc[group, "auc_drop"]),
            "permutation_auc_drop_sd": float(perm.loc[group, "auc_drop_sd"]),
            "n_features": int(perm.loc[group, "n_features"]),
        }
    return {
        "groups": groups, "shap_rows": int(shap_idx.size), "permutation_rows": int(perm_idx.size),
        "n_repeats": int(n_repeats),
        "expected_log_odds": shap.attrs["expected_value"], "auc": perm.attrs["auc"],
        "shap_method": shap.attrs["method"],
    }
