"""The study's wiring: fits -> proxies -> fairness -> comparisons -> minimal set -> result.

No MLflow here: finished fits go to a :class:`FitStore` (``nsf.tracking.study`` implements it
with MLflow child runs), which is also asked for fits finished by an earlier run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from nsf.config import ExperimentConfig
from nsf.config._study import SIMULATED_THRESHOLD
from nsf.pipeline import PreparedData
from nsf.streams import replicate_seeds, stream
from nsf.study._assemble import (  # noqa: F401  (re-exported: TRUTH_FIELDS, ...)
    TRUTH_FIELDS,
    StudyParts,
    _metrics_summary,
    _single_group_variant,
    assemble,
    feature_inventory,
    jsonable,
)
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
from nsf.study._proxy import ProxyTask, proxy_rows, run_proxy
from nsf.study._quantity import LedgerSection
from nsf.study._result import StudyResult
from nsf.study._stats import (
    arm_replicates,
    compare_replicates,
    family_verdicts,
    joint_replicates,
)
from nsf.study._variants import Variant, fit_key, resolve_study, training_resample, without
from nsf.study.families import BASELINE, FAMILIES, NECESSITY
from nsf.vocabulary import HIGHER_IS_BETTER

if TYPE_CHECKING:
    from nsf.study._pool import TaskPool

#: ``progress(stage, done, total)``; stages: fits, proxies, fairness, statistics, minimal set.
Progress = Callable[[str, int, int], None]


class FitStore(Protocol):
    """Where finished fits are kept (one MLflow child run each)."""

    def lookup(self, key: str) -> FitOutcome | None:
        """A finished fit with this key from an earlier run, or None."""

    def record(self, outcome: FitOutcome, variant: Variant) -> str | None:
        """Keep a new fit; returns its run id."""

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Add metrics computed after the fit (the decisions) to its run."""


# --- Task functions (module level: they run in worker processes) ----------------------------


def _test_labels(prepared: PreparedData, idx: np.ndarray) -> np.ndarray:
    """The evaluation outcome (``nsf_appstore``) of the rows ``idx``."""
    return prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)[idx]


def _test_arrays(prepared: PreparedData) -> tuple[np.ndarray, pd.DataFrame]:
    idx = prepared.test_index
    return _test_labels(prepared, idx), prepared.sensitive.iloc[idx].reset_index(drop=True)


def _fit_task(prepared, cfg, task: FitTask, threads):
    return run_fit(prepared, cfg.model, task, num_threads=threads)


def _proxy_task(prepared, cfg, task: ProxyTask, threads):
    s = cfg.study
    rows = proxy_rows(prepared, s.proxy_rows, cfg.seed)
    return run_proxy(prepared, task, rows=rows, seed=cfg.seed, estimator=s.proxy_estimator,
                     cv=s.proxy_cv)


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


#: What a stage can wait for that is timed on its own (``timing.fits``, ``timing.subjects``).
WAITS = ("fits", "subjects")


class _Study:
    def __init__(self, cfg: ExperimentConfig, prepared: PreparedData, pool: TaskPool,
                 store: FitStore | None, fresh: bool, progress: Progress | None):
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
        skipped = dict(self.resolved.skipped_families)
        running = [f for f in FAMILIES.values() if f.name not in skipped and (
            cfg.study.families is None or f.name in cfg.study.families)]
        #: Families with a procedure of their own, run after the minimal set.
        self.procedures = [f for f in running if f.procedure is not None]
        # A family that reads every fit's validation predictions (the decisions' thresholds).
        self.needs_validation = any(f.needs_validation for f in running)
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
        #: CPU seconds of the estimators' own training over the fits trained here (kept, or
        #: trained again to score further test subjects).
        self.estimator_cpu = 0.0
        #: Fits trained ahead of the request (ensure_fits' ``ahead``), by key.
        self._ahead: dict[str, FitOutcome] = {}
        self._stage = "fits"
        #: Further test subjects of the same world on demand (``run_study``'s ``subjects``).
        self.subject_source: Callable[[int], PreparedData] | None = None
        #: Whether fit tasks return their models (``study.until: decided`` with test subjects
        #: on demand); released once the looks are done.
        self.keep_models = False
        #: Wall seconds spent making fits (every stage's) and further test subjects (the
        #: looks'), by :data:`WAITS` kind (:meth:`waiting`); the stages' own seconds leave
        #: them out (:class:`_Clock`).
        self.waited = dict.fromkeys(WAITS, 0.0)

    @contextmanager
    def waiting(self, kind: str) -> Iterator[None]:
        """Count the wall seconds of the block as ``kind`` (one of :data:`WAITS`)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.waited[kind] += time.perf_counter() - t0

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
        with self.waiting("fits"):
            self._ensure_fits(arms, stage, ahead)

    def _ensure_fits(self, arms: list[Variant], stage: str,
                     ahead: list[Variant] | None) -> None:
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
                        not self.needs_validation or (found.p_validation is not None and
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
                                     resample=self.resample, keep_model=self.keep_models))
        idle = -len(tasks) % self.pool.workers if tasks and self.pool.parallel else 0
        early_tasks: list[FitTask] = []
        for v in ahead or []:
            for key, seed in zip(self.keys(v), self.seeds, strict=True):
                if len(early_tasks) < idle and key not in self.outcomes and \
                        key not in queued and key not in self._ahead:
                    queued.add(key)
                    early_tasks.append(FitTask(key, v, seed, resample=self.resample,
                                               keep_model=self.keep_models))
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
        self.estimator_cpu += outcome.estimator_cpu_seconds
        self.n_trained += 1
        self.fits_done += 1
        self.progress(self._stage, self.fits_done, self.fits_total)

    def release_models(self) -> None:
        """Stop keeping the fits' models (no test subject is added after the looks)."""
        self.keep_models = False
        for outcome in self.outcomes.values():
            outcome.model = None
        for outcome in self._ahead.values():
            outcome.model = None

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
    attrs: dict[str, tuple[str, ...]] = {}
    skipped: list[str] = []
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


