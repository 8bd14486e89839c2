"""Metrics evaluated for many row-weight vectors at once (the engine of the bootstrap).

A bootstrap resample of ``n`` rows is fully described by how many times each row was drawn, a
count vector ``w`` with ``sum(w) == n``. A metric on the resample equals the metric on the
original rows weighted by ``w``. Stacking the count vectors of ``r`` resamples as a ``(r, n)``
matrix ``W`` lets one sort of the scores serve every resample: rank metrics (AUC, average
precision, KS) reduce to cumulative sums of class weights over the distinct score values, and
mean losses (Brier, log-loss, ECE) to one matrix product. The results equal scikit-learn on the
materialised resamples (tested), at a small fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy import sparse

from ._classification import bin_ids

#: Upper bound on ``n_replicates_in_chunk * n_rows`` so the count matrices stay ~16 MB each.
_MAX_CELLS_PER_CHUNK = 2_000_000


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0 (a degenerate resample)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


class RankedScores:
    """One sort of ``y_prob`` shared by every weighted rank metric on these rows.

    Parameters
    ----------
    y_true, y_prob : ndarray of shape (n_samples,)
        Validated labels (0/1) and scores.
    """

    def __init__(self, y_true: np.ndarray, y_prob: np.ndarray):
        self.order = np.argsort(y_prob, kind="stable")
        sorted_prob = y_prob[self.order]
        # Start of each run of tied scores: ties share one threshold in every rank metric.
        self.tie_starts = np.flatnonzero(np.r_[True, sorted_prob[1:] != sorted_prob[:-1]])
        self.sorted_labels = y_true[self.order].astype(np.float64)

    def class_weights(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weight of NSF and non-NSF rows at each distinct score, ascending.

        Returns
        -------
        pos, neg : ndarray of shape (n_replicates, n_distinct_scores)
        """
        sorted_weights = weights[:, self.order]
        pos = np.add.reduceat(sorted_weights * self.sorted_labels, self.tie_starts, axis=1)
        neg = np.add.reduceat(sorted_weights, self.tie_starts, axis=1) - pos
        return pos, neg


