"""Bootstrap intervals for a metric and for the difference between two models.

Rows are resampled by drawing bootstrap count vectors (see ``_weighted``); the named metrics
(``"auc"``, ``"pr_auc"``, ``"brier"``, ``"log_loss"``, ``"ece"`` with its defaults, ``"ks"``,
``"gini"``, or the functions of the same names) are then evaluated for a whole chunk of
replicates at once by the one engine of the project (:mod:`nsf.metrics._cells`, which the study
and the fairness tables use too). Any other ``metric(y_true, y_prob)`` callable works too, one
resample at a time.

Intervals are percentile intervals (Efron & Tibshirani 1993, ch. 13) of the replicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# The verdicts of :func:`non_inferiority_verdict` are defined once, in :mod:`nsf.vocabulary`.
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

from . import _classification as cls
from ._cells import metric_kernel
from ._interval import percentile_interval
from ._validation import (
    check_binary,
    check_confidence,
    check_labels,
    check_n_bins,
    check_n_resamples,
    check_probabilities,
    check_rng,
)
from ._weighted import iter_resample_counts, safe_divide, shared_resample_counts, strata

Kernel = Callable[[np.ndarray], np.ndarray]

_NAMED_METRICS: dict[str, Callable] = {
    "auc": cls.auc,
    "pr_auc": cls.pr_auc,
    "brier": cls.brier,
    "log_loss": cls.log_loss,
    "ece": cls.ece,
    "ks": cls.ks,
    "gini": cls.gini,
}


def _named_kernel(name: str) -> Callable[[np.ndarray, np.ndarray], Kernel]:
    return lambda y, p: metric_kernel(name, y, p)


def _generic_kernel(metric: Callable, y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    """Fallback for any ``metric(y_true, y_prob)``: materialise each resample and call it."""
    rows = np.arange(y_true.shape[0])

    def evaluate(weights: np.ndarray) -> np.ndarray:
        out = np.empty(weights.shape[0])
        for i, counts in enumerate(weights.astype(np.int64)):
            drawn = np.repeat(rows, counts)
            out[i] = metric(y_true[drawn], y_prob[drawn])
        return out

    return evaluate


def _resolve_metric(metric) -> tuple[str, Callable, Callable[[np.ndarray, np.ndarray], Kernel]]:
    """Name, point function and vectorised-kernel builder of ``metric``."""
    if isinstance(metric, str):
        if metric not in _NAMED_METRICS:
            raise ValueError(
                f"metric must be a callable or one of {sorted(_NAMED_METRICS)}, got {metric!r}"
            )
        return metric, _NAMED_METRICS[metric], _named_kernel(metric)
    if not callable(metric):
        raise ValueError(f"metric must be a callable or a metric name, got {metric!r}")
    for name, function in _NAMED_METRICS.items():
        if metric is function:
            return name, function, _named_kernel(name)
    name = getattr(metric, "__name__", type(metric).__name__)
    return name, metric, lambda y, p: _generic_kernel(metric, y, p)


def _check_replicates(replicates: np.ndarray, metric: str) -> None:
    n_undefined = int(np.isnan(replicates).sum())
    if n_undefined:
        raise ValueError(
            f"{metric} is undefined in {n_undefined} of {replicates.size} bootstrap resamples "
            "(a resample held one class only); use stratify=True"
        )


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap distribution of one model's metric.

    Attributes
    ----------
    metric : str
    estimate : float
        The metric on the original rows.
    replicates : ndarray of shape (n_resamples,)
    confidence : float
    lower, upper : float
        Percentile interval at ``confidence``.
    """

    metric: str
    estimate: float
    replicates: np.ndarray = field(repr=False)
    confidence: float
    lower: float
    upper: float

    @property
    def standard_error(self) -> float:
        """Standard deviation of the replicates."""
        return float(np.std(self.replicates, ddof=1))


