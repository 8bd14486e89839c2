"""The bootstrap engine: metrics from weighted counts per (group, distinct probability,
outcome) cell.

Every metric the project bootstraps (the study's comparisons, the fairness tables, the oracle
and the proxy checks) depends on a row only through its group, its predicted probability and
its outcome (the score and the flag of a row are functions of its probability). Calibrated
probabilities take few distinct values (isotonic steps), so summing the bootstrap weights into
those cells first (one compiled pass per chunk of replicates) leaves small arrays for
everything else. With all-distinct probabilities the cells are the rows and the cost is that
of the direct computation.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse

from ._classification import bin_ids
from ._weighted import (
    auc_from_class_weights,
    average_precision_from_class_weights,
    ks_from_class_weights,
)
from ._weighted import safe_divide as divide


class ScoreCells:
    """Weighted NSF and non-NSF counts per (group, distinct probability), ascending.

    Parameters
    ----------
    y_true : 0/1 outcome per row.
    y_prob : predicted probability per row.
    codes : group code per row (``0 .. n_groups - 1``, all present); None: one group.

    Attributes
    ----------
    prob : probability of each cell; ``group`` : group of each cell; cells are sorted by group,
        then probability. ``group_first`` : index of each group's first cell.
    """

    def __init__(self, y_true, y_prob, codes=None):
        y = np.asarray(y_true, dtype=np.float64)
        prob = np.asarray(y_prob, dtype=np.float64)
        n = y.shape[0]
        codes = np.zeros(n, dtype=np.int64) if codes is None else np.asarray(codes, np.int64)
        self.n_groups = int(codes.max()) + 1
        if np.bincount(codes, minlength=self.n_groups).min() == 0:
            raise ValueError("every group code 0 .. n_groups - 1 must occur")
        levels, level = np.unique(prob, return_inverse=True)
        cell_ids, cell = np.unique(codes * levels.size + level, return_inverse=True)
        self.n_cells = cell_ids.size
        self.prob = levels[cell_ids % levels.size]
        self.group = cell_ids // levels.size
        self.group_first = np.flatnonzero(np.r_[True, self.group[1:] != self.group[:-1]])
        self.cell_of_row = cell
        # Column of each row: 0..n_cells-1 for the NSF rows of each cell, n_cells.. for the
        # other rows.
        self._column = np.ascontiguousarray(cell + self.n_cells * (1 - y.astype(np.int64)))

    def counts(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pos, neg``: arrays (n_replicates, n_cells) of NSF and non-NSF weight per cell."""
        w = np.asarray(weights)
        # Integer weights (bootstrap counts) are summed as they are: the sums are exact.
        w = np.ascontiguousarray(w if w.dtype.kind in "ui" else w.astype(np.float64, copy=False))
        if w.ndim != 2 or w.shape[1] != self._column.size:
            raise ValueError(f"weights must have shape (n_replicates, {self._column.size}), "
                             f"got {w.shape}")
        # Laid out as the product with the rows' indicator matrix lays them out (column-major),
        # so that later products with them add in the same order, to the last bit.
        both = np.ascontiguousarray(cell_sums(w, self._column, 2 * self.n_cells).T).T
        return both[:, : self.n_cells], both[:, self.n_cells:]

    def per_group(self, values: np.ndarray) -> np.ndarray:
        """Sum of a (n_replicates, n_cells) array over each group's cells."""
        return np.add.reduceat(values, self.group_first, axis=1)

    def group_auc(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        """Mann-Whitney AUC of each group, per replicate (ties count one half)."""
        neg_before = np.cumsum(neg, axis=1) - neg
        offset = np.repeat(neg_before[:, self.group_first],
                           np.diff(np.r_[self.group_first, self.n_cells]), axis=1)
        concordant = pos * (neg_before - offset + 0.5 * neg)
        return divide(self.per_group(concordant), self.per_group(pos) * self.per_group(neg))


@njit(cache=True, nogil=True)
def cell_sums(weights, column, n_columns):
    """``out[r, c]``: the sum of ``weights[r, i]`` over the rows ``i`` with ``column[i] == c``,
    added in ascending row order (one compiled pass over the replicates; the same sums, in
    the same order, as the product with the rows' 0/1 indicator matrix)."""
    n_rep, n = weights.shape
    out = np.zeros((n_rep, n_columns))
    for r in range(n_rep):
        for i in range(n):
            out[r, column[i]] += weights[r, i]
    return out


#: Metrics :func:`metric_replicates` computes (the ``nsf.metrics`` names).
CELL_METRICS = ("auc", "pr_auc", "ks", "gini", "brier", "log_loss", "ece")


def metric_replicates(cells: ScoreCells, pos: np.ndarray, neg: np.ndarray,
                      metrics, *, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Metrics of one model per replicate from its one-group cell counts.

    ``ece`` has ``n_bins`` equal-width bins (``nsf.metrics.ece(..., n_bins=n_bins)``);
    ``log_loss`` clips the probability as scikit-learn does.
    """
    if cells.n_groups != 1:
        raise ValueError("metric_replicates needs one group")
    out: dict[str, np.ndarray] = {}
    total = pos.sum(axis=1) + neg.sum(axis=1)
    p = cells.prob
    for m in metrics:
        if m in ("auc", "gini"):
            a = out.get("auc")
            if a is None:
                a = auc_from_class_weights(pos, neg)
            out[m] = a if m == "auc" else 2.0 * a - 1.0
        elif m == "pr_auc":
            out[m] = average_precision_from_class_weights(pos, neg)
        elif m == "ks":
            out[m] = ks_from_class_weights(pos, neg)
        elif m == "brier":
            out[m] = divide(pos @ (1.0 - p) ** 2 + neg @ p ** 2, total)
        elif m == "log_loss":
            eps = np.finfo(np.float64).eps
            q = np.clip(p, eps, 1.0 - eps)
            out[m] = divide(pos @ -np.log(q) + neg @ -np.log1p(-q), total)
        elif m == "ece":
            bins = bin_ids(p, n_bins=n_bins, strategy="uniform")
            gap = pos * (1.0 - p) - neg * p
            per_bin = np.stack([gap[:, bins == b].sum(axis=1) for b in range(n_bins)], axis=1)
            out[m] = divide(np.abs(per_bin).sum(axis=1), total)
        else:
            raise ValueError(f"unknown metric {m!r} (known: {', '.join(CELL_METRICS)})")
    return out


def metric_kernel(metric: str, y_true: np.ndarray, y_prob: np.ndarray, *, n_bins: int = 10):
    """``weights -> metric per weight vector`` for one model on these rows (one
    :class:`ScoreCells` built once and shared by every chunk of replicates).

    ``metric`` is one of :data:`CELL_METRICS`; ``weights`` has shape (n_replicates, n_rows).
    """
    if metric not in CELL_METRICS:
        raise ValueError(f"unknown metric {metric!r} (known: {', '.join(CELL_METRICS)})")
    cells = ScoreCells(y_true, y_prob)
    return lambda weights: metric_replicates(cells, *cells.counts(weights), (metric,),
                                             n_bins=n_bins)[metric]


class GroupRates:
    """Per-group metrics of one model for many row-weight vectors at once.

    Built on :class:`ScoreCells`: a row's score, flag and calibration bin are functions of its
    probability, so every per-group metric is a sum over the cells of its group.

    Parameters
    ----------
    y_true : ndarray of 0/1.
    y_prob : calibrated P(NSF).
    codes : group code per row, ``0 .. n_groups - 1``, every code present.
    score : the 0-100 score of each row; one value per distinct probability (as the score of
        ``nsf.scoring.probability_to_score`` is).
    threshold : a row is flagged when its score is at least this.
    n_bins : equal-width bins of each group's ECE.

    Attributes
    ----------
    n, n_bad : ndarray of shape (n_groups,)
        Rows and NSF rows per group (on unit weights).
    """

    def __init__(self, y_true, y_prob, codes, *, score, threshold: int, n_bins: int):
        self.cells = ScoreCells(y_true, y_prob, codes)
        y, codes = np.asarray(y_true, dtype=np.int64), np.asarray(codes, dtype=np.int64)
        n_groups = self.cells.n_groups
        self.n = np.bincount(codes, minlength=n_groups)
        self.n_bad = np.bincount(codes, weights=y, minlength=n_groups).astype(np.int64)
        p = self.cells.prob
        row_score = np.asarray(score, dtype=np.float64)
        self.score = np.empty(p.size)
        self.score[self.cells.cell_of_row] = row_score
        if not np.array_equal(self.score[self.cells.cell_of_row], row_score):
            raise ValueError("score must take one value per distinct probability (a function "
                             "of y_prob, as nsf.scoring.probability_to_score)")
        self.flagged = (self.score >= threshold).astype(np.float64)
        self.n_bins = n_bins
        bins = bin_ids(p, n_bins=n_bins, strategy="uniform")
        column = self.cells.group * n_bins + bins
        self._bins = sparse.csr_matrix(
            (np.ones(p.size), (np.arange(p.size), column)),
            shape=(p.size, self.cells.n_groups * n_bins))

    def per_group(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Metric -> array (n_replicates, n_groups); NaN where a group's metric is undefined.

        Metrics: ``auc``, ``ece``, ``mean_score``, ``selection_rate`` (share flagged),
        ``false_positive_rate`` (flagged among non-NSF), ``false_negative_rate`` (not flagged
        among NSF).
        """
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
