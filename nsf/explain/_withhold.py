"""Per-person minimisation: whose decision would not change if one group were withheld from them.

The necessity verdicts ask whether a population-level model needs a group. A first step toward
individual minimisation asks, person by person, whether the group changed anything for them:
for each row the group's values are withheld from that row alone (its encoded columns set to
missing, so the model takes the path it learned for missing values: LightGBM's and
HistGradientBoosting's default directions, the logistic regression's imputed value) while the
model is unchanged, and the row is scored again. The share of rows whose decision (score at or
above the operating threshold) or score band stays the same is the share of people for whom the
group was not needed by this model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nsf.explain._shap import group_columns
from nsf.metrics import DEFAULT_SCORE_EDGES
from nsf.models import probability_to_score


def _bands(score: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bands [edges[i], edges[i + 1]), the last one closed (as nsf.metrics.score_bands).
    return np.searchsorted(edges[1:-1], score, side="right")


def withheld_group_effect(fitted, frame, groups: Sequence[str], *, threshold: int,
                          edges: Sequence[float] = DEFAULT_SCORE_EDGES) -> pd.DataFrame:
    """For each group, the share of rows whose decision and score band survive withholding it.

    Parameters
    ----------
    fitted : nsf.models.FittedModel
    frame : pandas.DataFrame or pyarrow.Table
        Raw rows, e.g. the test rows.
    groups : sequence of str
        Attribute groups of the model to withhold, one at a time (e.g. the contested ones).
    threshold : int
        Operating threshold: a score at or above it is the adverse decision.
    edges : sequence of float
        Score band edges (default: tens).

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``n_rows``, ``decision_unchanged``, ``band_unchanged``,
        ``both_unchanged`` (shares of rows), ``score_unchanged`` (share with the same 0-100
        score), ``mean_abs_change`` (points), ``flagged_before`` and ``flagged_after`` (shares
        at or above the threshold).

    Raises
    ------
    ValueError
        If a group is not one of the model's, or there are no rows.
    """
    columns = group_columns(fitted)
    unknown = [g for g in groups if g not in columns]
    if unknown:
        raise ValueError(f"groups {unknown} are not among the model's ({', '.join(columns)})")
    bounds = np.asarray(edges, dtype=np.float64)
    if bounds.ndim != 1 or bounds.size < 2 or np.any(np.diff(bounds) <= 0):
        raise ValueError(f"edges must be strictly increasing (at least two), got {bounds}")
    X = fitted.encoder.transform(frame)
    if X.shape[0] == 0:
        raise ValueError("no rows to score")
    score = probability_to_score(fitted.predict_encoded(X))
    band = _bands(score, bounds)
    flagged = score >= threshold
    rows = []
    for group in groups:
        withheld = X.copy()
        withheld[:, columns[group]] = np.nan
        after = probability_to_score(fitted.predict_encoded(withheld))
        same_decision = (after >= threshold) == flagged
        same_band = _bands(after, bounds) == band
        rows.append({
            "group": group, "n_rows": int(X.shape[0]),
            "decision_unchanged": float(same_decision.mean()),
            "band_unchanged": float(same_band.mean()),
            "both_unchanged": float((same_decision & same_band).mean()),
            "score_unchanged": float((after == score).mean()),
            "mean_abs_change": float(np.abs(after.astype(np.int32) - score).mean()),
            "flagged_before": float(flagged.mean()),
            "flagged_after": float((after >= threshold).mean()),
        })
    table = pd.DataFrame(rows).set_index("group")
    table.attrs.update({"threshold": int(threshold), "edges": bounds.tolist()})
    return table
