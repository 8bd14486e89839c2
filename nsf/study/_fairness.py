"""Fairness tables of the study: group metrics with intervals over test rows and seeds, and
how each variant moves the disparities.

Point values are :func:`nsf.fairness.group_metrics` (fairlearn's ``MetricFrame``) per seed,
averaged over seeds. Intervals come from a crossed bootstrap like the metric differences'
(:func:`nsf.metrics.difference_interval`): test rows are resampled within each group x outcome
cell (group sizes and NSF counts fixed, as :func:`nsf.fairness.disparity_intervals` does), the
same row resamples serve every seed and both arms of a change, and each arm's seeds are
resampled with replacement. The replicates are computed from bootstrap count vectors by the
project's one engine, :class:`nsf.metrics.GroupRates` (checked against ``MetricFrame`` in the
tests), rather than by building a ``MetricFrame`` per replicate.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from nsf.fairness import (
    DISPARITIES,
    basic_interval,
    bias_corrected,
    group_metrics,
    replicate_disparities,
    support_mask,
)
from nsf.metrics import GroupRates, percentile_interval, seed_average, shared_resample_counts
from nsf.scoring import probability_to_score

#: Per-group metrics given an interval, in order (``nsf.fairness.GROUP_COLUMNS`` names).
GROUP_METRICS = ("auc", "ece", "mean_score", "selection_rate", "false_positive_rate",
                 "false_negative_rate")
SEPARATOR = " | "


def attribute_groups(sensitive: pd.DataFrame, columns: Sequence[str]) -> \
        tuple[np.ndarray, list[str], pd.Series]:
    """Group code per row, group labels (sorted), and the group label of each row.

    Missing values become the group ``"(missing)"``. An intersection is one column of joined
    labels (``"40-49 | female"``), so that only observed combinations are groups: a
    ``MetricFrame`` given several columns would also list every unobserved combination.
    """
    parts = sensitive[list(columns)].astype(object)
    parts = parts.where(parts.notna(), "(missing)").astype(str).reset_index(drop=True)
    joined = parts[columns[0]]
    for column in columns[1:]:
        joined = joined + SEPARATOR + parts[column]
    labels, codes = np.unique(joined.to_numpy(dtype=str), return_inverse=True)
    return codes, [str(x) for x in labels], joined.rename("+".join(columns))


def _rates(y, prob, codes, *, threshold: int, n_bins: int, min_support: int
           ) -> tuple[GroupRates, dict[str, np.ndarray]]:
    """The engine's per-group rates of one model, and which groups enter each disparity
    (resamples keep group sizes and NSF counts, so that is fixed)."""
    rates = GroupRates(y, prob, codes, score=probability_to_score(prob), threshold=threshold,
                       n_bins=n_bins)
    return rates, support_mask(rates.n, rates.n_bad, min_support)


def _replicates(y, per_seed_prob, codes, *, threshold, n_bins, n_resamples, rng,
                with_groups: bool, min_support: int, rates=None):
    """Row-resample replicates for every seed: disparities (R, K, D) and per-group (R, K, G).
    ``rates``: the seeds' :func:`_rates`, when already built."""
    if rates is None:
        rates = [_rates(y, p, codes, threshold=threshold, n_bins=n_bins,
                        min_support=min_support) for p in per_seed_prob]
    disp_chunks: list[np.ndarray] = []
    group_chunks: dict[str, list[np.ndarray]] = {m: [] for m in GROUP_METRICS}
    strata = np.asarray(codes, dtype=np.int64) * 2 + np.asarray(y, dtype=np.int64)
    # The same row resamples for every arm of a study: drawn once per process.
    for counts in shared_resample_counts(strata, n_resamples=n_resamples, rng=rng):
        per_seed = [r.per_group(counts) for r, _ in rates]
        disp_chunks.append(np.stack([replicate_disparities(pg, eligible)
                                     for pg, (_, eligible) in zip(per_seed, rates, strict=True)],
                                    axis=1))
        if with_groups:
            for m in GROUP_METRICS:
                group_chunks[m].append(np.stack([pg[m] for pg in per_seed], axis=1))
    disp = np.concatenate(disp_chunks)
    groups = {m: np.concatenate(c) for m, c in group_chunks.items()} if with_groups else None
    return disp, groups


def _seed_mean(values: np.ndarray, rng: np.random.Generator, target: str) -> np.ndarray:
    """Average over resampled seeds (axis 1) per replicate, ignoring undefined (NaN) values."""
    return seed_average(values, rng, target, skip_undefined=True)


