"""Bootstrap replicates from weighted counts per (group, distinct probability, outcome) cell.

Every metric the study bootstraps depends on a row only through its group, its predicted
probability and its outcome. Calibrated probabilities take few distinct values (isotonic
steps), so summing the bootstrap weights into those cells first (one sparse product per chunk
of replicates) leaves small arrays for everything else. With all-distinct probabilities the
cells are the rows and the cost is that of the direct computation.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from nsf.metrics._classification import bin_ids
from nsf.metrics._weighted import (
    auc_from_class_weights,
    average_precision_from_class_weights,
    ks_from_class_weights,
)
from nsf.metrics._weighted import safe_divide as divide


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
        rows = np.arange(n)
        # Columns 0..n_cells-1: NSF rows of each cell; n_cells..: the other rows.
        self._indicator = sparse.csc_matrix(
            (np.ones(n), (rows, cell + self.n_cells * (1 - y.astype(np.int64)))),
            shape=(n, 2 * self.n_cells))

    def counts(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pos, neg``: arrays (n_replicates, n_cells) of NSF and non-NSF weight per cell."""
        both = np.asarray(self._indicator.T @ np.asarray(weights, dtype=np.float64).T).T
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


#: Metrics :func:`metric_replicates` computes (the ``nsf.metrics`` names).
CELL_METRICS = ("auc", "pr_auc", "ks", "gini", "brier", "log_loss", "ece")


def metric_replicates(cells: ScoreCells, pos: np.ndarray, neg: np.ndarray,
                      metrics) -> dict[str, np.ndarray]:
    """Metrics of one model per replicate from its one-group cell counts.

    ``ece`` uses ``nsf.metrics.ece``'s defaults (10 equal-width bins); ``log_loss`` clips the
    probability as scikit-learn does.
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
            bins = bin_ids(p, n_bins=10, strategy="uniform")
            gap = pos * (1.0 - p) - neg * p
            per_bin = np.stack([gap[:, bins == b].sum(axis=1) for b in range(10)], axis=1)
            out[m] = divide(np.abs(per_bin).sum(axis=1), total)
        else:
            raise ValueError(f"unknown metric {m!r} (known: {', '.join(CELL_METRICS)})")
    return out
