"""freshness: after the model is built, does it need fresh data, from when, and how much?

A model is frozen at a build date (``study.freshness.build_date``), trained on the latest
``train_dates`` observation dates whose outcomes are known by then (an observation's outcome is
known ``horizon_days`` after it). Each retraining schedule (``study.freshness.schedules``:
monthly, quarterly, ...) retrains the same model on the same amount of data, the latest dates
known at each retraining date, so the two differ only in the age of their data. Both are scored
on every observation date from the build on (each date's evaluation rows: Apple-registered
rows, as the study's test rows), with the study's seeds, and compared date by date by the
study's paired bootstrap (:func:`nsf.study._stats.arm_replicates` on one row stream per date,
shared by the arms; :func:`nsf.study._stats.compare_replicates`, subject ``added``: "needed"
means retraining on fresh data gained more than the margin with confidence; "not shown
needed" means the frozen model was non-inferior). Sparser schedules are also compared with the
most frequent one (subject ``removed``), which says whether the sparser one suffices.

The family has no variants against the baseline: it fits its own models (the same features as
the baseline) and keeps its answer in its section (:class:`FreshnessSection`), which the data
ledger reads for the frequency of new data after the build.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field

from nsf.errors import NsfError
from nsf.features import FeatureSelection
from nsf.streams import stream
from nsf.study._section import FamilySection, ResultModel
from nsf.study.families.base import Family, FamilyContext, Proposal, StudyRun
from nsf.views import MARKERS, FamilyView, fmt, interval, note, num, para, png, table
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

NAME = "freshness"


# --- The plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshnessPlan:
    """Which models the family trains and which one each schedule scores each date with.

    Attributes
    ----------
    build : the build date (an observation date).
    evaluation : the dates scored: the build date and every later one.
    horizon_days : days after an observation date before its outcome is known.
    windows : training date -> the observation dates its model trains on.
    schedules : (name, days) of each schedule, most frequent first.
    model_at : schedule -> {evaluation date: training date of the model it scores with}.
    notes : default schedules left out, and why.
    """

    build: pd.Timestamp
    evaluation: tuple[pd.Timestamp, ...]
    horizon_days: int
    windows: dict[pd.Timestamp, tuple[pd.Timestamp, ...]]
    schedules: tuple[tuple[str, int], ...]
    model_at: dict[str, dict[pd.Timestamp, pd.Timestamp]]
    notes: tuple[str, ...] = field(default=())

    @property
    def period_days(self) -> int:
        return int((self.evaluation[-1] - self.build).days)


def _horizon_days(ctx: FamilyContext) -> int:
    configured = ctx.cfg.study.freshness.horizon_days
    if configured is not None:
        return int(configured)
    calendar = ((ctx.prepared.manifest or {}).get("config") or {}).get("calendar") or {}
    return int(calendar.get("horizon_days") or 0)


def _dates(ctx: FamilyContext) -> list[pd.Timestamp]:
    dates = pd.to_datetime(ctx.prepared.rows["observation_date"], errors="coerce")
    return [pd.Timestamp(d) for d in np.sort(dates.dropna().unique())]


def _known(dates: list[pd.Timestamp], at: pd.Timestamp, horizon: int,
           n: int) -> tuple[pd.Timestamp, ...]:
    """The latest ``n`` dates before ``at`` whose outcomes are known by ``at``."""
    known = [d for d in dates if d < at and (at - d).days >= horizon]
    return tuple(known[-n:]) if len(known) >= n else ()


def plan(ctx: FamilyContext) -> FreshnessPlan | str:
    """The family's plan for this dataset, or why it cannot run (a reason).

    Raises
    ------
    NsfError
        ``study.freshness.build_date`` that is not an observation date or has too little known
        data before it; schedules set in ``study.freshness.schedules`` that would not retrain
        within the evaluation period.
    """
    from nsf.config import SCHEDULE_DAYS

    fcfg = ctx.cfg.study.freshness
    dates = _dates(ctx)
    if len(dates) < 2:
        return (f"the data has {'no time axis' if not dates else 'one observation date'}: "
                "scoring month by month after a build needs dated rows"
                + (" (dataset.table.time_column)" if ctx.cfg.dataset.kind == "table" else ""))
    horizon = _horizon_days(ctx)
    n = fcfg.train_dates
    if fcfg.build_date is not None:
        build = pd.Timestamp(fcfg.build_date)
        if build not in dates:
            raise NsfError(f"study.freshness.build_date: {build.date()} is not an observation "
                           f"date of the data ({dates[0].date()} .. {dates[-1].date()}, "
                           f"{len(dates)} dates)")
        if not _known(dates, build, horizon, n):
            raise NsfError(f"study.freshness.build_date: {build.date()} has fewer than "
                           f"train_dates = {n} observation dates with known outcomes before "
                           f"it (outcomes are known {horizon} days after their date)")
    else:
        first = next((d for d in dates if _known(dates, d, horizon, n)), None)
        if first is None:
            return (f"{len(dates)} observation dates: none has train_dates = {n} dates with "
                    f"known outcomes ({horizon} days later) before it")
        build = first
    evaluation = tuple(d for d in dates if d >= build)
    if len(evaluation) < 2:
        return (f"no observation date after the build date {build.date()}: nothing to score "
                "the frozen model against a retrained one on")
    period = int((evaluation[-1] - build).days)
    wanted = [(s, SCHEDULE_DAYS[s]) for s in fcfg.schedules]
    configured = "schedules" in fcfg.model_fields_set
    too_long = [(s, k) for s, k in wanted if k > period]
    notes: list[str] = []
    if too_long and configured:
        s, k = too_long[-1]
        raise NsfError(f"study.freshness.schedules: {s!r} ({k} days) is longer than the "
                       f"evaluation period ({period} days, {build.date()} .. "
                       f"{evaluation[-1].date()}): it would never retrain; use a shorter "
                       "schedule or a longer calendar")
    if too_long:
        notes.append(f"schedules {', '.join(s for s, _ in too_long)} left out: longer than "
                     f"the evaluation period ({period} days)")
    schedules = tuple((s, k) for s, k in wanted if k <= period)
    if not schedules:
        return (f"every retraining schedule is longer than the evaluation period ({period} "
                "days after the build)")
    windows = {build: _known(dates, build, horizon, n)}
    model_at: dict[str, dict[pd.Timestamp, pd.Timestamp]] = {}
    for s, k in schedules:
        last = build
        at = {}
        for d in evaluation:
            if d > last and (d - last).days >= k and _known(dates, d, horizon, n):
                last = d
                windows.setdefault(d, _known(dates, d, horizon, n))
            at[d] = last
        model_at[s] = at
    return FreshnessPlan(build, evaluation, horizon, dict(sorted(windows.items())), schedules,
                         model_at, tuple(notes))


def applies(ctx: FamilyContext) -> str | None:
    if ctx.prepared.crossfit is not None:
        return ("the table is cross-fitted (fewer evaluation rows than study.crossfit_below): "
                "a frozen model needs dated training and scoring rows")
    p = plan(ctx)
    return p if isinstance(p, str) else None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return []  # the family fits its own models (see the module docstring)


# --- The fits (run in the study's worker pool) --------------------------------------------------


@dataclass(frozen=True)
class FreshFit:
    """One model of the family: trained on ``window`` with ``seed``, scoring ``score_dates``."""

    trained_at: pd.Timestamp
    window: tuple[pd.Timestamp, ...]
    seed: int
    score_dates: tuple[pd.Timestamp, ...]
    selection: FeatureSelection = field(repr=False)
    population: str = "apple"
    label: str = "nsf_appstore"


def _date_array(prepared) -> np.ndarray:
    return pd.to_datetime(prepared.rows["observation_date"]).to_numpy()


def evaluation_rows(prepared, date: pd.Timestamp) -> np.ndarray:
    """Positions of one date's evaluation rows (the population and charges of the study's
    test rows)."""
    rows = prepared.rows
    mask = (_date_array(prepared) == np.datetime64(date)) & \
        rows["apple_registered"].to_numpy(dtype=bool)
    if prepared.target.require_charge:
        mask &= rows["has_charge"].to_numpy(dtype=bool)
    return np.flatnonzero(mask)


def _calibration_subjects(prepared, fraction: float, seed: int) -> np.ndarray:
    users = np.unique(prepared.rows["user_id"].to_numpy())
    order = stream(seed, "freshness-calibration").permutation(users.size)
    return users[order[:max(1, round(fraction * users.size))]]


def fit_fresh(prepared, cfg, task: FreshFit, threads: int | None) -> dict:
    """Train one model of the family and score its dates: ``{date: P(NSF)}`` on each date's
    :func:`evaluation_rows`. A share ``split.validation_fraction`` of the subjects (drawn from
    the experiment seed, the same for every window) calibrates it."""
    from dataclasses import replace

    from nsf.pipeline import fit_variant

    model_cfg = cfg.model if threads is None else cfg.model.model_copy(
        update={"num_threads": int(threads)})
    dates = _date_array(prepared)
    in_window = np.isin(dates, np.asarray([np.datetime64(d) for d in task.window]))
    calibrate = np.isin(prepared.rows["user_id"].to_numpy(),
                        _calibration_subjects(prepared, cfg.split.validation_fraction,
                                              cfg.seed))
    split = np.full(dates.size, "test", dtype=object)
    split[in_window & ~calibrate] = "train"
    split[in_window & calibrate] = "validation"
    rows = prepared.rows.copy()
    rows["split"] = split
    view = replace(prepared, rows=rows, crossfit=None)
    fitted = fit_variant(view, task.selection, model_cfg, task.seed, population=task.population,
                         label=task.label)
    return {d: np.asarray(fitted.predict_proba(prepared.frame.iloc[evaluation_rows(prepared, d)]),
                          dtype=np.float64) for d in task.score_dates}


# --- The typed section ------------------------------------------------------------------------


class FreshnessComparison(ResultModel):
    """One difference on one date, with its interval and verdict."""

    estimate: float | None
    lower: float | None
    upper: float | None
    verdict: str | None


class FreshnessDate(ResultModel):
    """One schedule on one scored date."""

    date: str
    days_after_build: int
    model_trained_at: str = Field(description="The date of the model the schedule scores "
                                  "with (the build date: the frozen model itself).")
    retrained: bool = Field(description="Whether that model differs from the frozen one.")
    rows: int
    positives: int
    frozen: float | None = Field(description="The frozen model's metric, mean over seeds.")
    schedule: float | None = Field(description="The schedule's model's metric.")
    gain: FreshnessComparison | None = Field(
        description="Retrained minus frozen (None where the schedule has not retrained yet); "
        "'needed': the fresh data gained more than the margin.")
    against_most_frequent: FreshnessComparison | None = Field(
        description="This schedule's model minus the most frequent schedule's on the same "
        "date (None for the most frequent one or the same model); 'needed': the sparser "
        "schedule lost more than the margin.")


class FreshnessSchedule(ResultModel):
    """One retraining schedule against the frozen model."""

    name: str
    days: int
    retrain_dates: list[str]
    dates: list[FreshnessDate]
    verdict: str = Field(description="'needed' when any date's gain is needed; 'not shown "
                         "needed' when every retrained date's gain is; else 'inconclusive'.")
    first_needed: str | None = Field(description="The first date whose gain is needed.")
    first_needed_days: int | None = Field(description="Its days after the build.")
    sufficient: bool | None = Field(
        description="Non-inferior to the most frequent schedule on every date where they "
        "differ (None for the most frequent one).")


class FreshnessWindow(ResultModel):
    """One model of the family: when it was trained and on which dates."""

    trained_at: str
    dates: list[str]


class FreshnessSection(FamilySection):
    """The freshness family's answer (:func:`freshness_section`)."""

    metric: str
    margin: float
    build_date: str
    horizon_days: int
    train_dates: int
    evaluation_dates: list[str]
    windows: list[FreshnessWindow]
    schedules: list[FreshnessSchedule]
    notes: list[str]
    confidence: float = Field(description="Level of each date's gain interval: the level at "
                              "which the family's gain intervals hold simultaneously at the "
                              "study's confidence (study.multiplicity).")
    comparisons: int = Field(description="Gain comparisons (dates a schedule had retrained).")
    retraining_needed: bool | None = Field(
        description="True when some schedule's gain is needed on some date; False when every "
        "schedule's gain is 'not shown needed' on every date it retrained; None otherwise.")
    sufficient_schedule: str | None = Field(
        description="The sparsest schedule non-inferior to the most frequent one (when "
        "retraining is needed or inconclusive; None when not needed).")
    retrain_days: int | None = Field(
        description="Days between retrainings a minimal design needs after the build (None: "
        "none needed); the data ledger's frequency.")
    retrain_days_upper: int | None = Field(
        description="The same with the most frequent schedule studied (the conservative end).")
    answer: str
    fits: int
    seconds: float


