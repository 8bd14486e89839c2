"""P(NSF) -> the 0-100 score.

[ASSUMPTION] (docs/case.md: the public record gives neither the scale's direction nor its formula)
score = round(100 x calibrated P(NSF)): 0 = surely covered, 100 = surely NSF. Rounding is half
to even (numpy), so 0.125 -> 12.
"""

from __future__ import annotations

import numpy as np


def probability_to_score(p) -> np.ndarray:
    """``round(100 * p)`` as ``int16`` in [0, 100].

    Raises
    ------
    ValueError
        If a probability is NaN or outside [0, 1].
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size and (np.isnan(p).any() or p.min() < 0.0 or p.max() > 1.0):
        raise ValueError("probabilities must lie in [0, 1] (no NaN)")
    return np.rint(100.0 * p).astype(np.int16)
