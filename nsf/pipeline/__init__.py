"""Stage API of the modelling pipeline: what ``nsf train`` and the study call.

Stable interface (the study codes against it; keep it backward compatible)::

    from nsf.pipeline import (FeatureSelection, FittedModel, PreparedData, evaluate_model,
                              fit_variant, predict_proba, prepare)

    prepared = prepare(cfg)                       # dataset read once, rows labelled and split
    prepared = prepare(cfg, dataset=open_dataset(path), latents=True)   # pipeline checks only

    selection = FeatureSelection.from_config(cfg.features)       # the configured baseline
    selection = FeatureSelection(drop_groups=("balance",))        # a variant
    selection = FeatureSelection(coarsen_groups=("join_date",), retention_days=30,
                                 sensitive=("age_band",))

    fitted = fit_variant(prepared, selection, cfg.model, seed,
                         population=None, label=None)    # None: cfg.target's
    p = predict_proba(fitted, prepared.frame.iloc[prepared.test_index])   # calibrated P(NSF)
    result = evaluate_model(prepared, fitted)     # metrics (test_* / oracle_* keys), bands, ...

``prepare(cfg, dataset=None, *, latents=False) -> PreparedData``
    Reads the dataset (``cfg.dataset``: a simulated folder or the user's table) once. The
    ``PreparedData`` holds ``frame`` (raw model inputs: the shared feed, plus the sensitive
    columns for fairness/"sensitive added" variants, plus latent traits when ``latents=True``;
    one row per (observation_date, user_id), sorted), ``rows`` (same order: keys, ``split`` in
    {"train", "validation", "test"}, ``apple_registered``, the labels ``nsf_appstore`` /
    ``nsf_any`` / ``label``, ``has_charge``, ``p_true`` (oracle, NaN where absent)), the
    feature ``registry``, ``sensitive`` (sensitive columns aligned with ``rows``), the dataset
    ``digest`` and the ``target`` config. Index helpers: ``train_index``, ``validation_index``,
    ``test_index`` (positions of the evaluation rows: Apple-registered, ``nsf_appstore``) and
    ``rows_for(split, population)``.

``FeatureSelection(drop_groups=(), coarsen_groups=(), retention_days=None, sensitive=(),
latents=False, keep_groups=None)``
    Frozen dataclass. ``keep_groups`` (when not None) keeps only those groups;
    ``latents=True`` adds the simulator's latent traits (a test-only pipeline check, never a
    study variant). ``FeatureSelection.from_config(features_cfg)`` gives the configured one.

``fit_variant(prepared, selection, model_cfg, seed, *, population=None, label=None,
train_subjects=None, resample=None) -> FittedModel``
    Builds the features, fits the model family on the training rows (training population and
    label default to ``prepared.target``), calibrates on the validation rows. ``seed`` is an
    int (the experiment seed or a study replicate's). ``resample`` (a
    :class:`TrainingResample`) re-draws the training and calibration subjects from a stream
    named by ``seed``, the same draw for every variant. Pure: no I/O, no MLflow.

``FittedModel``
    The whole scorer: feature construction from raw feed rows, integer coding of categoricals,
    the estimator and the calibrator. ``predict_proba(frame)``, ``score(frame)`` (0-100 ints),
    ``features`` (the FeatureSpecs used, with groups), ``feature_names``, ``input_columns``
    (raw columns it needs), ``estimator_`` (native model), ``describe()`` (YAML-ready dict).

``prepared.for_study(below, folds) -> PreparedData``
    The study's view: a table with fewer than ``below`` evaluation rows is cross-fitted
    (``crossfit``: a :class:`CrossFit` plan, every evaluation row a test row, folds drawn per
    seed; ``fold_view(fold, k)`` gives one fold's train / validation / test rows); anything
    else is returned as it is.

``predict_proba(fitted, frame) -> numpy.ndarray``
    Calibrated P(NSF) for raw rows (a data frame with ``fitted.input_columns``).

``evaluate_model(prepared, fitted, *, index=None) -> Evaluation``
    On the test rows (or ``index``): ``metrics`` (``nsf.metrics.evaluate`` keys: test_auc,
    test_pr_auc, test_brier, test_log_loss, test_ece, test_ks, test_gini, and oracle_auc,
    oracle_gap_auc, test_calibration_mae_vs_truth where the oracle covers the rows, plus
    ``test_bands_monotonic``), ``bands`` (score-band table), ``y_true``, ``p_model``,
    ``p_true``, ``score``, ``index``.
"""

from __future__ import annotations

from nsf.models import FittedModel
from nsf.pipeline._distributed import fit_distributed
from nsf.pipeline._evaluate import Evaluation, evaluate_model, evaluate_predictions
from nsf.pipeline._export import export_table
from nsf.pipeline._fit import (
    FeatureSelection,
    TrainingResample,
    fit_variant,
    nested_subjects,
    predict_proba,
)
from nsf.pipeline._prepare import (
    SPLITS,
    CrossFit,
    PreparedData,
    default_dataset,
    fairness_groups,
    prepare,
)

__all__ = [
    "SPLITS",
    "CrossFit",
    "Evaluation",
    "FeatureSelection",
    "FittedModel",
    "PreparedData",
    "TrainingResample",
    "default_dataset",
    "evaluate_model",
    "evaluate_predictions",
    "export_table",
    "fairness_groups",
    "fit_distributed",
    "fit_variant",
    "nested_subjects",
    "predict_proba",
    "prepare",
]
