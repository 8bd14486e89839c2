"""drop_all: are the contested groups needed together? The uncontested groups alone."""

from __future__ import annotations

from nsf.study.families.base import DROP_ALL, Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def applies(ctx: FamilyContext) -> str | None:
    if not ctx.contested:
        return "no contested attribute group"
    if not set(ctx.used_groups) - set(ctx.contested):
        return ("every attribute group is contested, so the uncontested core has no feature; "
                "name the disputed groups in dataset.table.contested_groups (or "
                "features.contested_groups) to leave at least one uncontested")
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return [Proposal(DROP_ALL, with_changes(
        ctx.base, drop_groups=(*ctx.base.drop_groups, *ctx.contested)),
        "uncontested groups only", groups=tuple(ctx.contested))]


FAMILY = Family("drop_all", "Are the contested groups needed together?",
                "at least one uncontested attribute group", applies, variants,
                comparisons=ComparisonView("attributes.drop_all"))
