"""The study's variants, resolved against the feature registry, and their replicate seeds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from nsf.config import INCOME_BAND, ExperimentConfig
from nsf.errors import NsfError
from nsf.features import FeatureSelection, extra_specs, select_features
from nsf.pipeline import TrainingResample
from nsf.streams import replicate_seeds, stream
from nsf.study.families import (
    BASELINE,
    DROP_ALL,
    FAMILIES,
    FamilyContext,
    with_changes,
)

#: Bumped when what a fit task computes changes, so older children are not reused.
FIT_VERSION = 1


@dataclass(frozen=True)
class Variant:
    """One model variant as the study trains it.

    Attributes
    ----------
    name : unique name (MLflow tag ``nsf.variant``).
    family : ``baseline``, ``drop_one``, ``drop_all``, ``keep_one``, ``coarsen``,
        ``population``, ``retention``, ``sensitive``, ``minimal_set`` or ``custom``.
    selection : the features it uses.
    population, label : training rows and label (``apple``/``all``, ``nsf_appstore``/``nsf_any``).
    reference : the arm its verdict compares with (``baseline`` or another variant).
    subject : ``removed`` (the verdict is about the data the variant lacks compared with the
        reference) or ``added`` (about the data it has beyond the reference).
    description : one line for the report.
    groups : the attribute groups the verdict is about (for drop/keep/coarsen variants).
    train_subjects : trained on this many of the training subjects only (a nested subsample
        per seed, family ``volume``); None: all of them.
    """

    name: str
    family: str
    selection: FeatureSelection
    population: str
    label: str
    reference: str = BASELINE
    subject: str = "removed"
    description: str = ""
    groups: tuple[str, ...] = ()
    features: tuple[tuple[str, bool], ...] = field(default=(), compare=False)
    train_subjects: int | None = None

    def describe(self) -> dict:
        return {
            "name": self.name, "family": self.family, "description": self.description,
            "selection": self.selection.describe(), "population": self.population,
            "label": self.label, "reference": self.reference, "subject": self.subject,
            "groups": list(self.groups), "n_features": len(self.features),
            "features": [name for name, _ in self.features],
            "coarse_features": [name for name, coarse in self.features if coarse],
            "train_subjects": self.train_subjects,
        }


def training_resample(cfg: ExperimentConfig) -> TrainingResample | None:
    """The seeds' draw of the training subjects (``study.training_resample``; None: none)."""
    s = cfg.study
    if s.training_resample == "none":
        return None
    return TrainingResample(s.training_resample, s.training_fraction)


def _features(prepared, selection: FeatureSelection) -> tuple[tuple[str, bool], ...]:
    specs, groups = extra_specs(selection.sensitive, selection.latents, prepared.sensitive_kinds())
    registry = prepared.registry.extended(specs, groups) if specs else prepared.registry
    coarse = set(selection.coarsen_groups)
    return tuple((s.name, s.group in coarse and s.coarsen != "none")
                 for s in select_features(registry, selection))


def without(base: Variant, groups, prepared, *, name: str | None = None,
            family: str = "minimal_set") -> Variant:
    """The baseline without ``groups`` (used by the minimal-set search)."""
    groups = tuple(sorted(groups))
    selection = with_changes(base.selection, drop_groups=(*base.selection.drop_groups, *groups))
    return Variant(
        name=name or ("without:" + "+".join(groups)), family=family, selection=selection,
        population=base.population, label=base.label, groups=groups,
        description=f"baseline without {', '.join(groups)}",
        features=_features(prepared, selection))


@dataclass(frozen=True)
class StudyAttributes:
    """The sensitive columns each analysis uses, resolved against the dataset description.

    Attributes
    ----------
    fairness : columns the group metrics are broken down by.
    intersections : combinations also broken down.
    sensitive_features : columns the 'sensitive' variant adds as features.
    proxy_targets : what each contested group is tried as a proxy for.
    """

    fairness: tuple[str, ...]
    intersections: tuple[tuple[str, ...], ...]
    sensitive_features: tuple[str, ...]
    proxy_targets: tuple[str, ...]


def resolve_attributes(cfg: ExperimentConfig, prepared) -> StudyAttributes:
    """``study.fairness_attributes`` and friends, defaulted from and checked against the
    dataset description's sensitive columns (by their own names).

    Raises
    ------
    NsfError
        A named column that is not a sensitive column of the dataset (or ``income_band``
        without the simulator's latent income).
    """
    s = cfg.study
    description = prepared.description
    names = description.sensitive_names
    try:
        fairness = names if s.fairness_attributes is None else s.fairness_attributes
        description.check_sensitive(fairness, "study.fairness_attributes")
        intersections: tuple[tuple[str, ...], ...]
        if s.intersections is None:
            intersections = (tuple(names[:2]),) if len(names) >= 2 else ()
        else:
            intersections = s.intersections
            for combo in intersections:
                description.check_sensitive(combo, "study.intersections")
        features = names if s.sensitive_features is None else s.sensitive_features
        description.check_sensitive(features, "study.sensitive_features")
        base = cfg.features.sensitive
        description.check_sensitive(base, "features.sensitive")
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    income = "income_z" in prepared.frame.columns
    if s.proxy_targets is None:
        targets = (*names, *([INCOME_BAND] if income else []))
    else:
        targets = s.proxy_targets
        others = [t for t in targets if t != INCOME_BAND]
        try:
            description.check_sensitive(others, "study.proxy_targets")
        except ValueError as exc:
            raise NsfError(f"{exc}; {INCOME_BAND} also on simulated data") from None
        if INCOME_BAND in targets and not income:
            raise NsfError(f"study.proxy_targets: {INCOME_BAND} needs the simulator's latent "
                           "income (simulated data only)")
    return StudyAttributes(tuple(fairness), tuple(tuple(c) for c in intersections),
                           tuple(features), tuple(targets))


