"""Report views of the families' own result sections (the extension point of the report).

A family whose results need more than comparisons keeps them in its typed section of the study
result (a field of :class:`nsf.study.FamilySections`; see :mod:`nsf.study._result`) and
registers how the report shows it::

    register_family_section(
        "decisions", title="Decisions in money",
        model=lambda section, study: {...},     # JSON-ready numbers, into report.json
        blocks=lambda content: [...],           # document blocks (p, note, table, list, ...)
        figures=lambda content: {...},          # optional: figure name -> PNG bytes
        headline=lambda content: [...],         # optional: blocks opening the summary
        summary=lambda content: {...})          # optional: {question, answer} for the summary

The report core never names a family: :func:`build_report_model` puts every registered
section the result holds under ``family_sections`` of ``report.json``, and
:func:`build_document` adds one section per entry after the core sections. A section the
result holds but no view is registered for is listed as missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FamilyView", "family_document_sections", "family_figures", "family_headlines",
           "family_sections", "family_summaries", "register_family_section"]


@dataclass(frozen=True)
class FamilyView:
    """How the report shows one family's section."""

    title: str
    model: Callable[[Any, Any], dict]
    blocks: Callable[[dict], list[dict]]
    figures: Callable[[dict], dict[str, bytes]] | None = None
    headline: Callable[[dict], list[dict]] | None = None
    summary: Callable[[dict], dict | None] | None = None


_VIEWS: dict[str, FamilyView] = {}


def register_family_section(name: str, *, title: str, model: Callable[[Any, Any], dict],
                            blocks: Callable[[dict], list[dict]],
                            figures: Callable[[dict], dict[str, bytes]] | None = None,
                            headline: Callable[[dict], list[dict]] | None = None,
                            summary: Callable[[dict], dict | None] | None = None) -> None:
    """Register the report view of the family section ``name`` (a field of
    :class:`nsf.study.FamilySections`).

    Parameters
    ----------
    name : the section's field name (the family's name).
    title : the report section's title (numbered after the core sections).
    model : ``(section, study_result) -> dict`` of JSON-ready numbers (``report.json``).
    blocks : ``content -> list of document blocks`` from that dict (a figure block names a
        figure that ``figures`` draws).
    figures : ``content -> {figure name: PNG bytes}`` (None: no figure).
    headline : ``content -> blocks`` that open the report's summary (None: none).
    summary : ``content -> {"question", "answer"}`` (or None): the section's line in the
        report's summary.
    """
    _VIEWS[name] = FamilyView(title, model, blocks, figures, headline, summary)


def unregister_family_section(name: str) -> None:
    """Forget a registered view (tests)."""
    _VIEWS.pop(name, None)


def family_sections(study) -> tuple[dict[str, dict], list[str]]:
    """``({name: {"title", "content"}}, missing)`` for every family section the result holds."""
    out: dict[str, dict] = {}
    missing: list[str] = []
    if study is None:
        return out, missing
    sections = study.sections
    for name in type(sections).model_fields:
        section = getattr(sections, name)
        if section is None:
            continue
        view = _VIEWS.get(name)
        if view is None:
            missing.append(f"family section {name!r}: the study logged it, but this version "
                           "of the report has no view registered for it")
            continue
        out[name] = {"title": view.title, "content": view.model(section, study)}
    return out, missing


def family_document_sections(model: dict, first_number: int) -> list[dict]:
    """Document sections ``{id, title, blocks}`` of the report model's family sections."""
    out = []
    for i, (name, entry) in enumerate((model.get("family_sections") or {}).items()):
        view = _VIEWS.get(name)
        blocks = view.blocks(entry["content"]) if view is not None else [
            {"type": "note", "text": f"No view registered for the family section {name!r}; "
                                     "its numbers are in report.json."}]
        out.append({"id": f"family-{name}", "title": f"{first_number + i}. {entry['title']}",
                    "blocks": blocks})
    return out


def _viewed(model: dict):
    for name, entry in (model.get("family_sections") or {}).items():
        view = _VIEWS.get(name)
        if view is not None:
            yield view, entry["content"]


def family_figures(model: dict) -> dict[str, bytes]:
    """Figure name -> PNG of the report model's family sections (those with figures)."""
    out: dict[str, bytes] = {}
    for view, content in _viewed(model):
        if view.figures is not None:
            out.update(view.figures(content))
    return out


def family_headlines(model: dict) -> list[dict]:
    """Blocks the family sections put at the top of the summary, in section order."""
    out: list[dict] = []
    for view, content in _viewed(model):
        if view.headline is not None:
            out += view.headline(content)
    return out


def family_summaries(families: dict[str, dict]) -> list[dict]:
    """The summary answers of the family sections (``family_sections`` output)."""
    out = []
    for name, entry in families.items():
        view = _VIEWS.get(name)
        answer = view.summary(entry["content"]) if view is not None and view.summary else None
        if answer:
            out.append({"key": name, "number": None, "question": answer["question"],
                        "answer": answer["answer"]})
    return out
