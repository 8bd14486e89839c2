"""Stage 3: evaluate a fitted model on the test rows, against labels and, where known, truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.metrics import evaluate, is_monotonic, score_bands
from nsf.models import FittedModel
from nsf.pipeline._prepare import PreparedData
from nsf.scoring import probability_to_score
from nsf.streams import stream


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


def _group_number(column: str) -> int:
    """``p_true_group_<g>`` -> ``g``."""
    return int(column.rsplit("_", 1)[1])


def _oracle_inputs(rows: pd.DataFrame, index: np.ndarray) -> dict:
    """The oracle's probability (None unless it covers every row), draws and group estimates."""
    truth = rows["p_true"].to_numpy(dtype=np.float64)[index]
    if not (truth.size and np.isfinite(truth).all()):
        return {"p_true": None}
    out: dict = {"p_true": truth}
    if "oracle_draws" in rows:
        draws = np.unique(rows["oracle_draws"].to_numpy()[index])
        if draws.size == 1 and np.isfinite(draws[0]):
            out["oracle_draws"] = int(draws[0])
    groups = [str(c) for c in rows.columns if str(c).startswith("p_true_group_")]
    if out.get("oracle_draws", 0) >= 2 and len(groups) >= 2:
        by_number = sorted(groups, key=_group_number)
        out["p_true_groups"] = rows[by_number].to_numpy(dtype=np.float64)[index]
    return out


def evaluate_model(prepared: PreparedData, fitted: FittedModel, *,
                   index: np.ndarray | None = None, seed: int | None = None,
                   n_resamples: int = 1000) -> Evaluation:
    """Metrics of ``fitted`` on the evaluation rows (default: ``prepared.test_index``).

    With ``seed``, the oracle's AUC and the gap to it get bootstrap intervals
    (``n_resamples`` replicates, drawn from a stream of the seed).
    """
    index = prepared.test_index if index is None else np.asarray(index)
    return evaluate_predictions(prepared, index, fitted.predict_proba(prepared.frame.iloc[index]),
                                seed=seed, n_resamples=n_resamples)


def evaluate_predictions(prepared: PreparedData, index: np.ndarray, p: np.ndarray, *,
                         seed: int | None = None, n_resamples: int = 1000) -> Evaluation:
    """Metrics of the predictions ``p`` of the rows ``index`` (e.g. out-of-fold predictions);
    ``seed`` and ``n_resamples`` as in :func:`evaluate_model`."""
    index = np.asarray(index)
    y = prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)[index]
    oracle = _oracle_inputs(prepared.rows, index)
    p_true = oracle["p_true"]
    rng = None
    if seed is not None and p_true is not None:
        rng = stream(seed, "oracle-interval")
    metrics = evaluate(y, p, rng=rng, n_resamples=n_resamples, **oracle)
    score = probability_to_score(p)
    bands = score_bands(y, score)
    metrics["test_rows"] = float(index.size)
    metrics["test_nsf_rate"] = float(y.mean())
    metrics["test_bands_monotonic"] = float(is_monotonic(bands))
    return Evaluation(metrics=metrics, bands=bands, index=index, y_true=y, p_model=p,
                      score=score, p_true=p_true)
