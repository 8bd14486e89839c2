"""The rule: bundle a user when the score (0-100) is at or below a threshold.

The threshold is searched directly over every score value rather than with scikit-learn's
``TunedThresholdClassifierCV``: the costs differ from row to row (each row's own purchases and
amounts), which a scorer of ``(y_true, y_pred)`` does not see without routing per-row metadata;
the model is already fitted and calibrated, so nothing needs refitting; and the scores are the
integers 0-100, so the exact optimum over all 102 rules (bundle no one, then scores <= 0, ...,
<= 100) is one cumulative sum of per-score savings.
"""

from __future__ import annotations

import numpy as np

from nsf.config import PolicyConfig
from nsf.models import probability_to_score

#: The threshold of the rule that bundles no one (every score is above it).
NO_ONE = -1
#: Every threshold a rule can take: no one, then each score 0-100.
THRESHOLDS = np.arange(NO_ONE, 101)


def scores_of(prob) -> np.ndarray:
    """The 0-100 scores of P(NSF) (the project's one definition)."""
    return probability_to_score(prob).astype(np.int64)


def bundle(scores, threshold: int) -> np.ndarray:
    """The decisions: True (bundle) where the score is at or below ``threshold``."""
    return np.asarray(scores) <= threshold


def cost_by_threshold(scores, saving) -> np.ndarray:
    """Total cost relative to charging everyone at once, for each of :data:`THRESHOLDS`:
    minus the savings of the rows bundled (scores at or below the threshold)."""
    s = np.asarray(scores, dtype=np.int64)
    per_score = np.bincount(s, weights=np.asarray(saving, dtype=np.float64), minlength=101)
    return -np.concatenate([[0.0], np.cumsum(per_score)])


def optimal_threshold(scores, saving) -> int:
    """The threshold minimising the realised cost of ``scores``' rows (``saving`` per row is
    what bundling it saves).

    Thresholds of equal cost (to 1e-9 of the total money at stake) are resolved towards
    bundling fewer users, except when the cost stays at its minimum up to the top score: then
    bundling the rest costs nothing on these rows and everyone is bundled. This makes a world
    without losses bundle everyone and a world without fees bundle no one.
    """
    costs = cost_by_threshold(scores, saving)
    tol = 1e-9 * (float(np.abs(np.asarray(saving, dtype=np.float64)).sum()) + 1.0)
    best = costs <= costs.min() + tol
    if best[-1] and not best[0]:
        return int(THRESHOLDS[-1])
    return int(THRESHOLDS[np.argmax(best)])


def bundle_rate_threshold(scores, target_rate: float) -> int:
    """The threshold whose share of bundled rows is nearest ``target_rate`` (ties: fewer)."""
    s = np.asarray(scores, dtype=np.int64)
    if s.size == 0:
        raise ValueError("no rows to set a bundle rate on")
    rates = np.concatenate([[0.0], np.cumsum(np.bincount(s, minlength=101))]) / s.size
    return int(THRESHOLDS[np.argmin(np.abs(rates - target_rate))])


def choose_threshold(scores, saving, policy: PolicyConfig) -> int:
    """The threshold of ``policy.threshold_rule`` from validation ``scores`` and savings."""
    if policy.threshold_rule == "optimal":
        return optimal_threshold(scores, saving)
    if policy.threshold_rule == "bundle_rate":
        return bundle_rate_threshold(scores, policy.target_bundle_rate)
    return int(policy.threshold)
