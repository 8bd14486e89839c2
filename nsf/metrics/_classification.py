"""Point metrics of a probability forecast of NSF (1 = a grouped charge failed).

Every function is pure, follows scikit-learn's ``(y_true, y_prob, *, ...)`` signature and
delegates to scikit-learn where scikit-learn has the metric.

Single-class ``y_true``
-----------------------
Ranking metrics (:func:`auc`, :func:`pr_auc`, :func:`ks`, :func:`gini`) are undefined when
``y_true`` holds one class only. They raise ``ValueError`` rather than return NaN: a pooled test
set with no NSF event is a broken split, and a silent NaN would travel into a report. Group-level
metrics (``nsf.fairness``), where a small group can legitimately hold one class, report NaN
instead. Probability-error metrics (:func:`brier`, :func:`log_loss`, :func:`ece`) are defined for
one class and are returned as usual.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ._validation import (
    check_binary,
    check_both_classes,
    check_labels,
    check_n_bins,
    check_probabilities,
    check_strategy,
)

#: Score band edges used by default: [0, 10), [10, 20), ..., [90, 100].
DEFAULT_SCORE_EDGES: tuple[int, ...] = tuple(range(0, 101, 10))


def auc(y_true, y_prob) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    y_prob : array-like of shape (n_samples,)
        Predicted P(NSF) (any score that ranks rows works).

    Returns
    -------
    float
        ROC AUC; ties count one half.

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only (see the module docstring).
    """
    labels, prob = check_binary(y_true, y_prob)
    check_both_classes(labels, "auc")
    return float(skm.roc_auc_score(labels, prob))


def pr_auc(y_true, y_prob) -> float:
    """Area under the precision-recall curve, as average precision.

    Uses :func:`sklearn.metrics.average_precision_score` (step-wise, no interpolation).
    Chance level is the NSF rate of ``y_true``, not 0.5.

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only.
    """
    labels, prob = check_binary(y_true, y_prob)
    check_both_classes(labels, "pr_auc")
    return float(skm.average_precision_score(labels, prob))


def brier(y_true, y_prob) -> float:
    """Brier score: mean squared difference between P(NSF) and the outcome (lower is better)."""
    labels, prob = check_binary(y_true, y_prob)
    return float(skm.brier_score_loss(labels, prob, pos_label=1))


def log_loss(y_true, y_prob) -> float:
    """Mean negative log-likelihood of the outcome (lower is better).

    Probabilities are clipped to ``[eps, 1 - eps]`` (``eps`` the float64 machine epsilon) as in
    :func:`sklearn.metrics.log_loss`, so a confident wrong forecast costs about 36 nats, not
    infinity.
    """
    labels, prob = check_binary(y_true, y_prob)
    return float(skm.log_loss(labels, prob, labels=[0, 1]))


