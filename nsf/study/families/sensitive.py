"""sensitive: what would adding the sensitive columns as features change? (Never the default.)"""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def _extra(ctx: FamilyContext) -> list[str]:
    return [c for c in ctx.sensitive if c not in ctx.base.sensitive]


def applies(ctx: FamilyContext) -> str | None:
    if not ctx.description.sensitive:
        return "the dataset declares no sensitive column"
    if not _extra(ctx):
        return "every sensitive column is already a feature of the baseline"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    extra = _extra(ctx)
    return [Proposal("add_sensitive", with_changes(
        ctx.base, sensitive=(*ctx.base.sensitive, *extra)), subject="added",
        description=f"with the sensitive attributes {', '.join(extra)} as features (never the "
        "default)")]


FAMILY = Family("sensitive", "What would the sensitive columns change as features?",
                "sensitive columns", applies, variants,
                comparisons=ComparisonView("attributes.sensitive", reference=None))
