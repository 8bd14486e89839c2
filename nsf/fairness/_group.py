"""Metrics per sensitive group, disparities between groups, and bootstrap intervals for them.

Point values come from :class:`fairlearn.metrics.MetricFrame`; intersections of several
sensitive columns are MetricFrame's own (one group per observed combination).

A user is *flagged* when ``score >= threshold``: the score is high enough that each purchase is
charged immediately instead of being grouped. Selection rate, false-positive rate (flagged
among users without NSF) and false-negative rate (not flagged among users with NSF) refer to
that decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)

from nsf.metrics import (
    GroupRates,
    auc,
    check_binary,
    check_confidence,
    check_n_bins,
    check_n_resamples,
    check_rng,
    ece,
    iter_resample_counts,
    percentile_interval,
)
from nsf.metrics import safe_divide as _divide

#: Columns of :attr:`GroupMetrics.by_group`, in order.
GROUP_COLUMNS: tuple[str, ...] = (
    "n",
    "n_bad",
    "bad_rate",
    "auc",
    "ece",
    "mean_score",
    "selection_rate",
    "false_positive_rate",
    "false_negative_rate",
)

#: Keys of :attr:`GroupMetrics.disparities`, in order.
DISPARITIES: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "auc_difference",
    "ece_difference",
    "false_positive_rate_difference",
    "false_negative_rate_difference",
    "mean_score_difference",
)

#: The rows each per-group metric is computed from: a group enters a disparity (max - min over
#: groups) only when it has at least ``min_support`` of them. ``n_min_class`` is the smaller of
#: its NSF and non-NSF counts (an AUC needs both).
SUPPORT: dict[str, str] = {
    "auc": "n_min_class",
    "ece": "n",
    "mean_score": "n",
    "selection_rate": "n",
    "false_positive_rate": "n_good",
    "false_negative_rate": "n_bad",
}

#: Disparities that are ratios (bounded by [0, 1]); the others are max - min differences (>= 0).
_RATIOS = frozenset({"demographic_parity_ratio"})


def support_mask(n, n_bad, min_support: int) -> dict[str, np.ndarray]:
    """Per metric of :data:`SUPPORT`, whether each group has enough rows to enter a disparity.

    Parameters
    ----------
    n, n_bad : array-like of shape (n_groups,)
        Rows and NSF rows per group.
    min_support : int
        Least number of rows in the metric's denominator (1: every group where it is defined).
    """
    n = np.asarray(n, dtype=np.int64)
    n_bad = np.asarray(n_bad, dtype=np.int64)
    counts = {"n": n, "n_bad": n_bad, "n_good": n - n_bad,
              "n_min_class": np.minimum(n_bad, n - n_bad)}
    return {metric: counts[key] >= min_support for metric, key in SUPPORT.items()}


def basic_interval(estimate: float, q_low: float, q_high: float, disparity: str
                   ) -> tuple[float, float]:
    """Basic (pivotal) bootstrap interval ``[2 est - q_high, 2 est - q_low]`` of a disparity,
    clipped to the disparity's range.

    A max - min over groups is biased upward, and its bootstrap replicates are biased upward
    again by about as much, so percentile bounds can even exclude the estimate; the basic
    interval reflects the replicates around the estimate and so corrects that first-order bias
    (Davison & Hinkley 1997, sec. 5.2).
    """
    if not (np.isfinite(estimate) and np.isfinite(q_low) and np.isfinite(q_high)):
        return np.nan, np.nan
    return (_clip(2.0 * estimate - q_high, disparity), _clip(2.0 * estimate - q_low, disparity))


def bias_corrected(estimate: float, replicate_mean: float, disparity: str) -> float:
    """Bootstrap bias-corrected disparity ``2 est - mean(replicates)``, clipped to its range
    (the centre of :func:`basic_interval`)."""
    if not (np.isfinite(estimate) and np.isfinite(replicate_mean)):
        return np.nan
    return _clip(2.0 * estimate - replicate_mean, disparity)


def _clip(value: float, disparity: str) -> float:
    return float(np.clip(value, 0.0, 1.0 if disparity in _RATIOS else np.inf))


# --- Per-group metric functions for MetricFrame: (y_true, y_pred, **per-row arrays) -------------


def _n_bad(y_true, y_pred) -> int:
    return int(np.sum(y_true))


def _bad_rate(y_true, y_pred) -> float:
    return float(np.mean(y_true))


def _group_auc(y_true, y_pred, *, y_prob) -> float:
    """AUC within a group; NaN when the group holds one class (AUC undefined)."""
    labels = np.asarray(y_true)
    if labels.min() == labels.max():
        return np.nan
    return auc(labels, y_prob)


def _group_ece(y_true, y_pred, *, y_prob, n_bins: int) -> float:
    return ece(y_true, y_prob, n_bins=n_bins)


def _mean_score(y_true, y_pred, *, score) -> float:
    return float(np.mean(score))


def _group_fpr(y_true, y_pred) -> float:
    # fairlearn returns 0 for a group without negatives; undefined is NaN here, so that such a
    # group does not pose as a perfect one in the max - min disparity.
    if np.all(np.asarray(y_true) == 1):
        return np.nan
    return float(false_positive_rate(y_true, y_pred, pos_label=1))


def _group_fnr(y_true, y_pred) -> float:
    if np.all(np.asarray(y_true) == 0):
        return np.nan
    return float(false_negative_rate(y_true, y_pred, pos_label=1))


def _group_values(y_true, y_pred, *, y_prob, score, n_bins: int) -> np.ndarray:
    """Every :data:`GROUP_COLUMNS` metric of one group, in that order: one MetricFrame metric
    instead of nine (fairlearn 0.15 stacks each argument of each metric element by element for
    every group: nine metrics stacked 21 arrays, this one stacks four, about a fifth of the
    time; each value is the same function of the same rows)."""
    return np.array([count(y_true, y_pred), _n_bad(y_true, y_pred), _bad_rate(y_true, y_pred),
                     _group_auc(y_true, y_pred, y_prob=y_prob),
                     _group_ece(y_true, y_pred, y_prob=y_prob, n_bins=n_bins),
                     _mean_score(y_true, y_pred, score=score),
                     selection_rate(y_true, y_pred, pos_label=1),
                     _group_fpr(y_true, y_pred), _group_fnr(y_true, y_pred)], dtype=np.float64)


def _unpack(values: pd.Series) -> pd.DataFrame:
    """:func:`_group_values` per group as a frame with :data:`GROUP_COLUMNS`; groups that
    MetricFrame lists without rows (an unobserved combination of several columns) are left
    out."""
    rows = [(label, v) for label, v in values.items() if isinstance(v, np.ndarray)]
    index: list = [label for label, _ in rows]
    frame = pd.DataFrame(np.stack([v for _, v in rows]) if rows else
                         np.zeros((0, len(GROUP_COLUMNS))), columns=list(GROUP_COLUMNS))
    if isinstance(values.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_tuples(index, names=values.index.names)
    else:
        frame.index = pd.Index(index, name=values.index.name)
    return frame


@dataclass(frozen=True, eq=False)
class GroupMetrics:
    """Group metrics of one model at one threshold.

    Attributes
    ----------
    by_group : pandas.DataFrame
        One row per group (a MultiIndex for intersections), columns :data:`GROUP_COLUMNS`.
    overall : pandas.Series
        The same metrics on all rows.
    disparities : dict
        :data:`DISPARITIES`, each computed between groups (max minus min, or min over max for
        the ratio) ignoring groups where the metric is undefined (NaN).
    threshold : int
    frame : fairlearn.metrics.MetricFrame
        The underlying MetricFrame: one metric, ``"group"``, whose value per group is the
        array of :data:`GROUP_COLUMNS` (:func:`_group_values`).
    """

    by_group: pd.DataFrame
    overall: pd.Series
    disparities: dict[str, float]
    threshold: int
    frame: MetricFrame = field(repr=False)


def _check_threshold(threshold) -> int:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | np.integer)
        or not 0 <= threshold <= 100
    ):
        raise ValueError(f"threshold must be an integer score in [0, 100], got {threshold!r}")
    return int(threshold)


def _check_score(score, n: int) -> np.ndarray:
    values = np.asarray(score, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"score has shape {values.shape} but y_true has ({n},)")
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 100:
        raise ValueError("score must be finite and lie in [0, 100]")
    return values


def _check_sensitive(sensitive, n: int) -> pd.DataFrame:
    if isinstance(sensitive, pd.Series):
        frame = sensitive.to_frame(name=sensitive.name if sensitive.name is not None else "group")
    elif isinstance(sensitive, pd.DataFrame):
        frame = sensitive
    else:
        raise ValueError(
            f"sensitive must be a pandas Series or DataFrame, got {type(sensitive).__name__}"
        )
    if frame.shape[1] == 0:
        raise ValueError("sensitive has no columns")
    if frame.shape[0] != n:
        raise ValueError(f"sensitive has {frame.shape[0]} rows but y_true has {n}")
    missing = [str(column) for column in frame.columns if frame[column].isna().any()]
    if missing:
        raise ValueError(
            f"sensitive column(s) {missing} have missing values; code them as a group "
            "(e.g. 'unknown') first"
        )
    return frame.reset_index(drop=True)


def group_metrics(
    y_true, y_prob, score, sensitive, *, threshold: int, n_bins: int = 10, min_support: int = 1
) -> GroupMetrics:
    """Per-group performance, calibration and decision rates, and disparities between groups.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    y_prob : array-like of shape (n_samples,)
        Calibrated P(NSF).
    score : array-like of shape (n_samples,)
        The 0-100 score.
    sensitive : pandas.Series or pandas.DataFrame
        Sensitive attribute(s), one row per sample, no missing values. With several columns,
        groups are their observed combinations (intersections).
    threshold : int
        A row is flagged (charged immediately) when ``score >= threshold``.
    n_bins : int, default=10
        Equal-width bins for each group's ECE.
    min_support : int, default=1
        A group enters a disparity of a metric only with at least this many rows in the
        metric's denominator (:data:`SUPPORT`); smaller groups keep their values in
        ``by_group`` but are left out of the max - min. 1 leaves out only groups where the
        metric is undefined.

    Returns
    -------
    GroupMetrics
        ``by_group``: ``n``, ``n_bad``, ``bad_rate``, ``auc`` (NaN when the group holds one
        class), ``ece``, ``mean_score``, ``selection_rate`` (share flagged),
        ``false_positive_rate`` (flagged among non-NSF; NaN when the group has none),
        ``false_negative_rate`` (not flagged among NSF; NaN when the group has none).
        ``disparities``: ``demographic_parity_difference`` and ``_ratio`` (of selection rates,
        as :func:`fairlearn.metrics.demographic_parity_difference` / ``_ratio``),
        ``equalized_odds_difference`` (larger of the TPR and FPR differences, as
        :func:`fairlearn.metrics.equalized_odds_difference`), and the max - min difference of
        AUC, ECE, FPR, FNR and mean score.
    """
    labels, prob = check_binary(y_true, y_prob)
    values = _check_score(score, labels.shape[0])
    threshold = _check_threshold(threshold)
    n_bins = check_n_bins(n_bins)
    groups = _check_sensitive(sensitive, labels.shape[0])
    if isinstance(min_support, bool) or not isinstance(min_support, int | np.integer) \
            or min_support < 1:
        raise ValueError(f"min_support must be an integer >= 1, got {min_support!r}")
    flagged = (values >= threshold).astype(np.int64)
    frame = MetricFrame(
        metrics={"group": partial(_group_values, n_bins=n_bins)},
        y_true=labels,
        y_pred=flagged,
        sensitive_features=groups,
        sample_params={"group": {"y_prob": prob, "score": values}},
    )
    by_group = _unpack(frame.by_group["group"])
    by_group[["n", "n_bad"]] = by_group[["n", "n_bad"]].astype(np.int64)
    overall = pd.Series(frame.overall["group"], index=list(GROUP_COLUMNS), dtype=np.float64)
    mask = support_mask(by_group["n"], by_group["n_bad"], min_support)
    # Groups without the support of a metric are left out of its spread (NaN is skipped, as in
    # MetricFrame.difference/ratio(method="between_groups"), which this equals with no mask).
    eligible = pd.DataFrame({m: by_group[m].where(mask[m]) for m in SUPPORT})
    difference = eligible.max() - eligible.min()
    ratio = eligible.min() / eligible.max()
    disparities = {
        "demographic_parity_difference": float(difference["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        # TPR = 1 - FNR, so the TPR difference equals the FNR difference.
        "equalized_odds_difference": float(
            np.fmax(difference["false_positive_rate"], difference["false_negative_rate"])
        ),
        "auc_difference": float(difference["auc"]),
        "ece_difference": float(difference["ece"]),
        "false_positive_rate_difference": float(difference["false_positive_rate"]),
        "false_negative_rate_difference": float(difference["false_negative_rate"]),
        "mean_score_difference": float(difference["mean_score"]),
    }
    return GroupMetrics(
        by_group=by_group,
        overall=overall,
        disparities=disparities,
        threshold=threshold,
        frame=frame,
    )


# --- Bootstrap ------------------------------------------------------------------------------


def replicate_disparities(per_group: dict[str, np.ndarray],
                          eligible: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Disparities (columns in :data:`DISPARITIES` order) per replicate, as
    :func:`group_metrics` defines them, from per-group metrics per replicate.

    Parameters
    ----------
    per_group : dict
        Metric -> array (n_replicates, n_groups) (:meth:`nsf.metrics.GroupRates.per_group`).
    eligible : dict, optional
        :func:`support_mask` of the groups; a group not eligible for a metric, or where the
        metric is undefined (NaN), is left out of its max - min.
    """
    if eligible is not None:
        per_group = {m: np.where(eligible[m], v, np.nan) if m in SUPPORT else v
                     for m, v in per_group.items()}
    sel = per_group["selection_rate"]
    fpr = _spread(per_group["false_positive_rate"])
    fnr = _spread(per_group["false_negative_rate"])
    return np.column_stack([
        _spread(sel),
        _divide(np.fmin.reduce(sel, axis=1), np.fmax.reduce(sel, axis=1)),
        np.fmax(fpr, fnr),
        _spread(per_group["auc"]),
        _spread(per_group["ece"]),
        fpr,
        fnr,
        _spread(per_group["mean_score"]),
    ])


