"""retention: how much history is needed? Only windowed aggregates over at most N days."""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes


def applies(ctx: FamilyContext) -> str | None:
    windows = ctx.description.windows
    if not windows:
        return "needs history windows (the dataset has no windowed aggregates)"
    days = ctx.cfg.study.retention_days
    if not days:
        return "study.retention_days is empty"
    if min(days) >= max(windows):
        return (f"every retention window ({', '.join(map(str, days))} days) keeps all the "
                f"data's history windows (at most {max(windows)} days)")
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return [Proposal(f"retention_{d}d", with_changes(ctx.base, retention_days=d),
                     f"history windows of at most {d} days")
            for d in ctx.cfg.study.retention_days]


FAMILY = Family("retention", "How much history is needed?", "history windows", applies,
                variants)
