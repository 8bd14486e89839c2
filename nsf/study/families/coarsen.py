"""coarsen: is the full detail of each contested group needed, or would bands do?"""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def _coarsenable(ctx: FamilyContext) -> list[str]:
    registry = ctx.prepared.registry
    return [g for g in ctx.covered
            if any(s.group == g and s.coarsen != "none" for s in registry.usable)]


def applies(ctx: FamilyContext) -> str | None:
    if not _coarsenable(ctx):
        return "no contested attribute group has a coarse version (only numeric columns do)"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    groups = _coarsenable(ctx)
    out = [Proposal(f"coarse_{g}", with_changes(
        ctx.base, coarsen_groups=(*ctx.base.coarsen_groups, g)),
        f"{g} in its coarse version (bands, years, domain type, capped counts)", groups=(g,))
        for g in groups]
    if len(groups) > 1:
        out.append(Proposal("coarse_all", with_changes(
            ctx.base, coarsen_groups=(*ctx.base.coarsen_groups, *groups)),
            "every contested group in its coarse version", groups=tuple(groups)))
    return out


FAMILY = Family("coarsen", "Would a coarse version of each contested group do?",
                "a contested group with a coarse version", applies, variants,
                comparisons=ComparisonView("granularity.rows", inventory="coarse"))
