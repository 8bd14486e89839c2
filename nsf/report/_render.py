"""Renderers: the document's blocks as one self-contained HTML page, as Markdown, as JSON."""

from __future__ import annotations

import base64
import json
from importlib.resources import files

__all__ = ["render_html", "render_json", "render_markdown"]


def render_html(model: dict, document: list[dict], figures: dict[str, bytes]) -> str:
    """One HTML page: inline CSS, figures embedded as base64 PNG, no network access."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: files("nsf.report").joinpath("templates", name).read_text("utf-8")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    template = env.get_template("report.html.j2")
    return template.render(
        title=model["title"], source=model["source"], generated_at=model["generated_at"],
        sections=document,
        figures={k: base64.b64encode(v).decode("ascii") for k, v in figures.items()})


def _md_cell(text: str | list[str]) -> str:
    if isinstance(text, list):
        text = "; ".join(text)
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(model: dict, document: list[dict], figure_dir: str = "figures") -> str:
    """Markdown of the same blocks; figures referenced as ``figures/<name>.png``."""
    src = model["source"]
    out = [f"# {model['title']}", "",
           f"Experiment **{src['experiment']}**, study run `{src['parent_run_id']}` "
           f"({src['status']}), generated {model['generated_at']} by `nsf report` from MLflow "
           f"(`{src['tracking_uri']}`). Every number is in `report.json`.", ""]
    for section in document:
        out += [f"## {section['title']}", ""]
        for b in section["blocks"]:
            kind = b["type"]
            if kind == "p":
                out += [b["text"], ""]
            elif kind == "note":
                out += [f"> {b['text']}", ""]
            elif kind == "h3":
                out += [f"### {b['text']}", ""]
            elif kind == "list":
                out += [f"- {item}" for item in b["items"]] + [""]
            elif kind == "pre":
                out += ["```", b["text"].rstrip("\n"), "```", ""]
            elif kind == "figure":
                out += [f"![{b['caption']}]({figure_dir}/{b['name']}.png)", "",
                        f"*Figure: {b['caption']}*", ""]
            elif kind == "table":
                if b["caption"]:
                    out += [f"**{b['caption']}**", ""]
                align = ["---:" if i in b["numeric"] else "---" for i in range(len(b["headers"]))]
                out.append("| " + " | ".join(_md_cell(h) for h in b["headers"]) + " |")
                out.append("| " + " | ".join(align) + " |")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b["rows"]]
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(model: dict) -> str:
    """report.json: the model as strict JSON (no NaN)."""
    return json.dumps(model, indent=2, allow_nan=False, sort_keys=False) + "\n"
