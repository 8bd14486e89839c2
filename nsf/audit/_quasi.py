"""Quasi-identifiers: how many users the attributes shared in the clear single out.

A user whose combination of shared attributes is unique in the population is re-identifiable by
anyone who knows those attributes of them, hashing or not. The k-anonymity of a row is the size of
its equivalence class (rows with the same combination).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.config import CoarsenRule

__all__ = ["K_BUCKETS", "QuasiResult", "coarsen", "k_anonymity"]

#: Buckets of class size k reported as the share of rows falling in each: (label, low, high].
K_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("1", 0, 1),
    ("2_4", 1, 4),
    ("5_9", 4, 9),
    ("10_99", 9, 99),
    ("100_plus", 99, np.inf),
)


@dataclass(frozen=True)
class QuasiResult:
    """Equivalence-class figures for one set of quasi-identifiers.

    Attributes
    ----------
    columns
        The quasi-identifiers.
    n_rows, n_classes
        Rows and distinct combinations.
    unique_fraction
        Share of rows whose combination is unique (k = 1).
    k_min, k_median
        The table's k-anonymity (smallest class) and the median row's class size.
    k_distribution
        Bucket label -> share of rows whose class size falls in it (see :data:`K_BUCKETS`).
    """

    columns: tuple[str, ...]
    n_rows: int
    n_classes: int
    unique_fraction: float
    k_min: int
    k_median: float
    k_distribution: dict[str, float]

    def summary(self, suffix: str = "") -> dict[str, float | int]:
        """Flat figures (stable metric keys), each name ending in ``suffix``."""
        out: dict[str, float | int] = {
            f"unique_fraction{suffix}": self.unique_fraction,
            f"k_min{suffix}": self.k_min,
            f"k_median{suffix}": self.k_median,
            f"class_count{suffix}": self.n_classes,
            # Below the k = 5 often asked of released microdata.
            f"k_lt_5_fraction{suffix}": self.k_distribution["1"] + self.k_distribution["2_4"],
        }
        for label, share in self.k_distribution.items():
            out[f"k_{label}_fraction{suffix}"] = share
        return out


def coarsen(frame: pd.DataFrame, rules: Sequence[CoarsenRule]) -> pd.DataFrame:
    """Apply coarsening rules in order; returns a new frame (``drop`` removes the column).

    Parameters
    ----------
    frame
        Quasi-identifier columns.
    rules
        See :class:`nsf.config.AuditConfig` (``coarsen``).
    """
    out = frame.copy()
    for rule in rules:
        if rule.column not in out.columns:
            raise KeyError(f"coarsen: no column {rule.column!r}")
        col = out[rule.column]
        if rule.op == "drop":
            out = out.drop(columns=rule.column)
        elif rule.op in ("year", "month"):
            dates = pd.to_datetime(col)
            out[rule.column] = dates.dt.year if rule.op == "year" else dates.dt.to_period("M")
        elif rule.op == "cap":
            out[rule.column] = col.clip(upper=rule.value)
        elif rule.op == "bin":
            assert rule.value is not None  # CoarsenRule requires it for 'bin'
            width = float(rule.value)
            out[rule.column] = np.floor(col / width) * width
        elif rule.op == "domain":
            out[rule.column] = col.str.split("@").str[-1]
        else:  # pragma: no cover - the config's Literal forbids it
            raise ValueError(f"unknown coarsening op {rule.op!r}")
    return out


def k_anonymity(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> QuasiResult:
    """Equivalence classes of the rows over ``columns`` (all columns by default).

    Missing values form their own category. With no columns every row is in one class.

    Parameters
    ----------
    frame
        One row per user.
    columns
        Quasi-identifiers.

    Returns
    -------
    QuasiResult
    """
    cols = tuple(frame.columns if columns is None else columns)
    n = len(frame)
    if n == 0:
        raise ValueError("k_anonymity: no rows")
    if cols:
        class_id = frame.groupby(list(cols), dropna=False, sort=False, observed=True).ngroup()
        sizes = np.bincount(class_id.to_numpy())
        k = sizes[class_id.to_numpy()]
    else:
        sizes = np.array([n])
        k = np.full(n, n)
    distribution = {
        label: float(np.mean((k > low) & (k <= high))) for label, low, high in K_BUCKETS
    }
    return QuasiResult(
        columns=cols,
        n_rows=n,
        n_classes=int(sizes.size),
        unique_fraction=float(np.mean(k == 1)),
        k_min=int(k.min()),
        k_median=float(np.median(k)),
        k_distribution=distribution,
    )