def _spread(values: np.ndarray) -> np.ndarray:
    """max - min over groups (axis 1), ignoring NaN groups; NaN when no group is defined."""
    with np.errstate(invalid="ignore"):
        return np.fmax.reduce(values, axis=1) - np.fmin.reduce(values, axis=1)


def _group_codes(groups: pd.DataFrame) -> np.ndarray:
    return groups.groupby(list(groups.columns), sort=True, observed=True).ngroup().to_numpy()


def disparity_intervals(
    y_true,
    y_prob,
    score,
    sensitive,
    *,
    threshold: int,
    n_bins: int = 10,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    min_support: int = 1,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Bootstrap intervals (basic, :func:`basic_interval`) for the disparities of
    :func:`group_metrics`.

    Rows are resampled with replacement within each cell of group x outcome, so every group
    keeps its size and NSF count in every replicate (a group's AUC stays defined whenever it
    is defined on the original rows). The interval therefore describes the sampling noise of
    the metrics given the observed group composition, not of the composition itself.

    The replicates are computed from bootstrap count vectors for all groups at once by the
    project's one bootstrap engine (:class:`nsf.metrics.GroupRates`) rather than by rebuilding a
    MetricFrame per replicate (about 0.1 s each); tests check that they equal
    :func:`group_metrics` on the same resamples. ``score`` must be a function of ``y_prob``
    (one score per distinct probability), as the project's 0-100 score is.

    Parameters
    ----------
    y_true, y_prob, score, sensitive, threshold, n_bins, min_support
        As for :func:`group_metrics`.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Indexed by :data:`DISPARITIES`, columns ``estimate`` (from :func:`group_metrics`),
        ``bias_corrected`` (:func:`bias_corrected`), ``lower``, ``upper`` and
        ``standard_error``. Bounds ignore replicates in which a
        disparity is undefined; ``n_undefined`` counts them.
    """
    estimate = group_metrics(y_true, y_prob, score, sensitive, threshold=threshold, n_bins=n_bins,
                             min_support=min_support)
    labels, prob = check_binary(y_true, y_prob)
    values = _check_score(score, labels.shape[0])
    groups = _check_sensitive(sensitive, labels.shape[0])
    n_resamples = check_n_resamples(n_resamples)
    confidence = check_confidence(confidence)
    check_rng(rng)
    codes = _group_codes(groups)
    rates = GroupRates(labels, prob, codes, score=values, threshold=estimate.threshold,
                       n_bins=n_bins)
    # Resamples keep every group's size and NSF count, so support is fixed.
    eligible = support_mask(rates.n, rates.n_bad, min_support)
    replicates = np.concatenate(
        [
            replicate_disparities(rates.per_group(counts), eligible)
            for counts in iter_resample_counts(codes * 2 + labels, n_resamples=n_resamples, rng=rng)
        ]
    )
    return _interval_table(estimate.disparities, replicates, confidence)


def _interval_table(
    estimates: dict[str, float], replicates: np.ndarray, confidence: float
) -> pd.DataFrame:
    table = pd.DataFrame(index=pd.Index(DISPARITIES, name="disparity"))
    table["estimate"] = [estimates[name] for name in DISPARITIES]
    defined = ~np.isnan(replicates)
    corrected, lower, upper, spread = [], [], [], []
    for j in range(replicates.shape[1]):
        column = replicates[defined[:, j], j]
        if column.size < 2:
            corrected.append(np.nan)
            lower.append(np.nan)
            upper.append(np.nan)
            spread.append(np.nan)
            continue
        corrected.append(bias_corrected(estimates[DISPARITIES[j]], column.mean(),
                                        DISPARITIES[j]))
        q_low, q_high = percentile_interval(column, confidence)
        low, high = basic_interval(estimates[DISPARITIES[j]], q_low, q_high, DISPARITIES[j])
        lower.append(low)
        upper.append(high)
        spread.append(np.std(column, ddof=1))
    table["bias_corrected"] = corrected
    table["lower"] = lower
    table["upper"] = upper
    table["standard_error"] = spread
    table["n_undefined"] = (~defined).sum(axis=0)
    return table


def disparity_change(baseline: dict[str, float], variant: dict[str, float]) -> dict[str, float]:
    """How each disparity moves from the baseline model to the variant: ``variant - baseline``.

    Parameters
    ----------
    baseline, variant : dict
        :attr:`GroupMetrics.disparities` of the two models (same keys).

    Returns
    -------
    dict
        Same keys. For the ``*_difference`` disparities a negative change means the variant
        treats groups more alike; for ``demographic_parity_ratio`` a positive one does.
    """
    if set(baseline) != set(variant):
        raise ValueError(
            "baseline and variant must have the same disparities; only in baseline: "
            f"{sorted(set(baseline) - set(variant))}, only in variant: "
            f"{sorted(set(variant) - set(baseline))}"
        )
    return {name: float(variant[name]) - float(baseline[name]) for name in baseline}
