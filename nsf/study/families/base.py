"""What a variant family is: what it needs from the dataset, and the variants it proposes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nsf.features import FeatureSelection

#: The arm every default verdict compares with unless a family says otherwise.
BASELINE = "baseline"
#: The uncontested-core variant (family ``drop_all``); ``keep_one`` variants compare with it.
DROP_ALL = "drop_all_contested"


@dataclass(frozen=True)
class Proposal:
    """One variant a family proposes (the study checks it against the registry)."""

    name: str
    selection: FeatureSelection
    description: str
    groups: tuple[str, ...] = ()
    population: str | None = None
    label: str | None = None
    reference: str = BASELINE
    subject: str = "removed"
    train_subjects: int | None = None


@dataclass(frozen=True)
class FamilyContext:
    """What a family may look at when deciding whether it applies and what it proposes.

    Attributes
    ----------
    cfg : the experiment config.
    prepared : the prepared data (its ``description`` and feature ``registry``).
    base : the baseline's feature selection.
    covered : contested groups the default variants cover (``study.groups`` narrows them).
    contested : every contested group the baseline uses (never narrowed).
    sensitive : sensitive columns the 'sensitive' variant may add (resolved names).
    """

    cfg: object
    prepared: object
    base: FeatureSelection
    covered: tuple[str, ...]
    contested: tuple[str, ...]
    sensitive: tuple[str, ...] = ()

    @property
    def description(self):
        return self.prepared.description

    @property
    def used_groups(self) -> tuple[str, ...]:
        """Groups with a usable feature that the baseline keeps."""
        registry = self.prepared.registry
        dropped = set(self.base.drop_groups)
        keep = self.base.keep_groups
        return tuple(g for g in registry.groups
                     if g not in dropped and (keep is None or g in keep)
                     and any(s.group == g for s in registry.usable))


@dataclass(frozen=True)
class Family:
    """A family of variants, answering one question.

    Attributes
    ----------
    name : the family's name (``study.families``, the report's sections).
    question : one line: what its verdicts answer.
    needs : one line: what it needs from the dataset.
    applies : ``applies(ctx) -> reason | None``: None when it can run on this dataset, else
        why not (shown in the report as "not applicable: <reason>").
    variants : ``variants(ctx) -> list[Proposal]``.
    requires : families whose variants it compares with (they run when it runs).
    """

    name: str
    question: str
    needs: str
    applies: Callable[[FamilyContext], str | None]
    variants: Callable[[FamilyContext], list[Proposal]]
    requires: tuple[str, ...] = field(default=())


def with_changes(base: FeatureSelection, **changes) -> FeatureSelection:
    """``base`` with some fields changed (dropped groups are never also coarsened)."""
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
