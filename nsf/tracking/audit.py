"""Logging an audit to MLflow (``nsf.role=audit``)."""

from __future__ import annotations

from typing import Any

from nsf.config import ExperimentConfig

__all__ = ["log_audit"]


def log_audit(
    result: dict[str, Any], cfg: ExperimentConfig, *, dataset: str, manifest_digest: str | None
) -> str:
    """Log one audit run: its metrics (stable keys), settings, and the full result as JSON.

    Parameters
    ----------
    result
        What :func:`nsf.audit.run_audit` returned.
    cfg
        The resolved experiment config: tracking store, experiment name (``cfg.name``), and the
        audit settings logged as parameters.
    dataset
        The dataset folder audited (a tag).
    manifest_digest
        SHA-256 of the dataset's ``manifest.json`` (a tag), if known.

    Returns
    -------
    str
        The MLflow run id.
    """
    import mlflow  # imported here: MLflow is slow to import and only needed when logging

    mlflow.set_tracking_uri(cfg.tracking.uri)
    experiment = mlflow.get_experiment_by_name(cfg.name)
    if experiment is None:
        experiment_id = mlflow.create_experiment(
            cfg.name, artifact_location=cfg.tracking.artifact_location
        )
    else:
        experiment_id = experiment.experiment_id
    params = {
        f"audit.{key}": value
        for key, value in cfg.audit.model_dump(mode="json").items()
        if key != "coarsen"
    }
    params["audit.coarsen"] = ";".join(
        f"{rule.column}:{rule.op}" + ("" if rule.value is None else f"={rule.value:g}")
        for rule in cfg.audit.coarsen
    )
    params["seed"] = cfg.seed
    tags = {"nsf.role": "audit", "nsf.dataset": dataset}
    if manifest_digest is not None:
        tags["nsf.manifest_sha256"] = manifest_digest
    with mlflow.start_run(experiment_id=experiment_id, run_name="audit", tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(result["metrics"])
        mlflow.log_dict(result, "audit.json")
        return run.info.run_id
