"""The pyfunc scorer: raw shared feed rows (a data frame) -> 0-100 scores."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from nsf.models import FittedModel


class NsfScorer(mlflow.pyfunc.PythonModel):
    """Wraps a :class:`nsf.models.FittedModel`; input: feed rows; output: ``score``, ``p_nsf``.

    The whole pipeline (feature construction, integer category codes, estimator, calibration)
    is inside, so the caller passes the shared rows as they are.
    """

    def __init__(self, fitted: FittedModel):
        self.fitted = fitted

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        p = self.fitted.predict_proba(pd.DataFrame(model_input))
        return pd.DataFrame({"score": np.rint(100.0 * p).astype(np.int64), "p_nsf": p})


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