def _comparison(d: dict) -> FreshnessComparison:
    # The interval that holds over the family (the verdict's, see family_verdicts).
    return FreshnessComparison(estimate=d["estimate"], lower=d["simultaneous_lower"],
                               upper=d["simultaneous_upper"], verdict=d["verdict"])


def _overall(verdicts: Sequence[str | None]) -> str:
    if any(v == NEEDED for v in verdicts):
        return NEEDED
    if verdicts and all(v == NOT_SHOWN_NEEDED for v in verdicts):
        return NOT_SHOWN_NEEDED
    return INCONCLUSIVE


def freshness_section(cfg, prepared, plan_: FreshnessPlan, selection, *, seeds: list[int],
                      pool, population: str, label: str) -> FreshnessSection:
    """Fit the family's models (in ``pool``) and compare them date by date.

    Parameters
    ----------
    cfg : the experiment config (``study.freshness``, metric, margins, bootstrap settings).
    prepared : the study's prepared data.
    plan_ : :func:`plan` of this dataset.
    selection : the baseline's feature selection.
    seeds : the study's training seeds.
    pool : the study's task pool (``pool.run(fn, items)``).
    population, label : the baseline's training population and label.
    """
    from nsf.study._stats import arm_replicates, compare_replicates, family_verdicts
    t0 = time.perf_counter()
    s = cfg.study
    metric = s.primary_metric
    margins = {metric: s.margins[metric]}
    tasks = []
    for trained_at, window in plan_.windows.items():
        scored = tuple(d for d in plan_.evaluation
                       if any(at[d] == trained_at for at in plan_.model_at.values())
                       or trained_at == plan_.build)
        tasks += [FreshFit(trained_at, window, seed, scored, selection, population, label)
                  for seed in seeds]
    predictions: dict[tuple[pd.Timestamp, int], dict] = {}
    for task, scored in pool.run(fit_fresh, tasks):
        predictions[(task.trained_at, task.seed)] = scored
    y_all = prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)
    notes = list(plan_.notes)
    replicates: dict[tuple[pd.Timestamp, pd.Timestamp], dict] = {}
    usable: dict[pd.Timestamp, tuple[int, int]] = {}
    for d in plan_.evaluation:
        y = y_all[evaluation_rows(prepared, d)]
        positives = int(y.sum())
        usable[d] = (int(y.size), positives)
        if positives == 0 or positives == y.size:
            notes.append(f"{d.date()}: one outcome class only in its {y.size} rows; not "
                         "compared")
            continue
        for trained_at in dict.fromkeys([plan_.build, *(at[d] for at in
                                                        plan_.model_at.values())]):
            # The same row stream for every model on this date: the pairing.
            replicates[(trained_at, d)] = arm_replicates(
                y, [predictions[(trained_at, seed)][d] for seed in seeds], metrics=(metric,),
                n_resamples=s.n_bootstrap, rng=stream(cfg.seed, "freshness-rows", str(d.date())))

    most_frequent = plan_.schedules[0][0]
    # The family's intervals hold jointly as study.multiplicity says (the study's one
    # adjustment, family_verdicts): a "needed" on any of the family's dates holds at the
    # study's confidence for the family as a whole, not for each date alone.
    pairs: dict[str, dict[tuple, tuple]] = {"added": {}, "removed": {}}
    for name, _ in plan_.schedules:
        for d, trained_at in plan_.model_at[name].items():
            if (plan_.build, d) not in replicates:
                continue
            if trained_at != plan_.build:
                pairs["added"][(name, str(d.date()))] = ((plan_.build, d), (trained_at, d))
            other = plan_.model_at[most_frequent][d]
            if name != most_frequent and other != trained_at:
                pairs["removed"][(name, most_frequent, str(d.date()))] = ((other, d),
                                                                         (trained_at, d))
    n_gain = len(pairs["added"])
    adjusted: dict[tuple, dict] = {}
    level: dict[str, float] = {}
    for subject, comparisons in pairs.items():
        family = []
        for labels, (reference, variant) in comparisons.items():
            res = compare_replicates(replicates[reference], replicates[variant],
                                     metrics=(metric,), margins=margins, subject=subject,
                                     confidence=s.confidence, target=s.interval_target,
                                     rng=stream(cfg.seed, "freshness-compare", *labels))[metric]
            family.append((res, subject))
            adjusted[(subject, *labels)] = res
        family_verdicts(family, metric, method=s.multiplicity, confidence=s.confidence)
        level[subject] = family[0][0]["simultaneous_level"] if family else s.confidence

    def compare(reference, variant, subject, *labels) -> FreshnessComparison:
        return _comparison(adjusted[(subject, *labels)])

    out_schedules = []
    for name, days in plan_.schedules:
        at = plan_.model_at[name]
        rows_out, verdicts, vs_frequent = [], [], []
        for d in plan_.evaluation:
            n_rows, positives = usable[d]
            comparable = (plan_.build, d) in replicates
            retrained = at[d] != plan_.build
            gain = against = None
            frozen = mine = None
            if comparable:
                frozen = float(replicates[(plan_.build, d)][metric]["per_seed"].mean())
                mine = float(replicates[(at[d], d)][metric]["per_seed"].mean())
                if retrained:
                    gain = compare((plan_.build, d), (at[d], d), "added", name, str(d.date()))
                    verdicts.append(gain.verdict)
                other = plan_.model_at[most_frequent][d]
                if name != most_frequent and other != at[d]:
                    against = compare((other, d), (at[d], d), "removed", name, most_frequent,
                                      str(d.date()))
                    vs_frequent.append(against.verdict)
            rows_out.append(FreshnessDate(
                date=str(d.date()), days_after_build=int((d - plan_.build).days),
                model_trained_at=str(at[d].date()), retrained=retrained, rows=n_rows,
                positives=positives, frozen=frozen, schedule=mine, gain=gain,
                against_most_frequent=against))
        first = next((r for r in rows_out if r.gain is not None and r.gain.verdict == NEEDED),
                     None)
        out_schedules.append(FreshnessSchedule(
            name=name, days=days,
            retrain_dates=sorted({str(v.date()) for v in at.values() if v != plan_.build}),
            dates=rows_out, verdict=_overall(verdicts),
            first_needed=None if first is None else first.date,
            first_needed_days=None if first is None else first.days_after_build,
            sufficient=None if name == most_frequent else
            all(v == NOT_SHOWN_NEEDED for v in vs_frequent)))
    overall = [sch.verdict for sch in out_schedules]
    needed = True if NEEDED in overall else (
        False if all(v == NOT_SHOWN_NEEDED for v in overall) else None)
    sufficient = None
    days_needed = days_upper = None
    if needed is not False:
        sufficient = most_frequent
        for sch in out_schedules[1:]:
            if sch.sufficient:
                sufficient = sch.name
        days_needed = dict(plan_.schedules)[sufficient]
        days_upper = plan_.schedules[0][1]
    section = dict(
        metric=metric, margin=float(margins[metric]), build_date=str(plan_.build.date()),
        horizon_days=plan_.horizon_days, train_dates=cfg.study.freshness.train_dates,
        evaluation_dates=[str(d.date()) for d in plan_.evaluation],
        windows=[FreshnessWindow(trained_at=str(k.date()), dates=[str(x.date()) for x in v])
                 for k, v in plan_.windows.items()],
        schedules=out_schedules, notes=notes, retraining_needed=needed,
        confidence=level["added"], comparisons=n_gain,
        sufficient_schedule=sufficient, retrain_days=days_needed,
        retrain_days_upper=days_upper, fits=len(tasks))
    return FreshnessSection(**section, answer=freshness_answer(section),
                            seconds=time.perf_counter() - t0)


