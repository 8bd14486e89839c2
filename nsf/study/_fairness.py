"""Fairness tables of the study: group metrics with intervals over test rows and seeds, and
how each variant moves the disparities.

Point values are :func:`nsf.fairness.group_metrics` (fairlearn's ``MetricFrame``) per seed,
averaged over seeds. Intervals come from a crossed bootstrap like the metric differences'
(:func:`nsf.metrics.difference_interval`): test rows are resampled within each group x outcome
cell (group sizes and NSF counts fixed, as :func:`nsf.fairness.disparity_intervals` does), the
same row resamples serve every seed and both arms of a change, and each arm's seeds are
resampled with replacement. The replicates are computed from bootstrap count vectors by
:class:`GroupRates` (checked against ``MetricFrame`` in the tests) rather than by building a
``MetricFrame`` per replicate.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from scipy import sparse

from nsf.fairness import (
    DISPARITIES,
    SUPPORT,
    basic_interval,
    bias_corrected,
    group_metrics,
    support_mask,
)
from nsf.metrics._classification import bin_ids
from nsf.metrics._weighted import iter_resample_counts
from nsf.scoring import probability_to_score
from nsf.study._cells import ScoreCells, divide

#: Per-group metrics given an interval, in order (``nsf.fairness.GROUP_COLUMNS`` names).
GROUP_METRICS = ("auc", "ece", "mean_score", "selection_rate", "false_positive_rate",
                 "false_negative_rate")
SEPARATOR = " | "


def attribute_groups(sensitive: pd.DataFrame, columns: Sequence[str]) -> \
        tuple[np.ndarray, list[str], pd.Series]:
    """Group code per row, group labels (sorted), and the group label of each row.

    Missing values become the group ``"unknown"``. An intersection is one column of joined
    labels (``"40-49 | female"``), so that only observed combinations are groups: a
    ``MetricFrame`` given several columns would also list every unobserved combination.
    """
    parts = sensitive[list(columns)].astype(object)
    parts = parts.where(parts.notna(), "unknown").astype(str).reset_index(drop=True)
    joined = parts[columns[0]] if len(columns) == 1 else \
        parts.agg(SEPARATOR.join, axis=1)
    labels, codes = np.unique(joined.to_numpy(dtype=str), return_inverse=True)
    return codes, [str(x) for x in labels], joined.rename("+".join(columns))


class GroupRates:
    """Per-group metrics of one model for many row-weight vectors at once (from
    :class:`~nsf.study._cells.ScoreCells`: the flag, score and calibration bin of a row are
    functions of its probability).

    Parameters
    ----------
    y_true : ndarray of 0/1.
    y_prob : calibrated P(NSF).
    codes : group code per row, ``0 .. n_groups - 1``, every code present.
    threshold : a row is flagged when its score (``round(100 p)``) is at least this.
    n_bins : equal-width bins of each group's ECE.
    min_support : a group enters a disparity of a metric only with at least this many rows in
        the metric's denominator (:func:`nsf.fairness.support_mask`); resamples keep group
        sizes and NSF counts, so :attr:`eligible` is fixed.
    """

    def __init__(self, y_true, y_prob, codes, *, threshold: int, n_bins: int,
                 min_support: int = 1):
        self.cells = ScoreCells(y_true, y_prob, codes)
        y, codes = np.asarray(y_true, dtype=np.int64), np.asarray(codes, dtype=np.int64)
        n_groups = self.cells.n_groups
        self.eligible = support_mask(np.bincount(codes, minlength=n_groups),
                                     np.bincount(codes, weights=y, minlength=n_groups),
                                     min_support)
        p = self.cells.prob
        self.score = probability_to_score(p).astype(np.float64)
        self.flagged = (self.score >= threshold).astype(np.float64)
        self.n_bins = n_bins
        bins = bin_ids(p, n_bins=n_bins, strategy="uniform")
        column = self.cells.group * n_bins + bins
        self._bins = sparse.csr_matrix(
            (np.ones(p.size), (np.arange(p.size), column)),
            shape=(p.size, self.cells.n_groups * n_bins))

    def per_group(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Metric -> array (n_replicates, n_groups); NaN where a group's metric is undefined."""
        c = self.cells
        pos, neg = c.counts(weights)
        total_cell = pos + neg
        total, bad = c.per_group(total_cell), c.per_group(pos)
        gap = pos - total_cell * c.prob  # sum of (y - p) per cell
        per_bin = np.asarray((self._bins.T @ gap.T).T)
        ece = np.abs(per_bin).reshape(-1, c.n_groups, self.n_bins).sum(axis=2)
        return {
            "auc": c.group_auc(pos, neg),
            "ece": divide(ece, total),
            "mean_score": divide(c.per_group(total_cell * self.score), total),
            "selection_rate": divide(c.per_group(total_cell * self.flagged), total),
            "false_positive_rate": divide(c.per_group(neg * self.flagged), total - bad),
            "false_negative_rate": divide(c.per_group(pos * (1.0 - self.flagged)), bad),
        }