def contested_groups(cfg: ExperimentConfig, prepared) -> tuple[list[str], list[str]]:
    """``(contested, covered)``: every contested group the baseline uses, and those the
    default variants cover (``study.groups`` narrows the second, never the first)."""
    registry = prepared.registry
    base = FeatureSelection.from_config(cfg.features)
    dropped = set(base.drop_groups)
    contested = [g for g in registry.contested_groups if g not in dropped]
    if cfg.study.groups is None:
        return contested, list(contested)
    try:
        registry.check_groups(cfg.study.groups, "study.groups")
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    not_contested = [g for g in cfg.study.groups if g not in registry.contested_groups]
    if not_contested:
        raise NsfError(f"study.groups: {not_contested} are not contested groups (contested:"
                       f" {', '.join(registry.contested_groups)}; see features.contested_groups)")
    return contested, [g for g in contested if g in cfg.study.groups]


@dataclass(frozen=True)
class ResolvedStudy:
    """What the study will run: the baseline, the variants, the families skipped and why."""

    baseline: Variant
    variants: list[Variant]
    skipped_families: list[tuple[str, str]]
    attributes: StudyAttributes
    contested: list[str]
    covered: list[str]


def resolve_study(cfg: ExperimentConfig, prepared) -> ResolvedStudy:
    """The baseline and the study's variants, checked against the data's feature registry and
    its description.

    Each registered family (:data:`nsf.study.families.FAMILIES`, or those of
    ``study.families``) is asked whether it applies to this dataset; one that does not is
    skipped with its reason. Declared variants (``study.variants``) change the configured model
    the same way and come last.

    Raises
    ------
    NsfError
        Unknown families, groups or sensitive columns, a variant that keeps no feature, a
        reference that names no variant, two variants with the same name, or no variant at all
        because every family is inapplicable (each named with its reason).
    """
    study = cfg.study
    target = prepared.target
    base_sel = FeatureSelection.from_config(cfg.features)
    registry = prepared.registry
    attributes = resolve_attributes(cfg, prepared)
    try:
        base_features = _features(prepared, base_sel)
    except ValueError as exc:
        raise NsfError(f"features: {exc}") from None
    baseline = Variant(BASELINE, "baseline", base_sel, target.population, target.label,
                       reference=BASELINE, subject="removed",
                       description="the configured model", features=base_features)
    contested, covered = contested_groups(cfg, prepared)
    names = list(FAMILIES) if study.families is None else list(dict.fromkeys(study.families))
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise NsfError(f"study.families: unknown families {unknown} (registered: "
                       f"{', '.join(FAMILIES)})")
    for name in list(names):
        for required in FAMILIES[name].requires:
            if required not in names:
                names.append(required)
    names = [f for f in FAMILIES if f in names]
    ctx = FamilyContext(cfg=cfg, prepared=prepared, base=base_sel, covered=tuple(covered),
                        contested=tuple(contested),
                        sensitive=attributes.sensitive_features)
    simulated = cfg.dataset.kind == "simulated"
    out: list[Variant] = []
    skipped: list[tuple[str, str]] = []

    def add(name, family, selection, *, population=None, label=None, reference=BASELINE,
            subject="removed", description="", vgroups=(), train_subjects=None):
        try:
            feats = _features(prepared, selection)
        except ValueError as exc:
            raise NsfError(f"study variant {name!r}: {exc}") from None
        out.append(Variant(name, family, selection, population or target.population,
                           label or target.label, reference, subject, description,
                           tuple(vgroups), feats, train_subjects))

    for name in names:
        family = FAMILIES[name]
        reason = family.applies(ctx)
        if reason is None:
            missing = [r for r in family.requires if r in dict(skipped)]
            if missing:
                reason = f"needs the {missing[0]} family ({dict(skipped)[missing[0]]})"
        if reason is not None:
            skipped.append((name, reason))
            continue
        for p in family.variants(ctx):
            add(p.name, name, p.selection, population=p.population, label=p.label,
                reference=p.reference, subject=p.subject, description=p.description,
                vgroups=p.groups, train_subjects=p.train_subjects)
    known_families = {*FAMILIES, "custom"}
    for i, v in enumerate(study.variants):
        where = f"study.variants[{i}] ({v.name})"
        if v.family not in known_families:
            raise NsfError(f"{where}.family: unknown family {v.family!r} (registered: "
                           f"{', '.join(sorted(known_families))})")
        try:
            for attr in ("drop_groups", "coarsen_groups"):
                registry.check_groups(getattr(v, attr), f"{where}.{attr}")
            if v.keep_groups is not None:
                registry.check_groups(v.keep_groups, f"{where}.keep_groups")
            prepared.description.check_sensitive(v.sensitive, f"{where}.sensitive")
        except ValueError as exc:
            raise NsfError(str(exc)) from None
        if (v.population == "all" or v.label == "nsf_any") and not simulated:
            raise NsfError(f"{where}: population/label variants need a simulated dataset")
        selection = with_changes(
            base_sel, drop_groups=(*base_sel.drop_groups, *v.drop_groups),
            coarsen_groups=(*base_sel.coarsen_groups, *v.coarsen_groups),
            retention_days=v.retention_days if v.retention_days is not None
            else base_sel.retention_days,
            sensitive=(*base_sel.sensitive, *v.sensitive),
            keep_groups=v.keep_groups if v.keep_groups is not None else base_sel.keep_groups)
        subject = v.subject
        if subject == "auto":
            adds = v.population == "all" or bool(v.sensitive) or v.reference != BASELINE
            subject = "added" if adds else "removed"
        add(v.name, v.family, selection, population=v.population, label=v.label,
            reference=v.reference, subject=subject, description="declared in study.variants",
            vgroups=(*v.drop_groups, *v.coarsen_groups))
    if not out and all(f in dict(skipped) for f in names):
        why = "; ".join(f"{f}: {r}" for f, r in skipped) or "study.families is empty"
        raise NsfError(f"study: no variant to run, every family is inapplicable ({why})")
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise NsfError(f"study.variants: names {dup} clash with the default variants; rename "
                       "them or leave the family out of study.families")
    known = {BASELINE, *names}
    for arm in out:
        if arm.reference not in known:
            raise NsfError(f"study variant {arm.name!r}: reference {arm.reference!r} is not a "
                           f"variant (known: {', '.join(sorted(known))})")
    return ResolvedStudy(baseline, out, skipped, attributes, contested, covered)


