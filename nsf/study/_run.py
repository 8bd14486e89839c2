"""The study's wiring: fits -> proxies -> fairness -> comparisons -> minimal set -> result.

No MLflow here: finished fits go to a :class:`FitStore` (``nsf.tracking.study`` implements it
with MLflow child runs), which is also asked for fits finished by an earlier run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from nsf.config import ExperimentConfig
from nsf.config._study import INCOME_BAND, SIMULATED_THRESHOLD
from nsf.pipeline import PreparedData
from nsf.study._assumptions import method_assumptions
from nsf.study._explain import explanations_section
from nsf.study._fairness import (
    attribute_groups,
    compare_disparities,
    disparity_replicates,
    fairness_table,
)
from nsf.study._fit import FitOutcome, FitTask, run_fit, test_digest
from nsf.study._ledger import build_ledger
from nsf.study._minimal import minimal_sufficient_set
from nsf.study._power import test_subjects as count_test_subjects
from nsf.study._proxy import ProxyTask, proxy_rows, run_group_proxies
from nsf.study._quantity import LedgerSection
from nsf.study._result import SCHEMA, StudyResult
from nsf.study._stats import (
    arm_replicates,
    compare_replicates,
    family_verdicts,
    joint_replicates,
)
from nsf.study._variants import (
    BASELINE,
    Variant,
    fit_key,
    replicate_seeds,
    resolve_study,
    stream,
    training_resample,
    without,
)
from nsf.study.families import freshness as fresh_family
from nsf.study.families.decisions import NAME as DECISIONS
from nsf.study.families.volume import curve_from_study as volume_curve
from nsf.vocabulary import HIGHER_IS_BETTER

#: ``progress(stage, done, total)``; stages: fits, proxies, fairness, statistics, minimal set.
Progress = Callable[[str, int, int], None]

#: Dependence strengths of the simulator (``world.dependence``) behind each feed group: the
#: truth the verdicts can be checked against. Behavioural groups (top-ups, payments, ...) come
#: out of the simulated events, not from one strength; balance's is how much the feed shows.
TRUTH_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email_domain",),
    "phone": ("phone_carrier",),
    "join_date": ("join_date",),
    "id_verification": ("id_verified",),
    "cards": ("n_cards",),
    "signup": ("signup_channel",),
    "payment_settings": ("bank_linked", "auto_topup"),
    "balance": ("balance",),
}


class FitStore(Protocol):
    """Where finished fits are kept (one MLflow child run each)."""

    def lookup(self, key: str) -> FitOutcome | None:
        """A finished fit with this key from an earlier run, or None."""

    def record(self, outcome: FitOutcome, variant: Variant) -> str | None:
        """Keep a new fit; returns its run id."""

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Add metrics computed after the fit (the decisions) to its run."""


# --- Task functions (module level: they run in worker processes) ----------------------------


def _test_arrays(prepared: PreparedData) -> tuple[np.ndarray, pd.DataFrame]:
    idx = prepared.test_index
    y = prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)[idx]
    return y, prepared.sensitive.iloc[idx].reset_index(drop=True)


def _fit_task(prepared, cfg, task: FitTask, threads):
    return run_fit(prepared, cfg.model, task, num_threads=threads)


@dataclass(frozen=True)
class _ProxyGroup:
    """The proxy checks of one contested group, one per target (its features built once)."""

    group: str
    targets: tuple[str, ...]


def _proxy_task(prepared, cfg, task: _ProxyGroup, threads):
    s = cfg.study
    rows = proxy_rows(prepared, s.proxy_rows, cfg.seed)
    return run_group_proxies(prepared, task.group, task.targets, rows=rows, seed=cfg.seed,
                             estimator=s.proxy_estimator, cv=s.proxy_cv)


@dataclass(frozen=True)
class _FairnessItem:
    name: str
    columns: tuple[str, ...]
    per_seed: list = field(repr=False)


def _fairness_task(prepared, cfg, item: _FairnessItem, threads):
    s = cfg.study
    y, sensitive = _test_arrays(prepared)
    return fairness_table(
        y, item.per_seed, sensitive, item.columns, threshold=s.threshold, n_bins=s.n_bins,
        n_resamples=s.fairness_n_bootstrap, confidence=s.confidence, target=s.interval_target,
        min_support=s.min_group_support, row_rng=stream(cfg.seed, "fairness-rows", item.name),
        seed_rng=stream(cfg.seed, "fairness-seeds", item.name))


@dataclass(frozen=True)
class _ArmItem:
    """One arm's bootstrap replicates: metrics, and disparities by attribute."""

    arm_id: str
    per_seed: list = field(repr=False)
    metrics: tuple[str, ...]
    fairness: dict = field(default_factory=dict)  # name -> group code of each test row


def _digest(keys) -> str:
    return hashlib.sha256("|".join(keys).encode()).hexdigest()[:16]


def _arm_task(prepared, cfg, item: _ArmItem, threads):
    s = cfg.study
    y, _ = _test_arrays(prepared)
    # The same row streams for every arm: the pairing of the comparisons.
    metrics = arm_replicates(y, item.per_seed, metrics=item.metrics,
                             n_resamples=s.n_bootstrap, rng=stream(cfg.seed, "metric-rows"),
                             n_bins=s.n_bins)
    fairness = {
        name: disparity_replicates(y, item.per_seed, None, None, codes=codes,
                                   threshold=s.threshold, n_bins=s.n_bins,
                                   n_resamples=s.fairness_n_bootstrap,
                                   min_support=s.min_group_support,
                                   rng=stream(cfg.seed, "fairness-rows", name))
        for name, codes in item.fairness.items()}
    return {"metrics": metrics, "fairness": fairness}


