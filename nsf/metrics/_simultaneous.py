"""Intervals and verdicts that hold jointly over a family of paired-bootstrap comparisons.

A family (say, dropping each of twelve attribute groups) asks many questions at once; twelve
95% intervals cover their differences jointly far less often than 95%. Every comparison of a
study is bootstrapped on the same row resamples, so replicate ``r`` of every comparison comes
from the same resampled rows and the joint distribution of the family is at hand without new
fits. Two ways to control the family-wise error (FWER) from it:

- ``"max_statistic"``: the percentile intervals of every comparison are widened to one common
  per-comparison level, the smallest at which all of them cover their replicates jointly in
  at least ``confidence`` of the replicates (the max-statistic of the replicates' depths on
  the percentile scale; Mandel & Betensky, "Simultaneous confidence intervals based on the
  percentile bootstrap approach", Comput. Stat. Data Anal. 52, 2008, 2158-2165). It takes the
  dependence between comparisons (a shared baseline, nested variants) into account, so it is
  narrower than Bonferroni when comparisons are correlated, and it equals the per-comparison
  interval for a family of one.
- ``"holm"``: Holm's step-down procedure (statsmodels ``multipletests``) on one-sided
  bootstrap p-values of the two hypotheses behind a non-inferiority verdict; the interval
  shown beside it is Bonferroni's (level ``1 - (1 - confidence) / K``), which Holm's
  verdicts never need to exceed.
- ``"none"``: every comparison at its own level (no family-wise control).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

from ._interval import percentile_bounds
from ._validation import check_confidence

#: The multiplicity methods (``study.multiplicity``).
MULTIPLICITY: tuple[str, ...] = ("max_statistic", "holm", "none")

#: Bisection steps on the per-comparison level (the level is found to within 2**-40).
_BISECTION_STEPS = 40


@dataclass(frozen=True, eq=False)
class SimultaneousIntervals:
    """Intervals of a family of K comparisons that hold jointly.

    Attributes
    ----------
    method : str
        One of :data:`MULTIPLICITY`.
    confidence : float
        The family-wise level asked for.
    level : float
        The per-comparison level of each interval (``>= confidence``).
    lower, upper : ndarray of shape (K,)
        Percentile bounds of each comparison's replicates at ``level``.
    joint_coverage : float
        Share of the replicates inside every comparison's interval at once.
    """

    method: str
    confidence: float
    level: float
    lower: np.ndarray
    upper: np.ndarray
    joint_coverage: float


def _check_replicates(replicates) -> np.ndarray:
    values = np.asarray(replicates, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 1:
        raise ValueError("replicates must have shape (n_resamples >= 2, n_comparisons >= 1), "
                         f"got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("replicates must be finite (a comparison with undefined replicates "
                         "cannot enter a family)")
    return values


def _bounds(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    return percentile_bounds(values, level, axis=0)


def _joint_coverage(values: np.ndarray, level: float) -> float:
    lower, upper = _bounds(values, level)
    return float(np.mean(np.all((values >= lower) & (values <= upper), axis=1)))


def simultaneous_intervals(replicates, *, confidence: float = 0.95,
                           method: str = "max_statistic",
                           joint=None) -> SimultaneousIntervals:
    """Intervals for a family of comparisons that cover jointly at ``confidence``.

    Parameters
    ----------
    replicates : array-like of shape (n_resamples, n_comparisons)
        Bootstrap replicates of each comparison's difference; row ``r`` of every column must
        come from the same resampled rows (the study's paired bootstrap).
    confidence : float, default=0.95
        Family-wise level.
    method : {"max_statistic", "holm", "none"}, default="max_statistic"
        See the module docstring; ``"holm"`` gives Bonferroni intervals (its verdicts come from
        :func:`holm_verdicts`).
    joint : array-like of the same shape, optional
        Replicates of the family drawn jointly, when ``replicates`` were drawn comparison by
        comparison (each resampling a shared reference arm's training seeds on its own): the
        level is calibrated on ``joint`` (one draw of the shared arm per replicate, as the
        family's sampling has it) and the bounds are taken from ``replicates``, which have the
        same marginal distributions. Default: ``replicates``.

    Returns
    -------
    SimultaneousIntervals
        With one comparison, or ``method="none"``, the per-comparison percentile intervals.
    """
    values = _check_replicates(replicates)
    drawn = values if joint is None else _check_replicates(joint)
    if drawn.shape != values.shape:
        raise ValueError(f"joint must have the shape of replicates {values.shape}, got "
                         f"{drawn.shape}")
    confidence = check_confidence(confidence)
    if method not in MULTIPLICITY:
        raise ValueError(f"method must be one of {', '.join(MULTIPLICITY)}, got {method!r}")
    n_comparisons = values.shape[1]
    if method == "none" or n_comparisons == 1:
        level = confidence
    elif method == "holm":
        level = 1.0 - (1.0 - confidence) / n_comparisons
    elif _joint_coverage(drawn, confidence) >= confidence:
        level = confidence
    else:
        # Joint coverage grows with the per-comparison level (the intervals are nested), so
        # the smallest level that reaches ``confidence`` is found by bisection.
        low, high = confidence, 1.0
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (low + high)
            if _joint_coverage(drawn, mid) >= confidence:
                high = mid
            else:
                low = mid
        level = high
    lower, upper = _bounds(values, level)
    return SimultaneousIntervals(method=method, confidence=confidence, level=float(level),
                                 lower=lower, upper=upper,
                                 joint_coverage=_joint_coverage(drawn, level))


def bootstrap_p_values(replicates, margins) -> tuple[np.ndarray, np.ndarray]:
    """One-sided bootstrap p-values of the two hypotheses behind a non-inferiority verdict.

    ``replicates`` are oriented so that a negative difference is a loss (variant without the
    data minus reference with it, for a higher-is-better metric). With ``m`` the margin:

    - "needed" rejects ``H0: difference >= -m``: ``p = min(1, 2 P*(replicate >= -m))``;
    - "not shown needed" rejects ``H0: difference < -m``: ``p = min(1, 2 P*(replicate < -m))``.

    The factor 2 matches the two-sided percentile interval: ``p < 1 - confidence`` exactly when
    the interval at ``confidence`` lies wholly on one side of ``-m`` (up to the replicates'
    discreteness).

    Returns
    -------
    p_needed, p_not_needed : ndarray of shape (n_comparisons,)
    """
    values = _check_replicates(replicates)
    margin = np.broadcast_to(np.asarray(margins, dtype=np.float64), (values.shape[1],))
    above = np.mean(values >= -margin, axis=0)
    return np.minimum(1.0, 2.0 * above), np.minimum(1.0, 2.0 * (1.0 - above))


def holm_verdicts(replicates, margins, *, confidence: float = 0.95) -> list[str]:
    """Non-inferiority verdicts of a family with Holm's step-down procedure.

    Each of the two families of hypotheses (:func:`bootstrap_p_values`) is tested with
    ``statsmodels.stats.multitest.multipletests(method="holm")`` at ``1 - confidence``:
    "needed" where the needed-hypothesis is rejected, "not shown needed" where the other one
    is, "inconclusive" otherwise (the two cannot both be rejected).

    Parameters
    ----------
    replicates : array-like of shape (n_resamples, n_comparisons)
        Oriented as for :func:`bootstrap_p_values`.
    margins : float or array-like of shape (n_comparisons,)
    confidence : float, default=0.95

    Returns
    -------
    list of str
    """
    from statsmodels.stats.multitest import multipletests

    confidence = check_confidence(confidence)
    p_needed, p_not_needed = bootstrap_p_values(replicates, margins)
    alpha = 1.0 - confidence
    needed = multipletests(p_needed, alpha=alpha, method="holm")[0]
    not_needed = multipletests(p_not_needed, alpha=alpha, method="holm")[0]
    return [NEEDED if a else NOT_SHOWN_NEEDED if b else INCONCLUSIVE
            for a, b in zip(needed, not_needed, strict=True)]