def disparities(per_group: dict[str, np.ndarray],
                eligible: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Disparities (columns in :data:`nsf.fairness.DISPARITIES` order) per replicate, with the
    definitions of :func:`nsf.fairness.group_metrics` (groups where a metric is undefined, or
    not ``eligible`` for it, are ignored)."""
    if eligible is not None:
        per_group = {m: np.where(eligible[m], v, np.nan) if m in SUPPORT else v
                     for m, v in per_group.items()}

    def spread(values):
        with np.errstate(invalid="ignore"):
            return np.fmax.reduce(values, axis=1) - np.fmin.reduce(values, axis=1)

    sel = per_group["selection_rate"]
    fpr, fnr = spread(per_group["false_positive_rate"]), spread(per_group["false_negative_rate"])
    return np.column_stack([
        spread(sel),
        divide(np.fmin.reduce(sel, axis=1), np.fmax.reduce(sel, axis=1)),
        np.fmax(fpr, fnr),
        spread(per_group["auc"]),
        spread(per_group["ece"]),
        fpr,
        fnr,
        spread(per_group["mean_score"]),
    ])


def _replicates(y, per_seed_prob, codes, *, threshold, n_bins, n_resamples, rng,
                with_groups: bool, min_support: int):
    """Row-resample replicates for every seed: disparities (R, K, D) and per-group (R, K, G)."""
    rates = [GroupRates(y, p, codes, threshold=threshold, n_bins=n_bins,
                        min_support=min_support) for p in per_seed_prob]
    disp_chunks, group_chunks = [], {m: [] for m in GROUP_METRICS}
    strata = np.asarray(codes) * 2 + np.asarray(y, dtype=np.int64)
    for counts in iter_resample_counts(strata, n_resamples=n_resamples, rng=rng):
        per_seed = [r.per_group(counts) for r in rates]
        disp_chunks.append(np.stack([disparities(pg, r.eligible)
                                     for pg, r in zip(per_seed, rates, strict=True)], axis=1))
        if with_groups:
            for m in GROUP_METRICS:
                group_chunks[m].append(np.stack([pg[m] for pg in per_seed], axis=1))
    disp = np.concatenate(disp_chunks)
    groups = {m: np.concatenate(c) for m, c in group_chunks.items()} if with_groups else None
    return disp, groups


def _seed_mean(values: np.ndarray, rng: np.random.Generator, target: str) -> np.ndarray:
    """Average over resampled seeds (axis 1) per replicate, ignoring undefined (NaN) values."""
    n_rep, n_seeds = values.shape[:2]
    drawn = 1 if target == "single" else n_seeds
    picked = rng.integers(0, n_seeds, size=(n_rep, drawn))
    taken = np.take_along_axis(values, picked.reshape(n_rep, drawn, *([1] * (values.ndim - 2))),
                               axis=1)
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        return np.nanmean(taken, axis=1)


@contextmanager
def _quiet_nanmean():
    """Silence numpy's 'Mean of empty slice' for all-NaN cells: they stay NaN, on purpose (a
    metric undefined in every drawn seed, e.g. the AUC of a group without an NSF row)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        yield


