"""The percentile interval: the one place a bootstrap distribution becomes two bounds.

Every interval of the project that is read from replicates (a metric's, a difference's, a
group's, a share's, a fitted curve's) is the two-sided percentile interval (Efron & Tibshirani
1993, ch. 13): the ``(1 - confidence) / 2`` and ``1 - (1 - confidence) / 2`` quantiles of the
replicates, numpy's default (linear) interpolation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["percentile_bounds", "percentile_interval"]


def _levels(confidence: float) -> list[float]:
    alpha = 1.0 - confidence
    return [alpha / 2.0, 1.0 - alpha / 2.0]


def percentile_bounds(
    replicates: ArrayLike, confidence: float, *, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds of ``replicates`` along ``axis``.

    Parameters
    ----------
    replicates : array-like
        Bootstrap (or posterior) draws; ``axis`` runs over the draws. A NaN draw makes its
        bounds NaN (drop undefined draws first where they should be ignored).
    confidence : float
        Two-sided coverage in (0, 1).
    axis : int
        The axis of the draws.

    Returns
    -------
    lower, upper : ndarray
        The bounds, of the shape of ``replicates`` without ``axis``.
    """
    lower, upper = np.quantile(np.asarray(replicates), _levels(confidence), axis=axis)
    return lower, upper


def percentile_interval(replicates: ArrayLike, confidence: float) -> tuple[float, float]:
    """Lower and upper percentile bounds of all of ``replicates`` (flattened), as floats.

    Parameters
    ----------
    replicates : array-like
        Bootstrap (or posterior) draws.
    confidence : float
        Two-sided coverage in (0, 1).
    """
    lower, upper = np.quantile(np.asarray(replicates), _levels(confidence))
    return float(lower), float(upper)
