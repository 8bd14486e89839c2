"""Differences to a reference with intervals over test rows and seeds, and verdicts."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from nsf.metrics import (
    holm_verdicts,
    non_inferiority_verdict,
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


def compare_replicates(reference: dict[str, dict], variant: dict[str, dict], *,
                       metrics: Sequence[str], margins: dict[str, float], subject: str,
                       confidence: float, target: str, rng: np.random.Generator,
                       resampled_training: bool = False) -> dict[str, dict]:
    """Each metric's difference ``variant - reference`` with a rows-and-seeds interval, from
    two arms' :func:`arm_replicates` on the same row resamples.

    Without a training resample: the same crossed bootstrap as
    :func:`nsf.metrics.difference_interval` (rows shared by both arms and all seeds, each arm's
    seeds resampled; Owen 2007). With one (``resampled_training``: seed k of both arms trained
    on the same re-drawn subjects) the seeds are paired: the seed level of the two-level
    bootstrap (:func:`nsf.metrics.seed_average` with ``unbiased_spread``) resamples the
    per-seed differences, the same seeds for both arms, so what a training draw does to both
    arms alike cancels. Each arm's replicates are computed once per study rather than once per
    comparison. No DeLong test: for nested models it is invalid (Demler, Pencina & D'Agostino,
    Stat Med 2012;31:2577-2587). When ``variant is reference`` (identical fits) the difference
    is exactly zero.

    Parameters
    ----------
    reference, variant : :func:`arm_replicates` of the two arms (same row stream).
    metrics : metric names; each gets an independent stream of ``rng``.
    margins : metric -> non-inferiority margin; metrics without one get no verdict.
    subject : ``removed`` or ``added`` (see :func:`verdict_for`).
    confidence, target : as for :func:`nsf.metrics.difference_interval`.
    rng : numpy.random.Generator (the seed resampling).
    resampled_training : whether each seed re-drew the training subjects (study.training_resample).

    Returns
    -------
    dict
        metric -> ``{"estimate", "lower", "upper", "standard_error", "reference_estimate",
        "variant_estimate", "reference_per_seed", "variant_per_seed", "margin",
        "higher_is_better", "verdict", "replicates"}`` (``margin``/``verdict`` None without
        a margin; ``replicates``: the difference's bootstrap replicates, for the intervals
        that hold over a family of comparisons, :func:`family_verdicts`).
    """
    alpha = 1.0 - confidence
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
            diff = seed_average(var["replicates"] - ref["replicates"], rng_ref, target,
                                unbiased_spread=True)
        else:
            diff = seed_average(var["replicates"], rng_var, target) - \
                seed_average(ref["replicates"], rng_ref, target)
        lower, upper = (float(x) for x in np.quantile(diff, [alpha / 2.0, 1.0 - alpha / 2.0]))
        margin = margins.get(metric)
        out[metric] = {
            "estimate": float(var["per_seed"].mean() - ref["per_seed"].mean()),
            "lower": lower, "upper": upper, "standard_error": float(np.std(diff, ddof=1)),
            "reference_estimate": float(ref["per_seed"].mean()),
            "variant_estimate": float(var["per_seed"].mean()),
            "reference_per_seed": ref["per_seed"].tolist(),
            "variant_per_seed": var["per_seed"].tolist(),
            "margin": margin, "higher_is_better": HIGHER_IS_BETTER[metric],
            "verdict": None if margin is None else verdict_for(
                lower, upper, margin, metric=metric, subject=subject),
            "replicates": diff,
        }
    return out


def family_verdicts(comparisons: Sequence[tuple[dict, str]], metric: str, *,
                    method: str, confidence: float, joint: np.ndarray | None = None) -> None:
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
    replicate (:func:`joint_replicates`), on which the level is calibrated. Changes the dicts
    in place.
    """
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
        elif method == "holm":
            c["verdict"] = holm[k]


def joint_replicates(reference: dict, variants: Sequence[dict], *, target: str,
                     rng: np.random.Generator, resampled_training: bool = False) -> np.ndarray:
    """A family's difference replicates ``variant - reference`` (one column per variant) with
    the training seeds drawn as one bootstrap of the whole family draws them.

    Without a training resample, each arm's seeds are resampled on their own, and the
    reference's draw is shared by all its comparisons in a replicate. With one (seed k of every
    arm trained on the same re-drawn subjects), the paired per-seed differences are resampled
    with one draw of the seeds per replicate for the whole family (as
    :func:`compare_replicates` does for one comparison).

    ``reference`` and ``variants`` are one metric's :func:`arm_replicates` entries on the same
    row resamples; a variant that ``is`` the reference (the same fits) differs by exactly zero.
    """
    zero = np.zeros(reference["replicates"].shape[0])
    if resampled_training:
        draw = rng.spawn(1)[0]
        # A copy of one generator per column: the same seeds drawn for every comparison.
        return np.column_stack([
            zero if var is reference else
            seed_average(var["replicates"] - reference["replicates"], copy.deepcopy(draw),
                         target, unbiased_spread=True)
            for var in variants])
    ref_rng, *var_rngs = rng.spawn(len(variants) + 1)
    shared = seed_average(reference["replicates"], ref_rng, target)
    return np.column_stack([
        zero if var is reference else seed_average(var["replicates"], var_rng, target) - shared
        for var, var_rng in zip(variants, var_rngs, strict=True)])