def auc_from_class_weights(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC: P(score_NSF > score_other) + P(tie) / 2, per replicate."""
    neg_below = np.cumsum(neg, axis=1) - neg
    concordant = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return safe_divide(concordant, pos.sum(axis=1) * neg.sum(axis=1))


def average_precision_from_class_weights(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision (sum over thresholds of recall gain x precision), as scikit-learn."""
    pos_desc, neg_desc = pos[:, ::-1], neg[:, ::-1]
    true_pos = np.cumsum(pos_desc, axis=1)
    flagged = true_pos + np.cumsum(neg_desc, axis=1)
    precision = safe_divide(true_pos, flagged)
    # A threshold with no NSF weight adds no recall; its precision (maybe NaN) does not count.
    gain = np.where(pos_desc > 0, pos_desc * precision, 0.0).sum(axis=1)
    return safe_divide(gain, true_pos[:, -1])


def ks_from_class_weights(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """max over thresholds of TPR - FPR (the threshold above every score gives 0)."""
    tpr = safe_divide(np.cumsum(pos[:, ::-1], axis=1), pos.sum(axis=1, keepdims=True))
    fpr = safe_divide(np.cumsum(neg[:, ::-1], axis=1), neg.sum(axis=1, keepdims=True))
    gap = tpr - fpr
    degenerate = np.isnan(gap).any(axis=1)
    best = np.maximum(np.max(np.nan_to_num(gap, nan=0.0), axis=1), 0.0)
    best[degenerate] = np.nan
    return best


def bin_indicator(values: np.ndarray, ids: np.ndarray, n_bins: int) -> sparse.csr_matrix:
    """Sparse ``(n_samples, n_bins)`` matrix holding ``values[i]`` at ``(i, ids[i])``."""
    n = ids.shape[0]
    return sparse.csr_matrix((values, (np.arange(n), ids)), shape=(n, n_bins))


def weighted_ece(
    weights: np.ndarray, y_true: np.ndarray, y_prob: np.ndarray, ids: np.ndarray, n_bins: int
) -> np.ndarray:
    """ECE per weight vector with fixed bin assignments ``ids``: ``sum_b |S_y - S_p| / W``."""
    diff = bin_indicator(y_true - y_prob, ids, n_bins)
    per_bin = np.asarray((diff.T @ weights.T).T)
    return safe_divide(np.abs(per_bin).sum(axis=1), weights.sum(axis=1))


def weighted_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted mean of ``values`` per weight vector."""
    return safe_divide(weights @ values, weights.sum(axis=1))


def log_loss_terms(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """Per-row negative log-likelihood, clipped as :func:`sklearn.metrics.log_loss` does."""
    eps = np.finfo(np.float64).eps
    prob = np.clip(y_prob, eps, 1.0 - eps)
    return -(y_true * np.log(prob) + (1.0 - y_true) * np.log1p(-prob))


# --- Kernels: metric name -> builder(y_true, y_prob) -> (weights -> values) -------------------

Kernel = Callable[[np.ndarray], np.ndarray]


def _rank_kernel(reducer) -> Callable[[np.ndarray, np.ndarray], Kernel]:
    def build(y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
        ranked = RankedScores(y_true, y_prob)
        return lambda weights: reducer(*ranked.class_weights(weights))

    return build


def _gini_kernel(y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    auc_kernel = _rank_kernel(auc_from_class_weights)(y_true, y_prob)
    return lambda weights: 2.0 * auc_kernel(weights) - 1.0


def _brier_kernel(y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    squared = (y_prob - y_true) ** 2
    return lambda weights: weighted_mean(weights, squared)


def _log_loss_kernel(y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    terms = log_loss_terms(y_true.astype(np.float64), y_prob)
    return lambda weights: weighted_mean(weights, terms)


def _ece_kernel(y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    # Equal-width bins do not depend on the resample, so they are assigned once. This matches
    # ece()'s defaults (n_bins=10, strategy="uniform"); other settings take the generic path.
    ids = bin_ids(y_prob, n_bins=10, strategy="uniform")
    labels = y_true.astype(np.float64)
    return lambda weights: weighted_ece(weights, labels, y_prob, ids, 10)


KERNELS: dict[str, Callable[[np.ndarray, np.ndarray], Kernel]] = {
    "auc": _rank_kernel(auc_from_class_weights),
    "pr_auc": _rank_kernel(average_precision_from_class_weights),
    "ks": _rank_kernel(ks_from_class_weights),
    "gini": _gini_kernel,
    "brier": _brier_kernel,
    "log_loss": _log_loss_kernel,
    "ece": _ece_kernel,
}


def generic_kernel(metric: Callable, y_true: np.ndarray, y_prob: np.ndarray) -> Kernel:
    """Fallback for any ``metric(y_true, y_prob)``: materialise each resample and call it."""
    rows = np.arange(y_true.shape[0])

    def evaluate(weights: np.ndarray) -> np.ndarray:
        out = np.empty(weights.shape[0])
        for i, counts in enumerate(weights.astype(np.int64)):
            drawn = np.repeat(rows, counts)
            out[i] = metric(y_true[drawn], y_prob[drawn])
        return out

    return evaluate


# --- Resampling ------------------------------------------------------------------------------


def iter_resample_counts(
    strata: np.ndarray, *, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield bootstrap count matrices, a chunk of replicates at a time.

    Each replicate draws, within every stratum, as many rows as the stratum holds, uniformly
    with replacement; so stratum sizes are the same in every replicate. Pass one stratum
    (all zeros) for the ordinary bootstrap.

    Yields
    ------
    ndarray of shape (n_replicates_in_chunk, n_samples), float64
        How many times each row was drawn in each replicate.
    """
    n = strata.shape[0]
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    chunk = max(1, _MAX_CELLS_PER_CHUNK // n)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        drawn = np.empty((size, n), dtype=np.intp)
        column = 0
        for rows in members:
            drawn[:, column : column + rows.size] = rows[
                rng.integers(0, rows.size, size=(size, rows.size))
            ]
            column += rows.size
        # One bincount for the whole chunk: offset each replicate's indices by its row.
        drawn += (np.arange(size, dtype=np.intp) * n)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
        yield counts.astype(np.float64)
