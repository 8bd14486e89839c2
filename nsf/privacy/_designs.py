"""Sharing designs and their privacy-utility frontier.

A :class:`Design` says what a sender would share: which attribute groups (raw or coarsened),
whose rows (everyone, or the evaluation population only), for how long, under which
identifier. :func:`evaluate_designs` runs the adversaries of :mod:`nsf.privacy._adversaries`
on what each design would share and puts beside them the design's utility, taken from the
study arm that was trained on exactly that data (no new fits). :func:`pareto` marks the designs
no other design beats on both risk and utility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nsf.privacy._adversaries import (
    ReversalProbe,
    Share,
    _interval,
    attribute_inference,
    identified_people,
    identifier_reversal,
)

__all__ = ["CaseScale", "Design", "DesignData", "evaluate_designs", "pareto"]

#: Quantile bins a coarsened numeric column is cut into when the data has no coarse version.
COARSE_BINS = 4


@dataclass(frozen=True)
class Design:
    """One way of sharing the data.

    Attributes
    ----------
    name : short key (MLflow tag ``nsf.design``).
    description : one line for the report.
    groups : attribute groups shared (None: every group).
    coarsen : groups shared in their coarse version.
    population_only : share only the evaluation population's rows (e.g. the users registered
        with the service that uses the score) instead of every user's.
    identifier : ``sha256`` (unsalted digest), ``hmac`` (keyed) or ``random`` (pseudonym).
    retention_days : history kept (None: all of it).
    arm : the study arm trained on this data (its AUC and cost are the design's utility).
    role : ``case`` (the design in use), ``recommended`` (the study's answer) or ``""``.
    """

    name: str
    description: str
    groups: tuple[str, ...] | None = None
    coarsen: tuple[str, ...] = ()
    population_only: bool = False
    identifier: str = "sha256"
    retention_days: int | None = None
    arm: str | None = "baseline"
    role: str = ""
    label: str = ""


@dataclass(frozen=True)
class CaseScale:
    """The case's totals a design's exposure is scaled to (the data ledger's facts).

    Attributes
    ----------
    people : people whose data was sent.
    records : records sent (about one per person per day).
    population_share : share of the people in the evaluation population (an upper bound).
    """

    people: float
    records: float
    population_share: float

    @property
    def days_per_person(self) -> float:
        """Records per person: the history a shorter retention is a share of."""
        return self.records / self.people


@dataclass(frozen=True)
class DesignData:
    """What the adversaries look at: one row per person.

    Attributes
    ----------
    columns : group -> the person's columns of that group, as shared (raw).
    coarse : group -> the same columns in their coarse version (missing: quantile bins).
    sensitive : the sensitive attributes the adversary tries to infer (one column each).
    in_population : whether each person is in the evaluation population.
    records : rows each person contributes to the feed (exposure).
    history_days : days of history the feed holds (None: unknown; retention then changes
        only the records kept in proportion).
    study_people, study_records : ``(everyone, evaluation population)`` in the whole data the
        study read (not only the sample): the exposure at the study's scale (None: the sample's).
    case : the case's totals the exposure is also scaled to (None: not a simulated case).
    """

    columns: Mapping[str, pd.DataFrame]
    sensitive: pd.DataFrame
    in_population: np.ndarray
    records: np.ndarray
    coarse: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    history_days: int | None = None
    study_people: tuple[int, int] | None = None
    study_records: tuple[float, float] | None = None
    case: CaseScale | None = None

    def shared(self, design: Design) -> pd.DataFrame:
        """The columns ``design`` shares, one row per person (every person)."""
        groups = list(self.columns) if design.groups is None else \
            [g for g in design.groups if g in self.columns]
        parts = []
        for g in groups:
            if g in design.coarsen:
                part = self.coarse.get(g)
                if part is None:
                    part = _bins(self.columns[g])
            else:
                part = self.columns[g]
            parts.append(part.reset_index(drop=True))
        n = len(self.in_population)
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(n))


def _bins(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > COARSE_BINS:
            out[col] = pd.qcut(values.rank(method="first"), COARSE_BINS, labels=False)
        else:
            out[col] = values
    return pd.DataFrame(out)


def pareto(risk: Sequence[float], utility: Sequence[float | None]) -> list[bool]:
    """Whether each point is Pareto-efficient: no other point has risk <= and utility >= with
    one strict (lower risk, higher utility are better). A point without utility is not
    efficient and dominates nothing."""
    out = []
    for i, (r, u) in enumerate(zip(risk, utility, strict=True)):
        if u is None or not np.isfinite(u):
            out.append(False)
            continue
        out.append(not any(
            j != i and v is not None and np.isfinite(v) and s <= r and v >= u
            and (s < r or v > u) for j, (s, v) in enumerate(zip(risk, utility, strict=True))))
    return out


def exposure(design: Design, data: DesignData) -> dict[str, float | None]:
    """People and records ``design`` shares: in the whole data the study read (exact counts)
    and at the case's scale (the case's totals times the design's share of people and of each
    person's history; None without a case). Exact arithmetic, not estimates: no interval."""
    pop = np.asarray(data.in_population, dtype=bool)
    records = np.asarray(data.records, dtype=np.float64)
    history = _history_share(design, data.history_days)
    if data.study_people is not None and data.study_records is not None:
        people = data.study_people[1 if design.population_only else 0]
        rows = data.study_records[1 if design.population_only else 0]
    else:
        keep = pop if design.population_only else np.ones(pop.size, dtype=bool)
        people, rows = int(keep.sum()), float(records[keep].sum())
    out: dict[str, float | None] = {"study_people": float(people),
                                    "study_records": float(rows) * history,
                                    "case_people": None, "case_records": None}
    case = data.case
    if case is not None:
        share = case.population_share if design.population_only else 1.0
        kept = 1.0 if design.retention_days is None else \
            min(1.0, design.retention_days / case.days_per_person)
        out["case_people"] = case.people * share
        out["case_records"] = case.records * share * kept
    return out


def _history_share(design: Design, history_days: int | None) -> float:
    if design.retention_days is not None and history_days:
        return min(1.0, design.retention_days / history_days)
    return 1.0


def _shared_key(design: Design, data: DesignData) -> tuple:
    """What a design shares to the inference adversary: designs with the same key share the
    same columns of the same people (identifier and retention change neither)."""
    groups = tuple(data.columns) if design.groups is None else \
        tuple(g for g in design.groups if g in data.columns)
    return groups, tuple(sorted(set(design.coarsen) & set(groups))), design.population_only


def _install_data(data: DesignData) -> DesignData:
    """The inference tasks' worker state: the people's data (sent once per worker)."""
    return data


def _infer(data: DesignData, task: tuple) -> dict[str, dict]:
    """One inference task: every sensitive attribute from what one key shares."""
    (groups, coarsen, population_only), seeds, max_rows, n_resamples, confidence = task
    design = Design("_", "", groups=groups, coarsen=coarsen, population_only=population_only)
    keep = np.asarray(data.in_population, dtype=bool) if population_only else \
        np.ones(len(data.in_population), dtype=bool)
    shared = data.shared(design).loc[keep].reset_index(drop=True)
    sens = data.sensitive.loc[keep].reset_index(drop=True)
    return {a: attribute_inference(shared, sens[a], rng=np.random.default_rng(seeds[a]),
                                   max_rows=max_rows, n_resamples=n_resamples,
                                   confidence=confidence).to_dict() for a in sens.columns}


def evaluate_designs(designs: Sequence[Design], data: DesignData, *,
                     utility: Mapping[str, Mapping[str, Share | None]],
                     rng: np.random.Generator, n_resamples: int = 200,
                     confidence: float = 0.95, max_rows: int = 4000,
                     probe: ReversalProbe | None = None, executor=None) -> list[dict]:
    """Each design's adversaries and utility, with the Pareto marks.

    ``utility`` maps an arm name to ``{"auc_diff": Share | None, "cost_diff": Share | None}``
    (differences against the case's arm; a design whose arm is missing has no utility).
    ``probe``: the measured identifier reversal (:func:`nsf.privacy.reversal_probe`; None: the
    share each kind is known to give, :data:`nsf.privacy.IDENTIFIERS`, and no time).
    ``executor``: an :class:`nsf.execution.Executor` the attribute-inference fits run on (one
    task per distinct shared data, the people's data sent once per worker; None: here). Each
    fit draws its own seed from ``rng`` beforehand, so the figures do not depend on it.

    Returns
    -------
    list of dict
        Per design: ``name, label, description, role, identifier, people, records, columns,
        singled_out, identified, at_risk, reversal, seconds_to_reverse, exposure,
        inference {attribute: Share}, auc_diff, cost_diff, efficient_auc, efficient_cost``
        (Shares as dicts; ``exposure`` from :func:`exposure`). ``at_risk`` (the
        frontier's risk) is the share of all people who are shared and identified, its
        interval resampling all the people (who is shared is sampled too).
    """
    if len({d.name for d in designs}) != len(designs):
        raise ValueError("design names must be unique")
    pop = np.asarray(data.in_population, dtype=bool)
    records = np.asarray(data.records, dtype=np.float64)
    # The inference adversary once per distinct shared data, each fit with its own seed.
    keys = list(dict.fromkeys(_shared_key(d, data) for d in designs))
    attrs = list(data.sensitive.columns)
    seeds = rng.integers(0, 2**63 - 1, size=(len(keys), len(attrs)))
    tasks = [(k, dict(zip(attrs, (int(x) for x in row), strict=True)), max_rows, n_resamples,
              confidence) for k, row in zip(keys, seeds, strict=True)]
    inferred: dict[tuple, dict] = {}
    if executor is None:
        for task in tasks:
            inferred[task[0]] = _infer(data, task)
    else:
        from nsf.execution import Setup

        for i, res in executor.map_unordered(_infer, tasks, setup=Setup(_install_data,
                                                                        (data,), light=True)):
            inferred[tasks[i][0]] = res
    out: list[dict[str, Any]] = []
    for d in designs:
        keep = pop if d.population_only else np.ones(pop.size, dtype=bool)
        shared = data.shared(d).loc[keep].reset_index(drop=True)
        share_of_history = _history_share(d, data.history_days)
        reversal = identifier_reversal(d.identifier, int(keep.sum())) if probe is None \
            else probe.share(d.identifier)
        seconds = None if probe is None else probe.seconds_to_reverse(d.identifier)
        unique, known = identified_people(shared, identifier=d.identifier,
                                          reversed_share=reversal.estimate)
        singled = _interval(unique, rng, n_resamples, confidence)
        identified = _interval(known, rng, n_resamples, confidence)
        # At risk: shared and identified, among all the people sampled (the share shared is
        # itself sampled, so it is resampled with them).
        everyone = np.zeros(pop.size, dtype=bool)
        everyone[keep] = known
        at_risk = _interval(everyone, rng, n_resamples, confidence)
        inference = inferred[_shared_key(d, data)]
        u = utility.get(d.arm or "", {})
        auc, cost = u.get("auc_diff"), u.get("cost_diff")
        out.append({
            "name": d.name, "label": d.label or d.name, "description": d.description,
            "role": d.role, "arm": d.arm,
            "identifier": d.identifier, "people": int(keep.sum()),
            "records": float(records[keep].sum() * share_of_history),
            "columns": int(shared.shape[1]),
            "singled_out": singled.to_dict(), "identified": identified.to_dict(),
            "at_risk": at_risk.to_dict(),
            "reversal": reversal.to_dict(),
            "seconds_to_reverse": None if seconds is None else seconds.to_dict(),
            "exposure": exposure(d, data),
            "inference": inference,
            "auc_diff": None if auc is None else auc.to_dict(),
            "cost_diff": None if cost is None else cost.to_dict()})
    risk = [p["at_risk"]["estimate"] for p in out]
    aucs = [None if p["auc_diff"] is None else p["auc_diff"]["estimate"] for p in out]
    costs = [None if p["cost_diff"] is None else -p["cost_diff"]["estimate"] for p in out]
    for p, a, c in zip(out, pareto(risk, aucs), pareto(risk, costs), strict=True):
        p["efficient_auc"], p["efficient_cost"] = a, c
    return out


def dominates(a: dict, b: dict, margin: float = 0.0) -> bool | None:
    """Whether design ``a`` dominates ``b`` with the study's own tolerance: fewer people at risk
    of re-identification beyond doubt (``a``'s interval of the share at risk lies below ``b``'s)
    and an AUC not worse by more than ``margin`` (the lower end of ``a``'s AUC-difference
    interval, taken relative to ``b``'s estimate, is at least ``-margin``: the study's
    non-inferiority rule). A point difference of AUC inside the margin is noise, not a loss.
    None without both AUCs."""
    if a["auc_diff"] is None or b["auc_diff"] is None:
        return None
    less_risk = a["at_risk"]["upper"] < b["at_risk"]["lower"]
    auc_kept = a["auc_diff"]["lower"] - b["auc_diff"]["estimate"] >= -margin
    return bool(less_risk and auc_kept)