def run_study(cfg: ExperimentConfig, prepared: PreparedData, *, store: FitStore | None = None,
              workers: int | None = None, dataset_path: Path | str | None = None,
              fresh: bool = False, progress: Progress | None = None,
              subjects: Callable[[int], PreparedData] | None = None) -> StudyResult:
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
    subjects : ``subjects(users)``: the next ``users`` further users of the same simulated
        world, prepared as ``prepared`` (``study.until: decided`` adds them as test subjects,
        :mod:`nsf.study._sequential`); None: the test rows stay the prepared data's.

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
    t_start = time.perf_counter()
    threshold, threshold_source = fairness_threshold(cfg, prepared)
    cfg = cfg.model_copy(update={"study": cfg.study.model_copy(update={"threshold": threshold})})
    prepared = prepared.for_study(cfg.study.crossfit_below, cfg.study.crossfit_folds)
    from nsf.study._designs import check_designs
    check_designs(cfg, prepared)  # a study.designs name this data cannot form: before any fit
    with TaskPool(cfg, prepared, dataset_path=dataset_path, latents=prepared.latents,
                  workers=workers, serial=needs_path) as pool:
        study = _Study(cfg, prepared, pool, store, fresh, progress)
        study.subject_source = subjects
        # Test subjects added later are scored by the fits' own models: keep them until then.
        study.keep_models = _keeps_models(study, subjects)
        parts = _run(study, threshold_source)
        parts.timing["total"] = time.perf_counter() - t_start
        # CPU seconds, not a stage's wall seconds: the fits' irreducible part and the least
        # wall time it allows on these workers.
        parts.timing["fits_estimator_cpu"] = study.estimator_cpu
        parts.timing["fits_floor"] = study.estimator_cpu / pool.workers
        out = assemble(study, parts)
        ledger = build_ledger(out, cfg.study.ledger)
        if ledger is not None:
            out = out.model_copy(update={"sections": out.sections.model_copy(
                update={"ledger": LedgerSection.model_validate(jsonable(ledger))})})
        from nsf.study._designs import with_designs

        # The designs' adversaries run on the study's workers (already started and set up).
        return with_designs(out, prepared, cfg,
                           executor=pool.executor if pool.parallel else None)


def _keeps_models(study: _Study, subjects) -> bool:
    """Whether the fit tasks return their models: only when test subjects may be added."""
    from nsf.study._sequential import subjects_on_demand

    return subjects_on_demand(study, subjects)


def fairness_threshold(cfg: ExperimentConfig, prepared: PreparedData) -> tuple[int, str]:
    """The fairness tables' operating threshold and how it was chosen (``study.threshold``;
    null: the policy's fixed threshold, the simulated policy's 20, or a table's base rate)."""
    s = cfg.study
    if s.threshold is not None:
        return int(s.threshold), "set in study.threshold"
    for family in FAMILIES.values():
        # A family that imposes its own operating point (the decisions' fixed threshold).
        if family.threshold is not None and (s.families is None or family.name in s.families):
            chosen = family.threshold(cfg)
            if chosen is not None:
                return chosen
    if cfg.dataset.kind == "simulated":
        return SIMULATED_THRESHOLD, "the simulated policy's operating point"
    rows = prepared.rows
    population = rows["apple_registered"].to_numpy(dtype=bool)
    rate = float(rows["label"].to_numpy()[population].mean()) if population.any() else 0.5
    threshold = int(np.clip(round(100 * rate), 1, 99))
    return threshold, (f"derived from the data: the base rate {rate:.1%} (flagged when the "
                       "calibrated probability reaches it: above-average risk)")


