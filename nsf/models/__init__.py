"""Model families (logistic regression, LightGBM, HistGradientBoosting), calibration, and the
fitted pipeline that turns raw shared rows into a calibrated P(NSF)."""

from nsf.models._encode import MAX_LEVELS, FeatureEncoder
from nsf.models._families import Calibrator, make_estimator, model_seed
from nsf.models._fitted import FittedModel, fit_model
from nsf.models._forest import feature_matrix, run_row_parts
from nsf.models._scale import probability_to_score

__all__ = [
    "MAX_LEVELS",
    "Calibrator",
    "FeatureEncoder",
    "FittedModel",
    "feature_matrix",
    "fit_model",
    "make_estimator",
    "model_seed",
    "probability_to_score",
    "run_row_parts",
]