# --- The study ---------------------------------------------------------------------------------


def _summary(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "per_seed": arr.tolist()}


def _none_if_nan(x):
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


class _Study:
    def __init__(self, cfg: ExperimentConfig, prepared: PreparedData, pool, store: FitStore | None,
                 fresh: bool, progress: Progress | None):
        self.cfg, self.prepared, self.pool, self.store = cfg, prepared, pool, store
        self.fresh = fresh
        self.progress = progress or (lambda stage, done, total: None)
        self.seeds = replicate_seeds(cfg.seed, cfg.study.seeds)
        self.resample = training_resample(cfg)
        self.test_digest = test_digest(prepared)
        self.test_subjects = count_test_subjects(prepared)
        self.outcomes: dict[str, FitOutcome] = {}
        self.arms: dict[str, dict] = {}
        self.resolved = resolve_study(cfg, prepared)
        self.baseline, self.variants = self.resolved.baseline, self.resolved.variants
        selected = cfg.study.families is None or DECISIONS in cfg.study.families
        # The decisions reuse every fit's validation predictions (their thresholds).
        self.decisions = selected and DECISIONS not in dict(self.resolved.skipped_families)
        # The freshness family fits its own models (no variants against the baseline).
        self.freshness = (cfg.study.families is None or fresh_family.NAME in cfg.study.families) \
            and fresh_family.NAME not in dict(self.resolved.skipped_families)
        self._folds = None if prepared.crossfit is None else prepared.crossfit.folds
        self._baseline_core = [self._core(self.baseline, s) for s in self.seeds]
        self._baseline_keys = [fit_key(self.baseline, s, cfg, prepared.digest, reliance=True,
                                       crossfit=self._folds) for s in self.seeds]
        self._codes: dict[tuple[str, ...], np.ndarray] = {}
        self.fits_done = 0
        self.fits_total = 0
        self.n_trained = 0
        self.n_reused = 0
        self.n_shared = 0
        #: Fits trained ahead of the request (ensure_fits' ``ahead``), by key.
        self._ahead: dict[str, FitOutcome] = {}
        self._stage = "fits"

    def _core(self, v: Variant, seed: int) -> str:
        return fit_key(v, seed, self.cfg, self.prepared.digest, reliance=False,
                       crossfit=self._folds)

    def keys(self, v: Variant) -> list[str]:
        out = []
        for i, seed in enumerate(self.seeds):
            core = self._core(v, seed)
            out.append(self._baseline_keys[i] if core == self._baseline_core[i] else core)
        return out

    def predictions(self, v: Variant) -> list[np.ndarray]:
        return [self.outcomes[k].p_test for k in self.keys(v)]

    # -- fits --
    def ensure_fits(self, arms: list[Variant], stage: str = "fits",
                    ahead: list[Variant] | None = None) -> None:
        """Fits of every seed of ``arms`` not made yet: from this run (by key), from the store,
        or trained. ``ahead``: arms likely asked for next (the minimal-set search's next
        step); fits of theirs fill the workers left idle by the last round of this call's
        fits, and are kept aside (not recorded, not counted) until asked for."""
        s = self.cfg.study
        reliance = {"shap_rows": s.shap_rows, "permutation_rows": s.permutation_rows,
                    "repeats": s.permutation_repeats, "threshold": s.threshold,
                    "contested": list(self.resolved.contested)}
        baseline_keys = set(self._baseline_keys)
        tasks: list[FitTask] = []
        queued: set[str] = set()
        self.fits_total += len(arms) * len(self.seeds)
        self._stage = stage
        for v in arms:
            for key, seed in zip(self.keys(v), self.seeds, strict=True):
                if key in self.outcomes or key in queued:
                    # Cached by key: this run made (or is making) the same fit for another arm.
                    self.n_shared += 1
                    self.fits_done += 1
                    continue
                found = None
                if self.store is not None and not self.fresh:
                    found = self.store.lookup(key)
                if found is not None and found.test_digest == self.test_digest and (
                        not self.decisions or (found.p_validation is not None and
                                               found.p_validation.size ==
                                               self.prepared.validation_index.size)):
                    self.outcomes[key] = found
                    self.n_reused += 1
                    self.fits_done += 1
                    continue
                early = self._ahead.pop(key, None)
                if early is not None:
                    self._keep(early, v)
                    continue
                queued.add(key)
                tasks.append(FitTask(key, v, seed,
                                     reliance=reliance if key in baseline_keys else None,
                                     oracle_interval=key in baseline_keys,
                                     resample=self.resample))
        idle = -len(tasks) % self.pool.workers if tasks and self.pool.parallel else 0
        early_tasks = []
        for v in ahead or []:
            for key, seed in zip(self.keys(v), self.seeds, strict=True):
                if len(early_tasks) < idle and key not in self.outcomes and \
                        key not in queued and key not in self._ahead:
                    queued.add(key)
                    early_tasks.append(FitTask(key, v, seed, resample=self.resample))
        early_keys = {t.key for t in early_tasks}
        self.progress(stage, self.fits_done, self.fits_total)
        for task, outcome in self.pool.run(_fit_task, tasks + early_tasks):
            if task.key in early_keys:
                self._ahead[task.key] = outcome
            else:
                self._keep(outcome, task.variant)

    def _keep(self, outcome: FitOutcome, variant: Variant) -> None:
        """A fit trained by this run: recorded, counted, shared by key from now on."""
        if self.store is not None:
            outcome.run_id = self.store.record(outcome, variant)
        self.outcomes[outcome.key] = outcome
        self.n_trained += 1
        self.fits_done += 1
        self.progress(self._stage, self.fits_done, self.fits_total)

    # -- statistics --
    def arm_id(self, v: Variant) -> str:
        return _digest(self.keys(v))

    def ensure_arms(self, arms: list[Variant], metrics: tuple[str, ...], fairness: dict,
                    stage: str | None) -> None:
        """Bootstrap replicates of every arm not computed yet (in parallel)."""
        items, seen = [], set()
        for v in arms:
            aid = self.arm_id(v)
            have = self.arms.get(aid)
            if aid in seen or (have is not None and set(metrics) <= set(have["metrics"])
                               and set(fairness) <= set(have["fairness"])):
                continue
            seen.add(aid)
            items.append(_ArmItem(aid, self.predictions(v), metrics,
                                  {name: self.group_codes(cols) for name, cols in
                                   fairness.items()}))
        if stage:
            self.progress(stage, 0, len(items))
        for i, (item, result) in enumerate(self.pool.run(_arm_task, items), start=1):
            self.arms[item.arm_id] = result
            if stage:
                self.progress(stage, i, len(items))

    def group_codes(self, columns: tuple[str, ...]) -> np.ndarray:
        """Group code of each test row for an attribute (or intersection), computed once."""
        codes = self._codes.get(columns)
        if codes is None:
            _, sensitive = _test_arrays(self.prepared)
            codes = self._codes[columns] = attribute_groups(sensitive, columns)[0]
        return codes

    def compare(self, reference: Variant, variant: Variant, subject: str,
                metrics: tuple[str, ...], with_fairness: bool,
                keep_replicates: bool = False) -> dict:
        """Differences ``variant - reference`` (and disparity changes against ``reference``)
        from the arms' replicates; seed resampling streams named by the two arms' fits.
        ``keep_replicates``: keep each metric's difference replicates (for the family's
        simultaneous intervals, :func:`_family_verdicts`)."""
        s = self.cfg.study
        rid, vid = self.arm_id(reference), self.arm_id(variant)
        ref, var = self.arms[rid], self.arms[vid]
        compared = compare_replicates(
            ref["metrics"], var["metrics"], metrics=metrics, margins=dict(s.margins),
            subject=subject, confidence=s.confidence, target=s.interval_target,
            rng=stream(self.cfg.seed, "compare-seeds", rid, vid),
            resampled_training=self.resample is not None, test_subjects=self.test_subjects)
        if not keep_replicates:
            for m in compared.values():
                del m["replicates"]
        out = {"metrics": compared}
        if with_fairness:
            out["disparity_changes"] = {
                name: compare_disparities(
                    ref["fairness"][name], var["fairness"][name], confidence=s.confidence,
                    target=s.interval_target,
                    rng=stream(self.cfg.seed, "fairness-change", rid, vid, name))
                for name in var["fairness"]}
        return out


