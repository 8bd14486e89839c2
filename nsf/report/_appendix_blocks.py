"""The technical appendix's building blocks: paragraphs, notes, tables and comparison cells,
read from the typed report model (:class:`nsf.report.ReportModel`)."""

from __future__ import annotations

from collections.abc import Sequence

from nsf.report._figures import FIGURES
from nsf.report._schema import Comparison, ReportModel, Settings, ShortComparison, Words
from nsf.views import (
    decided_by_cell,
    fmt,
    interval,
    simultaneous_cell,
    verdict_cell,
)

#: Marks a group value left out of the disparities (too few rows behind it).
SMALL_MARK = "†"


def _conf(settings: Settings) -> str:
    c = settings.confidence
    return "n/a" if c is None else f"{100 * c:g}%"


def _p(text: str) -> dict:
    return {"type": "p", "text": text}


def _note(text: str) -> dict:
    return {"type": "note", "text": text}


def _list(items: list[str]) -> dict:
    return {"type": "list", "items": list(items)}


def _table(caption: str, headers: list[str], rows: Sequence[Sequence[str | list[str]]],
           numeric: set[int] | None = None) -> dict:
    return {"type": "table", "caption": caption, "headers": headers, "rows": rows,
            "numeric": sorted(numeric or set())}


def _figure(name: str, figures: dict) -> list[dict]:
    if name not in figures:
        return []
    return [{"type": "figure", "name": name, "caption": FIGURES[name]}]


def _h(text: str) -> dict:
    return {"type": "h3", "text": text}


def _kv(pairs: list[tuple[str, str]], caption: str = "") -> dict:
    return _table(caption, ["item", "value"], [[k, v] for k, v in pairs])


def _comparison_table(rows: list[Comparison], caption: str, metric: str, *, show_groups=True,
                      extra: tuple[tuple[str, str, str], ...] = ()) -> dict:
    headers = ["variant", "reference", "reference " + metric.upper(),
               "variant " + metric.upper(), "difference", "interval (per comparison)",
               "simultaneous interval", "verdict", "decided by"]
    headers += [h for h, _, _ in extra]
    body = []
    for r in rows:
        line = [r.variant + (f" (= {r.same_fits_as})" if r.same_fits_as else ""),
                r.reference, fmt(r.reference_estimate), fmt(r.variant_estimate),
                fmt(r.estimate, "+3"), interval(r.lower, r.upper),
                simultaneous_cell(r.simultaneous_lower, r.simultaneous_upper, r.family_size),
                verdict_cell(r.verdict, r.per_comparison_verdict),
                decided_by_cell(r.verdict, r.decided_by)]
        line += [fmt(getattr(r, key), kind) for _, key, kind in extra]
        body.append(line)
    return _table(caption, headers, body, {2, 3, 4, 5, 6})


def _none_block(what: str) -> dict:
    return _note(f"Missing: {what}. The study result has no such part (the variant family was "
                 "not run or failed); the rest of the report is unaffected.")


def _skipped(m: ReportModel, family: str) -> str | None:
    """Why ``family`` cannot apply to this dataset, or None when it could."""
    return next((f.reason for f in m.skipped_families or []
                 if f.family == family), None)


def _absent(m: ReportModel, family: str, what: str) -> dict:
    """The note for a family without rows: not applicable (with the study's reason), or
    missing."""
    reason = _skipped(m, family)
    if reason is not None:
        return _note(f"{what[0].upper()}{what[1:]}: not applicable: {reason}.")
    return _none_block(what)


# --- sections -------------------------------------------------------------------------------

def _simulated(m: ReportModel) -> bool:
    return m.settings.simulated


def _words(m: ReportModel) -> Words:
    return m.settings.words


def _cmp_cell(c: ShortComparison | None, used: bool) -> list[str] | str:
    if not used:
        return "- (not used)"
    if not c:
        return "n/a"
    sim = "" if c.simultaneous_lower is None else \
        f"; simultaneous {interval(c.simultaneous_lower, c.simultaneous_upper)}"
    return [f"{fmt(c.estimate, '+3')} {interval(c.lower, c.upper)}{sim}",
            verdict_cell(c.verdict) if c.verdict else "no verdict"]
