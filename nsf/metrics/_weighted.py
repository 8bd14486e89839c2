"""Metrics evaluated for many row-weight vectors at once (the engine of the bootstrap).

A bootstrap resample of ``n`` rows is fully described by how many times each row was drawn, a
count vector ``w`` with ``sum(w) == n``. A metric on the resample equals the metric on the
original rows weighted by ``w``. Stacking the count vectors of ``r`` resamples as a ``(r, n)``
matrix ``W`` lets one grouping of the scores serve every resample: rank metrics (AUC, average
precision, KS) reduce to cumulative sums of class weights over the distinct score values, and
mean losses (Brier, log-loss, ECE) to sums over them (:mod:`nsf.metrics._cells` builds the
class weights). The results equal scikit-learn on the materialised resamples (tested), at a
small fraction of the cost.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

#: Upper bound on ``n_replicates_in_chunk * n_rows`` so the count matrices stay ~16 MB each.
_MAX_CELLS_PER_CHUNK = 2_000_000


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0 (a degenerate resample)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


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
    for counts in _iter_integer_counts(strata, n_resamples=n_resamples, rng=rng):
        yield counts.astype(np.float64)


def _iter_integer_counts(strata: np.ndarray, *, n_resamples: int,
                         rng: np.random.Generator) -> Iterator[np.ndarray]:
    """:func:`iter_resample_counts` as int64 counts."""
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
        yield np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)


#: Bytes of compact count matrices :func:`shared_resample_counts` keeps per process.
_SHARED_BYTES = 256 * 2**20
_shared: OrderedDict[tuple, tuple[list[np.ndarray], Mapping[str, Any]]] = OrderedDict()
_shared_lock = threading.Lock()


def _compact(counts: np.ndarray) -> np.ndarray:
    """The counts in the smallest unsigned integer type that holds them (exact)."""
    top = int(counts.max()) if counts.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return counts.astype(dtype)
    return counts.astype(np.int64)


def shared_resample_counts(strata: np.ndarray, *, n_resamples: int,
                           rng: np.random.Generator) -> list[np.ndarray]:
    """The chunks of :func:`iter_resample_counts` as compact unsigned integer arrays, drawn once
    per process for a stream and reused.

    The study draws the same row resamples (the same stream, on the same rows) for every arm
    it bootstraps; the chunks of a stream are kept (least recently used first out, at most
    ``_SHARED_BYTES``), keyed by the generator's state, the strata and ``n_resamples``. On
    reuse the generator is moved to the state drawing would have left it in, so the caller
    cannot tell the difference: the counts, and every later draw, are the same.

    Returns
    -------
    list of ndarray of shape (n_replicates_in_chunk, n_samples)
        How many times each row was drawn in each replicate (unsigned integers; the weights of
        :meth:`nsf.metrics._cells.ScoreCells.counts` as they are). Do not modify them.
    """
    labels = np.ascontiguousarray(strata)
    key = (repr(rng.bit_generator.state), int(n_resamples), labels.dtype.str, labels.shape,
           hashlib.sha256(labels.tobytes()).hexdigest())
    with _shared_lock:
        hit = _shared.get(key)
        if hit is not None:
            _shared.move_to_end(key)
    if hit is not None:
        chunks, state = hit
        rng.bit_generator.state = state
        return chunks
    chunks = [_compact(counts) for counts in
              _iter_integer_counts(labels, n_resamples=n_resamples, rng=rng)]
    for chunk in chunks:
        chunk.setflags(write=False)
    size = sum(chunk.nbytes for chunk in chunks)
    if size <= _SHARED_BYTES:
        with _shared_lock:  # tasks may run in threads of one process (a Dask worker)
            _shared[key] = (chunks, rng.bit_generator.state)
            while sum(c.nbytes for cs, _ in _shared.values() for c in cs) > _SHARED_BYTES:
                _shared.popitem(last=False)
    return chunks


def strata(labels: np.ndarray, stratify: bool) -> np.ndarray:
    """The resampling strata: the class labels when ``stratify``, else one stratum."""
    return labels if stratify else np.zeros_like(labels)