def _fairness_attributes(study: _Study) -> tuple[dict, list]:
    available = set(study.prepared.sensitive.columns)
    attributes = study.resolved.attributes
    attrs, skipped = {}, []
    for a in attributes.fairness:
        if a in available:
            attrs[a] = (a,)
        else:
            skipped.append(a)
    for combo in attributes.intersections:
        name = "+".join(combo)
        if set(combo) <= available:
            attrs[name] = tuple(combo)
        else:
            skipped.append(name)
    return attrs, skipped


def _truth(prepared: PreparedData) -> dict | None:
    dependence = prepared.manifest.get("config", {}).get("dependence") if prepared.manifest \
        else None
    if not dependence:
        return None
    groups = {g: {f: dependence.get(f) for f in fields} for g, fields in TRUTH_FIELDS.items()}
    return {"dependence": dependence, "group_fields": {g: list(f) for g, f in
                                                       TRUTH_FIELDS.items()},
            "group_strengths": groups}


def run_study(cfg: ExperimentConfig, prepared: PreparedData, *, store: FitStore | None = None,
              workers: int | None = None, dataset_path: Path | str | None = None,
              fresh: bool = False, progress: Progress | None = None) -> StudyResult:
    """Run the study of ``cfg.study`` on prepared data; return its typed result.

    Parameters
    ----------
    cfg : the experiment config.
    prepared : :func:`nsf.pipeline.prepare` of the config's data (``latents=True`` for the
        income proxy on simulated data).
    store : keeps finished fits and finds earlier ones (None: nothing kept or reused).
    workers : worker processes (default ``cfg.study.workers``, or 1 for simulated data without
        ``dataset_path``); never changes the result.
    dataset_path : the simulated dataset folder (workers prepare from it; None for a table).
    fresh : retrain every fit even if the store has it.
    progress : ``progress(stage, done, total)``.

    Raises
    ------
    NsfError
        A variant the data cannot support (unknown group, no feature left, ...).
    """
    from nsf.study._pool import TaskPool

    needs_path = cfg.dataset.kind == "simulated" and dataset_path is None
    if workers is None:
        # Workers re-read the dataset folder; without it the configured default runs serially.
        workers = 1 if needs_path else cfg.study.workers
    if workers > 1 and needs_path:
        raise ValueError("workers > 1 needs dataset_path (each worker prepares the data)")
    timing: dict[str, float] = {}
    t_start = time.perf_counter()
    threshold, threshold_source = fairness_threshold(cfg, prepared)
    cfg = cfg.model_copy(update={"study": cfg.study.model_copy(update={"threshold": threshold})})
    prepared = prepared.for_study(cfg.study.crossfit_below, cfg.study.crossfit_folds)
    with TaskPool(cfg, prepared, dataset_path=dataset_path, latents=prepared.latents,
                  workers=workers, serial=needs_path) as pool:
        study = _Study(cfg, prepared, pool, store, fresh, progress)
        result = _run(study, timing)
    timing["total"] = time.perf_counter() - t_start
    result["timing"] = timing
    result["settings"]["threshold_source"] = threshold_source
    out = StudyResult.model_validate(jsonable(result))
    ledger = build_ledger(out, cfg.study.ledger)
    if ledger is not None:
        out = out.model_copy(update={"sections": out.sections.model_copy(
            update={"ledger": LedgerSection.model_validate(jsonable(ledger))})})
    from nsf.study._designs import with_designs
    return with_designs(out, prepared, cfg)


