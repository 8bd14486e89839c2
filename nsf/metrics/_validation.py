"""Input checks shared by the metric functions: one place, one wording for every rejection."""

from __future__ import annotations

import numpy as np


def check_labels(y_true, *, name: str = "y_true") -> np.ndarray:
    """Return ``y_true`` as a 1-D int array of 0/1 labels, or raise ``ValueError``."""
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}")
    if labels.size == 0:
        raise ValueError(f"{name} is empty; metrics need at least one row")
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{name} must hold the numbers 0 and 1, got dtype {labels.dtype}")
    if not np.all(np.isin(labels, (0, 1))):
        bad = np.unique(labels[~np.isin(labels, (0, 1))])[:5].tolist()
        raise ValueError(f"{name} must hold only 0 and 1 (1 = NSF), got also {bad}")
    return labels.astype(np.int64)


def check_probabilities(y_prob, *, n: int | None = None, name: str = "y_prob") -> np.ndarray:
    """Return ``y_prob`` as a 1-D float array in [0, 1] (of length ``n`` if given)."""
    prob = np.asarray(y_prob, dtype=np.float64)
    if prob.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {prob.shape}")
    if n is not None and prob.shape[0] != n:
        raise ValueError(f"{name} has {prob.shape[0]} rows but y_true has {n}")
    if not np.all(np.isfinite(prob)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if prob.size and (prob.min() < 0.0 or prob.max() > 1.0):
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{prob.min():.6g}, {prob.max():.6g}]"
        )
    return prob


def check_binary(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (labels, probabilities) pair of equal length."""
    labels = check_labels(y_true)
    prob = check_probabilities(y_prob, n=labels.shape[0])
    return labels, prob


def check_both_classes(labels: np.ndarray, metric: str) -> None:
    """Raise when a ranking metric is undefined because ``y_true`` holds one class only."""
    n_bad = int(labels.sum())
    if n_bad == 0 or n_bad == labels.shape[0]:
        only = "1 (NSF)" if n_bad else "0 (no NSF)"
        raise ValueError(
            f"{metric} is undefined: y_true holds only the class {only} in "
            f"{labels.shape[0]} rows; a ranking metric needs both classes"
        )


def check_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def check_strategy(strategy) -> str:
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    return strategy


def check_confidence(confidence) -> float:
    if not (isinstance(confidence, float | int) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def check_n_resamples(n_resamples) -> int:
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, int | np.integer)
        or n_resamples < 1
    ):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    return int(n_resamples)


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng
