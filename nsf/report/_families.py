"""Report views of the result's sections beyond comparisons (the extension point of the
report).

A family declares its view in its own module (``view=FamilyView(...)`` in its
:class:`nsf.study.families.Family`, the family contract); a section that belongs to no family
(the ledger, the explanations, the sharing designs) registers its view here::

    register_family_section(
        "ledger", title="The data ledger",
        model=lambda section, study: {...},     # JSON-ready numbers, into report.json
        blocks=lambda content: [...],           # document blocks (p, note, table, list, ...)
        figures=lambda content: {...},          # optional: figure name -> PNG bytes
        headline=lambda content: [...],         # optional: blocks opening the summary
        summary=lambda content: {...})          # optional: {question, answer} for the summary

The report core never names a family: :func:`build_report_model` puts every section the
result holds that has a view under ``family_sections`` of ``report.json``, and
:func:`build_document` adds one section per entry after the core sections. A section the
result holds but no view is known for is listed as missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nsf.study.families import FAMILIES
from nsf.views import FamilyView

if TYPE_CHECKING:
    from nsf.report._schema import ReportModel

__all__ = ["FamilyView", "family_document_sections", "family_figures", "family_headlines",
           "family_sections", "family_summaries", "register_family_section"]


_VIEWS: dict[str, FamilyView] = {}


def view_of(name: str) -> FamilyView | None:
    """The view of the section ``name``: its family's (the registry), or one registered here."""
    family = FAMILIES.get(name)
    if family is not None and family.view is not None:
        return family.view
    return _VIEWS.get(name)


def register_family_section(name: str, *, title: str, model: Callable[[Any, Any], dict],
                            blocks: Callable[[dict], list[dict]],
                            figures: Callable[[dict], dict[str, bytes]] | None = None,
                            headline: Callable[[dict], list[dict]] | None = None,
                            summary: Callable[[dict], dict | None] | None = None,
                            position: int = 100) -> None:
    """Register the report view of the section ``name`` (a field of
    :class:`nsf.study.FamilySections` that belongs to no family; a family declares its view
    in its module).

    Parameters
    ----------
    name : the section's field name (the family's name).
    title, model, blocks, figures, headline, summary, position : as the attributes of
        :class:`nsf.views.FamilyView` (``position``: among these sections, ascending).
    """
    _VIEWS[name] = FamilyView(title, model, blocks, figures, headline, summary, position)


def unregister_family_section(name: str) -> None:
    """Forget a registered view (tests)."""
    _VIEWS.pop(name, None)


def family_sections(study) -> tuple[dict[str, dict], list[str]]:
    """``({name: {"title", "content"}}, missing)`` for every family section the result holds."""
    out: dict[str, dict] = {}
    missing: list[str] = []
    if study is None:
        return out, missing
    present = study.sections.present()

    def position(name: str) -> int:
        view = view_of(name)
        return view.position if view is not None else 1000

    order = sorted(present, key=position)
    for name in order:
        section = present[name]
        view = view_of(name)
        if view is None:
            missing.append(f"family section {name!r}: the study logged it, but this version "
                           "of the report has no view registered for it")
            continue
        out[name] = {"title": view.title, "content": view.model(section, study)}
    return out, missing


def family_document_sections(model: ReportModel, first_number: int) -> list[dict]:
    """Document sections ``{id, title, blocks}`` of the report model's family sections."""
    out = []
    for i, (name, entry) in enumerate(model.family_sections.items()):
        view = view_of(name)
        blocks = view.blocks(entry.content) if view is not None else [
            {"type": "note", "text": f"No view registered for the family section {name!r}; "
                                     "its numbers are in report.json."}]
        out.append({"id": f"family-{name}", "title": f"{first_number + i}. {entry.title}",
                    "blocks": blocks})
    return out


def _viewed(model: ReportModel):
    for name, entry in model.family_sections.items():
        view = view_of(name)
        if view is not None:
            yield view, entry.content


def family_figures(model: ReportModel) -> dict[str, bytes]:
    """Figure name -> PNG of the report model's family sections (those with figures)."""
    out: dict[str, bytes] = {}
    for view, content in _viewed(model):
        if view.figures is not None:
            out.update(view.figures(content))
    return out


def family_headlines(model: ReportModel) -> list[dict]:
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
        view = view_of(name)
        answer = view.summary(entry["content"]) if view is not None and view.summary else None
        if answer:
            out.append({"key": name, "number": None, "question": answer["question"],
                        "answer": answer["answer"]})
    return out