def freshness_answer(section: dict) -> str:
    """One line: did retraining on new data help after the build, from when, by how much."""
    metric = section["metric"].upper()
    build = section["build_date"]
    needed = section["retraining_needed"]
    schedules = section["schedules"]

    def get(x, key):
        return x[key] if isinstance(x, dict) else getattr(x, key)

    if needed is False:
        return (f"After the build ({build}), retraining on new data was not shown needed: on "
                "every scored date each schedule's retrained model was non-inferior to the "
                f"frozen one within the margin ({section['margin']:g} {metric}).")
    parts = []
    for sch in schedules:
        gains = [get(r, "gain") for r in get(sch, "dates") if get(r, "gain") is not None]
        if not gains:
            continue
        last = gains[-1]
        head = f"{get(sch, 'name')}: {get(sch, 'verdict')}"
        if get(sch, "first_needed") is not None:
            head += (f" from {get(sch, 'first_needed')} ({get(sch, 'first_needed_days')} days "
                     "after the build)")
        parts.append(f"{head}, gain on the last date {get(last, 'estimate'):+.3f} "
                     f"[{get(last, 'lower'):+.3f}, {get(last, 'upper'):+.3f}]")
    lead = ("After the build ({}), retraining on new data helped" if needed
            else "After the build ({}), whether retraining helped is inconclusive")
    tail = ""
    if section.get("sufficient_schedule") is not None and needed:
        tail = f"; {section['sufficient_schedule']} retraining suffices"
    return lead.format(build) + f" ({metric}; " + "; ".join(parts) + ")" + tail + "."