def fairness_threshold(cfg: ExperimentConfig, prepared: PreparedData) -> tuple[int, str]:
    """The fairness tables' operating threshold and how it was chosen (``study.threshold``;
    null: the policy's fixed threshold, the simulated policy's 20, or a table's base rate)."""
    s = cfg.study
    if s.threshold is not None:
        return int(s.threshold), "set in study.threshold"
    decisions = s.families is None or DECISIONS in s.families
    if cfg.policy.threshold_rule == "fixed" and decisions and (
            cfg.dataset.kind == "simulated" or cfg.policy.columns is not None):
        return int(cfg.policy.threshold), "the policy's fixed threshold (policy.threshold)"
    if cfg.dataset.kind == "simulated":
        return SIMULATED_THRESHOLD, "the simulated policy's operating point"
    rows = prepared.rows
    population = rows["apple_registered"].to_numpy(dtype=bool)
    rate = float(rows["label"].to_numpy()[population].mean()) if population.any() else 0.5
    threshold = int(np.clip(round(100 * rate), 1, 99))
    return threshold, (f"derived from the data: the base rate {rate:.1%} (flagged when the "
                       "calibrated probability reaches it: above-average risk)")


def jsonable(value):
    """Plain JSON types: numpy scalars and arrays converted, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _run(study: _Study, timing: dict[str, float]) -> dict[str, Any]:
    s = study.cfg.study
    baseline, variants = study.baseline, study.variants
    by_name = {BASELINE: baseline, **{v.name: v for v in variants}}

    t = time.perf_counter()
    study.ensure_fits([baseline, *variants])
    timing["fits"] = time.perf_counter() - t

    # Proxies: each covered contested group alone, for each target attribute.
    t = time.perf_counter()
    contested = list(study.resolved.covered)
    targets = tuple(study.resolved.attributes.proxy_targets)
    proxy_tasks = [ProxyTask(g, target) for g in contested for target in targets]
    usable = study.prepared.registry.usable
    # One task per group (its features shared by its targets), the widest groups first so
    # that no long task starts last.
    groups = sorted(contested, key=lambda g: -sum(f.group == g for f in usable))
    proxies = []
    study.progress("proxies", 0, len(proxy_tasks))
    for _, rows in study.pool.run(_proxy_task, [_ProxyGroup(g, targets) for g in groups]
                                  if targets else []):
        proxies.extend(rows)
        study.progress("proxies", len(proxies), len(proxy_tasks))
    order = {(p.group, p.target): i for i, p in enumerate(proxy_tasks)}
    proxies.sort(key=lambda r: order[(r["group"], r["target"])])
    timing["proxies"] = time.perf_counter() - t

    # Fairness of the baseline, by attribute and intersection.
    t = time.perf_counter()
    attrs, skipped = _fairness_attributes(study)
    base_pred = study.predictions(baseline)
    items = [_FairnessItem(name, cols, base_pred) for name, cols in attrs.items()]
    tables = {}
    study.progress("fairness", 0, len(items))
    for item, table in study.pool.run(_fairness_task, items):
        tables[item.name] = table
        study.progress("fairness", len(tables), len(items))
    tables = {name: tables[name] for name in attrs}
    timing["fairness"] = time.perf_counter() - t

    # Every arm's replicates once; then each variant against the baseline (and its own
    # reference), with the disparity changes.
    t = time.perf_counter()
    study.ensure_arms([baseline, *variants], tuple(s.metrics), attrs, "statistics")
    compared = {}
    for v in variants:
        vs_base_subject = v.subject if v.reference == BASELINE else "removed"
        compared[f"{v.name}@{BASELINE}"] = study.compare(baseline, v, vs_base_subject,
                                                         tuple(s.metrics), True, True)
        if v.reference != BASELINE:
            compared[f"{v.name}@{v.reference}"] = study.compare(
                by_name[v.reference], v, v.subject, tuple(s.metrics), False, True)
    _family_verdicts(study, compared)
    sequential = None
    if s.until == "decided":
        from nsf.study._sequential import until_decided

        sequential = until_decided(study, compared,
                                   elapsed=sum(timing.values()) + time.perf_counter() - t)
    volume = volume_curve(study, compared)
    timing["statistics"] = time.perf_counter() - t

    # Minimal sufficient set.
    t = time.perf_counter()
    minimal = _minimal_set(study, compared, contested, attrs) \
        if minimal_set_runs(s) and contested else None
    timing["minimal_set"] = time.perf_counter() - t

    t = time.perf_counter()
    decisions = _decisions(study, attrs) if study.decisions else None
    timing["decisions"] = time.perf_counter() - t

    t = time.perf_counter()
    freshness = _freshness(study) if study.freshness else None
    timing["freshness"] = time.perf_counter() - t

    t = time.perf_counter()
    plain = plain_cv_auc(study.prepared, study.cfg, study.baseline, study.seeds[0]) \
        if study.prepared.crossfit is not None else None
    timing["plain_cv"] = time.perf_counter() - t

    result = _assemble(study, compared, tables, skipped, proxies, minimal, contested)
    result["sequential"] = sequential
    if plain is not None:
        result["dataset"]["plain_cv_auc"] = plain
        result["dataset"]["plain_cv_note"] = (
            f"plain {study.prepared.crossfit.folds}-fold cross-validation of the same learner "
            "and features on the first seed's folds: each model trains on every other fold "
            "(no calibration fold, no re-drawn training rows), AUC of the pooled out-of-fold "
            "scores")
    # Families without variants of their own: they ran when their section is there.
    for name, section in ((DECISIONS, decisions), (fresh_family.NAME, freshness)):
        if section is not None:
            result["families"] = [*result["families"], name]
    result["sections"] = {**result.get("sections", {}), "volume": volume,
                          "decisions": decisions, "freshness": freshness}
    return result


def plain_cv_auc(prepared: PreparedData, cfg: ExperimentConfig, baseline: Variant,
                 seed: int) -> float:
    """The usual cross-validated AUC of the baseline's learner on a cross-fitted table, for
    comparison with published figures: the seed's folds, each model trained on all other folds
    (the study also holds out a calibration fold and re-draws the training rows, which costs
    some AUC), uncalibrated (calibration does not change a model's ranking much), one fit per
    fold."""
    from dataclasses import replace

    from sklearn.metrics import roc_auc_score

    from nsf.pipeline import fit_variant

    rows = prepared.rows
    labels = rows["nsf_appstore"].to_numpy(dtype=np.int8)
    fold = prepared.crossfit.assign(labels, rows["user_id"].to_numpy(), seed)
    model_cfg = cfg.model.model_copy(update={"calibration": "none"})
    scores = np.full(labels.size, np.nan)
    for k in range(prepared.crossfit.folds):
        view = prepared.fold_view(fold, k)
        split = view.rows["split"].to_numpy().copy()
        split[split == "validation"] = "train"
        view = replace(view, rows=view.rows.assign(split=split))
        fitted = fit_variant(view, baseline.selection, model_cfg, seed,
                             population=baseline.population, label=baseline.label)
        test = np.flatnonzero(fold == k)
        scores[test] = fitted.predict_proba(prepared.frame.iloc[test])
    test = prepared.test_index
    return float(roc_auc_score(labels[test], scores[test]))


def _freshness(study: _Study) -> Any:
    """The freshness family's own fits and date-by-date comparisons."""
    from nsf.study.families import FamilyContext

    cfg, base = study.cfg, study.baseline
    ctx = FamilyContext(cfg=cfg, prepared=study.prepared, base=base.selection, covered=(),
                        contested=())
    plan = fresh_family.plan(ctx)
    if isinstance(plan, str):  # applies() said it runs; the plan cannot have changed
        raise RuntimeError(f"freshness: {plan}")
    study.progress("freshness", 0, 1)
    section = fresh_family.freshness_section(
        cfg, study.prepared, plan, base.selection, seeds=study.seeds, pool=study.pool,
        population=base.population, label=base.label)
    study.progress("freshness", 1, 1)
    return section


def _family_verdicts(study: _Study, compared: dict) -> None:
    """Each family's verdicts from intervals that hold jointly (``study.multiplicity``): a
    family is every variant of one family against one reference, per metric. The comparisons'
    difference replicates share the study's row resamples, so no new fits or resamples are
    needed; the level is calibrated on the family drawn jointly (:func:`joint_replicates`: the
    seeds drawn once per replicate for all its comparisons). The replicates are dropped
    afterwards."""
    s = study.cfg.study
    by_name = {BASELINE: study.baseline, **{v.name: v for v in study.variants}}
    families: dict[tuple[str, str], list[tuple[Variant, str]]] = {}
    for v in study.variants:
        for ref in dict.fromkeys([BASELINE, v.reference]):
            subject = v.subject if ref == v.reference else "removed"
            families.setdefault((v.family, ref), []).append((v, subject))
    for (family, ref), members in families.items():
        ref_arm = study.arms[study.arm_id(by_name[ref])]["metrics"]
        for metric in s.metrics:
            joint = joint_replicates(
                ref_arm[metric],
                [study.arms[study.arm_id(v)]["metrics"][metric] for v, _ in members],
                target=s.interval_target,
                rng=stream(study.cfg.seed, "family-seeds", family, ref, metric),
                resampled_training=study.resample is not None, confidence=s.confidence)
            family_verdicts([(compared[f"{v.name}@{ref}"]["metrics"][metric], subject)
                             for v, subject in members], metric,
                            method=s.multiplicity, confidence=s.confidence, joint=joint,
                            target=s.interval_target)
    for res in compared.values():
        for m in res["metrics"].values():
            del m["replicates"]


def _decisions(study: _Study, attrs: dict) -> Any:
    """Every arm's predictions through the bundle-or-charge policy (no new fits); the money
    metrics added to each arm's own child runs."""
    from nsf.decisions import ArmPredictions
    from nsf.study.families.decisions import decisions_section

    cfg, prepared = study.cfg, study.prepared
    arms, runs = {}, {}
    for v in [study.baseline, *study.variants]:
        outs = [study.outcomes[k] for k in study.keys(v)]
        arms[v.name] = ArmPredictions([o.p_validation for o in outs], [o.p_test for o in outs])
        # A fit shared with an earlier arm keeps that arm's metrics.
        runs[v.name] = [o.run_id if o.variant == v.name else None for o in outs]
    test = prepared.sensitive.iloc[prepared.test_index]
    sensitive = {name: attribute_groups(test, cols)[2].to_numpy(dtype=str)
                 for name, cols in attrs.items()}
    section = decisions_section(cfg, prepared, arms, baseline=BASELINE, sensitive=sensitive,
                                rng=stream(cfg.seed, "decisions"))
    log = getattr(study.store, "log_metrics", None)
    if log is not None:
        result = section.result
        compared = {c.variant: c for c in result.comparisons}
        for arm in result.arms:
            c = compared.get(arm.name)
            shared = {} if c is None else {
                "cost_diff_per_1k": c.cost_diff_per_1k.estimate, "swap_rate": c.swap.swap,
                "psi": c.psi}
            for i, run_id in enumerate(runs[arm.name]):
                metrics = {"test_cost_per_1k": arm.per_seed_cost_per_1k[i],
                           "decision_threshold": float(arm.thresholds[i]), **shared}
                metrics = {k: float(x) for k, x in metrics.items()
                           if x is not None and np.isfinite(x)}
                if run_id is not None:
                    log(run_id, metrics)
    return section


def minimal_set_runs(s) -> bool:
    """Whether the minimal-set search runs: as configured, or (null) only when no family list
    narrows the study (a family list is honoured exactly)."""
    if s.minimal_set.enabled is not None:
        return s.minimal_set.enabled
    return s.families is None


def _minimal_set(study: _Study, compared: dict, contested: list[str], attrs: dict) -> dict:
    s = study.cfg.study
    primary = s.primary_metric
    hib = HIGHER_IS_BETTER[primary]
    baseline = study.baseline
    drop_one = {}
    for g in contested:
        v = _single_group_variant(study, "drop_one", g)
        if v is not None:
            drop_one[g] = compared[f"{v.name}@{BASELINE}"]["metrics"][primary]
    cache: dict[tuple[str, ...], dict] = {}
    order: list[str] = []

    def evaluate(removal_sets: list[tuple[str, ...]]) -> list[dict]:
        arms = {tuple(sorted(r)): without(baseline, r, study.prepared) for r in removal_sets}
        # The ranked search tries one set at a time, each the last accepted set plus the next
        # group: while this step trains, idle workers train the next step's set in case this
        # one is accepted (most are).
        ahead = []
        if s.minimal_set.strategy == "ranked" and len(removal_sets) == 1 and order and \
                removal_sets[0][-1] in order:
            k = order.index(removal_sets[0][-1])
            if k + 1 < len(order):
                ahead = [without(baseline, (*removal_sets[0], order[k + 1]), study.prepared)]
        study.ensure_fits([a for k, a in arms.items() if k not in cache], stage="minimal set",
                          ahead=ahead)
        todo = [(k, a) for k, a in arms.items() if k not in cache]
        study.ensure_arms([a for _, a in todo], (primary,), {}, None)
        for k, a in todo:
            res = study.compare(baseline, a, "removed", (primary,), False)
            cache[k] = res["metrics"][primary] | {"variant": a.name}
        return [cache[tuple(sorted(r))] for r in removal_sets]

    if s.minimal_set.strategy == "ranked":
        missing = [g for g in contested if g not in drop_one]
        if missing:
            for g, r in zip(missing, evaluate([(g,) for g in missing]), strict=True):
                drop_one[g] = r
        sign = 1.0 if hib else -1.0
        # Cheapest loss first; ties broken by the registry order.
        order[:] = sorted(contested, key=lambda g: (-sign * drop_one[g]["estimate"],
                                                    contested.index(g)))
    else:
        order[:] = list(contested)
    search = minimal_sufficient_set(order, evaluate, strategy=s.minimal_set.strategy,
                                    higher_is_better=hib, max_steps=s.minimal_set.max_steps)
    final = without(baseline, search["removed"], study.prepared, name="minimal_set",
                    family="minimal_set") if search["removed"] else None
    uncontested = [g for g, info in study.prepared.registry.groups.items()
                   if not info.contested and g not in baseline.selection.drop_groups]
    out = search | {
        "metric": primary, "margin": s.margins[primary], "order": order,
        "uncontested": uncontested, "features": None, "comparison": None,
        "disparity_changes": None, "run_ids": None, "metrics": None,
    }
    if final is not None:
        study.ensure_fits([final], stage="minimal set")
        study.ensure_arms([final], tuple(s.metrics), attrs, None)
        res = study.compare(baseline, final, "removed", tuple(s.metrics), True)
        out["comparison"] = res["metrics"]
        out["disparity_changes"] = res["disparity_changes"]
        out["features"] = [name for name, _ in final.features]
        out["run_ids"] = [study.outcomes[k].run_id for k in study.keys(final)]
        out["metrics"] = _metrics_summary(study, final)
    else:
        out["features"] = [name for name, _ in baseline.features]
        out["run_ids"] = [study.outcomes[k].run_id for k in study.keys(baseline)]
        out["metrics"] = _metrics_summary(study, baseline)
    return out


def _single_group_variant(study: _Study, family: str, group: str) -> Variant | None:
    """The variant of ``family`` about exactly ``group`` (e.g. its drop-one variant)."""
    return next((v for v in study.variants if v.family == family and v.groups == (group,)),
                None)


def _metrics_summary(study: _Study, v: Variant) -> dict:
    outs = [study.outcomes[k] for k in study.keys(v)]
    keys = list(outs[0].metrics)
    return {k: _summary([o.metrics[k] for o in outs]) for k in keys
            if all(k in o.metrics for o in outs)}


def _reliance(study: _Study, compared: dict, contested: list[str], truth: dict | None) -> list:
    outs = [study.outcomes[k] for k in study.keys(study.baseline)]
    per_seed = [o.reliance for o in outs if o.reliance is not None]
    if not per_seed:
        return []
    primary = study.cfg.study.primary_metric
    registry = study.prepared.registry
    rows = []
    for group in per_seed[0]["groups"]:
        vals = [r["groups"][group] for r in per_seed]
        entry: dict[str, Any] = {"group": group,
                                 "contested": bool(registry.groups[group].contested)
                                 if group in registry.groups else None,
                                 "n_features": vals[0]["n_features"]}
        for key in ("shap_mean_abs", "shap_share", "permutation_auc_drop"):
            xs = [v[key] for v in vals]
            if any(x is None for x in xs):
                entry[key], entry[f"{key}_sd"] = None, None
            else:
                arr = np.asarray(xs, dtype=np.float64)
                entry[key] = float(arr.mean())
                entry[f"{key}_sd"] = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        drop = _single_group_variant(study, "drop_one", group)
        if drop is not None:
            m = compared[f"{drop.name}@{BASELINE}"]["metrics"][primary]
            entry["necessity"] = {"variant": drop.name, "metric": primary,
                                  "estimate": m["estimate"], "lower": m["lower"],
                                  "upper": m["upper"], "verdict": m["verdict"],
                                  "simultaneous_lower": m.get("simultaneous_lower"),
                                  "simultaneous_upper": m.get("simultaneous_upper"),
                                  "decided_by": m.get("decided_by")}
        else:
            entry["necessity"] = None
        strengths = (truth or {}).get("group_strengths", {}).get(group)
        entry["truth_strengths"] = strengths
        entry["truth_strength"] = (max(v for v in strengths.values() if v is not None)
                                   if strengths and any(v is not None for v in
                                                        strengths.values()) else None)
        rows.append(entry)
    return rows


def _sections(study: _Study) -> dict:
    """The typed sections beyond comparisons (nsf.study.FamilySections)."""
    s = study.cfg.study
    outs = [study.outcomes[k] for k in study.keys(study.baseline)]
    payloads = {o.seed: (o.reliance or {}).get("explain") for o in outs}
    explanations = explanations_section(
        payloads, threshold=s.threshold, stability_min=s.explain_stability_min,
        level=s.confidence, n_bootstrap=s.n_bootstrap,
        n_test_rows=len(study.prepared.test_index),
        rng=stream(study.cfg.seed, "explanation-stability"))
    return {} if explanations is None else {"explanations": explanations}


def _assemble(study: _Study, compared, tables, skipped, proxies, minimal, contested) -> dict:
    cfg, prepared, s = study.cfg, study.prepared, study.cfg.study
    primary = s.primary_metric
    truth = _truth(prepared) if cfg.dataset.kind == "simulated" else None
    baseline_keys = study.keys(study.baseline)
    first_arm: dict[tuple[str, ...], str] = {tuple(baseline_keys): BASELINE}
    variants_out = []
    for v in study.variants:
        keys = tuple(study.keys(v))
        same_as = first_arm.setdefault(keys, v.name)
        comparisons = {}
        for ref in dict.fromkeys([BASELINE, v.reference]):
            res = compared[f"{v.name}@{ref}"]
            subject = v.subject if ref == v.reference else "removed"
            comparisons[ref] = {"reference": ref, "subject": subject,
                                "metrics": res["metrics"],
                                "verdict": res["metrics"][primary]["verdict"]}
        head = comparisons[v.reference]
        entry = v.describe() | {
            "seeds": study.seeds,
            "same_fits_as": None if same_as == v.name else same_as,
            "run_ids": [study.outcomes[k].run_id for k in keys],
            "metrics": _metrics_summary(study, v),
            "comparisons": comparisons,
            "verdict": head["verdict"], "verdict_metric": primary,
            "disparity_changes": compared[f"{v.name}@{BASELINE}"]["disparity_changes"],
        }
        if v.groups and truth is not None and len(v.groups) == 1:
            entry["truth_strengths"] = truth["group_strengths"].get(v.groups[0])
        variants_out.append(entry)
    base_outs = [study.outcomes[k] for k in baseline_keys]
    y = prepared.rows["nsf_appstore"].to_numpy()[prepared.test_index]
    return {
        "schema": SCHEMA,
        "name": cfg.name,
        "dataset": {"kind": cfg.dataset.kind, "source": prepared.source,
                    "digest": prepared.digest, "split": prepared.split_note,
                    "test_rows": int(prepared.test_index.size),
                    "test_nsf_rate": float(np.mean(y)),
                    "train_rows": int(prepared.train_index.size) if prepared.crossfit is None
                    else int(base_outs[0].info.get("train_rows", 0)),
                    "validation_rows": int(prepared.validation_index.size)
                    if prepared.crossfit is None
                    else int(base_outs[0].info.get("validation_rows", 0)),
                    "test_digest": study.test_digest},
        "config": cfg.model_dump(mode="json"),
        "assumptions": method_assumptions(cfg.model_dump(mode="json"),
                                          simulated=cfg.dataset.kind == "simulated"),
        "seeds": study.seeds,
        "description": _description(prepared),
        "settings": {"primary_metric": primary, "margins": dict(s.margins),
                     "metrics": list(s.metrics), "confidence": s.confidence,
                     "n_bootstrap": s.n_bootstrap, "interval_target": s.interval_target,
                     "training_resample": s.training_resample,
                     "training_fraction": s.training_fraction
                     if s.training_resample == "subsample" else None,
                     "multiplicity": s.multiplicity,
                     "fairness_n_bootstrap": s.fairness_n_bootstrap, "threshold": s.threshold,
                     "n_bins": s.n_bins, "min_group_support": s.min_group_support,
                     "proxy_lift_threshold": s.proxy_lift_threshold,
                     # The latent income quartile is shown, but ability to pay is what the
                     # score is meant to measure: not a protected attribute.
                     "protected_targets": [t for t in study.resolved.attributes.proxy_targets
                                           if t != INCOME_BAND],
                     "equalized_odds_cut": s.equalized_odds_cut,
                     "reliance_top_k": s.reliance_top_k, "proxy_rows": s.proxy_rows,
                     "proxy_cv": s.proxy_cv, "proxy_estimator": s.proxy_estimator,
                     "shap_rows": s.shap_rows, "permutation_rows": s.permutation_rows,
                     "permutation_repeats": s.permutation_repeats,
                     "minimal_set_strategy": s.minimal_set.strategy,
                     "crossfit_below": s.crossfit_below, "crossfit_folds": s.crossfit_folds,
                     "model": cfg.model.kind},
        "families": list(dict.fromkeys(v.family for v in study.variants)),
        "skipped_families": [{"family": f, "reason": r}
                             for f, r in study.resolved.skipped_families],
        # Every contested group, whatever study.groups covers: narrowing the groups studied
        # never changes what is contested.
        "contested_groups": list(study.resolved.contested),
        "covered_groups": contested,
        "inventory": _inventory(study),
        "baseline": _arm_fields(study.baseline) | {
            "seeds": study.seeds, "run_ids": [o.run_id for o in base_outs],
            "metrics": _metrics_summary(study, study.baseline)},
        "variants": variants_out,
        "minimal_set": minimal,
        "fairness": {"threshold": s.threshold, "attributes": tables, "skipped": skipped},
        "proxies": [{k: _none_if_nan(v) for k, v in row.items()} for row in proxies],
        "reliance": _reliance(study, compared, contested, truth),
        "sections": _sections(study),
        "truth": truth,
        "fits": {"trained": study.n_trained, "reused": study.n_reused,
                 "unique": len(study.outcomes), "shared": study.n_shared},
        "run_ids": {"parent": None,
                    "children": {v: {str(o.seed): o.run_id for o in outs}
                                 for v, outs in _children(study).items()}},
    }


def _arm_fields(v: Variant) -> dict:
    """What an arm is (no reference or subject: those belong to a comparison)."""
    return {k: x for k, x in v.describe().items() if k not in ("reference", "subject")}


def _description(prepared: PreparedData) -> dict | None:
    """The dataset description the study read, as logged."""
    return None if prepared.description is None else prepared.description.to_dict()


def _inventory(study: _Study) -> dict:
    return feature_inventory(study.prepared.registry,
                             [name for name, _ in study.baseline.features],
                             categories=study.cfg.dataset.kind == "simulated")


def feature_inventory(registry, baseline_features, *, categories: bool) -> dict:
    """The feature registry as the study saw it (what the report's inventory reads).

    Parameters
    ----------
    registry : :class:`nsf.features.FeatureRegistry` of the prepared data.
    baseline_features : names of the baseline model's features.
    categories : list the simulator's shared categories (simulated data).

    Returns
    -------
    dict
        ``{"features", "groups", "categories", "history_windows"}``
        (:class:`nsf.study.FeatureInventory`).
    """
    used = set(baseline_features)
    features = [{"name": f.name, "group": f.group, "category": f.category,
                 "sources": list(f.sources), "kind": f.kind, "coarsen": f.coarsen,
                 "window": f.window, "note": f.note, "in_baseline": f.name in used}
                for f in registry]
    groups = [{"name": g.name, "contested": bool(g.contested), "meaning": g.meaning}
              for g in registry.groups.values()]
    cats: list[dict] = []
    if categories:
        from data_gen.categories import CATEGORIES

        cats = [{"number": c.number, "name": c.name, "public": bool(c.public),
                 "source": c.source, "meaning": c.meaning} for c in CATEGORIES]
    windows = sorted({f.window for f in registry if f.window is not None})
    return {"features": features, "groups": groups, "categories": cats,
            "history_windows": windows}


def _children(study: _Study) -> dict[str, list[FitOutcome]]:
    out = {}
    for v in [study.baseline, *study.variants]:
        out[v.name] = [study.outcomes[k] for k in study.keys(v)]
    return out
