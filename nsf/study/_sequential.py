"""A study that runs until it can tell (``study.until: decided``).

After the first batch of seeds the study looks at the primary metric's verdicts. Every
comparison still inconclusive gets ``study.budget.seed_step`` more training seeds for its two
arms (new re-drawn training samples, the same draw for both arms: paired), and is judged again,
look after look, until it is decided, its projected need (:mod:`nsf.study._power`) lies beyond
the budget, or the budget is spent. The comparisons already decided keep the verdict of the
look that decided them.

Error control: Bonferroni over the planned looks. With ``L`` planned looks every look judges
its family (every comparison still open of one family against one reference) at the
family-wise level ``1 - alpha / L`` (the family's max-statistic or Holm procedure at that
level). A wrong verdict at some look is a failure of that look's intervals for the
comparisons open at it, so the chance of any wrong verdict over the whole study is at most
``L x alpha / L = alpha``, whatever the looks' dependence and however early the study stops.
Unused looks leave their share of the error unspent (conservative).

Evaluation subjects on demand (simulated data, a ``subjects`` source from the caller): the
test subjects follow a schedule fixed before the first look, from the first look's count
``n0`` and ``study.budget.subjects`` ``B``: ``min(B, n0 (2^(l-1) - 1))`` subjects added by
look ``l`` (the test subjects double at each look until the budget is spent). They are
further users of the same world (``world.population.further_users``: the users a larger
world would have there), prepared as the test rows are; every fitted model of an arm still
open scores them, and each look's statistics use the union of the test subjects so far.
A look adds the seeds of its step and the subjects of its step together, so the sizes of
every look are fixed in advance and the union bound above holds (only which comparisons are
still open depends on the data). The planned looks count both: ``1 + max(seed looks,
subject looks)``. Without a source (a user's table, or a caller that passes none) the test
rows stay those of the first look, and a comparison whose test rows' variance alone keeps it
undecided is stopped as beyond the budget, with the test subjects that would decide it
(:func:`nsf.study._power.comparison_power`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from nsf.pipeline import SPLITS
from nsf.study._section import ResultModel

#: The sequential method's name in the result.
METHOD = "bonferroni_over_looks"

#: ``source(users) -> PreparedData``: the next ``users`` further users of the same world,
#: prepared as the study's data (each call new users: the caller keeps the cursor).
SubjectSource = Callable[[int], Any]

#: Growth of the test subjects from look to look (doubling). [ASSUMPTION]
SUBJECT_GROWTH = 2.0


class SequentialDecision(ResultModel):
    """At which look, with how many seeds, a comparison's verdict was decided."""

    look: int = Field(description="The look whose interval gave the verdict (1: the first "
                      "batch of seeds).")
    seeds: int = Field(description="Training seeds per arm at that look.")
    test_subjects: int = Field(description="Test subjects at that look.")
    level: float = Field(description="Family-wise level of every look (1 - alpha / looks).")
    status: Literal["decided", "beyond_budget", "budget_spent"] = Field(
        description="'decided': needed or not shown needed; 'beyond_budget': still "
        "inconclusive and even an optimistic projection (the true difference anywhere in its "
        "interval, the training draws' variance at its "
        "90% lower confidence bound) says no number of seeds, with the most test subjects "
        "the budget allows, would decide it (only more test subjects would); 'budget_spent': "
        "still inconclusive when the looks or the minutes ran out.")


class SequentialSummary(ResultModel):
    """The looks of ``study.until: decided`` and what the budget left undecided."""

    method: Literal["bonferroni_over_looks"] = Field(
        description="Error control across looks: every look at family-wise level "
        "1 - alpha / looks_planned (union bound over the looks).")
    metric: str = Field(description="The metric of the sequential verdicts (primary).")
    confidence: float = Field(description="The study's family-wise level over all looks.")
    level_per_look: float = Field(description="Family-wise level of each look.")
    looks_planned: int
    looks_run: int
    seeds_first: int = Field(description="Seeds of the first look.")
    seed_step: int
    budget_seeds: int
    budget_minutes: float | None
    subjects_first: int = Field(0, description="Test subjects of the first look.")
    budget_subjects: int = Field(0, description="Most test subjects added on demand (0: none: "
                                 "a table of fixed size, or no source of further subjects).")
    subjects_per_look: list[int] = Field(
        default_factory=list, description="Test subjects of each look run (the first look's "
        "and those simulated on demand so far).")
    minutes: float = Field(description="Wall time of the looks after the first.")
    fits_added: int = Field(description="Fits trained (or reused) for the later looks.")
    decided_per_look: list[int] = Field(description="Comparisons decided at each look.")
    open_per_look: list[int] = Field(description="Comparisons still open entering each look.")
    undecided: list[str] = Field(description="Comparisons ('variant@reference') the budget "
                                 "left inconclusive.")
    note: str


