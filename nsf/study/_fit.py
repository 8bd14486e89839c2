"""One fit of the study: a variant trained with one seed, evaluated on the shared test rows."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nsf.config import ModelConfig
from nsf.explain import group_reliance
from nsf.pipeline import (
    PreparedData,
    TrainingResample,
    evaluate_model,
    evaluate_predictions,
    fit_variant,
)
from nsf.streams import stream
from nsf.study._explain import explain_fit
from nsf.study._variants import Variant


@dataclass(frozen=True)
class FitTask:
    """What a worker needs to train and evaluate one variant with one seed."""

    key: str
    variant: Variant
    seed: int
    reliance: dict | None = None  # shap_rows, permutation_rows, repeats (baseline only)
    oracle_interval: bool = False  # bootstrap the oracle AUC and the gap to it (baseline only)
    resample: TrainingResample | None = None  # the seed's draw of the training subjects
    keep_model: bool = False  # return the fitted model (to score test subjects added later)


@dataclass
class FitOutcome:
    """A finished fit: the run's metrics and the test predictions the statistics need.

    Attributes
    ----------
    key : :func:`nsf.study.fit_key` of the task.
    variant, seed : which fit (the first variant name trained under this key).
    metrics : the ``nsf train`` metric keys (``test_auc``, ..., ``oracle_auc``, ...).
    p_test : calibrated P(NSF) on the test rows, in ``prepared.test_index`` order.
    p_validation : calibrated P(NSF) on the validation rows, in ``prepared.validation_index``
        order (the decisions set each model's threshold on them).
    test_digest : SHA-256 of the test row positions (checked when a stored fit is reused).
    reliance : group SHAP and permutation importance (baseline fits only), else None.
    info : training rows, population, label, selection.
    seconds : wall time of the fit and evaluation.
    estimator_cpu_seconds : CPU seconds of the estimator's own training (every fold's, for a
        cross-fitted variant): what no reuse or scheduling of the study can remove.
    run_id : the MLflow child run, once logged or when reused.
    reused : True when loaded from an earlier run instead of trained.
    model : the fitted model when the task asked to keep it (``FitTask.keep_model``), to score
        test subjects added later; never logged.
    """

    key: str
    variant: str
    seed: int
    metrics: dict[str, float]
    p_test: np.ndarray = field(repr=False)
    test_digest: str
    p_validation: np.ndarray | None = field(default=None, repr=False)
    reliance: dict | None = None
    info: dict = field(default_factory=dict)
    seconds: float = 0.0
    estimator_cpu_seconds: float = 0.0
    run_id: str | None = None
    reused: bool = False
    model: Any = field(default=None, repr=False)


def test_digest(prepared: PreparedData) -> str:
    """SHA-256 of the evaluation rows' positions: a stored fit is reused only on the same rows."""
    return hashlib.sha256(np.ascontiguousarray(prepared.test_index, dtype=np.int64)
                          .tobytes()).hexdigest()


def run_fit(prepared: PreparedData, model_cfg: ModelConfig, task: FitTask, *,
            num_threads: int | None = None) -> FitOutcome:
    """Train ``task.variant`` with ``task.seed`` and evaluate it on the test rows.

    The training and calibration subjects are re-drawn by ``task.resample`` (the same draw for
    every variant with this seed). Pure apart from the model's threads (``num_threads``
    overrides ``model_cfg.num_threads``; LightGBM's results do not depend on it, and the study
    always passes the same value). For
    the baseline (``task.reliance`` set) the group reliance of the model on the test rows is
    computed too, from a stream of the seed.
    """
    t0 = time.perf_counter()
    if num_threads is not None:
        model_cfg = model_cfg.model_copy(update={"num_threads": int(num_threads)})
    if prepared.crossfit is not None:
        return _run_crossfit(prepared, model_cfg, task, t0)
    v = task.variant
    fitted = fit_variant(prepared, v.selection, model_cfg, task.seed, population=v.population,
                         label=v.label, train_subjects=v.train_subjects,
                         resample=task.resample)
    evaluation = evaluate_model(prepared, fitted,
                                seed=task.seed if task.oracle_interval else None)
    validation = prepared.validation_index
    p_validation = fitted.predict_proba(prepared.frame.iloc[validation]) if validation.size \
        else np.zeros(0)
    reliance = None
    if task.reliance is not None:
        test = prepared.frame.iloc[prepared.test_index]
        reliance = group_reliance(
            fitted, test, evaluation.y_true, shap_rows=task.reliance["shap_rows"],
            permutation_rows=task.reliance["permutation_rows"],
            n_repeats=task.reliance["repeats"], rng=stream(task.seed, "reliance"))
        if "threshold" in task.reliance:
            reliance["explain"] = explain_fit(
                fitted, test, rows=task.reliance["shap_rows"],
                contested=task.reliance["contested"], threshold=task.reliance["threshold"],
                rng=stream(task.seed, "explanation-views"))
    info = dict(fitted.info)
    info["n_features"] = len(fitted.feature_names)
    return FitOutcome(
        key=task.key, variant=v.name, seed=int(task.seed),
        metrics={k: float(x) for k, x in evaluation.metrics.items()},
        p_test=np.asarray(evaluation.p_model, dtype=np.float64), test_digest=test_digest(prepared),
        p_validation=np.asarray(p_validation, dtype=np.float64),
        reliance=reliance, info=info, seconds=time.perf_counter() - t0,
        estimator_cpu_seconds=fitted.fit_cpu_seconds, model=fitted if task.keep_model else None)