def _bin_edges(y_prob: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        return np.percentile(y_prob, np.linspace(0.0, 100.0, n_bins + 1))
    return np.linspace(0.0, 1.0, n_bins + 1)


def bin_ids(y_prob: np.ndarray, *, n_bins: int, strategy: str) -> np.ndarray:
    """Bin index of each probability, with the convention of
    :func:`sklearn.calibration.calibration_curve` (bins closed on the right, first bin also on
    the left)."""
    edges = _bin_edges(y_prob, n_bins, strategy)
    return np.searchsorted(edges[1:-1], y_prob)


def ece(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error.

    ``ECE = sum_b (n_b / n) * |mean(y_true in b) - mean(y_prob in b)|`` over the non-empty bins
    ``b`` of ``y_prob``; the bins are those of :func:`sklearn.calibration.calibration_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    y_prob : array-like of shape (n_samples,)
        Predicted P(NSF).
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: equal-width bins on [0, 1]. ``"quantile"``: bins with (about) the same
        number of rows, from the quantiles of ``y_prob``; tied quantiles leave some bins empty.

    Returns
    -------
    float
        ECE in [0, 1]; 0 for a perfectly calibrated forecast (up to sampling noise, which grows
        with ``n_bins / n``).
    """
    labels, prob = check_binary(y_true, y_prob)
    n_bins = check_n_bins(n_bins)
    strategy = check_strategy(strategy)
    ids = bin_ids(prob, n_bins=n_bins, strategy=strategy)
    # n_b * |mean_y - mean_p| == |sum_y - sum_p|, so empty bins contribute 0 without division.
    sum_true = np.bincount(ids, weights=labels, minlength=n_bins)
    sum_prob = np.bincount(ids, weights=prob, minlength=n_bins)
    return float(np.abs(sum_true - sum_prob).sum() / labels.shape[0])


def ks(y_true, y_prob) -> float:
    """Kolmogorov-Smirnov statistic of a risk score: ``max over thresholds of TPR - FPR``.

    This is the largest gap between the score distributions of non-NSF and NSF rows in the
    direction "NSF scores higher", i.e. ``scipy.stats.ks_2samp(p[y == 0], p[y == 1],
    alternative="greater").statistic``. It is 0, not 1, for a perfectly reversed scorer: like
    AUC, KS here rewards ranking in the intended direction only.

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only.
    """
    labels, prob = check_binary(y_true, y_prob)
    check_both_classes(labels, "ks")
    fpr, tpr, _ = skm.roc_curve(labels, prob, drop_intermediate=False)
    return float(np.max(tpr - fpr))


def gini(y_true, y_prob) -> float:
    """Gini coefficient (accuracy ratio) of a risk score: ``2 * AUC - 1``.

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only.
    """
    return 2.0 * auc(y_true, y_prob) - 1.0


def calibration_error_vs_truth(
    p_true, p_model, *, n_bins: int = 10, strategy: str = "uniform"
) -> dict[str, float]:
    """Error of model probabilities against the oracle's true P(NSF) on the same rows.

    The simulator knows each row's true probability, so calibration can be measured without
    the Bernoulli noise of observed labels.

    Parameters
    ----------
    p_true : array-like of shape (n_samples,)
        True P(NSF) from the simulator's oracle.
    p_model : array-like of shape (n_samples,)
        The model's calibrated P(NSF).
    n_bins : int, default=10
        Bins of ``p_model`` for the binned error (see :func:`ece`).
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning strategy for the binned error.

    Returns
    -------
    dict
        ``mae``: mean ``|p_model - p_true|``; ``rmse``: root mean squared difference;
        ``bias``: mean ``p_model - p_true`` (positive = over-predicts risk); ``ece``: as
        :func:`ece` with ``p_true`` in place of the labels, i.e. the calibration error of the
        forecast against the true probabilities, which ignores errors that cancel within a bin.
    """
    truth = check_probabilities(p_true, name="p_true")
    model = check_probabilities(p_model, n=truth.shape[0], name="p_model")
    if truth.size == 0:
        raise ValueError("p_true is empty; metrics need at least one row")
    n_bins = check_n_bins(n_bins)
    strategy = check_strategy(strategy)
    ids = bin_ids(model, n_bins=n_bins, strategy=strategy)
    sum_true = np.bincount(ids, weights=truth, minlength=n_bins)
    sum_model = np.bincount(ids, weights=model, minlength=n_bins)
    error = model - truth
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "bias": float(np.mean(error)),
        "ece": float(np.abs(sum_model - sum_true).sum() / truth.shape[0]),
    }


def score_bands(y_true, score, *, edges=DEFAULT_SCORE_EDGES) -> pd.DataFrame:
    """Observed NSF rate per band of the 0-100 score.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    score : array-like of shape (n_samples,)
        The risk score (0-100 for this project).
    edges : sequence of numbers, default=(0, 10, 20, ..., 100)
        Strictly increasing band edges. Bands are ``[edges[i], edges[i + 1])``, the last one
        closed on both sides so that the top score falls in it. Every score must lie in
        ``[edges[0], edges[-1]]``.

    Returns
    -------
    pandas.DataFrame
        One row per band, empty bands included, with columns ``lower``, ``upper``, ``n``,
        ``n_bad``, ``bad_rate`` and ``mean_score`` (the last two NaN for empty bands), indexed
        by a readable label such as ``"[10, 20)"``.
    """
    labels = check_labels(y_true)
    values = np.asarray(score, dtype=np.float64)
    if values.shape != labels.shape:
        raise ValueError(f"score has shape {values.shape} but y_true has {labels.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("score contains NaN or infinite values")
    band_edges = np.asarray(edges, dtype=np.float64)
    if band_edges.ndim != 1 or band_edges.size < 2 or np.any(np.diff(band_edges) <= 0):
        raise ValueError(f"edges must be at least two strictly increasing numbers, got {edges!r}")
    if values.min() < band_edges[0] or values.max() > band_edges[-1]:
        raise ValueError(
            f"score must lie in [{band_edges[0]:g}, {band_edges[-1]:g}] (the edges), got values "
            f"in [{values.min():g}, {values.max():g}]"
        )
    n_bands = band_edges.size - 1
    band = np.minimum(np.searchsorted(band_edges, values, side="right") - 1, n_bands - 1)
    n = np.bincount(band, minlength=n_bands)
    n_bad = np.bincount(band, weights=labels, minlength=n_bands).astype(np.int64)
    score_sum = np.bincount(band, weights=values, minlength=n_bands)
    filled = n > 0
    bad_rate = np.full(n_bands, np.nan)
    mean_score = np.full(n_bands, np.nan)
    bad_rate[filled] = n_bad[filled] / n[filled]
    mean_score[filled] = score_sum[filled] / n[filled]
    names = [
        f"[{lo:g}, {hi:g}{']' if i == n_bands - 1 else ')'}"
        for i, (lo, hi) in enumerate(itertools.pairwise(band_edges))
    ]
    return pd.DataFrame(
        {
            "lower": band_edges[:-1],
            "upper": band_edges[1:],
            "n": n,
            "n_bad": n_bad,
            "bad_rate": bad_rate,
            "mean_score": mean_score,
        },
        index=pd.Index(names, name="band"),
    )


def is_monotonic(bands: pd.DataFrame) -> bool:
    """Whether the NSF rate never falls as the score rises.

    Parameters
    ----------
    bands : pandas.DataFrame
        Output of :func:`score_bands` (columns ``n`` and ``bad_rate``, bands in score order).

    Returns
    -------
    bool
        True when ``bad_rate`` is non-decreasing over the non-empty bands (``n > 0``). Equal
        rates in adjacent bands count as monotonic. No allowance is made for sampling noise:
        with few rows per band, a well-ranked score can fail this check by chance.
    """
    missing = {"n", "bad_rate"} - set(bands.columns)
    if missing:
        raise ValueError(f"bands must have the columns of score_bands; missing {sorted(missing)}")
    rates = bands.loc[bands["n"] > 0, "bad_rate"].to_numpy(dtype=np.float64)
    return bool(np.all(np.diff(rates) >= 0.0))


def evaluate(y_true, y_prob, *, p_true=None, p_true_groups=None, oracle_draws=None,
             rng=None, n_resamples: int = 1000) -> dict[str, float]:
    """All headline metrics of a model on one test set, under fixed key names.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed outcome, 1 = NSF.
    y_prob : array-like of shape (n_samples,)
        The model's calibrated P(NSF).
    p_true : array-like of shape (n_samples,), optional
        The oracle's true P(NSF) on the same rows (simulated data only).
    p_true_groups : array-like of shape (n_samples, n_groups), optional
        The oracle's estimates from each group of its Monte-Carlo draws, to correct the
        oracle AUC for their noise (see :func:`oracle_auc`); needs ``oracle_draws >= 2``.
    oracle_draws : int, optional
        Monte-Carlo draws behind ``p_true``.
    rng : numpy.random.Generator, optional
        Source of the oracle's bootstrap interval; without it no interval is computed.
    n_resamples : int, default=1000
        Bootstrap replicates of the oracle's interval.

    Returns
    -------
    dict
        ``test_auc``, ``test_pr_auc``, ``test_brier``, ``test_log_loss``, ``test_ece`` (10
        equal-width bins), ``test_ks``, ``test_gini``; and when ``p_true`` is given also
        ``oracle_auc`` (AUC of the true probability on the same rows, the best any model can
        do, corrected for Monte-Carlo noise when the groups are given), ``oracle_auc_raw``
        (AUC of ``p_true`` as given), ``oracle_gap_auc`` (``oracle_auc - test_auc``),
        ``test_calibration_mae_vs_truth`` and, with ``rng``, ``oracle_auc_lower``,
        ``oracle_auc_upper``, ``oracle_gap_auc_lower``, ``oracle_gap_auc_upper`` (95%
        percentile intervals; the gap's paired).

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only (the ranking metrics are undefined).
    """
    labels, prob = check_binary(y_true, y_prob)
    result = {
        "test_auc": auc(labels, prob),
        "test_pr_auc": pr_auc(labels, prob),
        "test_brier": brier(labels, prob),
        "test_log_loss": log_loss(labels, prob),
        "test_ece": ece(labels, prob),
        "test_ks": ks(labels, prob),
        "test_gini": gini(labels, prob),
    }
    if p_true is not None:
        # Imported here: the oracle module builds on the bootstrap, which builds on this one.
        from ._oracle import oracle_auc

        truth = check_probabilities(p_true, n=labels.shape[0], name="p_true")
        oracle = oracle_auc(labels, truth, p_groups=p_true_groups, draws=oracle_draws,
                            p_model=prob, rng=rng, n_resamples=n_resamples)
        result["oracle_auc"] = oracle.estimate
        result["oracle_auc_raw"] = oracle.raw
        if oracle.gap is not None:  # always, with p_model given
            result["oracle_gap_auc"] = oracle.gap
        # With p_model given, the gap's interval is drawn whenever the oracle's is.
        if (oracle.lower is not None and oracle.upper is not None
                and oracle.gap_lower is not None and oracle.gap_upper is not None):
            result["oracle_auc_lower"] = oracle.lower
            result["oracle_auc_upper"] = oracle.upper
            result["oracle_gap_auc_lower"] = oracle.gap_lower
            result["oracle_gap_auc_upper"] = oracle.gap_upper
        result["test_calibration_mae_vs_truth"] = calibration_error_vs_truth(truth, prob)["mae"]
    return result
