"""Logging a study to MLflow, in three levels, and finding the fits an earlier run finished.

- the study run (``nsf.role=study``): config, ``study.json``, tables, the report and its
  figures, and a description stating the headline answer;
- one run per variant under it (``nsf.role=variant``, the reference ``baseline`` too, and the
  minimal-set search as ``nsf.role=minimal_set``): the seed average, the difference to its
  reference with both intervals, the verdict, the money difference and the swap rate, under
  the names of :mod:`nsf.tracking._vocab`;
- one run per fit under its variant (``nsf.role=seed``), logged as the fit finishes (under the
  study run until the variant's run exists at the end).

Fits carry the tag ``nsf.child_key`` (:func:`nsf.study.fit_key`: a digest of the resolved
variant, seed, model settings, split and dataset digest) and the artifacts the statistics need
(``fit/p_test.npy``, ``fit/outcome.json``), so a re-run reuses them instead of retraining.
Every run below a study carries ``nsf.study_run`` (the study run's id). Only the parent
process talks to MLflow (SQLite does not like concurrent writers).
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
from nsf.tracking._vocab import OTHER_PREFIX, VERDICT_NUMBER, VOCABULARY, defined, metric_name

__all__ = ["MlflowFitStore", "close_stale_runs", "log_study_result", "readable", "study_key",
           "study_run", "with_parent"]

_FIT_DIR = "fit"
_PAGE = 1000
#: Roles of the runs that hold one fit (``variant`` before the three levels existed).
_FIT_ROLES = ("seed", "variant")
#: Metrics the decisions add per fit that belong to the variant (logged on its run instead).
_VARIANT_LEVEL = {"cost_diff_per_1k", "swap_rate", "psi"}


def readable(name: str, description: str | None = None) -> str:
    """A run name in words: the variant's description up to its first parenthesis, or its
    name with the separators spelled out (``without:balance+withdrawals`` -> ``without
    balance, withdrawals``)."""
    if description:
        return description.split(" (")[0].strip()
    text = name.replace("without:", "without ").replace("+", ", ").replace("_", " ")
    return text.strip()


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
    if value is None:  # not defined: not logged (the compare view would show null)
        return {}
    if isinstance(value, list | tuple):
        value = ",".join(str(x) for x in value)
    return {prefix: str(value)[:500]}


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
                    [self.experiment], filter_string="attributes.status = 'FINISHED'",
                    max_results=_PAGE, order_by=["attributes.start_time ASC"],
                    page_token=token)
                for run in page:
                    key = run.data.tags.get("nsf.child_key")
                    if key and run.data.tags.get("nsf.role") in _FIT_ROLES:
                        index[key] = run.info.run_id  # later runs win
                token = page.token
                if not token:
                    break
            self._index = index
        return self._index

    def lookup(self, key: str):
        """The finished fit with ``key`` (its predictions and metrics), or None (also when its
        artifacts are gone or damaged: it is then trained again)."""
        from mlflow.exceptions import MlflowException

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
            except (OSError, ValueError, KeyError, MlflowException) as exc:
                # A child whose artifacts are gone is retrained, not trusted (MLflow raises its
                # own exception for an artifact folder that no longer exists).
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
        named = defined({metric_name(k): v for k, v in metrics.items()
                         if k not in _VARIANT_LEVEL})
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in named.items()])

    def record(self, outcome, variant) -> str:
        """Log one finished fit as a child run; returns its id."""
        from mlflow.entities import Metric, Param

        tags = {
            "mlflow.parentRunId": self.parent,
            "mlflow.runName": f"{readable(variant.name)} - seed {outcome.seed}",
            "nsf.role": "seed", "nsf.variant": variant.name, "nsf.family": variant.family,
            "nsf.seed": str(outcome.seed), "nsf.model": self.cfg.model.kind,
            "nsf.dataset_digest": self.digest, "nsf.git_commit": self.commit,
            "nsf.child_key": outcome.key, "nsf.study_run": self.parent,
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
            metrics = defined({metric_name(k): v for k, v in outcome.metrics.items()})
            self.client.log_batch(
                run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items() if v is not None])
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


def _search_all(client, experiment: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment], filter_string=filter_string,
                                  max_results=_PAGE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def close_stale_runs(tracking_uri: str, experiment: str, study_runs: list[str],
                     by: str) -> list[str]:
    """Mark KILLED every run still RUNNING below the study runs ``study_runs`` (found by tag
    ``nsf.study_run``, or by parent for runs logged before that tag existed): a process killed
    while it logged a fit (SIGKILL, power loss) leaves it RUNNING for ever. Only called under
    the study's lock, so nothing else is writing them. Returns the run ids closed (each tagged
    ``nsf.closed_by=<by>``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    closed: list[str] = []
    for parent in study_runs:
        for tag in ("nsf.study_run", "mlflow.parentRunId"):
            for run in _search_all(client, experiment, f"tags.`{tag}` = '{parent}' and "
                                   "attributes.status = 'RUNNING'"):
                if run.info.run_id in closed:
                    continue
                client.set_tag(run.info.run_id, "nsf.closed_by", by)
                client.set_terminated(run.info.run_id, status="KILLED")
                closed.append(run.info.run_id)
    return closed


