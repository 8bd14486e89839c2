"""``nsf train`` wiring: prepare -> fit -> evaluate -> log, inside one MLflow run.

The data is read and checked before the run starts (bad input writes nothing); what can fail
after it has started (fitting) happens inside the run context, so a failure leaves the run
FAILED in MLflow, never RUNNING.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsf.config import ExperimentConfig
from nsf.data import Dataset
from nsf.errors import NsfError
from nsf.models import FittedModel
from nsf.pipeline import Evaluation, FeatureSelection, evaluate_model, fit_variant, prepare
from nsf.tracking import (
    check_store,
    log_config,
    log_description,
    log_trained_model,
    tracked_run,
)


@dataclass
class TrainResult:
    run_id: str
    fitted: FittedModel
    evaluation: Evaluation
    uris: dict[str, str] = field(default_factory=dict)
    split_note: str = ""


def train(cfg: ExperimentConfig, dataset: Dataset | None = None, *,
          log_models: bool = True) -> TrainResult:
    """Train the configured model and log the run (``nsf.role=train``, variant ``baseline``).

    Raises
    ------
    NsfError
        Bad dataset or table, an unusable tracking store (checked before anything runs).
    """
    check_store(cfg.tracking)
    if cfg.model.distributed:
        _check_distributed(cfg)
        if dataset is None:
            from nsf.pipeline import default_dataset

            dataset = default_dataset(cfg)
    # The data is read and checked before a run exists: bad input leaves nothing behind.
    prepared = prepare(cfg, dataset, sample_subjects=cfg.model.sample_subjects)
    with tracked_run(cfg, role="train", variant="baseline", seed=cfg.seed,
                     model=cfg.model.kind, run_name=f"train-{cfg.model.kind}") as run_id:
        log_config(cfg)
        log_description(prepared.description)
        if cfg.model.distributed:
            from nsf.execution import executor_for
            from nsf.pipeline import fit_distributed

            if dataset is None:  # not reached: set above for a distributed fit
                raise NsfError("a distributed fit needs the simulated dataset")
            with executor_for(cfg, 2) as executor:
                fitted = fit_distributed(cfg, prepared, dataset, executor.client())
        else:
            fitted = fit_variant(prepared, FeatureSelection.from_config(cfg.features),
                                 cfg.model, cfg.seed)
        evaluation = evaluate_model(prepared, fitted, seed=cfg.seed)
        uris = log_trained_model(
            fitted, evaluation, dataset_digest=prepared.digest,
            sample_rows=prepared.frame.iloc[prepared.test_index[:5]],
            registry=prepared.registry, log_models=log_models)
    return TrainResult(run_id=run_id, fitted=fitted, evaluation=evaluation, uris=uris,
                       split_note=prepared.split_note)


def _check_distributed(cfg: ExperimentConfig) -> None:
    """One line when ``model.distributed`` cannot run (before anything is read or logged)."""
    if cfg.execution.backend != "dask":
        raise NsfError("model.distributed trains on a Dask cluster: set execution.backend: "
                       f"dask (got {cfg.execution.backend!r})")
    if cfg.model.kind != "lightgbm":
        raise NsfError("model.distributed trains LightGBM (lightgbm.dask): set model.kind: "
                       f"lightgbm (got {cfg.model.kind!r})")
    if cfg.dataset.kind != "simulated":
        raise NsfError("model.distributed reads a simulated dataset's Parquet files; "
                       "dataset.kind is 'table'")
    if cfg.model.sample_subjects is not None and cfg.split.validation != "dates":
        # Validation users drawn from a sample are not those drawn from the whole data: the
        # workers' training rows could hold the rows this process calibrates on.
        raise NsfError("model.distributed with model.sample_subjects needs split.validation: "
                       f"dates (got {cfg.split.validation!r})")
