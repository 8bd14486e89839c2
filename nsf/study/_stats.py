"""Differences to a reference with intervals over test rows and seeds, and verdicts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nsf.metrics import difference_interval, non_inferiority_verdict
from nsf.metrics._weighted import iter_resample_counts
from nsf.study._cells import ScoreCells, metric_replicates
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


def compare_arms(y_true, per_seed_reference: Sequence[np.ndarray],
                 per_seed_variant: Sequence[np.ndarray], *, metrics: Sequence[str],
                 margins: dict[str, float], subject: str, n_resamples: int, confidence: float,
                 target: str, rng: np.random.Generator) -> dict[str, dict]:
    """Each metric's difference ``variant - reference`` with a rows-and-seeds interval.

    The interval is :func:`nsf.metrics.difference_interval` (test rows resampled once and
    shared by both arms, each arm's seeds resampled; Owen 2007). No DeLong test: for nested
    models it is invalid (Demler, Pencina & D'Agostino, Stat Med 2012;31:2577-2587).

    Parameters
    ----------
    y_true : the test rows' outcome.
    per_seed_reference, per_seed_variant : one P(NSF) array per training seed, same rows.
    metrics : metric names (``nsf.metrics``); each gets an independent stream of ``rng``.
    margins : metric -> non-inferiority margin; metrics without one get no verdict.
    subject : ``removed`` or ``added`` (see :func:`verdict_for`).
    n_resamples, confidence, target : as for :func:`nsf.metrics.difference_interval`.
    rng : numpy.random.Generator.

    Returns
    -------
    dict
        metric -> ``{"estimate", "lower", "upper", "standard_error", "reference_estimate",
        "variant_estimate", "reference_per_seed", "variant_per_seed", "margin",
        "higher_is_better", "verdict"}`` (``margin``/``verdict`` None without a margin).
    """
    out: dict[str, dict] = {}
    streams = rng.spawn(len(metrics))
    for metric, metric_rng in zip(metrics, streams, strict=True):
        d = difference_interval(per_seed_reference, per_seed_variant, y_true, metric,
                                n_resamples=n_resamples, confidence=confidence, rng=metric_rng,
                                target=target)
        margin = margins.get(metric)
        out[metric] = {
            "estimate": d.estimate, "lower": d.lower, "upper": d.upper,
            "standard_error": d.standard_error,
            "reference_estimate": float(d.per_seed_a.mean()),
            "variant_estimate": float(d.per_seed_b.mean()),
            "reference_per_seed": d.per_seed_a.tolist(),
            "variant_per_seed": d.per_seed_b.tolist(),
            "margin": margin, "higher_is_better": HIGHER_IS_BETTER[metric],
            "verdict": None if margin is None else verdict_for(
                d.lower, d.upper, margin, metric=metric, subject=subject),
        }
    return out


def _point(metric: str, y: np.ndarray, prob: np.ndarray) -> float:
    from nsf.metrics import _classification as cls

    return float(getattr(cls, metric)(y, prob))


def arm_replicates(y_true, per_seed_prob: Sequence[np.ndarray], *, metrics: Sequence[str],
                   n_resamples: int, rng: np.random.Generator) -> dict[str, dict]:
    """Bootstrap replicates of each metric for each seed of one arm.

    The test rows are resampled within each outcome class (``rng`` must be the same stream for
    every arm of a study, so all arms see the same resamples: the pairing of
    :func:`compare_replicates`).

    Returns
    -------
    dict
        metric -> ``{"replicates": ndarray (n_resamples, n_seeds), "per_seed": ndarray
        (n_seeds,)}`` (``per_seed``: the metric on the original rows, ``nsf.metrics``).
    """
    y = np.asarray(y_true, dtype=np.int64)
    cells = [ScoreCells(y, p) for p in per_seed_prob]
    chunks: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for counts in iter_resample_counts(y, n_resamples=n_resamples, rng=rng):
        per_seed = [metric_replicates(c, *c.counts(counts), metrics) for c in cells]
        for m in metrics:
            chunks[m].append(np.column_stack([r[m] for r in per_seed]))
    out = {}
    for m in metrics:
        reps = np.concatenate(chunks[m])
        if np.isnan(reps).any():
            raise ValueError(f"{m} is undefined in a bootstrap resample")
        out[m] = {"replicates": reps,
                  "per_seed": np.array([_point(m, y, p) for p in per_seed_prob])}
    return out


def _seed_average(replicates: np.ndarray, rng: np.random.Generator, target: str,
                  resampled_training: bool = False) -> np.ndarray:
    """The seed level of the two-level bootstrap, from replicates ``(n_resamples, n_seeds)``
    computed on shared row resamples (the row level).

    ``mean`` averages K seeds drawn with replacement (the error of averaging K training runs),
    ``single`` picks one (the spread of a single training run). Without a training resample the
    seeds differ only in the model's seed, so both describe one training sample. With one
    (``resampled_training``: each seed a re-drawn training sample, and ``replicates`` the
    per-seed differences of two arms trained on the same draws) the seeds stand for training
    samples, and their deviations from the seed mean are scaled by ``sqrt(K / (K - 1))`` so
    that the variance they add is the unbiased ``s^2 / K`` (mean) or ``s^2`` (single), not the
    plug-in bootstrap's ``(K - 1) / K`` of it; with K = 3 that is the difference between two
    thirds and all of it. One seed gives no spread: the row level only.
    """
    n_rep, n_seeds = replicates.shape
    picked = rng.integers(0, n_seeds, size=(n_rep, 1 if target == "single" else n_seeds))
    if not resampled_training:
        return np.take_along_axis(replicates, picked, axis=1).mean(axis=1)
    centre = replicates.mean(axis=1)
    if n_seeds == 1:
        return centre
    deviation = (replicates - centre[:, None]) * np.sqrt(n_seeds / (n_seeds - 1.0))
    return centre + np.take_along_axis(deviation, picked, axis=1).mean(axis=1)


def compare_replicates(reference: dict[str, dict], variant: dict[str, dict], *,
                       metrics: Sequence[str], margins: dict[str, float], subject: str,
                       confidence: float, target: str, rng: np.random.Generator,
                       resampled_training: bool = False) -> dict[str, dict]:
    """:func:`compare_arms` from two arms' :func:`arm_replicates` on the same row resamples.

    Without a training resample: the same crossed bootstrap as
    :func:`nsf.metrics.difference_interval` (rows shared by both arms and all seeds, each arm's
    seeds resampled; Owen 2007). With one (``resampled_training``: seed k of both arms trained
    on the same re-drawn subjects) the seeds are paired: the seed level of the two-level
    bootstrap (:func:`_seed_average`) resamples the per-seed differences, the same seeds for
    both arms, so what a training draw does to both arms alike cancels. Each arm's replicates
    are computed once per study rather than once per comparison. Output as
    :func:`compare_arms`. When ``variant is reference`` (identical fits) the difference is
    exactly zero.
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
            diff = _seed_average(var["replicates"] - ref["replicates"], rng_ref, target,
                                 resampled_training=True)
        else:
            diff = _seed_average(var["replicates"], rng_var, target) - \
                _seed_average(ref["replicates"], rng_ref, target)
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
        }
    return out
