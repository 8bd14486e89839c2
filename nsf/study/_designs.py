"""The sharing designs of a finished study, and their frontier (the ``designs`` section).

The designs come from what the study already evaluated, so each design's utility is the AUC
(and cost, when the decisions family ran) of the arm trained on exactly that data:

* the design in use: every group raw, every person's rows; on a simulated feed also unsalted
  SHA-256 identifiers, with the same data under a keyed HMAC and under random pseudonyms;
* one design per variant of the families that change what is shared (drop, keep, coarsen a
  group, shorter retention), under a keyed HMAC;
* the evaluation population only (when the data has persons outside it): the baseline already
  trains on it alone, so its utility is the baseline's;
* the minimal sufficient set, and the recommended design: the minimal set (or, without one,
  the data in use), the evaluation population only, a keyed HMAC.

A user's table gets the designs that apply to it: its columns as given (a row key, no digest),
and the groups its variants drop, keep or coarsen.

Names in ``study.designs`` are checked twice before any fit: their form when the config loads
(:func:`nsf.config._study.check_design_names`), the designs this data forms when the study
starts (:func:`check_designs`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from nsf.execution import executor_for
from nsf.features import build_features
from nsf.privacy import (
    CaseScale,
    Design,
    DesignData,
    Share,
    dominates,
    evaluate_designs,
    reversal_probe,
)
from nsf.study._proxy import proxy_rows, proxy_target
from nsf.study._variants import stream

__all__ = ["check_designs", "design_label", "designs_section", "study_designs", "with_designs"]

#: Families whose variants change what is shared (and so are sharing designs).
SHARING_FAMILIES = ("drop_one", "drop_all", "keep_one", "coarsen", "retention")
#: People the adversaries look at (a random sample; uniqueness in a sample overstates it in
#: the whole population, so the figure is an upper bound for that many people).
MAX_PEOPLE = 4000
#: People the attribute-inference adversary trains and is scored on (cross-validated).
INFERENCE_ROWS = 1000


def shared_groups(result, registry) -> list[str]:
    """The groups the baseline uses (shared data only: no sensitive or latent columns)."""
    sel = result.baseline.selection
    return [g for g in registry.groups
            if g not in sel.drop_groups and (sel.keep_groups is None or g in sel.keep_groups)
            and any(s.group == g and s.category not in ("sensitive", "latent")
                    for s in registry.usable)]


def _plain(group: str) -> str:
    return group.replace("_", " ")


def design_label(name: str, *, family: str | None = None, groups: tuple[str, ...] = (),
                 retention_days: int | None = None, simulated: bool = True) -> str:
    """A design's name in plain words (the report's), from its key or its variant's family."""
    fixed = {"in_use": "Data in use" + (" (the case)" if simulated else " (the table)"),
             "in_use_hmac": "Data in use, keyed HMAC",
             "in_use_random": "Data in use, random pseudonyms",
             "population_only": "Evaluation population only",
             "minimal_set": "Minimal sufficient set", "recommended": "Recommended design"}
    if name in fixed:
        return fixed[name]
    g = ", ".join(_plain(x) for x in groups)
    by_family = {"drop_one": f"Without {g}", "drop_all": "Uncontested groups only",
                 "keep_one": f"Uncontested groups and {g}", "coarsen": f"{g} coarsened"
                 if not g else f"{g[0].upper()}{g[1:]} coarsened",
                 "retention": f"History of {retention_days} days"}
    return by_family.get(family or "", name)


def study_designs(result, groups: list[str], *, simulated: bool,
                  has_population: bool) -> list[Design]:
    """The designs of a study result (see the module docstring)."""
    base_id = "sha256" if simulated else "random"
    pseud = "hmac" if simulated else "random"

    def label(name, **kw):
        return design_label(name, simulated=simulated, **kw)

    out = [Design("in_use", "the data in use: every group raw, every person's rows"
                  + (", unsalted SHA-256 identifiers" if simulated else ""),
                  identifier=base_id, role="case", label=label("in_use"))]
    if simulated:
        out += [Design("in_use_hmac", "the data in use under keyed HMAC identifiers",
                       identifier="hmac", label=label("in_use_hmac")),
                Design("in_use_random", "the data in use under random pseudonyms",
                       identifier="random", label=label("in_use_random"))]
    if has_population:
        out.append(Design("population_only", "every group raw, the evaluation population's "
                          "rows only", population_only=True, identifier=pseud,
                          label=label("population_only")))
    for v in result.variants:
        if v.family not in SHARING_FAMILIES or v.population != result.baseline.population:
            continue
        sel = v.selection
        shared = tuple(groups) if sel.keep_groups is None else tuple(sel.keep_groups)
        shared = tuple(g for g in shared if g not in sel.drop_groups)
        out.append(Design(v.name, v.description, groups=shared,
                          coarsen=tuple(sel.coarsen_groups),
                          retention_days=sel.retention_days, identifier=pseud, arm=v.name,
                          label=label(v.name, family=v.family, groups=tuple(v.groups),
                                      retention_days=sel.retention_days)))
    minimal = result.minimal_set
    if minimal is not None and minimal.removed:
        kept = tuple(g for g in groups if g not in minimal.removed)
        out.append(Design("minimal_set", "the minimal sufficient set (without "
                          + ", ".join(minimal.removed) + ")", groups=kept, identifier=pseud,
                          arm="minimal_set", label=label("minimal_set")))
        out.append(Design("recommended", "the minimal sufficient set"
                          + (", the evaluation population only" if has_population else "")
                          + (", keyed HMAC identifiers" if simulated else ""), groups=kept,
                          population_only=has_population, identifier=pseud,
                          arm="minimal_set", role="recommended", label=label("recommended")))
    else:
        out.append(Design("recommended", "every group (the minimal-set search removed "
                          "none or did not run)"
                          + (", the evaluation population only" if has_population else "")
                          + (", keyed HMAC identifiers" if simulated else ""),
                          population_only=has_population, identifier=pseud,
                          role="recommended", label=label("recommended")))
    return out


