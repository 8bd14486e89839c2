"""P(NSF) -> the 0-100 score.

[ASSUMPTION] (docs/case.md: the public record gives neither the scale's direction nor its formula)
score = round(100 x calibrated P(NSF)): 0 = surely covered, 100 = surely NSF. Rounding is half
to even (numpy), so 0.125 -> 12.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def probability_to_score(p: ArrayLike) -> np.ndarray:
    """The 0-100 score of calibrated probabilities: ``round(100 * p)`` as ``int16``.

    Parameters
    ----------
    p : array-like of float
        Calibrated P(NSF), each in [0, 1].

    Returns
    -------
    ndarray of int16
        Scores in [0, 100], of the shape of ``p`` (half to even: 0.125 -> 12).

    Raises
    ------
    ValueError
        If a probability is NaN or outside [0, 1].
    """
    prob = np.asarray(p, dtype=np.float64)
    if prob.size and (np.isnan(prob).any() or prob.min() < 0.0 or prob.max() > 1.0):
        raise ValueError("probabilities must lie in [0, 1] (no NaN)")
    return np.rint(100.0 * prob).astype(np.int16)
