"""Explanation stability: does "which data the model leans on" survive a new seed or family?

Reliance (mean absolute group SHAP value over rows) ranks the attribute groups. Two fits that
rank them alike agree on which data matter; if a retrained model (another seed: another
training sample) or another family ranks them differently, no single ranking is a finding to
act on. :func:`reliance_stability` measures the rank correlation (Spearman's rho or Kendall's
tau-b, scipy) of the reliance of every pair of fits explained on the same rows, with a
percentile bootstrap interval over those rows (the same resample for all fits, so the pairs
stay paired).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from nsf.metrics import check_rng, percentile_interval

METHODS = ("spearman", "kendall")


def _correlation(a: np.ndarray, b: np.ndarray, method: str) -> float:
    from scipy import stats

    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant ranking has no correlation
        return float("nan")
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    return float(stats.kendalltau(a, b).statistic)


def reliance_stability(values: Mapping[str, np.ndarray], groups: Sequence[str], *,
                       method: str = "spearman", n_bootstrap: int = 1000,
                       level: float = 0.95, rng: np.random.Generator,
                       threshold: float | None = None) -> pd.DataFrame:
    """Rank correlation of group reliance between every pair of fits, with an interval.

    Parameters
    ----------
    values : mapping of str to numpy.ndarray
        Fit label (e.g. ``"lightgbm seed 2"``) -> its group SHAP values, (n_rows, n_groups),
        every fit on the same rows in the same order (e.g. ``GroupAttribution.values``).
    groups : sequence of str
        The group names (columns of every array).
    method : {"spearman", "kendall"}
    n_bootstrap : int
        Bootstrap resamples of the rows (0: no interval).
    level : float
        Coverage of the percentile interval.
    rng : numpy.random.Generator
    threshold : float, optional
        A pair is ``stable`` when the lower end of its interval reaches it (None: not judged).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``a``, ``b``, ``correlation`` (on all rows), ``lower``, ``upper``,
        ``stable`` (bool or None). ``attrs`` hold ``method``, ``n_bootstrap``, ``level``,
        ``n_rows``, ``threshold`` and ``reliance`` (fit -> group -> mean |value|).
    """
    check_rng(rng)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) \
            or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    labels = list(values)
    if len(labels) < 2:
        raise ValueError(f"need at least two fits to compare, got {len(labels)}")
    magnitude = {k: np.abs(np.asarray(v, dtype=np.float64)) for k, v in values.items()}
    shapes = {m.shape for m in magnitude.values()}
    if len(shapes) != 1 or next(iter(shapes))[1:] != (len(groups),):
        raise ValueError(f"every fit needs values of shape (n_rows, {len(groups)}) on the same "
                         f"rows, got {sorted(shapes)}")
    n_rows = next(iter(shapes))[0]
    if n_rows == 0:
        raise ValueError("no rows to compare the fits on")
    reliance = {k: m.mean(axis=0) for k, m in magnitude.items()}
    boot = {}
    if n_bootstrap:
        # Each resample as row counts; the same resample for every fit (paired).
        counts = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=n_bootstrap)
        boot = {k: counts @ m / n_rows for k, m in magnitude.items()}
    rows = []
    for a, b in combinations(labels, 2):
        estimate = _correlation(reliance[a], reliance[b], method)
        lower = upper = float("nan")
        if n_bootstrap:
            draws = np.array([_correlation(boot[a][r], boot[b][r], method)
                              for r in range(n_bootstrap)])
            draws = draws[np.isfinite(draws)]
            if draws.size:
                lower, upper = percentile_interval(draws, level)
        stable = None if threshold is None or not np.isfinite(lower) else bool(lower >= threshold)
        rows.append({"a": a, "b": b, "correlation": estimate, "lower": lower, "upper": upper,
                     "stable": stable})
    table = pd.DataFrame(rows)
    table.attrs.update({
        "method": method, "n_bootstrap": int(n_bootstrap), "level": float(level),
        "n_rows": int(n_rows), "threshold": threshold,
        "reliance": {k: dict(zip(groups, map(float, r), strict=True))
                     for k, r in reliance.items()},
    })
    return table