def _has_population(prepared) -> bool:
    """Whether the data holds people outside the evaluation population (all rows)."""
    if "apple_registered" not in prepared.rows.columns:
        return False
    pop = prepared.rows["apple_registered"].to_numpy(dtype=bool)
    return bool(pop.any() and not pop.all())


def expected_designs(cfg, prepared, variants) -> list[str]:
    """The names of the designs a study of ``cfg`` on ``prepared`` forms (before any fit):
    ``minimal_set`` only when the search runs (it is formed when the search removes a group)."""
    from nsf.study._run import minimal_set_runs

    simulated = cfg.dataset.kind == "simulated"
    target_population = prepared.target.population
    out = ["in_use", *(["in_use_hmac", "in_use_random"] if simulated else []),
           *(["population_only"] if _has_population(prepared) else []),
           *[v.name for v in variants if v.family in SHARING_FAMILIES
             and v.population == target_population]]
    if minimal_set_runs(cfg.study):
        out.append("minimal_set")
    return [*out, "recommended"]


def check_designs(cfg, prepared) -> None:
    """Refuse, before any fit, a name in ``study.designs`` that this study cannot form.

    Raises
    ------
    NsfError
        One line naming the field, the names and the designs this study forms.
    """
    from nsf.errors import NsfError
    from nsf.study._variants import resolve_study

    wanted = cfg.study.designs
    if not wanted:
        return
    known = expected_designs(cfg, prepared, resolve_study(cfg, prepared).variants)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise NsfError(f"study.designs: {', '.join(map(repr, unknown))} is not a design of this "
                       f"study (allowed: {', '.join(known)})")


def _utility(result) -> dict[str, dict[str, Share | None]]:
    def share(m) -> Share | None:
        if m is None or m.estimate is None:
            return None
        return Share(float(m.estimate), float(m.lower), float(m.upper))

    zero = Share(0.0, 0.0, 0.0)
    costs = {}
    decisions = result.sections.decisions
    if decisions is not None:
        costs = {c.variant: share(c.cost_diff_per_1k) for c in decisions.result.comparisons}
    metric = "auc"
    out: dict[str, dict[str, Share | None]] = {
        "baseline": {"auc_diff": zero, "cost_diff": zero if decisions is not None else None}}
    for v in result.variants:
        comp = v.comparisons.get("baseline")
        m = None if comp is None else comp.metrics.get(metric)
        out[v.name] = {"auc_diff": share(m), "cost_diff": costs.get(v.name)}
    minimal = result.minimal_set
    if minimal is not None and minimal.comparison is not None:
        out["minimal_set"] = {"auc_diff": share(minimal.comparison.get(metric)),
                              "cost_diff": None}
    return out


def design_data(prepared, groups: list[str], attributes: list[str], seed: int,
                max_people: int, case: CaseScale | None = None) -> DesignData:
    """One row per person (a random sample of at most ``max_people``): each group's features,
    raw and coarse, the sensitive ``attributes``, the population and the rows per person; the
    whole data's people and rows (the study's scale) and the case's totals (``case``)."""
    rows = proxy_rows(prepared, max_people, seed)
    frame = prepared.frame.iloc[rows].reset_index(drop=True)
    columns, coarse = {}, {}
    for g in groups:
        specs = [s for s in prepared.registry.usable
                 if s.group == g and s.category not in ("sensitive", "latent")]
        if not specs:
            continue
        # Retention shortens the history only (its records); the columns stay as shared.
        columns[g] = build_features(frame, specs)
        coarse[g] = build_features(frame, specs, coarsen_groups=(g,))
    sensitive = {}
    for a in attributes:
        y = proxy_target(prepared, a, rows)
        if y is not None and y.nunique() > 1:
            sensitive[a] = y
    users = prepared.rows["user_id"].to_numpy()
    _, first, inverse, counts = np.unique(users, return_index=True, return_inverse=True,
                                          return_counts=True)
    records = counts[inverse][rows]
    everyone = prepared.rows["apple_registered"].to_numpy(dtype=bool) \
        if "apple_registered" in prepared.rows.columns else np.ones(users.size, dtype=bool)
    pop = everyone[rows]
    in_pop = everyone[first]  # per person (a person's rows share the flag)
    windows = [s.window for s in prepared.registry.usable if s.window]
    return DesignData(columns=columns, coarse=coarse, sensitive=pd.DataFrame(sensitive),
                      in_population=pop, records=records,
                      history_days=max(windows) if windows else None,
                      study_people=(int(first.size), int(in_pop.sum())),
                      study_records=(float(users.size), float(counts[in_pop].sum())),
                      case=case)


