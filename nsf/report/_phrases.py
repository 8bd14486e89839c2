"""What the report's answers share: links into the technical appendix, numbers, money and
thresholds in words, and the content of a family's section."""

from __future__ import annotations

from nsf.report._schema import CategoryRecommendation, Comparison, ReportModel
from nsf.report._words import group_words, number_with_interval

__all__ = ["category_words", "link"]


#: Decision metrics of the policy, in words.
_DECISION_METRICS = {"refused_safe_rate": "refused bundling although their payments would not "
                                          "fail",
                     "failure_among_bundled": "failures among the bundled"}


def link(anchor: str, text: str = "evidence") -> dict:
    """A reference into the technical appendix (``appendix.html#<anchor>``)."""
    return {"text": text, "doc": "appendix", "anchor": anchor}


def category_words(rec: CategoryRecommendation) -> str:
    """A category in words: ``7. Pay Money balance`` (number and name)."""
    name = rec.name.replace("_", " ")
    return f"{rec.category}. {name}" if rec.category is not None else \
        group_words(rec.name)


def _names(recs: list[CategoryRecommendation]) -> str:
    return ", ".join(category_words(r) for r in recs) or "none"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _thr(thresholds: list[float]) -> str:
    ts = sorted(set(thresholds))
    if not ts:
        return "n/a"
    return str(ts[0]) if len(ts) == 1 else f"{ts[0]} to {ts[-1]}, one per training seed"


def _big(x: float | None) -> str:
    if x is None:
        return "n/a"
    for scale, name in ((1e9, " billion"), (1e6, " million")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{name}"
    return f"{x:,.0f}"


def _money(x: float | None) -> str:
    if x is None:
        return "n/a"
    # Money to the thousands: the intervals are thousands wide.
    return f"{round(x, -3):,.0f}"


def _auc_loss(c: Comparison | None) -> str:
    """A drop's AUC change as a loss (positive = worse), with its interval."""
    if not c or c.estimate is None:
        return "n/a"
    return number_with_interval(-c.estimate, -c.upper if c.upper is not None
                                else None, -c.lower if c.lower is not None else None)


def _family(model: ReportModel, name: str) -> dict | None:
    """The content of the family section ``name`` (its view's own form), or None."""
    entry = model.family_sections.get(name)
    return entry.content if entry is not None else None


def _ledger(model: ReportModel) -> dict | None:
    return _family(model, "ledger")


def _ledger_row(model: ReportModel, item: str) -> dict | None:
    led = _ledger(model)
    return next((r for r in led["rows"] if r["item"] == item), None) if led else None


def _not_run(model: ReportModel, family: str) -> str:
    """Why a family has no answer: not applicable (with the study's reason) or not run."""
    reason = next((f.reason for f in model.skipped_families
                   if f.family == family), None)
    if reason:
        return f"Not applicable: {reason}."
    return f"Not studied (the {family} family did not run)."
