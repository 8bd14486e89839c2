"""Logging a study to MLflow: one parent run (``nsf.role=study``) and one child run per variant
and seed (``nsf.role=variant``), and finding the children an earlier run finished.

Children carry the tag ``nsf.child_key`` (:func:`nsf.study.fit_key`: a digest of the resolved
variant, seed, model settings, split and dataset digest) and the artifacts the statistics need
(``fit/p_test.npy``, ``fit/outcome.json``), so a re-run reuses them instead of retraining.
Only the parent process talks to MLflow (SQLite does not like concurrent writers).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nsf.config import ExperimentConfig
from nsf.tracking._store import experiment_id, git_commit
from nsf.tracking._train import log_config

__all__ = ["MlflowFitStore", "log_study_result", "study_key", "study_run", "with_parent"]

_FIT_DIR = "fit"
_PAGE = 1000


def study_key(cfg: ExperimentConfig) -> str:
    """Digest of the resolved config without the settings that cannot change the result
    (executor, workers, thread counts, tracking store): a failed parent with this key is
    resumed, whichever backend runs it."""
    data = cfg.model_dump(mode="json")
    data.get("study", {}).pop("workers", None)
    data.get("model", {}).pop("num_threads", None)
    data.pop("tracking", None)
    data.pop("execution", None)
    data.get("simulate", {}).pop("workers", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}", v))
        return out
    if isinstance(value, list | tuple):
        value = ",".join(str(x) for x in value)
    return {prefix: "null" if value is None else str(value)[:500]}


class MlflowFitStore:
    """:class:`nsf.study.FitStore` on MLflow child runs of ``parent_run_id``.

    Parameters
    ----------
    cfg : the experiment config (tracking store, experiment name, model kind).
    parent_run_id : the study's parent run.
    dataset_digest : tag ``nsf.dataset_digest`` of the children.
    """

    def __init__(self, cfg: ExperimentConfig, parent_run_id: str, dataset_digest: str):
        from mlflow.tracking import MlflowClient

        self.cfg = cfg
        self.parent = parent_run_id
        self.digest = dataset_digest
        self.client = MlflowClient(tracking_uri=cfg.tracking.uri)
        self.experiment = experiment_id(cfg.tracking, cfg.name)
        self.commit = git_commit()
        self._index: dict[str, str] | None = None
        self.reused_runs: list[str] = []
        #: Earlier children that could not be reused (artifacts missing), with the reason.
        self.unreadable: list[str] = []

    def _finished(self) -> dict[str, str]:
        """child key -> run id of the latest finished child run in the experiment."""
        if self._index is None:
            index: dict[str, str] = {}
            token = None
            while True:
                page = self.client.search_runs(
                    [self.experiment],
                    filter_string="tags.`nsf.role` = 'variant' and attributes.status = "
                                  "'FINISHED'",
                    max_results=_PAGE, order_by=["attributes.start_time ASC"],
                    page_token=token)
                for run in page:
                    key = run.data.tags.get("nsf.child_key")
                    if key:
                        index[key] = run.info.run_id  # later runs win
                token = page.token
                if not token:
                    break
            self._index = index
        return self._index

    def lookup(self, key: str):
        """The finished fit with ``key`` (its predictions and metrics), or None."""
        from nsf.study import FitOutcome

        run_id = self._finished().get(key)
        if run_id is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = Path(self.client.download_artifacts(run_id, _FIT_DIR, tmp))
                meta = json.loads((local / "outcome.json").read_text(encoding="utf-8"))
                p_test = np.load(local / "p_test.npy", allow_pickle=False)
                # Fits logged before validation predictions were kept have none.
                p_val_file = local / "p_validation.npy"
                p_validation = np.load(p_val_file, allow_pickle=False) \
                    if p_val_file.is_file() else None
            except (OSError, ValueError, KeyError) as exc:
                # A child whose artifacts are gone is retrained, not trusted.
                self._finished().pop(key, None)
                self.unreadable.append(f"{run_id}: {exc}")
                return None
        self.reused_runs.append(run_id)
        return FitOutcome(key=key, variant=meta["variant"], seed=int(meta["seed"]),
                          metrics={k: float(v) for k, v in meta["metrics"].items()},
                          p_test=p_test, test_digest=meta["test_digest"],
                          p_validation=p_validation,
                          reliance=meta.get("reliance"), info=meta.get("info", {}),
                          seconds=float(meta.get("seconds", 0.0)), run_id=run_id, reused=True)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Add metrics computed after the fit (the decisions' money) to its child run."""
        from mlflow.entities import Metric

        now = int(1000 * time.time())
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0)
                                               for k, v in metrics.items()])

    def record(self, outcome, variant) -> str:
        """Log one finished fit as a child run; returns its id."""
        from mlflow.entities import Metric, Param

        tags = {
            "mlflow.parentRunId": self.parent, "mlflow.runName": f"{variant.name}-{outcome.seed}",
            "nsf.role": "variant", "nsf.variant": variant.name, "nsf.family": variant.family,
            "nsf.seed": str(outcome.seed), "nsf.model": self.cfg.model.kind,
            "nsf.dataset_digest": self.digest, "nsf.git_commit": self.commit,
            "nsf.child_key": outcome.key,
        }
        # Started when the fit started (it ran in a worker), so the UI's duration is the fit's.
        started = int(1000 * (time.time() - outcome.seconds))
        run = self.client.create_run(self.experiment, start_time=started, tags=tags)
        run_id = run.info.run_id
        try:
            desc = variant.describe()
            params = {"variant.name": variant.name, "variant.family": variant.family,
                      "variant.population": variant.population, "variant.label": variant.label,
                      "variant.reference": variant.reference,
                      "variant.subject": variant.subject, "variant.n_features":
                      str(desc["n_features"]), "seed": str(outcome.seed),
                      "model.kind": self.cfg.model.kind,
                      **_flat("variant.selection", desc["selection"])}
            self.client.log_batch(
                run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in outcome.metrics.items()],
                params=[Param(k, v) for k, v in params.items()])
            meta = {"variant": outcome.variant, "seed": outcome.seed, "key": outcome.key,
                    "metrics": outcome.metrics, "test_digest": outcome.test_digest,
                    "reliance": outcome.reliance, "info": outcome.info,
                    "seconds": outcome.seconds}
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / _FIT_DIR
                folder.mkdir()
                (folder / "outcome.json").write_text(json.dumps(meta, default=str),
                                                     encoding="utf-8")
                np.save(folder / "p_test.npy", outcome.p_test, allow_pickle=False)
                if outcome.p_validation is not None:
                    np.save(folder / "p_validation.npy", outcome.p_validation,
                            allow_pickle=False)
                (folder / "variant.yaml").write_text(
                    yaml.safe_dump(desc, sort_keys=False, allow_unicode=True), encoding="utf-8")
                self.client.log_artifacts(run_id, str(folder), _FIT_DIR)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        if self._index is not None:
            self._index[outcome.key] = run_id
        return run_id