@contextmanager
def _quiet_nanmean():
    """Silence numpy's 'Mean of empty slice' for all-NaN cells: they stay NaN, on purpose (a
    metric undefined in every drawn seed, e.g. the AUC of a group without an NSF row)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        yield


def _interval(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds per column of (R, ...) ignoring NaN; NaN where < 2 defined values."""
    flat = values.reshape(values.shape[0], -1)
    lower = np.full(flat.shape[1], np.nan)
    upper = np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        col = flat[:, j][~np.isnan(flat[:, j])]
        if col.size >= 2:
            lower[j], upper[j] = percentile_interval(col, confidence)
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
            est = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
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
             "overall": {k: _nan_to_none(v) for k, v in overall.items()},
             "curve": threshold_curve(y, per_seed_prob, codes, n_bins=n_bins,
                                      min_support=min_support)}
    return table


#: Thresholds of the fairness curve (scores 0-100).
CURVE_THRESHOLDS = tuple(range(5, 100, 5))
_CURVE = ("demographic_parity_difference", "equalized_odds_difference",
          "false_positive_rate_difference", "false_negative_rate_difference")


def threshold_curve(y, per_seed_prob, codes, *, n_bins: int, min_support: int = 1,
                    thresholds=CURVE_THRESHOLDS) -> list[dict]:
    """The baseline's disparities (mean over seeds) and share flagged at each threshold."""
    index = [DISPARITIES.index(name) for name in _CURVE]
    out = []
    for t in thresholds:
        values = np.stack([point_disparities(y, p, codes, threshold=t, n_bins=n_bins,
                                             min_support=min_support)[index]
                           for p in per_seed_prob])
        with _quiet_nanmean():
            mean = np.nanmean(values, axis=0)
        flagged = float(np.mean([np.mean(probability_to_score(p) >= t) for p in per_seed_prob]))
        out.append({"threshold": int(t), "flagged": flagged,
                    **{name: _nan_to_none(v) for name, v in zip(_CURVE, mean, strict=True)}})
    return out


def point_disparities(y_true, y_prob, codes, *, threshold: int, n_bins: int,
                      min_support: int = 1) -> np.ndarray:
    """Disparities of one model on the original rows (unit weights), DISPARITIES order."""
    rates, eligible = _rates(y_true, y_prob, codes, threshold=threshold, n_bins=n_bins,
                             min_support=min_support)
    return _point_disparities(rates, eligible, len(y_true))


def _point_disparities(rates: GroupRates, eligible: dict, n: int) -> np.ndarray:
    return replicate_disparities(rates.per_group(np.ones((1, n))), eligible)[0]


def disparity_replicates(y_true, per_seed_prob: Sequence[np.ndarray],
                         sensitive: pd.DataFrame | None, columns: Sequence[str] | None, *,
                         threshold: int, n_bins: int, n_resamples: int,
                         rng: np.random.Generator, min_support: int = 1,
                         codes: np.ndarray | None = None) -> dict:
    """One arm's disparities per seed, on the original rows and on row resamples.

    ``rng`` must be the same stream (per attribute) for every arm, so that two arms'
    replicates are paired (see :func:`compare_disparities`). ``codes``: the rows' group codes
    (:func:`attribute_groups` of ``sensitive`` and ``columns``, then not needed), when the
    caller has them.

    Returns
    -------
    dict
        ``{"replicates": ndarray (n_resamples, n_seeds, n_disparities), "per_seed": ndarray
        (n_seeds, n_disparities)}``, disparities in :data:`nsf.fairness.DISPARITIES` order.
    """
    y = np.asarray(y_true)
    if codes is None:
        if sensitive is None or columns is None:
            raise ValueError("disparity_replicates needs the rows' group codes, or the "
                             "sensitive columns to derive them from")
        codes, _, _ = attribute_groups(sensitive, columns)
    # One engine per seed serves the resamples and the original rows.
    rates = [_rates(y, p, codes, threshold=threshold, n_bins=n_bins, min_support=min_support)
             for p in per_seed_prob]
    reps, _ = _replicates(y, per_seed_prob, codes, threshold=threshold, n_bins=n_bins,
                          n_resamples=n_resamples, rng=rng, with_groups=False,
                          min_support=min_support, rates=rates)
    per_seed = np.stack([_point_disparities(r, eligible, len(y)) for r, eligible in rates])
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
    from nsf.streams import stream

    def replicates(per_seed: Sequence[np.ndarray]) -> dict:
        return disparity_replicates(y_true, per_seed, sensitive, columns, threshold=threshold,
                                    n_bins=n_bins, n_resamples=n_resamples,
                                    min_support=min_support, rng=stream(seed, "fairness-rows"))

    base = replicates(per_seed_baseline)
    var = replicates(per_seed_variant)
    return compare_disparities(base, var, confidence=confidence, target=target,
                               rng=stream(seed, "fairness-change"))