@dataclass(frozen=True, eq=False)
class PairedBootstrap:
    """Paired bootstrap of a metric for a baseline (``a``) and a variant (``b``).

    Both models are scored on the same resampled rows in every replicate, so the difference
    ``b - a`` carries only the test-set noise that does not cancel between the two.

    Attributes
    ----------
    metric : str
    estimate_a, estimate_b : float
        The metric of each model on the original rows.
    replicates_a, replicates_b : ndarray of shape (n_resamples,)
    confidence : float
    lower, upper : float
        Percentile interval of ``difference`` at ``confidence``.
    """

    metric: str
    estimate_a: float
    estimate_b: float
    replicates_a: np.ndarray = field(repr=False)
    replicates_b: np.ndarray = field(repr=False)
    confidence: float
    lower: float
    upper: float

    @property
    def difference(self) -> float:
        """``estimate_b - estimate_a`` (variant minus baseline)."""
        return self.estimate_b - self.estimate_a

    @property
    def replicates_difference(self) -> np.ndarray:
        return self.replicates_b - self.replicates_a

    @property
    def standard_error(self) -> float:
        """Standard deviation of the difference replicates."""
        return float(np.std(self.replicates_difference, ddof=1))


@dataclass(frozen=True, eq=False)
class DifferenceInterval:
    """Interval for ``metric(variant) - metric(baseline)`` over test rows and training seeds.

    Attributes
    ----------
    metric : str
    estimate : float
        Mean over seeds of the variant's metric minus mean over seeds of the baseline's, on the
        original rows.
    lower, upper : float
        Percentile interval at ``confidence``.
    confidence : float
    replicates : ndarray of shape (n_resamples,)
    per_seed_a, per_seed_b : ndarray
        Each seed's metric on the original rows (baseline, variant).
    target : {"mean", "single"}
    """

    metric: str
    estimate: float
    lower: float
    upper: float
    confidence: float
    replicates: np.ndarray = field(repr=False)
    per_seed_a: np.ndarray = field(repr=False)
    per_seed_b: np.ndarray = field(repr=False)
    target: str

    @property
    def standard_error(self) -> float:
        return float(np.std(self.replicates, ddof=1))


