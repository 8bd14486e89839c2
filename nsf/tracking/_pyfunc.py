"""The pyfunc scorer: raw shared feed rows (a data frame) -> 0-100 scores."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from nsf.models import FittedModel


class NsfScorer(PythonModel):
    """Wraps a :class:`nsf.models.FittedModel`; input: feed rows; output: ``score``, ``p_nsf``.

    The whole pipeline (feature construction, integer category codes, estimator, calibration)
    is inside, so the caller passes the shared rows as they are. With ``params={"reasons": K}``
    the output also holds each row's K reason codes (``reason_1``, ``reason_1_points``, ...),
    as ``nsf score --reasons K`` writes them.
    """

    def __init__(self, fitted: FittedModel):
        self.fitted = fitted

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from nsf.scoring import (
            ReasonExplainer,
            check_reasons,
            probability_to_score,
            reason_columns,
            score_points,
            top_reasons,
        )

        k = (params or {}).get("reasons", 0) or 0
        groups = tuple(dict.fromkeys(s.group for s in self.fitted.features))
        if k:
            k = check_reasons(int(k), len(groups))
        frame = pd.DataFrame(model_input)
        self.fitted.check_input(frame)
        X = self.fitted.encoder.transform(frame)
        p = self.fitted.predict_encoded(X)
        out = pd.DataFrame({"score": probability_to_score(p).astype(np.int64), "p_nsf": p})
        if k:
            explainer = ReasonExplainer(self.fitted)
            points = score_points(explainer.group_values(X), explainer.base_value, 100.0 * p,
                                  explainer.base_score)
            order, top = top_reasons(points, k)
            names = np.asarray(explainer.groups, dtype=object)
            for i, name in enumerate(reason_columns(k)):
                out[name] = top[:, i // 2] if name.endswith("_points") else names[order[:, i // 2]]
        return out


def load_fitted(model_uri: str, tracking_uri: str | None = None) -> FittedModel:
    """The :class:`FittedModel` inside a logged pyfunc scorer (skips schema checks: fast)."""
    from mlflow.exceptions import MlflowException

    from nsf.errors import NsfError

    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        raise NsfError(f"cannot load model {model_uri!r}: {str(exc).splitlines()[0]}") from None
    inner = model.unwrap_python_model()
    if not isinstance(inner, NsfScorer):
        raise NsfError(f"{model_uri!r} is not an nsf scorer (logged by `nsf train`)")
    return inner.fitted
