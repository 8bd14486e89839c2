"""drop_one: is each contested group needed? The baseline without it."""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def applies(ctx: FamilyContext) -> str | None:
    if not ctx.covered:
        return "no contested attribute group to drop (dataset.table.contested_groups / " \
               "features.contested_groups name none)"
    if len(ctx.used_groups) < 2:
        return "the model uses a single attribute group; without it no feature is left"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return [Proposal(f"drop_{g}", with_changes(ctx.base, drop_groups=(*ctx.base.drop_groups, g)),
                     f"without {g}", groups=(g,)) for g in ctx.covered]


FAMILY = Family("drop_one", "Is each contested group needed?",
                "a contested group and at least one other group", applies, variants,
                comparisons=ComparisonView("attributes.drop_one", inventory="necessity"))