def planned_looks(first: int, most: int, step: int) -> int:
    """Looks of a study that starts with ``first`` seeds and adds ``step`` up to ``most``."""
    return 1 + max(0, math.ceil((max(most, first) - first) / step))


def subject_looks(first: int, most_added: int) -> int:
    """Looks after the first that add test subjects: the subjects double at each look
    (:data:`SUBJECT_GROWTH`) until ``most_added`` are added to the ``first``."""
    if most_added <= 0 or first <= 0:
        return 0
    return max(1, math.ceil(math.log(1.0 + most_added / first, SUBJECT_GROWTH) - 1e-12))


def subjects_added(first: int, most_added: int, look: int) -> int:
    """Test subjects added on demand by look ``look`` (1: none), on the fixed schedule."""
    if first <= 0:
        return 0
    return min(most_added, round(first * (SUBJECT_GROWTH ** (look - 1) - 1.0)))


def subjects_on_demand(study, subjects: SubjectSource | None) -> bool:
    """Whether ``study.until: decided`` adds test subjects from ``subjects``: only for data
    split once (never a cross-fitted table), with a budget of subjects and test subjects to
    start from."""
    s = study.cfg.study
    return s.until == "decided" and subjects is not None and \
        study.prepared.crossfit is None and s.budget.subjects > 0 and study.test_subjects > 0


def look_level(confidence: float, looks: int) -> float:
    """The family-wise level of each of ``looks`` looks (Bonferroni over looks)."""
    return 1.0 - (1.0 - confidence) / looks


@dataclass(frozen=True)
class _LookArm:
    """An arm's replicates of a look's primary metric, computed on a worker: ``predictions``
    of its seeds on the rows of ``y``, resampled with the row stream named ``stream_names``
    (the same for every arm of the look: paired). ``base_arm``: the arm whose first seeds'
    replicates these extend (further seeds on the first look's rows), or None."""

    aid: tuple[str, int]
    y: np.ndarray = field(repr=False)
    predictions: list = field(repr=False)
    stream_names: tuple
    base_arm: str | None = None


def _look_arm_task(prepared, cfg, item: _LookArm, threads) -> dict:
    from nsf.streams import stream
    from nsf.study._stats import arm_replicates

    s = cfg.study
    return arm_replicates(item.y, item.predictions, metrics=(s.primary_metric,),
                          n_resamples=s.n_bootstrap, rng=stream(cfg.seed, *item.stream_names),
                          n_bins=s.n_bins)[s.primary_metric]