def bootstrap_metric(
    metric,
    y_true,
    y_prob,
    *,
    n_resamples: int = 1000,
    rng: np.random.Generator,
    stratify: bool = True,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Bootstrap percentile interval of one model's metric.

    Parameters
    ----------
    metric : str or callable
        A metric name (``"auc"``, ``"pr_auc"``, ``"brier"``, ``"log_loss"``, ``"ece"``, ``"ks"``,
        ``"gini"``) or a callable ``metric(y_true, y_prob) -> float``.
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    y_prob : array-like of shape (n_samples,)
        Predicted P(NSF).
    n_resamples : int, default=1000
        Number of bootstrap replicates.
    rng : numpy.random.Generator
        Source of all randomness.
    stratify : bool, default=True
        Resample NSF and non-NSF rows separately, keeping their counts fixed (as pROC does for
        AUC; Robin et al. 2011, BMC Bioinformatics 12:77). This keeps every replicate's ranking
        metrics defined and conditions on the observed NSF rate.
    confidence : float, default=0.95

    Returns
    -------
    BootstrapResult
    """
    name, point, build_kernel = _resolve_metric(metric)
    labels, prob = check_binary(y_true, y_prob)
    n_resamples = check_n_resamples(n_resamples)
    check_rng(rng)
    confidence = check_confidence(confidence)
    estimate = float(point(labels, prob))
    kernel = build_kernel(labels, prob)
    replicates = np.concatenate(
        [
            kernel(counts)
            for counts in iter_resample_counts(
                strata(labels, stratify), n_resamples=n_resamples, rng=rng
            )
        ]
    )
    _check_replicates(replicates, name)
    lower, upper = percentile_interval(replicates, confidence)
    return BootstrapResult(name, estimate, replicates, confidence, lower, upper)


def paired_bootstrap(
    metric,
    y_true,
    prob_a,
    prob_b,
    *,
    n_resamples: int = 1000,
    rng: np.random.Generator,
    stratify: bool = True,
    confidence: float = 0.95,
) -> PairedBootstrap:
    """Paired bootstrap of a metric difference between two models on the same rows.

    Parameters
    ----------
    metric : str or callable
        See :func:`bootstrap_metric`.
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    prob_a : array-like of shape (n_samples,)
        Baseline model's P(NSF).
    prob_b : array-like of shape (n_samples,)
        Variant model's P(NSF) on the same rows, in the same order.
    n_resamples : int, default=1000
    rng : numpy.random.Generator
    stratify : bool, default=True
        See :func:`bootstrap_metric`.
    confidence : float, default=0.95

    Returns
    -------
    PairedBootstrap
        Point estimates, replicates of both models (drawn on identical resamples) and the
        percentile interval of ``metric(b) - metric(a)``.
    """
    name, point, build_kernel = _resolve_metric(metric)
    labels, first = check_binary(y_true, prob_a)
    second = check_probabilities(prob_b, n=labels.shape[0], name="prob_b")
    n_resamples = check_n_resamples(n_resamples)
    check_rng(rng)
    confidence = check_confidence(confidence)
    kernel_a, kernel_b = build_kernel(labels, first), build_kernel(labels, second)
    reps_a, reps_b = [], []
    for counts in iter_resample_counts(strata(labels, stratify), n_resamples=n_resamples, rng=rng):
        reps_a.append(kernel_a(counts))
        reps_b.append(kernel_b(counts))
    replicates_a, replicates_b = np.concatenate(reps_a), np.concatenate(reps_b)
    _check_replicates(replicates_a, name)
    _check_replicates(replicates_b, name)
    lower, upper = percentile_interval(replicates_b - replicates_a, confidence)
    return PairedBootstrap(
        metric=name,
        estimate_a=float(point(labels, first)),
        estimate_b=float(point(labels, second)),
        replicates_a=replicates_a,
        replicates_b=replicates_b,
        confidence=confidence,
        lower=lower,
        upper=upper,
    )


def _check_per_seed(per_seed: Sequence, n: int, name: str) -> list[np.ndarray]:
    if isinstance(per_seed, np.ndarray) and per_seed.ndim == 1:
        raise ValueError(f"{name} must be a list of arrays, one per training seed")
    arrays = [
        check_probabilities(prob, n=n, name=f"{name}[{i}]") for i, prob in enumerate(per_seed)
    ]
    if not arrays:
        raise ValueError(f"{name} is empty; give the predictions of at least one seed")
    return arrays


def crossed_replicates(
    evaluate: Callable[[np.ndarray], np.ndarray],
    arm_columns: Sequence[Sequence[int]],
    strata: np.ndarray,
    *,
    n_resamples: int,
    rng: np.random.Generator,
    target: str,
    name: str,
    undefined: Literal["raise", "keep"] = "raise",
) -> list[np.ndarray]:
    """Seed-averaged bootstrap replicates of each arm, rows and seeds resampled as in
    :func:`difference_interval` (the engine under it and :func:`ratio_intervals`).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(counts)`` gives, for a chunk of row-count vectors of shape
        ``(n_replicates_in_chunk, n_samples)``, the statistic of every column (one column per
        arm and training seed), shape ``(n_replicates_in_chunk, n_columns)``.
    arm_columns : list of lists of int
        Each arm's columns (one per seed).
    strata : ndarray of shape (n_samples,)
        Rows are resampled within each stratum.
    n_resamples, rng, target
        See :func:`difference_interval`.
    name : str
        The statistic's name (messages).
    undefined : {"raise", "keep"}
        Whether an undefined (NaN) replicate raises or is kept.

    Returns
    -------
    list of ndarray of shape (n_resamples,)
        Per arm. The row resamples are shared by every column (paired); each arm's seeds are
        drawn independently, in the order of ``arm_columns``.
    """
    row_rng, seed_rng = rng.spawn(2)
    by_column = np.concatenate(
        [evaluate(counts) for counts in iter_resample_counts(strata, n_resamples=n_resamples,
                                                             rng=row_rng)])
    out = []
    for columns in arm_columns:
        values = by_column[:, list(columns)]
        if undefined == "raise":
            _check_replicates(values, name)
        out.append(seed_average(values, seed_rng, target))
    return out


def seed_average(replicates: np.ndarray, rng: np.random.Generator, target: str, *,
                 skip_undefined: bool = False, unbiased_spread: bool = False) -> np.ndarray:
    """Resample the training seeds of each bootstrap replicate and average them (the seed
    level of the two-level bootstrap; the rows are the other).

    Parameters
    ----------
    replicates : ndarray of shape (n_resamples, n_seeds, ...)
        A statistic per row resample (axis 0) and training seed (axis 1), and any further axes
        (groups, disparities), which share the drawn seeds.
    rng : numpy.random.Generator
        Draws the seeds: ``n_seeds`` with replacement per replicate (``target="mean"``), or
        one (``target="single"``).
    target : {"mean", "single"}
        See :func:`difference_interval`.
    skip_undefined : bool, default=False
        Average only the defined (non-NaN) drawn values; NaN where none is.
    unbiased_spread : bool, default=False
        The seeds stand for re-drawn training samples (each seed its own draw of the training
        subjects; ``replicates`` may be the per-seed differences of two arms trained on the
        same draws): their deviations from the seed mean are scaled by ``sqrt(K / (K - 1))``
        so that the variance they add is the unbiased ``s^2 / K`` (mean) or ``s^2`` (single),
        not the plug-in bootstrap's ``(K - 1) / K`` of it; one seed adds no spread. For a 2-D
        ``replicates`` without undefined values.

    Returns
    -------
    ndarray of shape (n_resamples, ...)
    """
    values = np.asarray(replicates, dtype=np.float64)
    n_rep, n_seeds = values.shape[:2]
    n_drawn = 1 if target == "single" else n_seeds
    picked = rng.integers(0, n_seeds, size=(n_rep, n_drawn))
    if unbiased_spread:
        centre = values.mean(axis=1)
        if n_seeds == 1:
            return centre
        deviation = (values - centre[:, None]) * np.sqrt(n_seeds / (n_seeds - 1.0))
        return centre + np.take_along_axis(deviation, picked, axis=1).mean(axis=1)
    taken = np.take_along_axis(
        values, picked.reshape(n_rep, n_drawn, *([1] * (values.ndim - 2))), axis=1)
    if not skip_undefined:
        return taken.mean(axis=1)
    defined = ~np.isnan(taken)
    with np.errstate(invalid="ignore"):
        # All-NaN cells stay NaN on purpose (a metric undefined in every drawn seed).
        return np.where(defined, taken, 0.0).sum(axis=1) / defined.sum(axis=1)


def seed_replicates(y_true, per_seed_prob: Sequence, metrics: Sequence[str], *,
                    n_resamples: int, rng: np.random.Generator, n_bins: int = 10
                    ) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap replicates of each metric for each training seed of one model.

    The test rows are resampled within each outcome class; pass the same ``rng`` stream for
    every model of a comparison so that all see the same resamples (paired), then
    :func:`seed_average` each model's replicates.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    per_seed_prob : list of array-like of shape (n_samples,)
        The model's P(NSF), one array per training seed.
    metrics : metric names (:data:`nsf.metrics._cells.CELL_METRICS`).
    n_resamples : int
    rng : numpy.random.Generator
    n_bins : int, default=10
        Equal-width bins of ``ece``.

    Returns
    -------
    dict
        metric -> ``{"replicates": ndarray (n_resamples, n_seeds), "per_seed": ndarray
        (n_seeds,)}`` (``per_seed``: the metric on the original rows).

    Raises
    ------
    ValueError
        A metric undefined in a resample.
    """
    from ._cells import ScoreCells, metric_replicates

    y = np.asarray(y_true, dtype=np.int64)
    n_bins = check_n_bins(n_bins)
    cells = [ScoreCells(y, p) for p in per_seed_prob]
    chunks: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    # The same row resamples for every model of a study: drawn once per process.
    for counts in shared_resample_counts(y, n_resamples=n_resamples, rng=rng):
        per_seed = [metric_replicates(c, *c.counts(counts), metrics, n_bins=n_bins)
                    for c in cells]
        for m in metrics:
            chunks[m].append(np.column_stack([r[m] for r in per_seed]))
    out = {}
    for m in metrics:
        reps = np.concatenate(chunks[m])
        if np.isnan(reps).any():
            raise ValueError(f"{m} is undefined in a bootstrap resample")
        point = (lambda y_, p_: cls.ece(y_, p_, n_bins=n_bins)) if m == "ece" \
            else _NAMED_METRICS[m]
        out[m] = {"replicates": reps,
                  "per_seed": np.array([float(point(y, p)) for p in per_seed_prob])}
    return out


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    if np.isnan(replicates).any():
        return float("nan"), float("nan")
    return percentile_interval(replicates, confidence)


def ratio_intervals(
    numerators,
    denominators,
    arms: Sequence[Sequence[int]],
    *,
    strata,
    groups=None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator,
    target: Literal["mean", "single"] = "mean",
    name: str = "ratio",
    undefined: Literal["raise", "keep"] = "raise",
) -> list[list[DifferenceInterval]]:
    """Intervals of ratio statistics ``sum(numerator) / sum(denominator)`` of several arms on
    the same rows, over test rows and training seeds, resampled as in
    :func:`difference_interval`.

    A mean of per-row values (a cost per user) is the ratio with a denominator of ones; a rate
    within a subset (failures among the bundled) puts the subset's indicator in the
    denominator. Every column is evaluated on the same row resamples, so arms are paired:
    :func:`ratio_difference` of two arms' intervals is the interval of their difference.

    Parameters
    ----------
    numerators, denominators : array-like of shape (n_samples, n_columns)
        One column per arm and training seed.
    arms : list of lists of int
        Each arm's columns (its seeds; an arm without seeds, such as a fixed policy, has one).
    strata : array-like of shape (n_samples,)
        Rows are resampled within each stratum (pass the NSF label, as the AUC intervals do).
    groups : array-like of shape (n_samples,), optional
        Group label of each row: the statistics are then computed within each group (sorted
        group labels), on the same row resamples, at the cost of one pass over the rows.
    n_resamples, confidence, rng, target
        See :func:`difference_interval`.
    name : str
        The statistic's name (messages and ``DifferenceInterval.metric``).
    undefined : {"raise", "keep"}
        What a replicate with a zero denominator does: raise, or keep it as NaN and give NaN
        bounds (a rate within a small group may be undefined in some resamples).

    Returns
    -------
    list of lists of DifferenceInterval
        ``out[g][a]`` for group ``g`` (a single group without ``groups``) and arm ``a``:
        ``estimate`` the mean over seeds of the statistic on the original rows (NaN where
        undefined), its percentile interval and replicates, ``per_seed_b`` the per-seed values.
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    labels = np.asarray(strata)
    if num.ndim != 2 or den.shape != num.shape:
        raise ValueError("numerators and denominators must be 2-D arrays of the same shape")
    if labels.shape != (num.shape[0],):
        raise ValueError(f"strata must have one value per row ({num.shape[0]})")
    if not (np.isfinite(num).all() and np.isfinite(den).all()):
        raise ValueError("numerators and denominators must be finite")
    arm_columns = [list(map(int, cols)) for cols in arms]
    if not arm_columns or any(not cols for cols in arm_columns):
        raise ValueError("arms must list at least one column for every arm")
    if min(min(c) for c in arm_columns) < 0 or max(max(c) for c in arm_columns) >= num.shape[1]:
        raise ValueError(f"arm columns must lie in [0, {num.shape[1]})")
    n_resamples = check_n_resamples(n_resamples)
    confidence = check_confidence(confidence)
    check_rng(rng)
    if target not in ("mean", "single"):
        raise ValueError(f"target must be 'mean' or 'single', got {target!r}")
    if undefined not in ("raise", "keep"):
        raise ValueError(f"undefined must be 'raise' or 'keep', got {undefined!r}")
    if groups is None:
        members = [np.arange(num.shape[0])]
    else:
        codes = np.asarray(groups)
        if codes.shape != labels.shape:
            raise ValueError(f"groups must have one value per row ({num.shape[0]})")
        members = [np.flatnonzero(codes == g) for g in np.unique(codes)]
    m = num.shape[1]

    def evaluate(counts: np.ndarray) -> np.ndarray:
        # Within each group, one matrix product gives every column's weighted sums.
        return np.concatenate(
            [safe_divide(counts[:, rows] @ num[rows], counts[:, rows] @ den[rows])
             for rows in members], axis=1)

    per_group_arms = [[[g * m + c for c in cols] for cols in arm_columns]
                      for g in range(len(members))]
    replicates = crossed_replicates(
        evaluate, [cols for arms_g in per_group_arms for cols in arms_g], labels,
        n_resamples=n_resamples, rng=rng, target=target, name=name, undefined=undefined)
    out, k = [], 0
    for rows in members:
        sums_num, sums_den = num[rows].sum(axis=0), den[rows].sum(axis=0)
        point = safe_divide(sums_num, sums_den)
        arms_out = []
        for cols in arm_columns:
            reps = replicates[k]
            k += 1
            per_seed = point[cols]
            lower, upper = _interval(reps, confidence)
            arms_out.append(DifferenceInterval(
                metric=name, estimate=float(per_seed.mean()), lower=lower, upper=upper,
                confidence=confidence, replicates=reps, per_seed_a=np.empty(0),
                per_seed_b=per_seed, target=target))
        out.append(arms_out)
    return out


def ratio_difference(a: DifferenceInterval, b: DifferenceInterval) -> DifferenceInterval:
    """Interval of ``b - a`` for two arms of one :func:`ratio_intervals` call (paired)."""
    if a.replicates.shape != b.replicates.shape or a.confidence != b.confidence:
        raise ValueError("a and b must come from the same ratio_intervals call")
    reps = b.replicates - a.replicates
    lower, upper = _interval(reps, a.confidence)
    return DifferenceInterval(
        metric=a.metric, estimate=b.estimate - a.estimate, lower=lower, upper=upper,
        confidence=a.confidence, replicates=reps, per_seed_a=a.per_seed_b,
        per_seed_b=b.per_seed_b, target=a.target)


def difference_interval(
    per_seed_a: Sequence,
    per_seed_b: Sequence,
    y_true,
    metric,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator,
    stratify: bool = True,
    target: Literal["mean", "single"] = "mean",
) -> DifferenceInterval:
    """Interval for a metric difference covering test-set sampling and training-seed variance.

    Every trained model predicts every test row, so rows and seeds are crossed factors. Each
    replicate resamples both independently, as in Owen's pigeonhole bootstrap for crossed
    random effects (A. B. Owen, "The pigeonhole bootstrap", Annals of Applied Statistics 1(2),
    2007, 386-411; for seed variance in ML benchmarks see Bouthillier et al., "Accounting for
    variance in machine learning benchmarks", MLSys 2021):

    1. the test rows are resampled once and shared by both arms and all seeds (paired);
    2. each arm's seeds are resampled with replacement, independently of the other arm;
    3. the replicate is the mean of the drawn variant seeds' metric minus the mean of the drawn
       baseline seeds' metric (``target="mean"``), or one drawn variant seed's metric minus one
       drawn baseline seed's (``target="single"``).

    ``target="mean"`` targets the difference in *expected* performance of the two training
    procedures (what retraining would give on average); ``target="single"`` targets the
    difference between one retrained variant and one retrained baseline and is wider. Owen
    shows the pigeonhole bootstrap is mildly conservative; with few seeds (say < 5) its
    seed-variance component is coarse, so report the number of seeds with the interval.

    Parameters
    ----------
    per_seed_a : list of array-like of shape (n_samples,)
        Baseline P(NSF), one array per training seed, all on the same test rows.
    per_seed_b : list of array-like of shape (n_samples,)
        Variant P(NSF), one array per training seed (the seed counts may differ).
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    metric : str or callable
        See :func:`bootstrap_metric`.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    rng : numpy.random.Generator
        Two independent streams are spawned from it, one for rows and one for seeds, so the
        row resamples do not depend on the number of seeds.
    stratify : bool, default=True
        See :func:`bootstrap_metric`.
    target : {"mean", "single"}, default="mean"

    Returns
    -------
    DifferenceInterval
    """
    name, point, build_kernel = _resolve_metric(metric)
    labels = check_labels(y_true)
    arm_a = _check_per_seed(per_seed_a, labels.shape[0], "per_seed_a")
    arm_b = _check_per_seed(per_seed_b, labels.shape[0], "per_seed_b")
    n_resamples = check_n_resamples(n_resamples)
    confidence = check_confidence(confidence)
    check_rng(rng)
    if target not in ("mean", "single"):
        raise ValueError(f"target must be 'mean' or 'single', got {target!r}")
    kernels = [build_kernel(labels, prob) for prob in arm_b + arm_a]
    n_b = len(arm_b)
    # The variant's seeds are drawn first (the order of the streams since this was written).
    rep_b, rep_a = crossed_replicates(
        lambda counts: np.column_stack([kernel(counts) for kernel in kernels]),
        [range(n_b), range(n_b, len(kernels))], strata(labels, stratify),
        n_resamples=n_resamples, rng=rng, target=target, name=name)
    replicates = rep_b - rep_a
    per_seed_metric_a = np.array([point(labels, prob) for prob in arm_a], dtype=np.float64)
    per_seed_metric_b = np.array([point(labels, prob) for prob in arm_b], dtype=np.float64)
    lower, upper = percentile_interval(replicates, confidence)
    return DifferenceInterval(
        metric=name,
        estimate=float(per_seed_metric_b.mean() - per_seed_metric_a.mean()),
        lower=lower,
        upper=upper,
        confidence=confidence,
        replicates=replicates,
        per_seed_a=per_seed_metric_a,
        per_seed_b=per_seed_metric_b,
        target=target,
    )


def non_inferiority_verdict(
    lower: float, upper: float, margin: float, *, higher_is_better: bool = True
) -> str:
    """Whether an attribute group is needed, from the interval of ``variant - baseline``.

    The variant is the model trained *without* the group, the baseline the model with it, and
    the interval ``[lower, upper]`` is for ``metric(variant) - metric(baseline)``. For a
    higher-is-better metric (AUC), a negative difference is what dropping the group costs.

    - ``"needed"``: ``upper < -margin``. The whole interval lies below ``-margin``: dropping the
      group costs more than the margin, with the interval's confidence.
    - ``"not shown needed"``: ``lower >= -margin``. Non-inferiority is shown: dropping the group
      costs at most the margin (the usual one-sided test at level ``(1 - confidence) / 2``).
    - ``"inconclusive"``: otherwise; the interval straddles ``-margin``. Collect more rows or
      seeds, or reconsider the margin.

    A difference exactly at ``-margin`` counts as within the margin.

    Parameters
    ----------
    lower, upper : float
        Interval bounds for ``metric(variant) - metric(baseline)``, ``lower <= upper``.
    margin : float
        Largest loss of the metric that is tolerated, ``>= 0``, in the metric's units (e.g.
        0.005 AUC).
    higher_is_better : bool, default=True
        Set False for a loss (Brier, log-loss, ECE): the interval is then negated, so that the
        verdicts keep their meaning (a rise of the loss by more than ``margin`` makes the group
        needed).

    Returns
    -------
    str
        ``"needed"``, ``"not shown needed"`` or ``"inconclusive"`` (the module constants
        ``NEEDED``, ``NOT_SHOWN_NEEDED``, ``INCONCLUSIVE``).
    """
    for label, value in (("lower", lower), ("upper", upper), ("margin", margin)):
        if not np.isfinite(value):
            raise ValueError(f"{label} must be a finite number, got {value!r}")
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower!r}, upper={upper!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (a tolerated loss), got {margin!r}")
    if not higher_is_better:
        lower, upper = -upper, -lower
    if upper < -margin:
        return NEEDED
    if lower >= -margin:
        return NOT_SHOWN_NEEDED
    return INCONCLUSIVE