@contextmanager
def study_run(cfg: ExperimentConfig, *, fresh: bool = False) -> Iterator[tuple[str, bool]]:
    """The parent run of a study; yields ``(run_id, resumed)``.

    Without ``fresh``, the latest unfinished parent (FAILED, KILLED or RUNNING) with the same
    :func:`study_key` is resumed, so the UI keeps one parent with all its children; otherwise a
    new parent is started. An exception inside the block marks the parent FAILED (children
    already logged stay FINISHED) and propagates.

    Raises
    ------
    NsfError
        The tracking store cannot be reached.
    """
    import mlflow

    exp = experiment_id(cfg.tracking, cfg.name)
    key = study_key(cfg)
    resume = None
    if not fresh:
        runs = mlflow.search_runs(
            [exp], filter_string=f"tags.`nsf.role` = 'study' and tags.`nsf.study_key` = '{key}'",
            order_by=["attributes.start_time DESC"], max_results=20, output_format="list")
        resume = next((r for r in runs if r.info.status in ("FAILED", "KILLED", "RUNNING")),
                      None)
    if resume is not None:
        run_ctx = mlflow.start_run(run_id=resume.info.run_id)
    else:
        tags = {"nsf.role": "study", "nsf.variant": "study", "nsf.seed": str(cfg.seed),
                "nsf.model": cfg.model.kind, "nsf.git_commit": git_commit(),
                "nsf.study_key": key}
        run_ctx = mlflow.start_run(experiment_id=exp, run_name=f"study-{cfg.name}", tags=tags)
    with run_ctx as run:
        if resume is None:
            log_config(cfg)
        yield run.info.run_id, resume is not None