def _interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds per column of (R, ...) ignoring NaN; NaN where < 2 defined values."""
    alpha = 1.0 - confidence
    flat = values.reshape(values.shape[0], -1)
    lower = np.full(flat.shape[1], np.nan)
    upper = np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        col = flat[:, j][~np.isnan(flat[:, j])]
        if col.size >= 2:
            lower[j], upper[j] = np.quantile(col, [alpha / 2.0, 1.0 - alpha / 2.0])
    return lower.reshape(values.shape[1:]), upper.reshape(values.shape[1:])


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def fairness_table(y_true, per_seed_prob: Sequence[np.ndarray], sensitive: pd.DataFrame,
                   columns: Sequence[str], *, threshold: int, n_bins: int, n_resamples: int,
                   confidence: float, target: str, row_rng: np.random.Generator,
                   seed_rng: np.random.Generator, min_support: int = 1) -> dict:
    """Group metrics and disparities of a model trained with several seeds, with intervals.

    Parameters
    ----------
    y_true : test rows' outcome.
    per_seed_prob : calibrated P(NSF), one array per seed.
    sensitive : sensitive columns of the test rows.
    columns : one attribute, or several for an intersection.
    threshold : flagged = score at or above it (charge each purchase immediately).
    n_bins, n_resamples, confidence, target : see the module docstring.
    row_rng : resamples the rows.
    seed_rng : resamples the seeds.
    min_support : groups with fewer rows in a metric's denominator are shown but left out of
        its disparities (:func:`nsf.fairness.support_mask`).

    Returns
    -------
    dict
        ``{"columns", "threshold", "min_support", "groups": [{"group", "n", "n_bad",
        "bad_rate", <metric>, <metric>_lower, <metric>_upper, ..., "below_support": [metrics
        this group is too small to enter]}], "disparities": {name: {"estimate",
        "bias_corrected", "lower", "upper", "per_seed"}}, "overall": {...}}``; metrics are
        means over seeds of ``nsf.fairness.group_metrics`` (MetricFrame); None where undefined.
        Group metrics have percentile intervals; disparities (max - min, biased upward) basic
        bootstrap ones (:func:`nsf.fairness.basic_interval`).
    """
    y = np.asarray(y_true)
    codes, labels, row_groups = attribute_groups(sensitive, columns)
    per_seed = [group_metrics(y, p, probability_to_score(p), row_groups, threshold=threshold,
                              n_bins=n_bins, min_support=min_support) for p in per_seed_prob]
    by_group = [gm.by_group.loc[labels].reset_index(drop=True) for gm in per_seed]
    with _quiet_nanmean():
        mean_by_group = pd.DataFrame(
            np.nanmean(np.stack([b.to_numpy(dtype=np.float64) for b in by_group]), axis=0),
            columns=by_group[0].columns)
    disp_rep, group_rep = _replicates(y, per_seed_prob, codes, threshold=threshold,
                                      n_bins=n_bins, n_resamples=n_resamples, rng=row_rng,
                                      with_groups=True, min_support=min_support)
    disp_rng, group_rng = seed_rng.spawn(2)
    disp_means = _seed_mean(disp_rep, disp_rng, target)
    d_lower, d_upper = _interval(disp_means, confidence)
    with _quiet_nanmean():
        d_centre = np.nanmean(disp_means, axis=0)
    groups = []
    bounds = {}
    for m in GROUP_METRICS:
        bounds[m] = _interval(_seed_mean(group_rep[m], group_rng, target), confidence)
    eligible = support_mask(by_group[0]["n"], by_group[0]["n_bad"], min_support)
    for k, label in enumerate(labels):
        row = mean_by_group.iloc[k]
        entry = {"group": label, "n": int(by_group[0].iloc[k]["n"]),
                 "n_bad": int(by_group[0].iloc[k]["n_bad"]),
                 "bad_rate": _nan_to_none(row["bad_rate"])}
        for m in GROUP_METRICS:
            entry[m] = _nan_to_none(row[m])
            entry[f"{m}_lower"] = _nan_to_none(bounds[m][0][k])
            entry[f"{m}_upper"] = _nan_to_none(bounds[m][1][k])
        entry["below_support"] = [m for m in GROUP_METRICS if not eligible[m][k]]
        groups.append(entry)
    estimates = {name: [gm.disparities[name] for gm in per_seed] for name in DISPARITIES}
    disp = {}
    for j, name in enumerate(DISPARITIES):
        values = np.asarray(estimates[name], dtype=np.float64)
        with _quiet_nanmean():
            est = np.nanmean(values) if np.isfinite(values).any() else np.nan
        lower, upper = basic_interval(est, d_lower[j], d_upper[j], name)
        disp[name] = {"estimate": _nan_to_none(est),
                      "bias_corrected": _nan_to_none(bias_corrected(est, d_centre[j], name)),
                      "lower": _nan_to_none(lower),
                      "upper": _nan_to_none(upper),
                      "per_seed": [_nan_to_none(v) for v in values]}
    overall = pd.concat([gm.overall for gm in per_seed], axis=1).mean(axis=1)
    table = {"columns": list(columns), "threshold": int(threshold), "n_groups": len(labels),
             "min_support": int(min_support),
             "groups": groups, "disparities": disp,
             "overall": {k: _nan_to_none(v) for k, v in overall.items()}}
    return table


def point_disparities(y_true, y_prob, codes, *, threshold: int, n_bins: int,
                      min_support: int = 1) -> np.ndarray:
    """Disparities of one model on the original rows (unit weights), DISPARITIES order."""
    rates = GroupRates(y_true, y_prob, codes, threshold=threshold, n_bins=n_bins,
                       min_support=min_support)
    return disparities(rates.per_group(np.ones((1, len(y_true)))), rates.eligible)[0]


def disparity_replicates(y_true, per_seed_prob: Sequence[np.ndarray], sensitive: pd.DataFrame,
                         columns: Sequence[str], *, threshold: int, n_bins: int,
                         n_resamples: int, rng: np.random.Generator,
                         min_support: int = 1) -> dict:
    """One arm's disparities per seed, on the original rows and on row resamples.

    ``rng`` must be the same stream (per attribute) for every arm, so that two arms'
    replicates are paired (see :func:`compare_disparities`).

    Returns
    -------
    dict
        ``{"replicates": ndarray (n_resamples, n_seeds, n_disparities), "per_seed": ndarray
        (n_seeds, n_disparities)}``, disparities in :data:`nsf.fairness.DISPARITIES` order.
    """
    y = np.asarray(y_true)
    codes, _, _ = attribute_groups(sensitive, columns)
    reps, _ = _replicates(y, per_seed_prob, codes, threshold=threshold, n_bins=n_bins,
                          n_resamples=n_resamples, rng=rng, with_groups=False,
                          min_support=min_support)
    per_seed = np.stack([point_disparities(y, p, codes, threshold=threshold, n_bins=n_bins,
                                           min_support=min_support)
                         for p in per_seed_prob])
    return {"replicates": reps, "per_seed": per_seed}


def compare_disparities(baseline: dict, variant: dict, *, confidence: float, target: str,
                        rng: np.random.Generator) -> dict:
    """How a variant moves each disparity: ``variant - baseline`` (means over seeds), with a
    paired interval (same row resamples, each arm's seeds resampled).

    Parameters
    ----------
    baseline, variant : :func:`disparity_replicates` of the two arms (same row stream).

    Returns
    -------
    dict
        disparity -> ``{"baseline", "variant", "estimate", "lower", "upper"}``. For the
        ``*_difference`` disparities a negative change means the variant treats the groups more
        alike; for ``demographic_parity_ratio`` a positive one does.
    """
    if baseline["replicates"].shape[0] != variant["replicates"].shape[0]:
        raise ValueError("the arms were bootstrapped with different n_resamples")
    rng_b, rng_v = rng.spawn(2)
    change = _seed_mean(variant["replicates"], rng_v, target) - \
        _seed_mean(baseline["replicates"], rng_b, target)
    lower, upper = _interval(change, confidence)
    with _quiet_nanmean():
        base = np.nanmean(baseline["per_seed"], axis=0)
        var = np.nanmean(variant["per_seed"], axis=0)
    return {name: {"baseline": _nan_to_none(base[j]), "variant": _nan_to_none(var[j]),
                   "estimate": _nan_to_none(var[j] - base[j]),
                   "lower": _nan_to_none(lower[j]), "upper": _nan_to_none(upper[j])}
            for j, name in enumerate(DISPARITIES)}


def disparity_change(y_true, per_seed_baseline: Sequence[np.ndarray],
                     per_seed_variant: Sequence[np.ndarray], sensitive: pd.DataFrame,
                     columns: Sequence[str], *, threshold: int, n_bins: int, n_resamples: int,
                     confidence: float, target: str, seed: int, min_support: int = 1) -> dict:
    """:func:`compare_disparities` of two arms given their predictions (streams from ``seed``).
    """
    from nsf.study._variants import stream

    kw = {"threshold": threshold, "n_bins": n_bins, "n_resamples": n_resamples,
          "min_support": min_support}
    base = disparity_replicates(y_true, per_seed_baseline, sensitive, columns, **kw,
                                rng=stream(seed, "fairness-rows"))
    var = disparity_replicates(y_true, per_seed_variant, sensitive, columns, **kw,
                               rng=stream(seed, "fairness-rows"))
    return compare_disparities(base, var, confidence=confidence, target=target,
                               rng=stream(seed, "fairness-change"))