@contextmanager
def study_run(cfg: ExperimentConfig, *, fresh: bool = False) -> Iterator[tuple[str, bool]]:
    """The parent run of a study; yields ``(run_id, resumed)``.

    Without ``fresh``, the latest unfinished parent (FAILED, KILLED or RUNNING) with the same
    :func:`study_key` is resumed, so the UI keeps one parent with all its children; otherwise a
    new parent is started. An exception inside the block marks the parent FAILED (children
    already logged stay FINISHED) and propagates.

    Called under the study's lock (``nsf study``): a run of this study still RUNNING was left
    so by a killed process. Such parents (other than the one resumed) and every RUNNING run
    below them or below the resumed parent are marked KILLED (:func:`close_stale_runs`), so no
    fit stays RUNNING beside its re-fit.

    Raises
    ------
    NsfError
        The tracking store cannot be reached.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    exp = experiment_id(cfg.tracking, cfg.name)
    key = study_key(cfg)
    runs = mlflow.search_runs(
        [exp], filter_string=f"tags.`nsf.role` = 'study' and tags.`nsf.study_key` = '{key}'",
        order_by=["attributes.start_time DESC"], max_results=50, output_format="list")
    resume = None
    if not fresh:
        resume = next((r for r in runs if r.info.status in ("FAILED", "KILLED", "RUNNING")),
                      None)
    if resume is not None:
        run_ctx = mlflow.start_run(run_id=resume.info.run_id)
    else:
        tags = {"nsf.role": "study", "nsf.variant": "study", "nsf.seed": str(cfg.seed),
                "nsf.model": cfg.model.kind, "nsf.git_commit": git_commit(),
                "nsf.study_key": key}
        run_ctx = mlflow.start_run(experiment_id=exp, run_name=f"study {cfg.name}", tags=tags)
    with run_ctx as run:
        run_id = run.info.run_id
        stale = [r.info.run_id for r in runs
                 if r.info.status == "RUNNING" and r.info.run_id != run_id]
        client = MlflowClient(cfg.tracking.uri)
        for parent in stale:
            client.set_tag(parent, "nsf.closed_by", run_id)
            client.set_terminated(parent, status="KILLED")
        close_stale_runs(cfg.tracking.uri, exp, [run_id, *stale], by=run_id)
        if resume is None:
            log_config(cfg)
        yield run_id, resume is not None


def log_study_result(result, tables: dict, *, dataset_digest: str) -> dict[str, str]:
    """Into the active parent run: ``study.json`` (the :class:`nsf.study.StudyResult`), the
    CSV tables, headline metrics and tags; then one run per variant below it
    (:func:`log_variant_runs`) and the experiment's runs view (:func:`nsf.tracking.ui.
    write_runs_view`). Returns variant name -> its run id."""
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

        from nsf.views.shap import render_shap_views

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
    mlflow.log_metrics(defined(metrics))
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("logging a study result needs an active MLflow run")
    variant_runs = log_variant_runs(result, run.info.run_id, run.info.experiment_id,
                                    dataset_digest=dataset_digest)
    from nsf.tracking.ui import write_runs_view

    write_runs_view(mlflow.get_tracking_uri(), run.info.experiment_id, run.info.run_id,
                    result.settings.primary_metric)
    return variant_runs


def quantity_metrics(result) -> dict[str, float]:
    """Headline numbers of the result's sections: each family's own (its contract's
    ``metrics``: ``volume_*``, ``freshness_*``, ...) and the ledger's (``ledger_*``)."""
    from nsf.study.families import FAMILIES

    out: dict[str, float] = {}
    for name, section in result.sections.present().items():
        family = FAMILIES.get(name)
        if family is not None and family.metrics is not None:
            out.update(family.metrics(section))
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


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def _comparison_metrics(comparison: dict, primary: str) -> dict[str, float | None]:
    """``<m>_diff``, ``_lo``, ``_hi``, ``_sim_lo``, ``_sim_hi`` of each compared metric: the
    primary metric and AUC under their stable names, the others under ``x/``."""
    out: dict[str, float | None] = {}
    for m, mc in comparison.items():
        base = m if m in (primary, "auc") else OTHER_PREFIX + m
        out.update({f"{base}_diff": mc.estimate, f"{base}_diff_lo": mc.lower,
                    f"{base}_diff_hi": mc.upper, f"{base}_diff_sim_lo": mc.simultaneous_lower,
                    f"{base}_diff_sim_hi": mc.simultaneous_upper})
        if m == primary:
            out.update(_power_metrics(mc))
    return out


def _power_metrics(mc) -> dict[str, float | None]:
    """``mde`` and, with study.until decided, ``look``, ``seeds_used`` and
    ``test_subjects_used`` of a comparison."""
    out: dict[str, float | None] = {}
    if mc.power is not None:
        out["mde"] = mc.power.mde
    if mc.sequential is not None:
        out.update({"look": mc.sequential.look, "seeds_used": mc.sequential.seeds,
                    "test_subjects_used": mc.sequential.test_subjects})
    return out


def _family_arm_metrics(result, arm: str) -> dict[str, float | None]:
    """Metrics the families' sections add to an arm's run (their contract's ``arm_metrics``:
    the decisions' money), named in the tracking vocabulary (others under ``x/``)."""
    from nsf.study.families import FAMILIES

    out: dict[str, float | None] = {}
    for name, section in result.sections.present().items():
        family = FAMILIES.get(name)
        if family is not None and family.arm_metrics is not None:
            out.update({k if k in VOCABULARY else OTHER_PREFIX + k: v
                        for k, v in family.arm_metrics(section, arm).items()})
    return out


def _arm_metrics(arm, comparison: dict | None, verdict: str | None, primary: str,
                 extra: dict[str, float | None]) -> dict[str, float]:
    """A variant run's metrics: seed means, the comparison with its reference, the verdict as
    a number, and what the families add (``extra``: the decisions' money)."""
    out: dict[str, float | None] = {metric_name(k): s.mean for k, s in arm.metrics.items()}
    if comparison:
        out.update(_comparison_metrics(comparison, primary))
    if verdict is not None:
        out["verdict"] = VERDICT_NUMBER[verdict]
    out.update(extra)
    return defined(out)


def _note(arm, reference: str | None, comparison: dict | None, verdict: str | None,
          settings) -> str:
    """A variant run's description (``mlflow.note.content``): what it is and its answer."""
    primary = settings.primary_metric
    lines = [f"**{arm.description}** ({arm.name}, family {arm.family}, "
             f"{len(arm.seeds)} seeds, {arm.n_features} features)."]
    if comparison and primary in comparison:
        mc = comparison[primary]
        # Brackets escaped: the UI's Markdown would drop them.
        text = (f"{primary.upper()} difference to {reference}: {_fmt(mc.estimate)} "
                f"\\[{_fmt(mc.lower)}, {_fmt(mc.upper)}\\] ({settings.confidence:.0%} "
                "interval)")
        if mc.simultaneous_lower is not None:
            text += (f"; simultaneous over the family: \\[{_fmt(mc.simultaneous_lower)}, "
                     f"{_fmt(mc.simultaneous_upper)}\\]")
        lines.append(text + f"; margin {mc.margin}.")
    if verdict is not None:
        lines.append(f"Verdict: **{verdict}**.")
    elif reference is None:
        lines.append("The reference the variants are compared with.")
    return "\n\n".join(lines)


def _params(arm, reference: str | None, subject: str | None) -> dict[str, str]:
    raw = {"variant.name": arm.name, "variant.family": arm.family,
           "variant.groups": ",".join(arm.groups) or "none", "variant.reference": reference,
           "variant.subject": subject, "variant.population": arm.population,
           "variant.label": arm.label, "variant.n_features": arm.n_features,
           "seeds": len(arm.seeds)}
    return {k: str(v)[:500] for k, v in raw.items() if v is not None}


def log_variant_runs(result, parent: str, experiment: str, *,
                     dataset_digest: str) -> dict[str, str]:
    """One run per variant below the study run ``parent`` (the baseline too, and one for the
    minimal-set search), with the per-seed runs of this study moved under it and named in
    words. Idempotent: a re-run (a resumed study) updates the runs it finds."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow.get_tracking_uri())
    below = _search_all(client, experiment, f"tags.`nsf.study_run` = '{parent}'")
    existing = {(r.data.tags.get("nsf.role"), r.data.tags.get("nsf.variant")): r.info.run_id
                for r in below if r.data.tags.get("nsf.role") in ("variant", "minimal_set",
                                                                 "design")
                and "nsf.child_key" not in r.data.tags}
    seeds = {r.info.run_id: r for r in below if r.data.tags.get("nsf.role") == "seed"}
    # Fits logged directly under the study run by an earlier version (role ``variant`` with a
    # fit key) are moved into the three levels too.
    for r in _search_all(client, experiment, f"tags.`mlflow.parentRunId` = '{parent}'"):
        if "nsf.child_key" in r.data.tags and r.info.run_id not in seeds:
            seeds[r.info.run_id] = r
    seed_index = {int(s): i + 1 for i, s in enumerate(result.seeds)}
    settings = result.settings
    common = {"mlflow.parentRunId": parent, "nsf.study_run": parent,
              "nsf.model": settings.model, "nsf.dataset_digest": dataset_digest,
              "nsf.git_commit": git_commit(), "nsf.seed": "mean"}
    now = int(1000 * time.time())
    order = iter(range(10**6))

    def level(role: str, variant: str, name: str, tags: dict, metrics: dict,
              params: dict, fits: list[str]) -> str:
        run_id = existing.get((role, variant))
        all_tags = {**common, **tags, "mlflow.runName": name, "nsf.role": role,
                    "nsf.variant": variant}
        if run_id is None:
            # One millisecond apart, newest first in the study's order: the UI's default sort
            # keeps the study's order (baseline, then the variants by family).
            run_id = client.create_run(experiment, start_time=now - next(order),
                                       tags=all_tags).info.run_id
            client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        else:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
        for fit in fits:
            run = seeds.pop(fit, None)
            if run is None:  # a fit reused from another study stays where it was logged
                continue
            k = seed_index.get(int(run.data.tags.get("nsf.seed", -1)))
            label = f"seed {k}" if k is not None else f"seed {run.data.tags.get('nsf.seed')}"
            fit_name = f"{readable(run.data.tags.get('nsf.variant', variant))} - {label}" \
                if role == "minimal_set" else f"{name} - {label}"
            client.log_batch(fit, tags=[RunTag("mlflow.parentRunId", run_id),
                                        RunTag("mlflow.runName", fit_name),
                                        RunTag("nsf.role", "seed"),
                                        RunTag("nsf.study_run", parent)])
        client.set_terminated(run_id, status="FINISHED")
        return run_id

    out: dict[str, str] = {}
    base = result.baseline
    out[base.name] = level(
        "variant", base.name, f"{base.name}: {readable(base.name, base.description)}",
        {"nsf.family": base.family, "nsf.verdict": "reference",
         "mlflow.note.content": _note(base, None, None, None, settings)},
        _arm_metrics(base, None, None, settings.primary_metric,
                     _family_arm_metrics(result, base.name)),
        _params(base, None, None),
        [r for r in base.run_ids if r and seeds.get(r) is not None
         and seeds[r].data.tags.get("nsf.variant") == base.name])
    for v in result.variants:
        comp = v.comparisons.get(v.reference)
        metrics_cmp = comp.metrics if comp is not None else None
        tags = {"nsf.family": v.family, "nsf.reference": v.reference,
                "nsf.verdict": v.verdict or "none", "nsf.subject": v.subject,
                "mlflow.note.content": _note(v, v.reference, metrics_cmp, v.verdict,
                                             settings)}
        if v.same_fits_as:
            tags["nsf.same_fits_as"] = v.same_fits_as
        out[v.name] = level(
            "variant", v.name, readable(v.name, v.description), tags,
            _arm_metrics(v, metrics_cmp, v.verdict, settings.primary_metric,
                         _family_arm_metrics(result, v.name)),
            _params(v, v.reference, v.subject),
            [r for r in v.run_ids if r and seeds.get(r) is not None
             and seeds[r].data.tags.get("nsf.variant") == v.name])
    searched = [r for r, run in seeds.items() if run.data.tags.get("nsf.family") == "minimal_set"]
    minimal = result.minimal_set
    if minimal is not None or searched:
        primary = settings.primary_metric
        comp = minimal.comparison if minimal is not None else None
        verdict = comp[primary].verdict if comp and primary in comp else None
        name = "minimal sufficient set"
        if minimal is not None:
            name += (f": removes {', '.join(minimal.removed) or 'nothing'}, keeps "
                     f"{', '.join(minimal.kept) or 'no contested group'}")
        metrics = {metric_name(k): s.mean for k, s in (minimal.metrics.items()
                                                       if minimal is not None else [])}
        if comp:
            metrics.update(_comparison_metrics(comp, primary))
        if verdict is not None:
            metrics["verdict"] = VERDICT_NUMBER[verdict]
        note = (f"**{name}** ({minimal.strategy} search over {len(minimal.order)} contested "
                f"groups, {len(minimal.steps)} steps); its fits are the runs below."
                if minimal is not None else "The minimal-set search's fits.")
        out["minimal_set"] = level(
            "minimal_set", "minimal_set", name[:250],
            {"nsf.family": "minimal_set", "nsf.verdict": verdict or "none",
             "nsf.reference": "baseline", "mlflow.note.content": note},
            defined(metrics), {"variant.family": "minimal_set"}, searched)
    designs = result.sections.designs
    for d in designs.designs if designs is not None else []:
        # One run per sharing design (no fits of its own), comparable in the UI.
        out[f"design:{d.name}"] = level(
            "design", d.name, f"design {d.name}: {d.description}"[:250],
            {"nsf.family": "designs", "nsf.design": d.name,
             "nsf.design_role": d.role or "none", "nsf.reference": "in_use",
             "mlflow.note.content": f"**Sharing design {d.name}**: {d.description}. Its "
             f"utility is the arm {d.arm or '(none)'}; the adversaries ran on what it would "
             "share."},
            defined(design_metrics(d)),
            {"design.identifier": d.identifier, "design.arm": d.arm or "none"}, [])
    return out


def design_metrics(d) -> dict[str, float | None]:
    """A sharing design's figures as run metrics (``design_*``; intervals as ``_lower`` and
    ``_upper``)."""
    out: dict[str, float | None] = {
        "design_people": float(d.people), "design_records": d.records,
        "design_columns": float(d.columns), "design_efficient_auc": float(d.efficient_auc),
        "design_efficient_cost": float(d.efficient_cost)}
    figures = {"singled_out": d.singled_out, "identified": d.identified,
               "at_risk": d.at_risk, "reversal": d.reversal, "auc_diff": d.auc_diff,
               "cost_diff_per_1k": d.cost_diff,
               **{f"inference_{a}_lift": s for a, s in d.inference.items()}}
    if getattr(d, "seconds_to_reverse", None) is not None:
        figures["seconds_to_reverse"] = d.seconds_to_reverse
    for key, s in figures.items():
        if s is not None:
            out.update({f"design_{key}": s.estimate, f"design_{key}_lower": s.lower,
                        f"design_{key}_upper": s.upper})
    exposure = getattr(d, "exposure", None)
    if exposure is not None:
        out.update({f"design_{k}": v for k, v in exposure.model_dump().items()})
    return out