def _run_crossfit(prepared: PreparedData, model_cfg: ModelConfig, task: FitTask,
                  t0: float) -> FitOutcome:
    """One seed of a cross-fitted variant: a model per fold, out-of-fold predictions of every
    evaluation row. The folds are the seed's (the same for every variant: paired). Reliance
    (baseline) is measured on the first fold's model and test rows."""
    v = task.variant
    rows = prepared.rows
    crossfit = prepared.crossfit
    if crossfit is None:
        raise RuntimeError("a cross-fitted fit of data prepared without cross-fitting")
    fold = crossfit.assign(rows["nsf_appstore"].to_numpy(dtype=np.int8),
                                    rows["user_id"].to_numpy(), task.seed)
    test = prepared.test_index
    position = np.full(len(rows), -1, dtype=np.int64)
    position[test] = np.arange(test.size)
    p_test = np.full(test.size, np.nan)
    reliance, info = None, {}
    train_rows = validation_rows = 0
    estimator_cpu = 0.0
    for k in range(crossfit.folds):
        view = prepared.fold_view(fold, k)
        fitted = fit_variant(view, v.selection, model_cfg, task.seed, population=v.population,
                             label=v.label, train_subjects=v.train_subjects,
                         resample=task.resample)
        idx = view.test_index
        p_test[position[idx]] = fitted.predict_proba(prepared.frame.iloc[idx])
        estimator_cpu += fitted.fit_cpu_seconds
        train_rows += int(fitted.info.get("train_rows", 0))
        validation_rows += int(fitted.info.get("validation_rows", 0))
        if k == 0:
            info = dict(fitted.info)
            info["n_features"] = len(fitted.feature_names)
            if task.reliance is not None:
                evaluation = evaluate_model(view, fitted)
                reliance = group_reliance(
                    fitted, prepared.frame.iloc[idx], evaluation.y_true,
                    shap_rows=task.reliance["shap_rows"],
                    permutation_rows=task.reliance["permutation_rows"],
                    n_repeats=task.reliance["repeats"], rng=stream(task.seed, "reliance"))
                if "threshold" in task.reliance:
                    reliance["explain"] = explain_fit(
                        fitted, prepared.frame.iloc[idx], rows=task.reliance["shap_rows"],
                        contested=task.reliance["contested"],
                        threshold=task.reliance["threshold"],
                        rng=stream(task.seed, "explanation-views"))
    if np.isnan(p_test).any():
        raise RuntimeError("cross-fitting left evaluation rows without a prediction")
    evaluation = evaluate_predictions(prepared, test, p_test)
    folds = crossfit.folds
    info |= {"split": prepared.split_note, "crossfit_folds": folds,
             "train_rows": round(train_rows / folds), "validation_rows":
             round(validation_rows / folds)}
    return FitOutcome(
        key=task.key, variant=v.name, seed=int(task.seed),
        metrics={k: float(x) for k, x in evaluation.metrics.items()},
        p_test=np.asarray(p_test, dtype=np.float64), test_digest=test_digest(prepared),
        # Every row is a test row: no validation row is shared by the folds' models.
        p_validation=np.zeros(0), reliance=reliance, info=info,
        seconds=time.perf_counter() - t0, estimator_cpu_seconds=estimator_cpu)


def renamed(outcome: FitOutcome, variant: str) -> FitOutcome:
    """The same fit seen under another variant name (two variants with identical features)."""
    return replace(outcome, variant=variant)