def designs_section(result, prepared, cfg, names=None, executor=None) -> dict | str:
    """The ``designs`` section: every design's figures (only ``names`` when given), and
    whether the recommended design dominates the one in use; a reason (str) when a name is
    not a design of this study. ``executor``: a running :class:`nsf.execution.Executor` the
    adversaries' fits use (None: one of ``study.workers`` started here)."""
    import time

    t0 = time.perf_counter()
    s = cfg.study
    simulated = cfg.dataset.kind == "simulated"
    groups = shared_groups(result, prepared.registry)
    # The fairness analysis's single attributes (not its intersections) are the ones inferred.
    attributes = [a for a in result.fairness.attributes if "+" not in a
                  and a in prepared.sensitive.columns]
    ledger = result.sections.ledger
    scale = None if ledger is None else CaseScale(
        people=float(s.ledger.people), records=float(s.ledger.records),
        population_share=float(s.ledger.apple_share))
    data = design_data(prepared, groups, attributes, cfg.seed,
                       min(s.proxy_rows, MAX_PEOPLE), scale)
    pop = np.asarray(data.in_population, dtype=bool)
    designs = study_designs(result, groups, simulated=simulated,
                            has_population=_has_population(prepared))
    not_evaluated: dict[str, str] = {}
    if names is not None:
        known = [d.name for d in designs]
        unknown = [n for n in names if n not in known]
        if "minimal_set" in unknown:  # checked before the fits: the search removed nothing
            unknown.remove("minimal_set")
            not_evaluated["minimal_set"] = ("the minimal-set search removed no group: the "
                                            "minimal set is the data in use")
        if unknown:
            return (f"study.designs: {', '.join(map(repr, unknown))} is not a design of this "
                    f"study (allowed: {', '.join(known)})")
        designs = [d for d in designs if d.name in names]
    # Digests are attacked for real (one core, a few tenths of a second); a table shares a row
    # key, which nothing reverses.
    probe = reversal_probe(stream(cfg.seed, "designs_reversal"), confidence=s.confidence) \
        if any(d.identifier == "sha256" for d in designs) else None
    # The inference fits are most of this section's time: on the study's executor.
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(executor_for(cfg, s.workers))
        points = evaluate_designs(designs, data, utility=_utility(result),
                                  rng=stream(cfg.seed, "designs"), n_resamples=s.n_bootstrap,
                                  confidence=s.confidence, max_rows=INFERENCE_ROWS,
                                  probe=probe, executor=executor)
    by_role = {p["role"]: p for p in points if p["role"]}
    case, rec = by_role.get("case"), by_role.get("recommended")
    margin = s.margins.get("auc", 0.0)
    verdict = None if case is None or rec is None else dominates(rec, case, margin)
    return {"designs": points, "people_sampled": int(pop.size),
            "recommended_dominates": verdict, "auc_margin": margin,
            "seconds_per_hash": None if probe is None else probe.seconds_per_hash.to_dict(),
            "probe_targets": 0 if probe is None else probe.n_targets,
            "probe_hashed": 0 if probe is None else probe.hashed,
            "case_records_needed": None if ledger is None else float(ledger.records_needed),
            "not_evaluated": not_evaluated,
            "seconds": time.perf_counter() - t0}


def with_designs(result, prepared, cfg, executor=None):
    """``result`` with its ``designs`` section (``study.designs``: null runs every design that
    applies when every family runs, i.e. ``study.families`` is null; a list runs the named
    ones, an empty list none).

    Raises
    ------
    NsfError
        A name in ``study.designs`` that is not a design of this study.
    """
    from nsf.errors import NsfError
    from nsf.study._assemble import jsonable
    from nsf.study._designs_section import DesignsSection

    wanted = cfg.study.designs
    if (wanted is not None and not wanted) or (wanted is None and
                                               cfg.study.families is not None):
        return result
    section = designs_section(result, prepared, cfg, names=wanted, executor=executor)
    if isinstance(section, str):
        raise NsfError(section)
    return result.model_copy(update={"sections": result.sections.model_copy(
        update={"designs": DesignsSection.model_validate(jsonable(section))})})
