"""Stage 3: evaluate a fitted model on the test rows, against labels and, where known, truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.metrics import evaluate, is_monotonic, score_bands
from nsf.models import FittedModel
from nsf.pipeline._prepare import PreparedData
from nsf.scoring import probability_to_score


@dataclass
class Evaluation:
    """Test-row results of one model.

    Attributes
    ----------
    metrics : the fixed metric keys (``nsf.metrics.evaluate``) plus ``test_rows``,
        ``test_nsf_rate`` and ``test_bands_monotonic`` (1.0 when the bad rate never falls as
        the score rises).
    bands : the score-band table (bad rate per band of 10 points).
    index : positions in ``prepared.rows``; ``y_true``, ``p_model``, ``score``, ``p_true``
        (None when the oracle does not cover every test row) aligned with it.
    """

    metrics: dict[str, float]
    bands: pd.DataFrame
    index: np.ndarray
    y_true: np.ndarray
    p_model: np.ndarray
    score: np.ndarray
    p_true: np.ndarray | None


def evaluate_model(prepared: PreparedData, fitted: FittedModel, *,
                   index: np.ndarray | None = None) -> Evaluation:
    """Metrics of ``fitted`` on the evaluation rows (default: ``prepared.test_index``)."""
    index = prepared.test_index if index is None else np.asarray(index)
    y = prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)[index]
    p = fitted.predict_proba(prepared.frame.iloc[index])
    truth = prepared.rows["p_true"].to_numpy(dtype=np.float64)[index]
    p_true = truth if truth.size and np.isfinite(truth).all() else None
    metrics = evaluate(y, p, p_true=p_true)
    score = probability_to_score(p)
    bands = score_bands(y, score)
    metrics["test_rows"] = float(index.size)
    metrics["test_nsf_rate"] = float(y.mean())
    metrics["test_bands_monotonic"] = float(is_monotonic(bands))
    return Evaluation(metrics=metrics, bands=bands, index=index, y_true=y, p_model=p,
                      score=score, p_true=p_true)