def log_study_result(result, tables: dict, *, dataset_digest: str) -> None:
    """Into the active parent run: ``study.json`` (the :class:`nsf.study.StudyResult`), the
    CSV tables, headline metrics and tags."""
    import mlflow

    from nsf.vocabulary import VERDICTS

    mlflow.set_tag("nsf.dataset_digest", dataset_digest)
    mlflow.log_text(result.to_json(), "study.json")
    for name, frame in tables.items():
        mlflow.log_text(frame.to_csv(index=False), f"tables/{name}.csv")
    minimal = result.minimal_set
    if minimal is not None:
        mlflow.log_text(minimal.model_dump_json(indent=1), "minimal_set.json")
    explanations = result.sections.explanations
    if explanations is not None:
        import tempfile
        from pathlib import Path

        from nsf.report._figures import render_shap_views

        # The standard SHAP views (beeswarm, dependence, waterfalls) of the baseline.
        with tempfile.TemporaryDirectory() as tmp:
            for name, png in render_shap_views(explanations.views).items():
                (Path(tmp) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(tmp, "explanations")
    metrics = {f"baseline_{k}": v.mean for k, v in result.baseline.metrics.items()
               if v.mean is not None}
    verdicts = [v.verdict for v in result.variants]
    for name in VERDICTS:
        metrics[f"n_{name.replace(' ', '_')}"] = float(verdicts.count(name))
    metrics["n_skipped_families"] = float(len(result.skipped_families))
    if minimal is not None:
        metrics["minimal_set_kept"] = float(len(minimal.kept))
        metrics["minimal_set_removed"] = float(len(minimal.removed))
    metrics.update(quantity_metrics(result))
    metrics.update({f"seconds_{k}": float(v) for k, v in result.timing.model_dump().items()})
    mlflow.log_metrics(metrics)


def quantity_metrics(result) -> dict[str, float]:
    """Headline numbers of the quantity sections (``volume_*``, ``freshness_*``,
    ``ledger_*``), when the study has them."""
    out: dict[str, float] = {}
    curve = result.sections.volume
    if curve is not None:
        out["volume_n_all"] = float(curve.n_all)
        out["volume_smallest_sufficient"] = float(curve.smallest_sufficient)
        out["volume_smallest_sufficient_fraction"] = float(curve.smallest_sufficient_fraction)
        if curve.power_law.fitted and curve.power_law.extrapolated is not None:
            out[f"volume_extrapolated_{curve.metric}"] = float(curve.power_law.extrapolated)
    fresh = result.sections.freshness
    if fresh is not None:
        if fresh.retraining_needed is not None:
            out["freshness_retraining_needed"] = float(fresh.retraining_needed)
        if fresh.retrain_days is not None:
            out["freshness_retrain_days"] = float(fresh.retrain_days)
        firsts = [s.first_needed_days for s in fresh.schedules
                  if s.first_needed_days is not None]
        if firsts:
            out["freshness_first_needed_days"] = float(min(firsts))
    ledger = result.sections.ledger
    if ledger is not None:
        for key in ("records_sent", "records_needed", "records_needed_upper", "fraction_needed",
                    "fraction_needed_upper", "categories_needed", "values_fraction_needed",
                    "values_fraction_needed_upper", "training_subjects_needed",
                    "history_days_needed"):
            out[f"ledger_{key}"] = float(getattr(ledger, key))
    return out


def with_parent(result, run_id: str, resumed: bool):
    """The result with its parent run id (known only once the parent run exists)."""
    return result.model_copy(update={
        "run_ids": result.run_ids.model_copy(update={"parent": run_id}),
        "resumed_parent": resumed})