def resolve_variants(cfg: ExperimentConfig, prepared) -> tuple[Variant, list[Variant]]:
    """The baseline and the study's variants (:func:`resolve_study` without the rest)."""
    resolved = resolve_study(cfg, prepared)
    return resolved.baseline, resolved.variants


def _resolved_split(cfg: ExperimentConfig) -> dict:
    """The split config with 'auto' resolved as the data resolves it (a time column: 'time'),
    so that the same split has the same key however it was asked for."""
    split = cfg.split.model_dump(mode="json")
    if split["kind"] == "auto":
        table = cfg.dataset.table
        has_time = cfg.dataset.kind == "simulated" or (table is not None and table.time_column)
        split["kind"] = "time" if has_time else "user"
    return split


def fit_key(variant: Variant, seed: int, cfg: ExperimentConfig, digest: str, *,
            reliance: bool, crossfit: int | None = None) -> str:
    """Digest of everything a fit's result depends on: which features (after retention and
    coarsening), training rows and label, model settings, seed, dataset, split (and the folds
    when cross-fitted), the seeds' draw of the training subjects, and for the baseline the
    reliance settings. Thread counts are left out: LightGBM runs with ``deterministic=True``,
    and the tests check that results do not depend on them."""
    model = cfg.model.model_dump(mode="json")
    model.pop("num_threads", None)
    payload = {
        "version": FIT_VERSION,
        "features": [list(f) for f in variant.features],
        "population": variant.population, "label": variant.label,
        "require_charge": cfg.target.require_charge,
        "model": model, "seed": int(seed), "dataset": digest,
        "split": _resolved_split(cfg), "split_seed": cfg.seed,
        "contested": None if cfg.features.contested_groups is None
        else list(cfg.features.contested_groups),
    }
    if variant.train_subjects is not None:
        # Only when set, so the keys of every other fit stay those of earlier runs.
        payload["train_subjects"] = int(variant.train_subjects)
    if crossfit is not None:
        payload["crossfit_folds"] = int(crossfit)
    resample = training_resample(cfg)
    if resample is not None:
        # Only when set, so the keys of fits without a resample stay those of earlier runs.
        payload["training_resample"] = {"kind": resample.kind, "fraction":
                                        resample.fraction if resample.kind == "subsample"
                                        else None}
    if reliance:
        s = cfg.study
        payload["reliance"] = {"shap_rows": s.shap_rows, "permutation_rows": s.permutation_rows,
                               "repeats": s.permutation_repeats,
                               # the explanations payload (nsf.study._explain)
                               "explain": {"version": 1, "threshold": s.threshold}}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = ["BASELINE", "DROP_ALL", "ResolvedStudy", "StudyAttributes", "Variant",
           "contested_groups", "fit_key", "replicate_seeds", "resolve_attributes",
           "resolve_study", "resolve_variants", "stream", "training_resample", "without"]
