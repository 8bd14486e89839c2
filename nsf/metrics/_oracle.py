"""The oracle's AUC: the ranking quality of the true P(NSF), corrected for Monte-Carlo noise.

A simulator knows each row's true probability only through ``M`` re-simulations of the horizon,
so the oracle probability it reports is an estimate ``p_hat = p + noise``. Noise reorders rows
at random, so the AUC of ``p_hat`` is biased *low*, by about ``c / M`` (to first order in the
noise variance, which is ``~ 1 / M``). The simulator also reports the estimate of each of ``G``
disjoint groups of the draws. Leaving one group out gives an estimate from ``M - n_g`` draws
whose AUC carries the bias ``c / (M - n_g)``, so the delete-a-group jackknife

    AUC_inf = (M * AUC(p_hat) - h * mean_g AUC(p_hat without group g)) / (M - h)

(``h`` the harmonic mean of the ``M - n_g``; ``G * AUC - (G - 1) * mean`` for equal groups)
removes the first-order bias; with ``G = 2`` it is the split-half extrapolation. What remains
is of higher order: it shrinks faster than ``1 / M`` once ``M * p`` is not small for most rows
(``benchmarks/bench_oracle.py`` measures it). Rows are then resampled to give the estimate an
interval: the noise of the test rows and of the Monte-Carlo draws, which are independent per
row, are both resampled with the rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ._cells import ScoreCells
from ._interval import percentile_interval
from ._validation import (
    check_binary,
    check_confidence,
    check_n_resamples,
    check_probabilities,
    check_rng,
)
from ._weighted import auc_from_class_weights, iter_resample_counts, strata


@dataclass(frozen=True, eq=False)
class OracleAUC:
    """The oracle's AUC with its interval, and the model's gap to it.

    Attributes
    ----------
    estimate : float
        AUC of the true probability, corrected for the Monte-Carlo noise of its estimate when
        the half-sample estimates were given (else the AUC of ``p_truth`` itself).
    raw : float
        AUC of ``p_truth`` as given (biased low when it is a Monte-Carlo estimate).
    draws : int or None
        Monte-Carlo draws behind ``p_truth`` (None: taken as exact).
    lower, upper : float or None
        Percentile interval of ``estimate`` at ``confidence`` (None without resampling).
    model_auc, gap, gap_lower, gap_upper : float or None
        With a model: its AUC, ``estimate - model_auc`` and the paired interval of the gap.
    confidence : float
    replicates : ndarray of shape (n_resamples,) or None
        Bootstrap replicates of ``estimate``.
    """

    estimate: float
    raw: float
    draws: int | None
    lower: float | None
    upper: float | None
    model_auc: float | None
    gap: float | None
    gap_lower: float | None
    gap_upper: float | None
    confidence: float
    replicates: np.ndarray | None = field(default=None, repr=False)

    @property
    def correction(self) -> float:
        """``estimate - raw``: what the Monte-Carlo correction added."""
        return self.estimate - self.raw


def group_sizes(draws: int, n_groups: int) -> np.ndarray:
    """Draws in each group when draw ``m`` goes to group ``m % n_groups``."""
    return np.asarray([(draws - g + n_groups - 1) // n_groups for g in range(n_groups)])


def _jackknife_inputs(p_truth: np.ndarray, p_groups: np.ndarray,
                      draws: int) -> tuple[list[np.ndarray], float, float]:
    """Leave-one-group-out estimates and the weights ``(a, b)`` of
    ``AUC_inf = a * AUC_M - b * mean(AUC_leave_out)``."""
    sizes = group_sizes(draws, p_groups.shape[1])
    used = np.flatnonzero(sizes > 0)
    kept = draws - sizes[used]  # draws behind each leave-one-group-out estimate
    leave_out = [(draws * p_truth - sizes[g] * p_groups[:, g]) / (draws - sizes[g]) for g in used]
    h = used.size / np.sum(1.0 / kept)  # harmonic mean: their mean bias is c / h
    return leave_out, draws / (draws - h), h / (draws - h)


def _auc_function(labels: np.ndarray, truth: np.ndarray, groups: np.ndarray | None,
                  draws: int | None, p_model: np.ndarray | None):
    """``aucs(weights) -> (estimate, model AUC or None, raw AUC)``, one value per row of
    ``weights`` (replicates)."""
    scores = {"truth": truth}
    corrected = groups is not None
    leave_out: list[np.ndarray] = []
    weight_all = weight_left = 0.0
    if groups is not None:
        sizes = group_sizes(int(draws or 0), groups.shape[1])
        present = groups[:, sizes > 0]
        check_probabilities(present.ravel(), name="p_groups")
        if not np.allclose(present @ sizes[sizes > 0] / int(draws or 0), truth, atol=1e-9):
            raise ValueError(f"p_groups do not average to p_truth over {draws} draws")
        leave_out, weight_all, weight_left = _jackknife_inputs(truth, groups, int(draws or 0))
        for g, q in enumerate(leave_out):
            scores[f"leave_out_{g}"] = q
    if p_model is not None:
        scores["model"] = p_model
    cells = {k: ScoreCells(labels, v) for k, v in scores.items()}

    def aucs(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        got = {k: auc_from_class_weights(*c.counts(weights)) for k, c in cells.items()}
        if corrected:
            left = np.mean([got[f"leave_out_{g}"] for g in range(len(leave_out))], axis=0)
            est = weight_all * got["truth"] - weight_left * left
        else:
            est = got["truth"]
        return est, got.get("model"), got["truth"]

    return aucs


#: The oracle's point AUCs of the last few sets of rows, by their content (a study evaluates
#: every model on the same test rows).
_TRUTH_AUCS: dict[bytes, tuple[float, float]] = {}
_TRUTH_AUCS_KEPT = 4


def _truth_auc(labels: np.ndarray, truth: np.ndarray, groups: np.ndarray | None,
               draws: int | None) -> tuple[float, float]:
    """``(estimate, raw)`` of :func:`oracle_auc` without resampling, once per set of rows."""
    digest = hashlib.sha256()
    for part in (labels, truth, groups):
        if part is not None:
            digest.update(repr((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(repr(draws).encode())
    key = digest.digest()
    hit = _TRUTH_AUCS.get(key)
    if hit is None:
        est, _, raw = _auc_function(labels, truth, groups, draws, None)(
            np.ones((1, labels.shape[0])))
        hit = (float(est[0]), float(raw[0]))
        if len(_TRUTH_AUCS) >= _TRUTH_AUCS_KEPT:
            _TRUTH_AUCS.pop(next(iter(_TRUTH_AUCS)))
        _TRUTH_AUCS[key] = hit
    return hit


def oracle_auc(
    y_true,
    p_truth,
    *,
    p_groups=None,
    draws: int | None = None,
    p_model=None,
    n_resamples: int = 1000,
    rng: np.random.Generator | None = None,
    stratify: bool = True,
    confidence: float = 0.95,
) -> OracleAUC:
    """AUC of the true P(NSF) on these rows, corrected for Monte-Carlo noise, with an interval.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    p_truth : array-like of shape (n_samples,)
        The oracle's P(NSF): exact, or the mean of ``draws`` Monte-Carlo estimates.
    p_groups : array-like of shape (n_samples, n_groups), optional
        The estimates from each group of the draws, draw ``m`` being in group
        ``m % n_groups`` (``p_truth`` is their draw-weighted mean; NaN for groups without
        draws). Given with ``draws >= 2``, the AUC is corrected for the Monte-Carlo noise by
        the delete-a-group jackknife (see the module docstring).
    draws : int, optional
        Monte-Carlo draws behind ``p_truth``.
    p_model : array-like of shape (n_samples,), optional
        A model's P(NSF) on the same rows: its AUC and the gap ``oracle - model`` are returned,
        the gap's interval from the same resamples (paired).
    n_resamples : int, default=1000
        Bootstrap replicates for the intervals.
    rng : numpy.random.Generator, optional
        Source of the resampling; without it no interval is computed.
    stratify : bool, default=True
        Resample NSF and non-NSF rows separately (as :func:`bootstrap_metric`).
    confidence : float, default=0.95

    Returns
    -------
    OracleAUC

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only, probabilities are invalid or misaligned, or the
        groups are given without ``draws >= 2`` or do not average to ``p_truth``.
    """
    labels, truth = check_binary(y_true, p_truth)
    n = labels.shape[0]
    confidence = check_confidence(confidence)
    if draws is not None and int(draws) < 1:
        raise ValueError(f"draws must be a positive number of Monte-Carlo draws, got {draws!r}")
    corrected = p_groups is not None
    groups = None
    if corrected:
        if draws is None or int(draws) < 2:
            raise ValueError(f"the Monte-Carlo correction needs draws >= 2, got {draws!r}")
        groups = np.asarray(p_groups, dtype=np.float64)
        if groups.ndim != 2 or groups.shape[0] != n or groups.shape[1] < 2:
            raise ValueError(f"p_groups must have shape ({n}, n_groups >= 2), got "
                             f"{groups.shape}")
    if p_model is not None:
        p_model = check_probabilities(p_model, n=n, name="p_model")
    lower = upper = gap_lower = gap_upper = replicates = None
    if rng is None:
        # Without an interval the oracle's side depends on the rows alone: every model
        # evaluated on the same rows shares it (computed once, the model's AUC apart).
        estimate, raw_auc = _truth_auc(labels, truth, groups, draws)
        model_auc = None
        if p_model is not None:
            model_cells = ScoreCells(labels, p_model)
            model_auc = float(auc_from_class_weights(*model_cells.counts(np.ones((1, n))))[0])
    else:
        check_rng(rng)
        n_resamples = check_n_resamples(n_resamples)
        aucs = _auc_function(labels, truth, groups, draws, p_model)
        est, model, raw = aucs(np.ones((1, n)))
        estimate, raw_auc = float(est[0]), float(raw[0])
        model_auc = None if model is None else float(model[0])
        rep_est, rep_gap = [], []
        for counts in iter_resample_counts(strata(labels, stratify), n_resamples=n_resamples,
                                           rng=rng):
            e, m, _ = aucs(counts)
            rep_est.append(e)
            if m is not None:
                rep_gap.append(e - m)
        replicates = np.concatenate(rep_est)
        if np.isnan(replicates).any():
            raise ValueError("the oracle AUC is undefined in a resample (one class only); use "
                             "stratify=True")
        lower, upper = percentile_interval(replicates, confidence)
        if rep_gap:
            gap_lower, gap_upper = percentile_interval(np.concatenate(rep_gap), confidence)
    return OracleAUC(
        estimate=estimate, raw=raw_auc, draws=None if draws is None else int(draws),
        lower=lower, upper=upper, model_auc=model_auc,
        gap=None if model_auc is None else estimate - model_auc,
        gap_lower=gap_lower, gap_upper=gap_upper, confidence=confidence, replicates=replicates,
    )
