"""drop_uncontested: what each uncontested group adds, for reference. The baseline without it;
its verdict is shown marked 'not contested' and never changes a recommendation (uncontested
data are kept)."""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def _uncontested(ctx: FamilyContext) -> tuple[str, ...]:
    return tuple(g for g in ctx.used_groups if g not in ctx.contested)


def applies(ctx: FamilyContext) -> str | None:
    if not _uncontested(ctx):
        return "every attribute group is contested (drop_one covers them all)"
    if ctx.cfg.study.groups is not None:
        return "study.groups narrows the study to contested groups"
    if len(ctx.used_groups) < 2:
        return "the model uses a single attribute group; without it no feature is left"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return [Proposal(f"drop_{g}", with_changes(ctx.base, drop_groups=(*ctx.base.drop_groups, g)),
                     f"without {g} (not contested: for reference)", groups=(g,))
            for g in _uncontested(ctx)]


FAMILY = Family("drop_uncontested", "What does each uncontested group add (for reference)?",
                "an uncontested attribute group and at least one other group", applies,
                variants,
                comparisons=ComparisonView("attributes.uncontested", inventory="necessity"))