def run_freshness(run: StudyRun, attributes: dict) -> FreshnessSection:
    """The family's procedure in the study: its own fits and date-by-date comparisons."""
    cfg, base = run.cfg, run.baseline
    ctx = FamilyContext(cfg=cfg, prepared=run.prepared, base=base.selection, covered=(),
                        contested=())
    plan_ = plan(ctx)
    if isinstance(plan_, str):  # applies() said it runs; the plan cannot have changed
        raise RuntimeError(f"freshness: {plan_}")
    run.progress("freshness", 0, 1)
    section = freshness_section(
        cfg, run.prepared, plan_, base.selection, seeds=run.seeds, pool=run.pool,
        population=base.population, label=base.label)
    run.progress("freshness", 1, 1)
    return section


def freshness_metrics(fresh: FreshnessSection) -> dict[str, float]:
    """The parent run's metrics of the family (``freshness_*``)."""
    out: dict[str, float] = {}
    if fresh.retraining_needed is not None:
        out["freshness_retraining_needed"] = float(fresh.retraining_needed)
    if fresh.retrain_days is not None:
        out["freshness_retrain_days"] = float(fresh.retrain_days)
    firsts = [s.first_needed_days for s in fresh.schedules if s.first_needed_days is not None]
    if firsts:
        out["freshness_first_needed_days"] = float(min(firsts))
    return out


