"""Renderers: the document's blocks as one self-contained HTML page, as Markdown, as JSON."""

from __future__ import annotations

import base64
import json
import re
from importlib.resources import files

from nsf.report._blocks import Figure, Heading, Items, Link, Note, Para, Pre, Table, as_blocks
from nsf.report._schema import ReportModel, as_model

__all__ = ["DOCUMENTS", "render_html", "render_json", "render_markdown"]


#: The two documents of a report, by the name a link uses, and their files per format.
DOCUMENTS = {"report": {"html": "report.html", "md": "report.md"},
             "appendix": {"html": "appendix.html", "md": "appendix.md"}}
#: Their titles' prefixes.
KIND_TITLES = {"report": "Report", "appendix": "Technical appendix"}


def document_title(model: ReportModel, kind: str) -> str:
    """The document's title: the model's for the report, prefixed for the appendix."""
    return model.title if kind == "report" else f"Technical appendix: {model.title}"


def render_html(model: ReportModel | dict, document: list[dict], figures: dict[str, bytes], *,
                kind: str = "appendix") -> str:
    """One HTML page: inline CSS, figures embedded as base64 PNG, no network access.

    ``kind`` is ``report`` (the short document) or ``appendix`` (the technical appendix); a
    link (:class:`nsf.report._blocks.Link`) points into the other document's HTML file."""
    import jinja2

    model = as_model(model)
    document = [{**section, "blocks": as_blocks(section["blocks"])} for section in document]
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: files("nsf.report").joinpath("templates", name).read_text("utf-8")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    env.filters["breakable"] = breakable
    env.tests["link"] = lambda x: isinstance(x, Link)
    template = env.get_template("report.html.j2")
    other = "appendix" if kind == "report" else "report"
    return template.render(
        title=document_title(model, kind), kind=kind, kind_title=KIND_TITLES[kind],
        docs={k: ("" if k == kind else v["html"]) for k, v in DOCUMENTS.items()},
        other_href=DOCUMENTS[other]["html"], other_title=KIND_TITLES[other],
        source=model.source, generated_at=model.generated_at, sections=document,
        figures={k: base64.b64encode(v).decode("ascii") for k, v in figures.items()})


_LONG = re.compile(r"[^\s]{18,}")


def breakable(text: object):
    """Escaped text with line-break opportunities (``<wbr>``) after ``_``, ``/``, ``+``,
    ``,`` and ``|`` in long tokens, and every 16 characters in a token with none (a run id, a
    digest): a printed table wraps them instead of running past the page edge, and wraps
    nothing else mid-word."""
    from markupsafe import Markup, escape

    def split(match: re.Match) -> str:
        token = match.group(0)
        parts = re.split(r"(?<=[_/+,|=:])", token)
        out = []
        for part in parts:
            out += [part[i:i + 16] for i in range(0, len(part), 16)] if len(part) > 18 else \
                [part]
        return "\x00".join(out)

    marked = _LONG.sub(split, str(text))
    return Markup(str(escape(marked)).replace("\x00", "<wbr>"))


def _md_link(item: Link, kind: str) -> str:
    target = "" if item.doc == kind else DOCUMENTS[item.doc]["md"]
    return f"[{item.text}]({target}#{item.anchor})"


def _md_item(item: object, kind: str) -> str:
    return _md_link(item, kind) if isinstance(item, Link) else str(item)


def _md_cell(text: object, kind: str = "appendix") -> str:
    if isinstance(text, list):
        text = ("; " if all(isinstance(t, str) for t in text) else ", ").join(
            _md_item(t, kind) for t in text)
    elif isinstance(text, Link):
        text = _md_link(text, kind)
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_links(b: Para | Note, kind: str) -> str:
    if not b.links:
        return ""
    return " (" + ", ".join(_md_link(x, kind) for x in b.links) + ")"


def render_markdown(model: ReportModel | dict, document: list[dict],
                    figure_dir: str = "figures", *,
                    kind: str = "appendix") -> str:
    """Markdown of the same blocks; figures referenced as ``figures/<name>.png``; each section
    opens with an anchor (``<a id="s-..."></a>``) that links from the other document reach."""
    model = as_model(model)
    src = model.source
    other = "appendix" if kind == "report" else "report"
    out = [f"# {document_title(model, kind)}", "",
           f"Experiment **{src.experiment}**, study run `{src.parent_run_id}` "
           f"({src.status}), generated {model.generated_at} by `nsf report` from MLflow "
           f"(`{src.tracking_uri}`). Every number is in `report.json`; the "
           f"{KIND_TITLES[other].lower()} is [{DOCUMENTS[other]['md']}]"
           f"({DOCUMENTS[other]['md']}).", ""]
    for section in document:
        out += [f'<a id="s-{section["id"]}"></a>', "", f"## {section['title']}", ""]
        for b in as_blocks(section["blocks"]):
            if isinstance(b, Para):
                out += [b.text + _md_links(b, kind), ""]
            elif isinstance(b, Note):
                out += [f"> {b.text}" + _md_links(b, kind), ""]
            elif isinstance(b, Heading):
                out += [f"### {b.text}", ""]
            elif isinstance(b, Items):
                out += [f"- {_md_cell(item, kind)}" for item in b.items] + [""]
            elif isinstance(b, Pre):
                out += ["```", b.text.rstrip("\n"), "```", ""]
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({figure_dir}/{b.name}.png)", "",
                        f"*Figure: {b.caption}*", ""]
            elif isinstance(b, Table):
                if b.caption:
                    out += [f"**{b.caption}**", ""]
                align = ["---:" if i in b.numeric else "---" for i in range(len(b.headers))]
                out.append("| " + " | ".join(_md_cell(h, kind) for h in b.headers) + " |")
                out.append("| " + " | ".join(align) + " |")
                out += ["| " + " | ".join(_md_cell(c, kind) for c in row) + " |"
                        for row in b.rows]
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(model: ReportModel | dict) -> str:
    """report.json: the model as strict JSON (no NaN); the parts it was built with, none
    added by defaults."""
    data = as_model(model).model_dump(mode="json", by_alias=True, exclude_unset=True)
    return json.dumps(data, indent=2, allow_nan=False, sort_keys=False) + "\n"
