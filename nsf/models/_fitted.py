"""The fitted scorer: raw shared rows in, calibrated P(NSF) (and the 0-100 score) out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from threadpoolctl import threadpool_limits

from nsf.config import ModelConfig
from nsf.features import FeatureSpec, required_columns
from nsf.models._encode import FeatureEncoder
from nsf.models._families import Calibrator, make_estimator
from nsf.models._forest import CompiledForest
from nsf.models._scale import probability_to_score


@dataclass
class FittedModel:
    """The whole pipeline the pyfunc wraps: features, category codes, estimator, calibrator.

    Attributes
    ----------
    encoder : computes the features from raw rows and integer-codes categories.
    estimator_ : the fitted native model (LightGBM, HistGradientBoosting, or an sklearn
        Pipeline for the logistic regression) on the encoded matrix.
    calibrator_ : maps the estimator's probability to the calibrated P(NSF).
    model_cfg : family and hyper-parameters.
    seed : the seed it was trained with.
    info : what it was trained on (rows, population, label, selection) for logging.
    """

    encoder: FeatureEncoder
    estimator_: Any
    calibrator_: Calibrator
    model_cfg: ModelConfig
    seed: int
    info: dict = field(default_factory=dict)
    #: Logistic regression only: the mean of the regression's inputs over the training rows,
    #: the background of its SHAP values (an aggregate: no row is kept).
    background_: np.ndarray | None = None
    #: CPU seconds of the estimator's own training in the fitting thread (a timing: the study
    #: trains with one thread per task, so it is all of the training's CPU time there).
    fit_cpu_seconds: float = 0.0

    @property
    def features(self) -> tuple[FeatureSpec, ...]:
        return self.encoder.specs

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    @property
    def input_columns(self) -> list[str]:
        """Raw columns a frame must have to be scored."""
        return required_columns(self.encoder.specs)

    def check_input(self, frame: pd.DataFrame) -> None:
        """Raise ``KeyError`` listing the raw columns ``frame`` lacks."""
        names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
        missing = [c for c in self.input_columns if c not in names]
        if missing:
            raise KeyError(f"rows lack the columns {missing}")

    def raw_proba(self, X: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Uncalibrated P(NSF) of the estimator on an encoded matrix (``num_threads``: the
        config's by default)."""
        threads = num_threads or self.model_cfg.num_threads
        if self.model_cfg.kind == "lightgbm":
            forest = self._forest()
            if forest is not None:
                return forest.predict(X, num_threads=threads)
            # The booster directly: the sklearn wrapper would copy the float32 matrix to float64.
            return self.estimator_.booster_.predict(X, num_threads=threads)
        with threadpool_limits(threads):
            return self.estimator_.predict_proba(X)[:, 1]

    def _forest(self) -> CompiledForest | None:
        """The booster as a :class:`CompiledForest` (built once; None if it cannot be)."""
        if not hasattr(self, "_compiled"):
            compiled: CompiledForest | None
            try:
                compiled = CompiledForest(self.estimator_.booster_)
            except ValueError:
                compiled = None
            self._compiled = compiled
        return self._compiled

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_compiled", None)  # rebuilt from the booster after loading
        return state

    def predict_proba(self, frame: pd.DataFrame, num_threads: int | None = None) -> np.ndarray:
        """Calibrated P(NSF) of raw rows (columns ``input_columns``; extra columns ignored).

        ``frame`` is a pandas DataFrame or a pyarrow Table (the batch scorer's fast path).
        ``num_threads``: the config's by default; a row's score does not depend on it.
        """
        self.check_input(frame)
        return self.predict_encoded(self.encoder.transform(frame), num_threads)

    def predict_encoded(self, X: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Calibrated P(NSF) of an encoded matrix (``encoder.transform`` of raw rows)."""
        return self.calibrator_.transform(self.raw_proba(X, num_threads))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The 0-100 score of raw rows: ``round(100 x calibrated P(NSF))``."""
        return probability_to_score(self.predict_proba(frame))

    def describe(self) -> dict:
        """YAML-ready description: features with their groups, categories, calibration."""
        return {
            "model": self.model_cfg.kind,
            "seed": self.seed,
            "coarsen_groups": list(self.encoder.coarsen_groups),
            "features": [
                {"name": s.name, "group": s.group, "category": s.category, "kind": s.kind,
                 "coarse": s.group in self.encoder.coarsen_groups, "window": s.window,
                 "contested": s.contested, "note": s.note}
                for s in self.encoder.specs
            ],
            "input_columns": self.input_columns,
            **self.encoder.describe(),
            "calibration": self.calibrator_.describe(),
            "trained_on": self.info,
        }


def fit_model(train: pd.DataFrame, y_train: np.ndarray, validation: pd.DataFrame,
              y_validation: np.ndarray, specs, model_cfg: ModelConfig, seed: int, *,
              coarsen_groups=(), info: dict | None = None) -> FittedModel:
    """Fit features + estimator on ``train`` and the calibrator on ``validation``.

    Parameters
    ----------
    train, validation : raw rows.
    y_train, y_validation : 0/1 labels.
    specs : the features (see :func:`nsf.features.select_features`).
    model_cfg : family, hyper-parameters, calibration method, threads.
    seed : the estimator's seed comes from it (:func:`nsf.models.model_seed`).

    Raises
    ------
    ValueError
        If the training or validation labels hold a single class.
    """
    y_train = np.asarray(y_train, dtype=np.int8)
    y_validation = np.asarray(y_validation, dtype=np.int8)
    if np.unique(y_train).size < 2:
        raise ValueError(f"training labels hold one class only ({y_train.size} rows)")
    if model_cfg.calibration != "none" and np.unique(y_validation).size < 2:
        raise ValueError(f"validation labels hold one class only ({y_validation.size} rows)")
    encoder = FeatureEncoder(specs, coarsen_groups).fit(train)
    X = encoder.transform(train)
    estimator, fit_kw = make_estimator(model_cfg, encoder.categorical_mask, seed)
    cpu = time.thread_time()
    with threadpool_limits(model_cfg.num_threads):
        estimator.fit(X, y_train, **fit_kw)
    fitted = FittedModel(encoder, estimator, Calibrator("none"), model_cfg, int(seed),
                         dict(info or {}), fit_cpu_seconds=time.thread_time() - cpu)
    if model_cfg.kind == "logistic":
        fitted.background_ = _linear_background(estimator, X)
    p_val = fitted.raw_proba(encoder.transform(validation))
    fitted.calibrator_ = Calibrator(model_cfg.calibration).fit(p_val, y_validation)
    return fitted



def _linear_background(pipeline, X_train: np.ndarray) -> np.ndarray:
    """Mean of the logistic regression's inputs (after imputation, scaling and one-hot coding)
    over the training rows: all that the interventional ``shap.LinearExplainer`` uses of its
    background (the value of input k is ``coef_k * (x_k - mean_k)``)."""
    Z = np.asarray(pipeline.named_steps["columns"].transform(np.asarray(X_train, np.float64)),
                   dtype=np.float64)
    return Z.mean(axis=0)
