"""retention: how much history is needed? Only windowed aggregates over at most N days."""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal, with_changes
from nsf.views import ComparisonView
from nsf.vocabulary import NOT_SHOWN_NEEDED


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


def sufficient_index(points: list[tuple[float, str | None]]) -> int | None:
    """Index of the smallest point that, with every larger one, is 'not shown needed'."""
    best = None
    for i in range(len(points) - 1, -1, -1):
        if points[i][1] != NOT_SHOWN_NEEDED:
            break
        best = i
    return best


def ledger_history(result, facts, pool=None) -> dict:
    """The ledger's history per training subject: the shortest window non-inferior, with
    every longer one, to the full history."""
    windows = result.inventory.history_windows
    full = max(windows) if windows else facts.training_days
    rows = sorted(((v.selection.retention_days, v.verdict)
                   for v in result.variants_of("retention")
                   if v.selection.retention_days is not None), key=lambda r: r[0])
    rows = [r for r in rows if r[0] < full]
    i = sufficient_index(rows)
    if i is None:
        days = upper = full
        verdict = (f"no retention window shorter than the full {full} days was shown "
                   "non-inferior" if rows else "not studied (family retention did not run)")
    else:
        days = rows[i][0]
        upper = rows[i + 1][0] if i + 1 < len(rows) else full
        verdict = (f"retention: windows of {days} days and longer non-inferior to the full "
                   f"{full} days")
    return {"needed": float(min(days, facts.training_days)),
            "upper": float(min(upper, facts.training_days)), "verdict": verdict}


FAMILY = Family("retention", "How much history is needed?", "history windows", applies,
                variants, ledger=ledger_history, ledger_role="history",
                comparisons=ComparisonView("retention.rows", order_by="retention_days"))
