"""The study's variants, resolved against the feature registry, and their replicate seeds."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field

import numpy as np

from nsf.config import ExperimentConfig
from nsf.errors import NsfError
from nsf.features import FeatureSelection, extra_specs, select_features

#: Bumped when what a fit task computes changes, so older children are not reused.
FIT_VERSION = 1
BASELINE = "baseline"
DROP_ALL = "drop_all_contested"


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

    def describe(self) -> dict:
        return {
            "name": self.name, "family": self.family, "description": self.description,
            "selection": self.selection.describe(), "population": self.population,
            "label": self.label, "reference": self.reference, "subject": self.subject,
            "groups": list(self.groups), "n_features": len(self.features),
            "features": [name for name, _ in self.features],
            "coarse_features": [name for name, coarse in self.features if coarse],
        }


def stream(seed: int, *labels: str | int) -> np.random.Generator:
    """An independent generator for one named purpose, derived from the experiment seed.

    The same labels give the same stream whatever the order in which tasks run or the process
    that runs them, which is what makes parallel results identical to serial ones.
    """
    key = [zlib.crc32(str(label).encode()) for label in labels]
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def replicate_seeds(seed: int, k: int) -> list[int]:
    """K training seeds: the experiment seed first (so replicate 0 is the `nsf train` model),
    then seeds derived from it."""
    if seed is None:
        raise ValueError("replicate_seeds needs the experiment seed")
    out = [int(seed)]
    for i in range(1, k):
        state = np.random.SeedSequence(int(seed), spawn_key=(0x57D7, i)).generate_state(2)
        out.append(int((int(state[0]) << 32 | int(state[1])) >> 2))
    return out


def _features(prepared, selection: FeatureSelection) -> tuple[tuple[str, bool], ...]:
    specs, groups = extra_specs(selection.sensitive, selection.latents)
    registry = prepared.registry.extended(specs, groups) if specs else prepared.registry
    coarse = set(selection.coarsen_groups)
    return tuple((s.name, s.group in coarse and s.coarsen != "none")
                 for s in select_features(registry, selection))


def _with(base: FeatureSelection, **changes) -> FeatureSelection:
    values = {"drop_groups": base.drop_groups, "coarsen_groups": base.coarsen_groups,
              "retention_days": base.retention_days, "sensitive": base.sensitive,
              "keep_groups": base.keep_groups}
    values.update(changes)
    drop = tuple(dict.fromkeys(values["drop_groups"]))
    coarsen = tuple(g for g in dict.fromkeys(values["coarsen_groups"]) if g not in drop)
    return FeatureSelection(drop_groups=drop, coarsen_groups=coarsen,
                            retention_days=values["retention_days"],
                            sensitive=tuple(dict.fromkeys(values["sensitive"])),
                            keep_groups=values["keep_groups"])


def without(base: Variant, groups, prepared, *, name: str | None = None,
            family: str = "minimal_set") -> Variant:
    """The baseline without ``groups`` (used by the minimal-set search)."""
    groups = tuple(sorted(groups))
    selection = _with(base.selection, drop_groups=(*base.selection.drop_groups, *groups))
    return Variant(
        name=name or ("without:" + "+".join(groups)), family=family, selection=selection,
        population=base.population, label=base.label, groups=groups,
        description=f"baseline without {', '.join(groups)}",
        features=_features(prepared, selection))


def _covered_groups(cfg: ExperimentConfig, prepared, base: FeatureSelection) -> list[str]:
    contested = list(prepared.registry.contested_groups)
    if cfg.study.groups is not None:
        try:
            prepared.registry.check_groups(cfg.study.groups, "study.groups")
        except ValueError as exc:
            raise NsfError(str(exc)) from None
        not_contested = [g for g in cfg.study.groups if g not in contested]
        if not_contested:
            raise NsfError(f"study.groups: {not_contested} are not contested groups (contested:"
                           f" {', '.join(contested)}; see features.contested_groups)")
        contested = [g for g in contested if g in cfg.study.groups]
    dropped = set(base.drop_groups)
    return [g for g in contested if g not in dropped]


def resolve_variants(cfg: ExperimentConfig, prepared) -> tuple[Variant, list[Variant]]:
    """The baseline and the study's variants, checked against the data's feature registry.

    The default families are generated from the registry: for each covered contested group
    ``drop_<g>`` (drop_one), ``core+<g>`` (keep_one: the uncontested groups plus ``g``, compared
    with ``drop_all_contested`` so its verdict says whether ``g`` adds to the core),
    ``coarse_<g>`` (for groups with a coarse version) and ``coarse_all``; ``drop_all_contested``;
    ``train_all_users_nsf_any`` (population); ``retention_<d>d``; ``add_sensitive``. Declared
    variants (``study.variants``) change the configured model the same way and come last.

    Raises
    ------
    NsfError
        Unknown groups or sensitive attributes, a variant that keeps no feature, a reference
        that names no variant, or two variants with the same name.
    """
    study = cfg.study
    target = prepared.target
    base_sel = FeatureSelection.from_config(cfg.features)
    registry = prepared.registry
    try:
        base_features = _features(prepared, base_sel)
    except ValueError as exc:
        raise NsfError(f"features: {exc}") from None
    baseline = Variant(BASELINE, "baseline", base_sel, target.population, target.label,
                       reference=BASELINE, subject="removed",
                       description="the configured model", features=base_features)
    groups = _covered_groups(cfg, prepared, base_sel)
    all_contested = [g for g in registry.contested_groups if g not in base_sel.drop_groups]
    families = set(study.families)
    if "keep_one" in families:
        families.add("drop_all")
    simulated = cfg.dataset.kind == "simulated"
    out: list[Variant] = []

    def add(name, family, selection, *, population=None, label=None, reference=BASELINE,
            subject="removed", description="", vgroups=()):
        try:
            feats = _features(prepared, selection)
        except ValueError as exc:
            raise NsfError(f"study variant {name!r}: {exc}") from None
        out.append(Variant(name, family, selection, population or target.population,
                           label or target.label, reference, subject, description,
                           tuple(vgroups), feats))

    if "drop_one" in families:
        for g in groups:
            add(f"drop_{g}", "drop_one", _with(base_sel, drop_groups=(*base_sel.drop_groups, g)),
                description=f"without {g}", vgroups=(g,))
    if "drop_all" in families and all_contested:
        add(DROP_ALL, "drop_all",
            _with(base_sel, drop_groups=(*base_sel.drop_groups, *all_contested)),
            description="uncontested groups only", vgroups=tuple(all_contested))
    if "keep_one" in families and all_contested:
        for g in groups:
            others = [c for c in all_contested if c != g]
            add(f"core+{g}", "keep_one",
                _with(base_sel, drop_groups=(*base_sel.drop_groups, *others)),
                reference=DROP_ALL, subject="added",
                description=f"uncontested groups plus {g} only", vgroups=(g,))
    if "coarsen" in families:
        coarsenable = [g for g in groups
                       if any(s.group == g and s.coarsen != "none" for s in registry.usable)]
        for g in coarsenable:
            add(f"coarse_{g}", "coarsen",
                _with(base_sel, coarsen_groups=(*base_sel.coarsen_groups, g)),
                description=f"{g} in its coarse version (bands, years, domain type, capped "
                "counts)", vgroups=(g,))
        if len(coarsenable) > 1:
            add("coarse_all", "coarsen",
                _with(base_sel, coarsen_groups=(*base_sel.coarsen_groups, *coarsenable)),
                description="every contested group in its coarse version",
                vgroups=tuple(coarsenable))
    if "population" in families and simulated and target.population == "apple":
        add("train_all_users_nsf_any", "population", base_sel, population="all",
            label="nsf_any", subject="added",
            description="trained on all users with the nsf_any proxy label (evaluated on "
            "Apple-registered users' nsf_appstore)")
    if "retention" in families:
        for days in study.retention_days:
            add(f"retention_{days}d", "retention", _with(base_sel, retention_days=days),
                description=f"history windows of at most {days} days")
    if "sensitive" in families:
        available = [c for c in study.sensitive_features if c in prepared.frame.columns]
        extra = [c for c in available if c not in base_sel.sensitive]
        if extra:
            add("add_sensitive", "sensitive",
                _with(base_sel, sensitive=(*base_sel.sensitive, *extra)), subject="added",
                description=f"with the sensitive attributes {', '.join(extra)} as features "
                "(never the default)")
    for i, v in enumerate(study.variants):
        where = f"study.variants[{i}] ({v.name})"
        try:
            for attr in ("drop_groups", "coarsen_groups"):
                registry.check_groups(getattr(v, attr), f"{where}.{attr}")
            if v.keep_groups is not None:
                registry.check_groups(v.keep_groups, f"{where}.keep_groups")
        except ValueError as exc:
            raise NsfError(str(exc)) from None
        missing = [c for c in v.sensitive if c not in prepared.frame.columns]
        if missing:
            raise NsfError(f"{where}.sensitive: {missing} are not in the data")
        if (v.population == "all" or v.label == "nsf_any") and not simulated:
            raise NsfError(f"{where}: population/label variants need a simulated dataset")
        selection = _with(
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
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise NsfError(f"study.variants: names {dup} clash with the default variants; rename "
                       "them or leave the family out of study.families")
    known = {BASELINE, *names}
    for v in out:
        if v.reference not in known:
            raise NsfError(f"study variant {v.name!r}: reference {v.reference!r} is not a "
                           f"variant (known: {', '.join(sorted(known))})")
    return baseline, out


def fit_key(variant: Variant, seed: int, cfg: ExperimentConfig, digest: str, *,
            reliance: bool) -> str:
    """Digest of everything a fit's result depends on: which features (after retention and
    coarsening), training rows and label, model settings, seed, dataset, split, and for the
    baseline the reliance settings. Thread counts are left out: LightGBM runs with
    ``deterministic=True``, and the tests check that results do not depend on them."""
    model = cfg.model.model_dump(mode="json")
    model.pop("num_threads", None)
    payload = {
        "version": FIT_VERSION,
        "features": [list(f) for f in variant.features],
        "population": variant.population, "label": variant.label,
        "require_charge": cfg.target.require_charge,
        "model": model, "seed": int(seed), "dataset": digest,
        "split": cfg.split.model_dump(mode="json"), "split_seed": cfg.seed,
        "contested": None if cfg.features.contested_groups is None
        else list(cfg.features.contested_groups),
    }
    if reliance:
        s = cfg.study
        payload["reliance"] = {"shap_rows": s.shap_rows, "permutation_rows": s.permutation_rows,
                               "repeats": s.permutation_repeats}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = ["BASELINE", "DROP_ALL", "Variant", "fit_key", "replicate_seeds", "resolve_variants",
           "stream", "without"]