def until_decided(study, compared: dict, *, elapsed: float = 0.0,
                  subjects: SubjectSource | None = None) -> dict:
    """Run the looks of ``study.until: decided`` on a study whose first batch is compared.

    ``compared`` (``"variant@reference"`` -> ``{"metrics": ...}``, as the runner builds it)
    has every comparison of the first look; the primary metric's entries are replaced by the
    look that decided each (or the last one), each with a ``sequential`` record
    (:class:`SequentialDecision`). ``elapsed``: seconds the study has run so far (the budget's
    minutes). ``subjects``: the source of further test subjects of the same world (simulated
    data; None: the first look's test rows only). Returns the :class:`SequentialSummary`
    fields.
    """
    from nsf.study._fit import FitTask
    from nsf.study._run import _fit_task, _test_arrays
    from nsf.study._stats import family_verdicts, joint_replicates
    from nsf.study._variants import BASELINE, fit_key, replicate_seeds, stream

    t0 = time.perf_counter()
    cfg, s = study.cfg, study.cfg.study
    metric = s.primary_metric
    budget = s.budget
    first = len(study.seeds)
    step = budget.seed_step or first
    most = max(budget.seeds, first)
    n_first = study.test_subjects
    on_demand = subjects_on_demand(study, subjects)
    most_added = budget.subjects if on_demand else 0
    looks = 1 + max(planned_looks(first, most, step) - 1, subject_looks(n_first, most_added))
    level = look_level(s.confidence, looks)
    seeds_all = replicate_seeds(cfg.seed, most)
    resampled = study.resample is not None
    by_name = {BASELINE: study.baseline, **{v.name: v for v in study.variants}}
    families: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for v in study.variants:
        for ref in dict.fromkeys([BASELINE, v.reference]):
            subject = v.subject if ref == v.reference else "removed"
            families.setdefault((v.family, ref), []).append((f"{v.name}@{ref}", v.name,
                                                              subject))
    open_keys = {key for members in families.values() for key, _, _ in members}
    subject_of = {key: subject for members in families.values() for key, _, subject in members}
    y, _ = _test_arrays(study.prepared)
    folds = None if study.prepared.crossfit is None else study.prepared.crossfit.folds
    extra = _Extra(study, n_first, subjects) if on_demand and subjects is not None else None
    # Arm entries (primary metric) by the digest of their fits' keys and the subjects' batches:
    # arms with the same fits share one entry (their difference is exactly zero).
    entries: dict[tuple[str, int], dict] = {}
    extra_keys: dict[str, list[str]] = {}  # arm name -> keys of its seeds beyond the first
    fits_added = 0
    decided_per_look, open_per_look, subjects_per_look = [], [], []
    k_now = first
    n_now = n_first
    look = 0
    for look in range(1, looks + 1):
        if look > 1:
            if budget.minutes is not None and \
                    elapsed + time.perf_counter() - t0 > 60.0 * budget.minutes:
                look -= 1
                break
            k_now = min(first + (look - 1) * step, most)
        open_per_look.append(len(open_keys))
        names = {part for key in open_keys for part in key.split("@", 1)}
        arms = [by_name[n] for n in sorted(names)]
        if look > 1:
            with study.waiting("fits"):
                fits_added += _add_seeds(study, arms, seeds_all[:k_now], first, extra_keys,
                                         fit_key, FitTask, _fit_task, folds, look)
            if extra is not None:
                extra.grow(subjects_added(n_first, most_added, look), look)
        batches = 0 if extra is None else len(extra.batches)
        n_now = n_first if extra is None else extra.subjects
        subjects_per_look.append(n_now)
        y_look = y if extra is None else extra.labels(y)
        aid_of: dict[str, tuple[str, int]] = {}
        todo: dict[tuple[str, int], _LookArm] = {}
        for v in arms:
            keys = study.keys(v) + extra_keys.get(v.name, [])[:k_now - first]
            aid = ("|".join(keys), batches)
            aid_of[v.name] = aid
            if aid in entries or aid in todo:
                continue
            if k_now == first and batches == 0:
                entries[aid] = study.arms[study.arm_id(v)]["metrics"][metric]
            elif batches == 0:
                # The further seeds on the first look's test rows (the arm's first seeds'
                # replicates are kept).
                todo[aid] = _LookArm(aid, y, [study.outcomes[k].p_test for k in keys[first:]],
                                     ("metric-rows",), study.arm_id(v))
            else:
                # Every seed on the union of the test subjects (the same row stream for every
                # arm of this look: paired).
                assert extra is not None
                todo[aid] = _LookArm(aid, y_look, [extra.predictions(v, k) for k in keys],
                                     ("metric-rows", "subjects", batches))
        # The replicates of the arms new at this look, on the study's workers.
        for item, new in study.pool.run(_look_arm_task, list(todo.values())):
            if item.base_arm is not None:
                base = study.arms[item.base_arm]["metrics"][metric]
                new = {"replicates": np.hstack([base["replicates"], new["replicates"]]),
                       "per_seed": np.concatenate([base["per_seed"], new["per_seed"]])}
            entries[item.aid] = new
        arm_of = {name: entries[aid] for name, aid in aid_of.items()}
        decided = 0
        for (family, ref), members in families.items():
            live = [(key, name, subject) for key, name, subject in members if key in open_keys]
            if not live:
                continue
            ref_arm = arm_of[ref]
            var_arms = [arm_of[name] for _, name, _ in live]
            results = [_compare(ref_arm, a, metric, s, subject, level, cfg, look, key,
                                resampled, n_now)
                       for (key, _, subject), a in zip(live, var_arms, strict=True)]
            joint = joint_replicates(ref_arm, var_arms, target=s.interval_target,
                                     rng=stream(cfg.seed, "sequential-family", look, family,
                                                ref),
                                     resampled_training=resampled, confidence=level)
            family_verdicts([(r, subject) for r, (_, _, subject) in zip(results, live,
                                                                         strict=True)],
                            metric, method=s.multiplicity, confidence=level, joint=joint,
                            target=s.interval_target)
            for r, (key, _, _) in zip(results, live, strict=True):
                r.pop("replicates", None)
                status = None
                if r["verdict"] != "inconclusive":
                    status = "decided"
                elif _beyond_budget(r, subject_of[key], most, s.interval_target,
                                    subjects_most=n_first + most_added):
                    status = "beyond_budget"
                elif look == looks:
                    status = "budget_spent"
                r["sequential"] = {"look": look, "seeds": k_now, "test_subjects": n_now,
                                   "level": level, "status": status or "budget_spent"}
                compared[key]["metrics"][metric] = r
                if status is not None:
                    open_keys.discard(key)
                    decided += status == "decided"
        decided_per_look.append(decided)
        if not open_keys:
            break
    undecided = sorted(key for key, res in compared.items()
                       if res["metrics"][metric].get("verdict") == "inconclusive")
    if on_demand:
        how = (f"the test subjects double at each look up to {most_added:,} more than the "
               f"first look's {n_first:,} (further users of the same world, simulated on "
               f"demand; {n_now:,} at the last look)")
    else:
        how = "training draws only (the test rows stay the first look's)"
    return {
        "method": METHOD, "metric": metric, "confidence": s.confidence,
        "level_per_look": level, "looks_planned": looks, "looks_run": look,
        "seeds_first": first, "seed_step": step, "budget_seeds": most,
        "budget_minutes": budget.minutes, "subjects_first": n_first,
        "budget_subjects": most_added, "subjects_per_look": subjects_per_look,
        "minutes": (time.perf_counter() - t0) / 60.0,
        "fits_added": fits_added, "decided_per_look": decided_per_look,
        "open_per_look": open_per_look, "undecided": undecided,
        "note": (f"Bonferroni over {looks} planned looks: each look judges at family-wise "
                 f"level {level:.4f}; {first} seeds first, {step} more per look for the "
                 f"comparisons still open, at most {most}; {how}."),
    }


