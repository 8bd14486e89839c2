"""keep_one: does each contested group add to the uncontested core? Core plus that group,
compared with the core alone (``drop_all_contested``)."""

from __future__ import annotations

from nsf.study.families import drop_all
from nsf.study.families.base import DROP_ALL, Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView


def applies(ctx: FamilyContext) -> str | None:
    reason = drop_all.applies(ctx)
    if reason is not None:
        return reason
    if not ctx.covered:
        return "no contested attribute group to add to the core"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    out = []
    for g in ctx.covered:
        others = [c for c in ctx.contested if c != g]
        out.append(Proposal(f"core+{g}", with_changes(
            ctx.base, drop_groups=(*ctx.base.drop_groups, *others)),
            f"uncontested groups plus {g} only", groups=(g,), reference=DROP_ALL,
            subject="added"))
    return out


FAMILY = Family("keep_one", "Does each contested group add to the uncontested core?",
                "at least one uncontested attribute group", applies, variants,
                requires=("drop_all",),
                comparisons=ComparisonView("attributes.keep_one", reference=None))
