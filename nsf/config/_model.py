"""The model family, its hyper-parameters and the calibration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nsf.config._frozen import Frozen


class LogisticConfig(Frozen):
    """Logistic regression on standardised numerics and one-hot categoricals."""

    C: float = Field(1.0, gt=0, description="Inverse L2 regularisation strength.")
    max_iter: int = Field(2000, ge=10, description="Solver iterations (lbfgs).")


class LightGBMConfig(Frozen):
    """LightGBM gradient-boosted trees (``force_row_wise``; seed from the experiment)."""

    n_estimators: int = Field(
        100, ge=1, le=100_000,
        description="Boosting rounds (scoring time grows with them: 100 keeps the whole "
        "population scorable in minutes).",
    )
    learning_rate: float = Field(0.1, gt=0, le=1, description="Shrinkage.")
    num_leaves: int = Field(15, ge=2, le=131_072, description="Leaves per tree.")
    min_child_samples: int = Field(50, ge=1, description="Minimum rows per leaf.")
    subsample: float = Field(0.8, gt=0, le=1, description="Row bagging fraction.")
    subsample_freq: int = Field(1, ge=0, description="Bagging every k rounds (0: off).")
    colsample_bytree: float = Field(0.8, gt=0, le=1, description="Feature fraction per tree.")
    reg_lambda: float = Field(1.0, ge=0, description="L2 regularisation of leaf values.")


class HistGBConfig(Frozen):
    """scikit-learn HistGradientBoostingClassifier (native categorical support)."""

    max_iter: int = Field(200, ge=1, le=100_000, description="Boosting rounds.")
    learning_rate: float = Field(0.05, gt=0, le=1, description="Shrinkage.")
    max_leaf_nodes: int = Field(15, ge=2, description="Leaves per tree.")
    min_samples_leaf: int = Field(50, ge=1, description="Minimum rows per leaf.")
    l2_regularization: float = Field(1.0, ge=0, description="L2 regularisation.")


class ModelConfig(Frozen):
    """Which model family predicts P(NSF), and how it is calibrated on the validation rows."""

    kind: Literal["logistic", "lightgbm", "hist_gb"] = Field(
        "lightgbm", description="Model family."
    )
    calibration: Literal["isotonic", "sigmoid", "none"] = Field(
        "isotonic", description="Calibration fitted on the validation rows."
    )
    num_threads: int = Field(2, ge=1, le=256, description="Threads for training and scoring.")
    distributed: bool = Field(
        False, description="`nsf train` fits LightGBM across the Dask cluster "
        "(lightgbm.dask.DaskLGBMClassifier; execution.backend: dask): the workers read the "
        "training rows from the dataset's Parquet files, this process only the validation and "
        "test rows (a sample with model.sample_subjects). Not bit-identical to a local fit "
        "(each worker bins its own rows); the logged scorer is a plain LightGBM model.")
    sample_subjects: int | None = Field(
        None, ge=2, le=1_000_000_000, description="`nsf train` reads a stratified sample of "
        "this many subjects, all their rows (as study.sample_subjects, the same draw for the "
        "same size and seed); with model.distributed only its validation and test rows are "
        "used (calibration and evaluation) and every training row trains. null: every subject.")
    logistic: LogisticConfig = LogisticConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    hist_gb: HistGBConfig = HistGBConfig()


class ScoringConfig(Frozen):
    """Batch scoring (``nsf score``)."""

    batch_rows: int = Field(
        100_000, ge=1_000, le=100_000_000,
        description="Rows read, scored and written at once, one batch per core in flight "
        "(benchmarks/bench_score.py: 100,000 about 550,000 rows/s, 1,000,000 about 320,000).",
    )
    workers: int = Field(
        2, ge=1, le=256, description="Worker processes of partitioned scoring (`nsf score` of a "
        "Parquet folder, or with --partitioned), one partition each, one thread per worker; "
        "execution.workers wins when set. Never changes a score.")
