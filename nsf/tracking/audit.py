"""Logging an audit to MLflow (``nsf.role=audit``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nsf.config import ExperimentConfig

__all__ = ["audit_digest", "find_logged_audit", "log_audit"]


def audit_digest(cfg: ExperimentConfig) -> str:
    """Digest of what decides an audit's result besides the data: the audit settings and seed."""
    payload = json.dumps({"audit": cfg.audit.model_dump(mode="json"), "seed": cfg.seed},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_logged_audit(cfg: ExperimentConfig, *, manifest_digest: str) -> str | None:
    """Run id of a finished audit of the same dataset (manifest) and settings in the
    experiment ``cfg.name``, or None."""
    from mlflow.tracking import MlflowClient

    from nsf.tracking._store import experiment_id

    exp = experiment_id(cfg.tracking, cfg.name)
    runs = MlflowClient(cfg.tracking.uri).search_runs(
        [exp], filter_string="tags.`nsf.role` = 'audit' and attributes.status = 'FINISHED' and "
        f"tags.`nsf.manifest_sha256` = '{manifest_digest}' and "
        f"tags.`nsf.audit_digest` = '{audit_digest(cfg)}'",
        order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


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

    from nsf.tracking._store import experiment_id as find_experiment

    experiment_id = find_experiment(cfg.tracking, cfg.name)
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
    params["dataset.verify"] = cfg.dataset.verify
    tags = {"nsf.role": "audit", "nsf.dataset": dataset, "nsf.audit_digest": audit_digest(cfg)}
    if manifest_digest is not None:
        tags["nsf.manifest_sha256"] = manifest_digest
    with mlflow.start_run(experiment_id=experiment_id, run_name="audit", tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(result["metrics"])
        mlflow.log_dict(result, "audit.json")
        return run.info.run_id