def ledger_retraining(result, facts, pool=None) -> dict:
    """The ledger's retrainings after the build (point and upper) from the verdict."""
    fresh = getattr(result.sections, "freshness", None)
    if fresh is None:
        times = facts.feed_days // facts.retrain_days
        return {"studied": False, "retrains": times, "retrains_upper": times,
                "verdict": f"not studied (family freshness did not run): one retraining every "
                           f"{facts.retrain_days} days counted as needed [ASSUMPTION]"}
    where = (f"freshness: a model frozen at {fresh.build_date} against retraining "
             f"({', '.join(s.name for s in fresh.schedules)}) over "
             f"{len(fresh.evaluation_dates)} dates")
    if fresh.retraining_needed is False:
        return {"studied": True, "retrains": 0, "retrains_upper": 0,
                "verdict": f"{where}: retraining was not shown needed (every gain within the "
                           f"margin {fresh.margin:g} {fresh.metric.upper()}); after the build "
                           "only the scored users' records"}
    state = "needed" if fresh.retraining_needed else "inconclusive (kept)"
    return {"studied": True, "retrains": facts.feed_days // fresh.retrain_days,
            "retrains_upper": facts.feed_days // fresh.retrain_days_upper,
            "verdict": f"{where}: retraining {state}; {fresh.sufficient_schedule} "
                       f"(every {fresh.retrain_days} days) suffices against the most frequent "
                       f"(every {fresh.retrain_days_upper} days, the upper figure)"}



