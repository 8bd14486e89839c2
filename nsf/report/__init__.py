"""The data-minimisation report: what a finished study logged, as a document people read.

``nsf report --run PARENT_RUN_ID`` (or ``--experiment NAME``, the latest study) and the end of
``nsf study`` write ``reports/<experiment>/<run id>/``:

- ``report.html``: one self-contained page (inline CSS, embedded PNG figures, no network),
  readable offline and printable;
- ``report.md``: the same blocks as Markdown (figures in ``figures/``);
- ``report.json``: every number of the report, raw, valid against
  ``nsf/schemas/report.schema.json`` (schema ``nsf.report/1``);
- ``config.yaml``: the study's resolved config, for the rerun commands.

Nothing is retrained: the content comes from MLflow alone (the parent run's ``study.json`` and
``config.yaml``, the experiment's latest audit run) plus the dataset's ``summary.json`` when
the folder still exists.

Layers, each usable alone::

    model = build_report_model(study, audit, dataset_summary, source=..., environment=...)
    figures = render_figures(model)               # name -> PNG bytes
    document = build_document(model, figures)     # sections of blocks
    html = render_html(model, document, figures)

The inventory's recommendation rule is :func:`recommend` (stated as :data:`RULE_TEXT`).
"""

from nsf.report._document import SECTIONS, build_document
from nsf.report._figures import FIGURES, render_figures
from nsf.report._model import PROTECTED_TARGETS, REPORT_SCHEMA, build_report_model
from nsf.report._render import render_html, render_json, render_markdown
from nsf.report._rules import PROXY_LIFT_THRESHOLD, RULE_TEXT, Recommendation, recommend
from nsf.report._write import DEFAULT_OUT_DIR, load_schema, validate_report, write_report

__all__ = [
    "DEFAULT_OUT_DIR",
    "FIGURES",
    "PROTECTED_TARGETS",
    "PROXY_LIFT_THRESHOLD",
    "REPORT_SCHEMA",
    "RULE_TEXT",
    "SECTIONS",
    "Recommendation",
    "build_document",
    "build_report_model",
    "load_schema",
    "recommend",
    "render_figures",
    "render_html",
    "render_json",
    "render_markdown",
    "validate_report",
    "write_report",
]