class FurtherUsers:
    """A :data:`SubjectSource`: each call the next further users of ``cfg``'s simulated world
    (``world.population.further_users``, skipping those of the calls before, in whole blocks
    of the simulator), built and prepared by ``make(config)`` as the study's data was.

    ``make`` is the caller's (the CLI builds through the simulate command, a benchmark through
    the simulator directly): this package simulates nothing itself.
    """

    def __init__(self, cfg, make: Callable[[Any], Any]):
        self.cfg = cfg
        self.make = make
        self.skip = 0  # further users handed out so far, rounded up to whole blocks

    def __call__(self, users: int):
        from nsf.simulator import BLOCK_USERS

        pop = self.cfg.world.population.model_copy(
            update={"further_users": int(users), "further_skip": self.skip})
        world = self.cfg.world.model_copy(update={"population": pop})
        # Validated as a config would be (the range of users, the identifiers' limit).
        world = type(world).model_validate(world.model_dump())
        self.skip += -(-int(users) // BLOCK_USERS) * BLOCK_USERS
        return self.make(self.cfg.model_copy(update={"world": world}))


class _Extra:
    """The test subjects simulated on demand: their batches, and every fit's scores of them.

    A fit's model is the one its task returned (the study keeps the models of its fits while
    test subjects may be added); a fit without one (reused from the store) is trained again
    from its task (the same data, seed and draw: the same model, LightGBM being
    deterministic), checked to score the study's test rows as the fit did. Each model scores
    each batch once, as it comes."""

    def __init__(self, study, n_first: int, source: SubjectSource):
        self.study = study
        self.source = source
        self.n_first = n_first
        self._planned = 0  # test subjects asked for so far (the schedule's)
        rows = study.prepared.rows
        users = int(rows["user_id"].nunique())
        #: Test subjects per simulated user in the study's data: how many users to ask for.
        self.per_user = n_first / max(users, 1)
        self.batches: list[tuple[Any, np.ndarray]] = []  # (the test subjects' rows, y)
        self.added = 0  # test subjects added
        self.scores: dict[str, list[np.ndarray]] = {}

    @property
    def subjects(self) -> int:
        return self.n_first + self.added

    def grow(self, target_added: int, look: int) -> None:
        """Simulate further users until ``target_added`` test subjects are added: enough
        users for them (the study's own share of test subjects, with three binomial standard
        deviations to spare), of whom the test subjects with the lowest user numbers are kept
        up to the schedule's count. What is asked for and kept follows from the schedule and
        the study's own data, never from an outcome."""
        want = target_added - self._planned
        if want <= 0:
            return
        with self.study.waiting("subjects"):
            self._grow(want, look)

    def _grow(self, want: int, look: int) -> None:
        users = max(1, math.ceil((want + 3.0 * math.sqrt(want)) / self.per_user))
        self._planned += want
        self.study._stage = f"look {look}: {users:,} further users"
        from nsf.study._run import _test_labels

        prepared = self.source(users)
        idx = evaluation_rows(prepared, self.study.cfg)
        ids = prepared.rows["user_id"].to_numpy()[idx]
        kept = np.unique(ids)[:want]
        idx = idx[np.isin(ids, kept)]
        self.batches.append((prepared.frame.iloc[idx], _test_labels(prepared, idx)))
        self.added += int(kept.size)

    def labels(self, y: np.ndarray) -> np.ndarray:
        return np.concatenate([y, *[b[1] for b in self.batches]])

    def predictions(self, v, key: str) -> np.ndarray:
        """The fit ``key``'s scores of the study's test rows and of every batch so far."""
        have = self.scores.setdefault(key, [])
        outcome = self.study.outcomes[key]
        if len(have) < len(self.batches):
            if outcome.model is None:
                with self.study.waiting("fits"):
                    # Kept like the fits' own models until the looks end (the study releases
                    # them).
                    outcome.model = refit(self.study, v, key)
                    self.study.estimator_cpu += outcome.model.fit_cpu_seconds
                    # The same model as the fit's: it scores the study's test rows as the fit
                    # did.
                    test = self.study.prepared.test_index
                    again = outcome.model.predict_proba(self.study.prepared.frame.iloc[test])
                    if not np.array_equal(np.asarray(again, dtype=np.float64), outcome.p_test):
                        raise RuntimeError(f"fit {key[:12]} trained again scores the test rows "
                                           "differently: its model cannot score further "
                                           "subjects")
            with self.study.waiting("subjects"):
                for frame, _ in self.batches[len(have):]:
                    # The workers are idle during the looks' statistics: score with their
                    # threads.
                    have.append(np.asarray(outcome.model.predict_proba(
                        frame, num_threads=self.study.pool.workers), dtype=np.float64))
        return np.concatenate([outcome.p_test, *have])


def evaluation_rows(prepared, cfg) -> np.ndarray:
    """The rows of further users that are test rows: those of the test split's dates
    (out-of-time split) or all of theirs (a split by users), in the evaluation population."""
    if cfg.split.kind == "user":  # every further user is a new person: all of their rows
        return np.sort(np.concatenate([prepared.rows_for(split, "apple") for split in SPLITS]))
    return prepared.test_index


def refit(study, v, key: str):
    """The model of fit ``key`` of arm ``v``, trained again exactly as its fit task did."""
    from nsf.pipeline import fit_variant
    from nsf.study._pool import TASK_THREADS

    seed = study.outcomes[key].seed
    model_cfg = study.cfg.model.model_copy(update={"num_threads": TASK_THREADS})
    return fit_variant(study.prepared, v.selection, model_cfg, seed, population=v.population,
                       label=v.label, train_subjects=v.train_subjects,
                       resample=study.resample)


#: One-sided confidence of the optimistic training variance of the futility rule.
OPTIMISM = 0.9


def _beyond_budget(c: dict, subject: str, most: int, target: str,
                   subjects_most: int | None = None) -> bool:
    """Whether more seeds cannot decide an inconclusive comparison: even with the training
    draws' variance at its ``OPTIMISM`` lower confidence bound (chi-square with K - 1 degrees
    of freedom: three seeds estimate it poorly) and the true difference anywhere in the
    look's interval (its estimate or either end), the test rows' variance alone keeps it open,
    at the most test subjects the budget allows (``subjects_most``; None: the current ones),
    the rows' variance falling as 1 / subjects (only more test subjects would decide it). A
    projection beyond ``most`` seeds does not stop it: the looks are bounded by the budget
    anyway, and a projection from three seeds is too rough to give up on."""
    from scipy.stats import chi2, norm

    from nsf.study._power import comparison_power

    p = c.get("power")
    se = c.get("standard_error")
    if not p or not se or not se > 0.0:
        return False
    k = p["seeds"]
    low = (k - 1) / float(chi2.ppf(OPTIMISM, k - 1)) if k > 1 else 1.0
    rows = p["row_variance"]
    if subjects_most is not None and subjects_most > p["test_subjects"] > 0:
        rows *= p["test_subjects"] / subjects_most
    z_level = p["resolution"] / se - float(norm.ppf(p["power"]))
    # Optimistic about the difference too: any value of its interval may be the true one (an
    # estimate that happens to sit at the margin would otherwise stop a comparison that more
    # data would decide).
    for value in (c["estimate"], c.get("lower"), c.get("upper")):
        if value is None or not np.isfinite(value):
            continue
        hopeful = comparison_power(
            estimate=value, standard_error=se, margin=c["margin"],
            row_variance=rows, seed_variance=p["seed_variance"] * low,
            level=p["level"], seeds=k, test_subjects=p["test_subjects"],
            higher_is_better=c["higher_is_better"], subject=subject, verdict=c["verdict"],
            target=target, power=p["power"], half_width=z_level * se)
        if hopeful is None or hopeful["seeds_to_decide"] is not None:
            return False
    # Only the test rows' variance keeps it open: no number of seeds would decide it.
    return True


def _compare(ref_arm, var_arm, metric, s, subject, level, cfg, look, key, resampled,
             subjects) -> dict:
    from nsf.study._stats import compare_replicates
    from nsf.study._variants import stream

    return compare_replicates(
        {metric: ref_arm}, {metric: var_arm}, metrics=(metric,), margins=dict(s.margins),
        subject=subject, confidence=level, target=s.interval_target,
        rng=stream(cfg.seed, "sequential-seeds", str(look), key),
        resampled_training=resampled, test_subjects=subjects)[metric]


def _add_seeds(study, arms, seeds, first, extra_keys, fit_key, FitTask, fit_task, folds,
               look) -> int:
    """Fits of ``arms`` for ``seeds[first:]`` not made yet (this run, the store, or trained);
    their keys appended to ``extra_keys``. Returns the fits added."""
    tasks, queued, added = [], set(), 0
    for v in arms:
        keys = extra_keys.setdefault(v.name, [])
        for seed in seeds[first + len(keys):]:
            key = fit_key(v, seed, study.cfg, study.prepared.digest, reliance=False,
                          crossfit=folds)
            keys.append(key)
            if key in study.outcomes or key in queued:
                continue
            found = None
            if study.store is not None and not study.fresh:
                found = study.store.lookup(key)
            if found is not None and found.test_digest == study.test_digest:
                study.outcomes[key] = found
                study.n_reused += 1
                added += 1
                continue
            queued.add(key)
            tasks.append(FitTask(key, v, seed, resample=study.resample,
                                 keep_model=study.keep_models))
    study.fits_total += len(tasks)
    study._stage = f"look {look}"
    for task, outcome in study.pool.run(fit_task, tasks):
        study._keep(outcome, task.variant)
        added += 1
    return added
