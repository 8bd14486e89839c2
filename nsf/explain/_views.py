"""The data of the standard SHAP views, from one explained sample of rows (no identifiers).

- beeswarm: each sampled row's group values, with the rank (0-1) of the value of the group's
  strongest feature among the sampled rows, to shade the dots;
- dependence: for the strongest contested group, the value of its strongest feature against
  the group's SHAP value;
- waterfalls: for a few typical scored rows (the rows nearest the 10th, 50th and 90th
  percentiles of the score), the base score and each group's points of the score.

Only SHAP values, scores and feature values of sampled rows are kept: no key column, no row
position in the input, so nothing identifies the person behind a dot or a waterfall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nsf.explain._shap import GroupAttribution
from nsf.metrics import check_rng

#: Score percentiles of the "typical" rows whose waterfalls are drawn.
TYPICAL_PERCENTILES = (10, 50, 90)


def _rank01(x: np.ndarray) -> np.ndarray:
    """Rank of each value among the finite ones, scaled to [0, 1]; NaN stays NaN."""
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x)
    if finite.sum() > 1:
        order = np.argsort(np.argsort(x[finite], kind="stable"), kind="stable")
        out[finite] = order / (finite.sum() - 1)
    elif finite.any():
        out[finite] = 0.5
    return out


def explanation_views(attribution: GroupAttribution, score: np.ndarray, points: np.ndarray,
                      base_score: float, *, contested: Sequence[str], max_rows: int,
                      rng: np.random.Generator) -> dict:
    """The beeswarm, dependence and waterfall data of an explained sample of rows.

    Parameters
    ----------
    attribution : :class:`GroupAttribution` of the rows.
    score : (n_rows,) unrounded scores (``100 x calibrated P(NSF)``).
    points : (n_rows, n_groups) score points per group (:func:`nsf.scoring.score_points`).
    base_score : the score of the base value.
    contested : contested groups (the dependence plot's candidates).
    max_rows : rows kept for the beeswarm and dependence plot (a random sample).
    rng : numpy.random.Generator

    Returns
    -------
    dict
        JSON-ready: ``groups``, ``base_value``, ``base_score``, ``beeswarm`` (``values``,
        ``shade``), ``dependence`` (``group``, ``feature``, ``x``, ``values``; None without a
        contested group the model uses), ``waterfalls`` (list of ``percentile``, ``score``,
        ``points``).
    """
    check_rng(rng)
    n = attribution.values.shape[0]
    if n == 0:
        raise ValueError("no rows to draw")
    keep = np.sort(rng.choice(n, size=min(n, max_rows), replace=False))
    groups = list(attribution.groups)
    feature_groups = np.asarray(attribution.feature_groups)
    strength = np.abs(attribution.feature_values).mean(axis=0)
    shade = np.full((keep.size, len(groups)), np.nan)
    top_feature = {}
    for k, g in enumerate(groups):
        cols = np.flatnonzero(feature_groups == g)
        j = int(cols[np.argmax(strength[cols])])
        top_feature[g] = j
        shade[:, k] = _rank01(np.asarray(attribution.X[keep, j], dtype=np.float64))
    reliance = np.abs(attribution.values).mean(axis=0)
    used = [g for g in contested if g in groups and reliance[groups.index(g)] > 0]
    dependence = None
    if used:
        g = max(used, key=lambda name: reliance[groups.index(name)])
        j = top_feature[g]
        dependence = {"group": g, "feature": attribution.feature_names[j],
                      "x": np.asarray(attribution.X[keep, j], np.float64).tolist(),
                      "values": attribution.values[keep, groups.index(g)].tolist()}
    waterfalls = []
    score = np.asarray(score, dtype=np.float64)
    for q in TYPICAL_PERCENTILES:
        target = np.percentile(score, q)
        row = int(np.argmin(np.abs(score - target)))
        waterfalls.append({"percentile": q, "score": float(score[row]),
                           "points": dict(zip(groups, map(float, points[row]), strict=True))})
    return {
        "groups": groups, "base_value": float(attribution.base_value),
        "base_score": float(base_score), "n_rows": int(keep.size),
        "beeswarm": {"values": attribution.values[keep].tolist(),
                     "shade": [[None if np.isnan(x) else float(x) for x in row]
                               for row in shade]},
        "dependence": dependence, "waterfalls": waterfalls,
    }