class _Clock:
    """Seconds per stage of the study, less what the stage waited for (:meth:`_Study.waiting`):
    that goes to ``timing[kind]`` for each of :data:`WAITS` (so the looks' and the minimal-set
    search's fits count as fits, not as statistics)."""

    def __init__(self, study: _Study, timing: dict[str, float]):
        self.study, self.timing = study, timing
        self.start()

    def start(self) -> None:
        self.t = time.perf_counter()
        self.waited = dict(self.study.waited)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t

    def stop(self, stage: str) -> None:
        waits = {kind: self.study.waited[kind] - self.waited[kind] for kind in WAITS}
        own = self.elapsed() - sum(waits.values())
        for key, seconds in ((stage, own), *waits.items()):
            self.timing[key] = self.timing.get(key, 0.0) + seconds


def _run(study: _Study, threshold_source: str) -> StudyParts:
    s = study.cfg.study
    timing: dict[str, float] = {}
    baseline, variants = study.baseline, study.variants
    by_name = {BASELINE: baseline, **{v.name: v for v in variants}}

    clock = _Clock(study, timing)
    study.ensure_fits([baseline, *variants])
    clock.stop("fits")

    # Proxies: each covered contested group alone, for each target attribute.
    clock.start()
    contested = list(study.resolved.covered)
    targets = tuple(study.resolved.attributes.proxy_targets)
    proxy_tasks = [ProxyTask(g, target) for g in contested for target in targets]
    usable = study.prepared.registry.usable
    # One task per group and target, the widest groups first so that no long task starts
    # last (building a group's features again for each target takes milliseconds; one task
    # per group left a worker idle for seconds at the end).
    width = {g: sum(f.group == g for f in usable) for g in contested}
    proxies = []
    study.progress("proxies", 0, len(proxy_tasks))
    for _, row in study.pool.run(_proxy_task, sorted(proxy_tasks, key=lambda t: -width[t.group])):
        proxies.append(row)
        study.progress("proxies", len(proxies), len(proxy_tasks))
    order = {(p.group, p.target): i for i, p in enumerate(proxy_tasks)}
    proxies.sort(key=lambda r: order[(r["group"], r["target"])])
    clock.stop("proxies")

    # Fairness of the baseline, by attribute and intersection.
    clock.start()
    attrs, skipped = _fairness_attributes(study)
    base_pred = study.predictions(baseline)
    items = [_FairnessItem(name, cols, base_pred) for name, cols in attrs.items()]
    tables = {}
    study.progress("fairness", 0, len(items))
    for item, table in study.pool.run(_fairness_task, items):
        tables[item.name] = table
        study.progress("fairness", len(tables), len(items))
    tables = {name: tables[name] for name in attrs}
    clock.stop("fairness")

    # Every arm's replicates once; then each variant against the baseline (and its own
    # reference), with the disparity changes.
    clock.start()
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
                                   elapsed=sum(timing.values()) + clock.elapsed(),
                                   subjects=study.subject_source)
    study.release_models()
    # Families whose section comes from their variants' comparisons (a learning curve).
    sections = {f.name: f.curve(study, compared) for f in FAMILIES.values()
                if f.curve is not None}
    clock.stop("statistics")

    # Minimal sufficient set.
    clock.start()
    minimal = _minimal_set(study, compared, contested, attrs) \
        if minimal_set_runs(s) and contested else None
    clock.stop("minimal_set")

    # Families with a procedure of their own (no variants against the baseline).
    for family in study.procedures:
        if family.procedure is None:  # never: study.procedures holds families with one
            continue
        clock.start()
        sections[family.name] = family.procedure(study, attrs)
        clock.stop(family.name)

    clock.start()
    plain = plain_cv_auc(study.prepared, study.cfg, study.baseline, study.seeds[0]) \
        if study.prepared.crossfit is not None else None
    clock.stop("plain_cv")

    return StudyParts(compared=compared, tables=tables, skipped=skipped, proxies=proxies,
                      minimal=minimal, contested=contested, threshold_source=threshold_source,
                      sections={k: x for k, x in sections.items() if x is not None},
                      plain_cv_auc=plain, timing=timing, sequential=sequential)


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

    crossfit = prepared.crossfit
    if crossfit is None:
        raise RuntimeError("plain cross-validation of data prepared without cross-fitting")
    rows = prepared.rows
    labels = rows["nsf_appstore"].to_numpy(dtype=np.int8)
    fold = crossfit.assign(labels, rows["user_id"].to_numpy(), seed)
    model_cfg = cfg.model.model_copy(update={"calibration": "none"})
    scores = np.full(labels.size, np.nan)
    for k in range(crossfit.folds):
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
        v = _single_group_variant(study, NECESSITY, g)
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
            i = order.index(removal_sets[0][-1])
            if i + 1 < len(order):
                ahead = [without(baseline, (*removal_sets[0], order[i + 1]), study.prepared)]
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


