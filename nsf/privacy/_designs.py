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

import numpy as np
import pandas as pd

from nsf.privacy._adversaries import (
    Share,
    attribute_inference,
    identifier_reversal,
    reidentification,
)

__all__ = ["Design", "DesignData", "evaluate_designs", "pareto"]

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
    """

    columns: Mapping[str, pd.DataFrame]
    sensitive: pd.DataFrame
    in_population: np.ndarray
    records: np.ndarray
    coarse: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    history_days: int | None = None

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


def evaluate_designs(designs: Sequence[Design], data: DesignData, *,
                     utility: Mapping[str, Mapping[str, Share | None]],
                     rng: np.random.Generator, n_resamples: int = 200,
                     confidence: float = 0.95, max_rows: int = 4000) -> list[dict]:
    """Each design's adversaries and utility, with the Pareto marks.

    ``utility`` maps an arm name to ``{"auc_diff": Share | None, "cost_diff": Share | None}``
    (differences against the case's arm; a design whose arm is missing has no utility).

    Returns
    -------
    list of dict
        Per design: ``name, description, role, identifier, people, records, columns,
        singled_out, identified, at_risk, reversal, inference {attribute: Share}, auc_diff,
        cost_diff, efficient_auc, efficient_cost`` (Shares as dicts). ``at_risk`` (the
        frontier's risk) is the share of all people who are shared and identified: the share
        identified among those shared, times the share of people shared.
    """
    if len({d.name for d in designs}) != len(designs):
        raise ValueError("design names must be unique")
    pop = np.asarray(data.in_population, dtype=bool)
    records = np.asarray(data.records, dtype=np.float64)
    out = []
    inferred: dict[tuple, dict] = {}  # designs sharing the same data share the adversary
    for d in designs:
        keep = pop if d.population_only else np.ones(pop.size, dtype=bool)
        shared = data.shared(d).loc[keep].reset_index(drop=True)
        share_of_history = 1.0
        if d.retention_days is not None and data.history_days:
            share_of_history = min(1.0, d.retention_days / data.history_days)
        singled, identified = reidentification(shared, identifier=d.identifier, rng=rng,
                                               n_resamples=n_resamples, confidence=confidence)
        key = (d.groups, tuple(sorted(d.coarsen)), d.population_only)
        if key not in inferred:
            sens = data.sensitive.loc[keep].reset_index(drop=True)
            inferred[key] = {a: attribute_inference(
                shared, sens[a], rng=rng, max_rows=max_rows, n_resamples=n_resamples,
                confidence=confidence).to_dict() for a in sens.columns}
        inference = inferred[key]
        u = utility.get(d.arm or "", {})
        auc, cost = u.get("auc_diff"), u.get("cost_diff")
        out.append({
            "name": d.name, "description": d.description, "role": d.role, "arm": d.arm,
            "identifier": d.identifier, "people": int(keep.sum()),
            "records": float(records[keep].sum() * share_of_history),
            "columns": int(shared.shape[1]),
            "singled_out": singled.to_dict(), "identified": identified.to_dict(),
            "at_risk": _scaled(identified, keep.sum() / max(pop.size, 1)).to_dict(),
            "reversal": identifier_reversal(d.identifier, int(keep.sum())).to_dict(),
            "inference": inference,
            "auc_diff": None if auc is None else auc.to_dict(),
            "cost_diff": None if cost is None else cost.to_dict()})
    risk = [p["at_risk"]["estimate"] for p in out]
    auc = [None if p["auc_diff"] is None else p["auc_diff"]["estimate"] for p in out]
    cost = [None if p["cost_diff"] is None else -p["cost_diff"]["estimate"] for p in out]
    for p, a, c in zip(out, pareto(risk, auc), pareto(risk, cost), strict=True):
        p["efficient_auc"], p["efficient_cost"] = a, c
    return out


def _scaled(share: Share, factor: float) -> Share:
    return Share(share.estimate * factor, share.lower * factor, share.upper * factor)


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