# --- The report view ------------------------------------------------------------------------


CAPTION = ("Freshness: per scored date, the metric of each schedule's retrained model minus "
           "the frozen model's, with its simultaneous interval (dates before a schedule's "
           "first retraining have none); dashed: plus and minus the margin. Above the margin "
           "with the whole interval: fresh data was needed.")


def freshness_model(section, study) -> dict:
    """The freshness section's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def freshness_blocks(content: dict) -> list[dict]:
    metric = content["metric"].upper()
    blocks: list[dict] = [para(
        f"After the model is built, does it need fresh data? A model frozen at the build date "
        f"({content['build_date']}) against the same model retrained on a schedule, each "
        f"trained on the latest {content['train_dates']} observation dates whose outcomes "
        f"were known ({content['horizon_days']} days after their date) at its training date, "
        "so the two differ only in the age of their data. Both are scored on every date from "
        "the build on, with the study's seeds; the gain is the retrained model's "
        f"{metric} minus the frozen one's, with paired intervals over rows and seeds that hold "
        f"simultaneously over the family's {content['comparisons']} comparisons (each at "
        f"{fmt(content['confidence'], 'pct')}). 'needed': the fresh data gained more than the "
        f"margin ({fmt(content['margin'])} {metric}); 'not shown needed': the frozen model "
        "was non-inferior.")]
    blocks += [note(n) for n in content.get("notes") or []]
    windows = [[w["trained_at"], ", ".join(w["dates"])] for w in content["windows"]]
    blocks.append(table("Models trained (training date: observation dates used)",
                         ["trained at", "observation dates"], windows))
    for sch in content["schedules"]:
        body = []
        for r in sch["dates"]:
            g, a = r.get("gain"), r.get("against_most_frequent")
            body.append([r["date"], str(r["days_after_build"]), r["model_trained_at"],
                         f"{r['rows']:,} ({r['positives']:,})", fmt(r["frozen"]),
                         fmt(r["schedule"]),
                         "-" if g is None else fmt(g["estimate"], "+3"),
                         "-" if g is None else interval(g["lower"], g["upper"]),
                         "-" if g is None else (g.get("verdict") or "n/a"),
                         "-" if a is None else f"{fmt(a['estimate'], '+3')} "
                         f"{interval(a['lower'], a['upper'])} {a.get('verdict') or ''}"])
        blocks.append(table(
            f"{sch['name'].capitalize()} retraining (every {sch['days']} days) against the "
            f"frozen model: {sch['verdict']}",
            ["date", "days after build", "model of", "rows (NSF)", f"frozen {metric}",
             f"{sch['name']} {metric}", "gain", "interval", "verdict",
             "against the most frequent"], body, {3, 4, 5, 6, 7}))
    if any(r.get("gain") for sch in content["schedules"] for r in sch["dates"]):
        blocks.append({"type": "figure", "name": "freshness", "caption": CAPTION})
    blocks.append(para("Answer: " + content["answer"]))
    return blocks


def _freshness_figure(content: dict) -> bytes | None:
    import datetime as dt

    schedules = [s for s in content.get("schedules") or [] if any(r.get("gain")
                                                                   for r in s["dates"])]
    if not schedules:
        return None
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    margin = float(content["margin"])
    width = 4.0
    for i, sch in enumerate(schedules):
        offset = (i - (len(schedules) - 1) / 2) * width
        seen = set()
        for r in sch["dates"]:
            g = r.get("gain")
            if g is None or num(g.get("estimate")) is None:
                continue
            x = r["days_after_build"] + offset
            if num(g.get("lower")) is not None and num(g.get("upper")) is not None:
                ax.plot([x, x], [g["lower"], g["upper"]], color="black", linewidth=1.0,
                        marker="_", markersize=8)
            marker, face = MARKERS.get(g.get("verdict"), MARKERS[None])
            if i % 2:
                marker = "s" if marker == "o" else "^"
            label = f"{sch['name']}: {g.get('verdict')}"
            ax.plot([x], [g["estimate"]], marker=marker, markerfacecolor=face,
                    markeredgecolor="black", linestyle="none", markersize=7, zorder=3,
                    label=None if label in seen else label)
            seen.add(label)
    ax.axhline(0.0, color="black", linewidth=0.8)
    for y in (margin, -margin):
        ax.axhline(y, color="0.4", linewidth=0.8, linestyle="--")
    build = dt.date.fromisoformat(content["build_date"])
    ax.set_xlabel(f"days after the build ({build.isoformat()})")
    ax.set_ylabel(f"{content['metric'].upper()} gain of retraining")
    ax.set_title("Freshness: retrained minus frozen, date by date", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="best")
    return png(fig)


def freshness_figures(content: dict) -> dict[str, bytes]:
    png = _freshness_figure(content)
    return {} if png is None else {"freshness": png}


def freshness_summary(content: dict) -> dict | None:
    return {"question": "After the build, did retraining on new data help, from when, and by "
                        "how much?", "answer": content["answer"]}


FAMILY = Family(
    NAME, "After the build, did retraining on new data help, from when, and how much?",
    "dated rows: several observation dates before and after a build date", applies, variants,
    section=FreshnessSection, procedure=run_freshness, metrics=freshness_metrics,
    ledger=ledger_retraining, ledger_role="retraining",
    config=("study.freshness.",),
    view=FamilyView("Freshness: does the model need new data after it is built?",
                    model=freshness_model, blocks=freshness_blocks,
                    figures=freshness_figures, summary=freshness_summary, position=50))
