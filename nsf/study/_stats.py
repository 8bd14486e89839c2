"""Differences to a reference with intervals over test rows and seeds, and verdicts."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from nsf.metrics import (
    holm_verdicts,
    non_inferiority_verdict,
    percentile_interval,
    seed_average,
    seed_replicates,
    simultaneous_intervals,
)
from nsf.vocabulary import HIGHER_IS_BETTER


def verdict_for(lower: float, upper: float, margin: float, *, metric: str,
                subject: str) -> str:
    """Verdict about the data in question, from the interval of ``variant - reference``.

    ``subject="removed"``: the variant lacks the data; it is "needed" when lacking it costs
    more than ``margin`` with confidence (:func:`nsf.metrics.non_inferiority_verdict`).
    ``subject="added"``: the variant has the data beyond the reference; the roles swap, so the
    interval of ``reference - variant`` is judged ("needed" = adding it gains more than the
    margin; "not shown needed" = the reference without it is non-inferior).
    """
    if subject not in ("removed", "added"):
        raise ValueError(f"subject must be 'removed' or 'added', got {subject!r}")
    if subject == "added":
        lower, upper = -upper, -lower
    return non_inferiority_verdict(lower, upper, margin,
                                   higher_is_better=HIGHER_IS_BETTER[metric])


def arm_replicates(y_true, per_seed_prob: Sequence[np.ndarray], *, metrics: Sequence[str],
                   n_resamples: int, rng: np.random.Generator, n_bins: int = 10
                   ) -> dict[str, dict]:
    """Bootstrap replicates of each metric for each seed of one arm
    (:func:`nsf.metrics.seed_replicates`; ``n_bins``: the ECE's equal-width bins).

    ``rng`` must be the same stream for every arm of a study, so all arms see the same row
    resamples: the pairing of :func:`compare_replicates`.
    """
    return seed_replicates(y_true, per_seed_prob, metrics, n_resamples=n_resamples, rng=rng,
                           n_bins=n_bins)


def few_seeds_widening(per_seed_difference: np.ndarray, row_variance: float, *, target: str,
                       confidence: float) -> float:
    """How much to widen a paired interval whose seed level rests on K re-drawn training samples.

    The training part of the variance, ``V_s = s^2 / K`` (``mean``) or ``s^2`` (``single``), is
    estimated from the K per-seed differences (K - 1 degrees of freedom), the test rows' part
    ``V_r`` from many rows. The Welch-Satterthwaite degrees of freedom of their sum are
    ``nu = (V_r + V_s)^2 (K - 1) / V_s^2``, and a percentile interval, which acts as a normal
    one, is widened by ``t_nu / z`` at the interval's level: about 1 when the test rows
    dominate, up to ``t_{K-1} / z`` (2.2 for K = 3 at 95%) when the training draws do.

    Parameters
    ----------
    per_seed_difference : the difference of the two arms per seed, on the original rows.
    row_variance : variance of the seed-averaged difference over the row resamples.
    target : ``mean`` or ``single``.
    confidence : the interval's level.

    Returns
    -------
    float
        The factor (1 with fewer than two seeds or no spread between them).
    """
    from scipy import stats

    k = int(np.size(per_seed_difference))
    if k < 2:
        return 1.0
    s2 = float(np.var(per_seed_difference, ddof=1))
    seed_variance = s2 / k if target == "mean" else s2
    if not seed_variance > 0.0:
        return 1.0
    nu = (max(row_variance, 0.0) + seed_variance) ** 2 * (k - 1) / seed_variance ** 2
    q = 1.0 - (1.0 - confidence) / 2.0
    return float(stats.t.ppf(q, nu) / stats.norm.ppf(q))


def _paired_difference(reference: dict, variant: dict, rng: np.random.Generator, target: str,
                       confidence: float) -> np.ndarray:
    """The paired two-level replicates of ``variant - reference`` (seed k of both arms trained
    on the same re-drawn subjects), widened by :func:`few_seeds_widening` around their mean."""
    paired = variant["replicates"] - reference["replicates"]
    diff = seed_average(paired, rng, target, unbiased_spread=True)
    widen = few_seeds_widening(variant["per_seed"] - reference["per_seed"],
                               float(np.var(paired.mean(axis=1), ddof=1)), target=target,
                               confidence=confidence)
    centre = float(diff.mean())
    return centre + (diff - centre) * widen


def compare_replicates(reference: dict[str, dict], variant: dict[str, dict], *,
                       metrics: Sequence[str], margins: dict[str, float], subject: str,
                       confidence: float, target: str, rng: np.random.Generator,
                       resampled_training: bool = False,
                       test_subjects: int | None = None) -> dict[str, dict]:
    """Each metric's difference ``variant - reference`` with a rows-and-seeds interval, from
    two arms' :func:`arm_replicates` on the same row resamples.

    Without a training resample: the same crossed bootstrap as
    :func:`nsf.metrics.difference_interval` (rows shared by both arms and all seeds, each arm's
    seeds resampled; Owen 2007). With one (``resampled_training``: seed k of both arms trained
    on the same re-drawn subjects) the seeds are paired: the seed level of the two-level
    bootstrap (:func:`nsf.metrics.seed_average` with ``unbiased_spread``) resamples the
    per-seed differences, the same seeds for both arms, so what a training draw does to both
    arms alike cancels, and the interval is widened for the few seeds its training part rests
    on (:func:`few_seeds_widening`). Each arm's replicates are computed once per study rather
    than once per comparison. No DeLong test: for nested models it is invalid (Demler, Pencina
    & D'Agostino, Stat Med 2012;31:2577-2587). When ``variant is reference`` (identical fits)
    the difference is exactly zero.

    Parameters
    ----------
    reference, variant : :func:`arm_replicates` of the two arms (same row stream).
    metrics : metric names; each gets an independent stream of ``rng``.
    margins : metric -> non-inferiority margin; metrics without one get no verdict.
    subject : ``removed`` or ``added`` (see :func:`verdict_for`).
    confidence, target : as for :func:`nsf.metrics.difference_interval`.
    rng : numpy.random.Generator (the seed resampling).
    resampled_training : whether each seed re-drew the training subjects (study.training_resample).
    test_subjects : subjects of the test rows (for the power readout's projections; None: no
        readout).

    Returns
    -------
    dict
        metric -> ``{"estimate", "lower", "upper", "standard_error", "reference_estimate",
        "variant_estimate", "reference_per_seed", "variant_per_seed", "margin",
        "higher_is_better", "verdict", "power", "replicates"}`` (``margin``/``verdict`` None
        without a margin; ``power``: :func:`nsf.study._power.comparison_power` at
        ``confidence``; ``replicates``: the difference's bootstrap replicates, for the
        intervals that hold over a family of comparisons, :func:`family_verdicts`).
    """
    from nsf.study._power import comparison_power, variance_components

    out: dict[str, dict] = {}
    for metric, metric_rng in zip(metrics, rng.spawn(len(metrics)), strict=True):
        ref, var = reference[metric], variant[metric]
        if ref["replicates"].shape[0] != var["replicates"].shape[0]:
            raise ValueError("the arms were bootstrapped with different n_resamples")
        rng_ref, rng_var = metric_rng.spawn(2)
        if var is ref:
            # The same fits (e.g. a retention window the feed does not exceed): the two
            # training procedures are one, and their difference is exactly zero.
            diff = np.zeros(ref["replicates"].shape[0])
        elif resampled_training:
            diff = _paired_difference(ref, var, rng_ref, target, confidence)
        else:
            diff = seed_average(var["replicates"], rng_var, target) - \
                seed_average(ref["replicates"], rng_ref, target)
        lower, upper = percentile_interval(diff, confidence)
        margin = margins.get(metric)
        estimate = float(var["per_seed"].mean() - ref["per_seed"].mean())
        se = float(np.std(diff, ddof=1))
        verdict = None if margin is None else verdict_for(lower, upper, margin, metric=metric,
                                                          subject=subject)
        power = None
        if test_subjects is not None and var is not ref:
            row_v, seed_v = variance_components(ref, var, target=target,
                                                resampled_training=resampled_training,
                                                total_variance=se ** 2)
            power = comparison_power(
                estimate=estimate, standard_error=se, margin=margin, row_variance=row_v,
                seed_variance=seed_v, level=confidence, seeds=int(np.size(var["per_seed"])),
                test_subjects=test_subjects, higher_is_better=HIGHER_IS_BETTER[metric],
                subject=subject, verdict=verdict, target=target,
                half_width=(upper - lower) / 2.0)
        out[metric] = {
            "estimate": estimate,
            "lower": lower, "upper": upper, "standard_error": se,
            "reference_estimate": float(ref["per_seed"].mean()),
            "variant_estimate": float(var["per_seed"].mean()),
            "reference_per_seed": ref["per_seed"].tolist(),
            "variant_per_seed": var["per_seed"].tolist(),
            "margin": margin, "higher_is_better": HIGHER_IS_BETTER[metric],
            "verdict": verdict, "power": power,
            "replicates": diff,
        }
    return out


def family_verdicts(comparisons: Sequence[tuple[dict, str]], metric: str, *,
                    method: str, confidence: float, joint: np.ndarray | None = None,
                    target: str = "mean") -> None:
    """Verdicts of a family of comparisons of one metric from intervals that hold jointly.

    Each comparison (``compare_replicates(...)[metric]``, with its ``replicates``, and its
    subject) gets ``simultaneous_lower``/``simultaneous_upper`` (the family's
    :func:`nsf.metrics.simultaneous_intervals` at family-wise level ``confidence``),
    ``simultaneous_level`` (their per-comparison level), ``family_size``,
    ``per_comparison_verdict`` (the verdict of its own interval) and ``decided_by``; its
    ``verdict`` becomes the family's: from the simultaneous interval (``max_statistic``), from
    Holm's procedure on bootstrap p-values (``holm``), or its own interval (``none``). All the
    comparisons' replicates must come from the same row resamples; ``joint`` (one column per
    comparison) are the family's replicates with the shared reference's seeds drawn once per
    replicate (:func:`joint_replicates`), on which the level is calibrated. A comparison's
    ``power`` readout is redone at the level its verdict is judged at (``target``: the
    interval target). Changes the dicts in place.
    """
    from nsf.study._power import refresh_power

    if not comparisons:
        return
    replicates = np.column_stack([c["replicates"] for c, _ in comparisons])
    family = simultaneous_intervals(replicates, confidence=confidence, method=method,
                                    joint=joint)
    margin = comparisons[0][0]["margin"]
    holm = None
    if method == "holm" and margin is not None:
        # Oriented so that a negative value is the loss a verdict is about (verdict_for).
        signs = np.array([(1.0 if HIGHER_IS_BETTER[metric] else -1.0)
                          * (1.0 if subject == "removed" else -1.0) for _, subject in comparisons])
        holm = holm_verdicts(replicates * signs, margin, confidence=confidence)
    decided_by = {"max_statistic": "simultaneous", "holm": "holm",
                  "none": "per_comparison"}[method]
    for k, (c, subject) in enumerate(comparisons):
        lower, upper = float(family.lower[k]), float(family.upper[k])
        c.update({"simultaneous_lower": lower, "simultaneous_upper": upper,
                  "simultaneous_level": family.level, "family_size": len(comparisons),
                  "per_comparison_verdict": c["verdict"], "decided_by": decided_by})
        if margin is None:
            continue
        if method == "max_statistic":
            c["verdict"] = verdict_for(lower, upper, margin, metric=metric, subject=subject)
        elif method == "holm" and holm is not None:  # None only without a margin (above)
            c["verdict"] = holm[k]
        refresh_power(c, level=family.level, subject=subject, target=target,
                      half_width=(upper - lower) / 2.0)


def joint_replicates(reference: dict, variants: Sequence[dict], *, target: str,
                     rng: np.random.Generator, resampled_training: bool = False,
                     confidence: float = 0.95) -> np.ndarray:
    """A family's difference replicates ``variant - reference`` (one column per variant) with
    the training seeds drawn as one bootstrap of the whole family draws them.

    Without a training resample, each arm's seeds are resampled on their own, and the
    reference's draw is shared by all its comparisons in a replicate. With one (seed k of every
    arm trained on the same re-drawn subjects), the paired per-seed differences are resampled
    with one draw of the seeds per replicate for the whole family, each column widened for its
    few seeds at ``confidence`` (as :func:`compare_replicates` does for one comparison).

    ``reference`` and ``variants`` are one metric's :func:`arm_replicates` entries on the same
    row resamples; a variant that ``is`` the reference (the same fits) differs by exactly zero.
    """
    zero = np.zeros(reference["replicates"].shape[0])
    if resampled_training:
        draw = rng.spawn(1)[0]
        # A copy of one generator per column: the same seeds drawn for every comparison.
        return np.column_stack([
            zero if var is reference else
            _paired_difference(reference, var, copy.deepcopy(draw), target, confidence)
            for var in variants])
    ref_rng, *var_rngs = rng.spawn(len(variants) + 1)
    shared = seed_average(reference["replicates"], ref_rng, target)
    return np.column_stack([
        zero if var is reference else seed_average(var["replicates"], var_rng, target) - shared
        for var, var_rng in zip(variants, var_rngs, strict=True)])
