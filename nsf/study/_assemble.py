"""The study's typed result, assembled from what the run computed (:func:`assemble`).

Each part is validated into its model as it is built (:class:`nsf.study.StudyResult`'s
fields); no family is named here: a family's section comes from its own ``curve`` or
``procedure`` (:mod:`nsf.study.families`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsf.config import INCOME_BAND
from nsf.streams import stream
from nsf.study._assumptions import method_assumptions
from nsf.study._explain import explanations_section
from nsf.study._result import (
    Arm,
    Assumption,
    DatasetInfo,
    FairnessResult,
    FamilySections,
    FeatureInventory,
    FitCounts,
    MinimalSet,
    ProxyResult,
    RelianceResult,
    RunIds,
    SequentialBudget,
    Settings,
    SkippedFamily,
    StudyResult,
    Timing,
    Truth,
    VariantResult,
)
from nsf.study.families import BASELINE, FAMILIES, NECESSITY

__all__ = ["TRUTH_FIELDS", "StudyParts", "assemble", "feature_inventory", "jsonable"]


@dataclass
class StudyParts:
    """What the run computed, stage by stage, for :func:`assemble`."""

    compared: dict
    tables: dict
    skipped: list
    proxies: list
    minimal: dict | None
    contested: list[str]
    threshold_source: str
    sections: dict[str, Any] = field(default_factory=dict)
    plain_cv_auc: float | None = None
    timing: dict[str, float] = field(default_factory=dict)
    sequential: Any = None


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


def _summary(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "per_seed": arr.tolist()}


def _none_if_nan(x):
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _truth(prepared) -> dict | None:
    dependence = prepared.manifest.get("config", {}).get("dependence") if prepared.manifest \
        else None
    if not dependence:
        return None
    groups = {g: {f: dependence.get(f) for f in fields} for g, fields in TRUTH_FIELDS.items()}
    return {"dependence": dependence, "group_fields": {g: list(f) for g, f in
                                                       TRUTH_FIELDS.items()},
            "group_strengths": groups}


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


def _single_group_variant(study, family: str, group: str):
    """The variant of ``family`` about exactly ``group`` (e.g. its drop-one variant)."""
    return next((v for v in study.variants if v.family == family and v.groups == (group,)),
                None)


def _metrics_summary(study, v) -> dict:
    outs = [study.outcomes[k] for k in study.keys(v)]
    keys = list(outs[0].metrics)
    return {k: _summary([o.metrics[k] for o in outs]) for k in keys
            if all(k in o.metrics for o in outs)}


def _reliance(study, compared: dict, contested: list[str], truth: dict | None) -> list:
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
        drop = _single_group_variant(study, NECESSITY, group)
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


def _sections(study) -> dict:
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


def assemble(study, parts: StudyParts) -> StudyResult:
    """The typed result from the study's parts, each validated as it is built."""
    cfg, prepared, s = study.cfg, study.prepared, study.cfg.study
    primary = s.primary_metric
    truth = _truth(prepared) if cfg.dataset.kind == "simulated" else None
    compared = parts.compared
    baseline_keys = study.keys(study.baseline)
    first_arm: dict[tuple[str, ...], str] = {tuple(baseline_keys): BASELINE}
    variants = []
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
        variants.append(VariantResult.model_validate(jsonable(entry)))
    base_outs = [study.outcomes[k] for k in baseline_keys]
    y = prepared.rows["nsf_appstore"].to_numpy()[prepared.test_index]
    dataset = {"kind": cfg.dataset.kind, "source": prepared.source,
               "digest": prepared.digest, "split": prepared.split_note,
               "test_rows": int(prepared.test_index.size),
               "test_nsf_rate": float(np.mean(y)),
               "train_rows": int(prepared.train_index.size) if prepared.crossfit is None
               else int(base_outs[0].info.get("train_rows", 0)),
               "validation_rows": int(prepared.validation_index.size)
               if prepared.crossfit is None
               else int(base_outs[0].info.get("validation_rows", 0)),
               "test_digest": study.test_digest,
               "identifier_columns": list(cfg.dataset.table.identifier_columns)
               if cfg.dataset.table is not None else []}
    if parts.plain_cv_auc is not None:
        dataset["plain_cv_auc"] = parts.plain_cv_auc
        dataset["plain_cv_note"] = (
            f"plain {prepared.crossfit.folds}-fold cross-validation of the same learner "
            "and features on the first seed's folds: each model trains on every other fold "
            "(no calibration fold, no re-drawn training rows), AUC of the pooled out-of-fold "
            "scores")
    settings = Settings(
        primary_metric=primary, margins=dict(s.margins), metrics=list(s.metrics),
        confidence=s.confidence, n_bootstrap=s.n_bootstrap, interval_target=s.interval_target,
        training_resample=s.training_resample,
        training_fraction=s.training_fraction if s.training_resample == "subsample" else None,
        multiplicity=s.multiplicity, fairness_n_bootstrap=s.fairness_n_bootstrap,
        until=s.until,
        budget=SequentialBudget.model_validate(s.budget.model_dump(mode="json"))
        if s.until == "decided" else None,
        cost_margin=s.cost_margin, threshold=s.threshold,
        threshold_source=parts.threshold_source, n_bins=s.n_bins,
        min_group_support=s.min_group_support, proxy_lift_threshold=s.proxy_lift_threshold,
        # The latent income quartile is shown, but ability to pay is what the score is meant
        # to measure: not a protected attribute.
        protected_targets=[t for t in study.resolved.attributes.proxy_targets
                           if t != INCOME_BAND],
        equalized_odds_cut=s.equalized_odds_cut, reliance_top_k=s.reliance_top_k,
        proxy_rows=s.proxy_rows, proxy_cv=s.proxy_cv, proxy_estimator=s.proxy_estimator,
        shap_rows=s.shap_rows, permutation_rows=s.permutation_rows,
        permutation_repeats=s.permutation_repeats, minimal_set_strategy=s.minimal_set.strategy,
        crossfit_below=s.crossfit_below, crossfit_folds=s.crossfit_folds, model=cfg.model.kind,
        experiment_seed=cfg.seed,
        configured_families=None if s.families is None else list(s.families))
    config = cfg.model_dump(mode="json")
    # Families with variants, in order, then those that ran their own procedure.
    families = list(dict.fromkeys(v.family for v in study.variants))
    families += [name for name in parts.sections if name in FAMILIES
                 and name not in families and FAMILIES[name].procedure is not None]
    return StudyResult(
        name=cfg.name,
        dataset=DatasetInfo.model_validate(jsonable(dataset)),
        config=jsonable(config),
        assumptions=[Assumption.model_validate(a) for a in jsonable(method_assumptions(
            config, simulated=cfg.dataset.kind == "simulated",
            description=prepared.description))],
        seeds=study.seeds,
        description=jsonable(_description(prepared)),
        settings=settings,
        families=families,
        skipped_families=[SkippedFamily(family=f, reason=r)
                          for f, r in study.resolved.skipped_families],
        # Every contested group, whatever study.groups covers: narrowing the groups studied
        # never changes what is contested.
        contested_groups=list(study.resolved.contested),
        covered_groups=parts.contested,
        inventory=FeatureInventory.model_validate(jsonable(_inventory(study))),
        baseline=Arm.model_validate(jsonable(_arm_fields(study.baseline) | {
            "seeds": study.seeds, "run_ids": [o.run_id for o in base_outs],
            "metrics": _metrics_summary(study, study.baseline)})),
        variants=variants,
        minimal_set=None if parts.minimal is None else
        MinimalSet.model_validate(jsonable(parts.minimal)),
        fairness=FairnessResult.model_validate(jsonable(
            {"threshold": s.threshold, "attributes": parts.tables, "skipped": parts.skipped})),
        proxies=[ProxyResult.model_validate(jsonable({k: _none_if_nan(v) for k, v in
                                                      row.items()})) for row in parts.proxies],
        reliance=[RelianceResult.model_validate(jsonable(r)) for r in
                  _reliance(study, compared, parts.contested, truth)],
        sections=FamilySections.model_validate(
            {name: jsonable(x) if isinstance(x, dict) else x
             for name, x in {**_sections(study), **parts.sections}.items()}),
        truth=None if truth is None else Truth.model_validate(jsonable(truth)),
        fits=FitCounts(trained=study.n_trained, reused=study.n_reused,
                       unique=len(study.outcomes), shared=study.n_shared),
        run_ids=RunIds(parent=None, children={
            v: {str(o.seed): o.run_id for o in outs} for v, outs in _children(study).items()}),
        timing=Timing(**parts.timing),
        sequential=parts.sequential,
    )


def _arm_fields(v) -> dict:
    """What an arm is (no reference or subject: those belong to a comparison)."""
    return {k: x for k, x in v.describe().items() if k not in ("reference", "subject")}


def _description(prepared):
    """The dataset description the study read, as logged."""
    return None if prepared.description is None else prepared.description.to_dict()


def _inventory(study) -> dict:
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
    # The shared categories, as the dataset's description lists them (feed_registry).
    cats = [dict(c) for c in registry.categories] if categories else []
    windows = sorted({f.window for f in registry if f.window is not None})
    return {"features": features, "groups": groups, "categories": cats,
            "history_windows": windows}


def _children(study) -> dict[str, list]:
    out = {}
    for v in [study.baseline, *study.variants]:
        out[v.name] = [study.outcomes[k] for k in study.keys(v)]
    return out
