"""The data-minimisation report: what a finished study logged, as a document people read.

``nsf report --run PARENT_RUN_ID`` (or ``--experiment NAME``, the latest study) and the end of
``nsf study`` write ``reports/<experiment>/<run id>/``:

- ``report.html``: the report, for a reader who is not a statistician: page one answers the
  case by name (which data was needed, in what form, how much history, from whom, how many
  people's, for how long after the build, at what cost, the ledger, whether the identifiers
  were anonymous), then what the study could not decide; every answer links to its evidence;
- ``appendix.html``: the technical appendix: every table, interval, method and assumption,
  the reproducibility record and the glossary;
- both self-contained (inline CSS, embedded PNG figures, no network), printable on A4, and as
  Markdown (``report.md``, ``appendix.md``; figures in ``figures/``);
- ``report.json``: every number of the report, raw, valid against :class:`ReportModel`
  (schema ``nsf.report/2``; ``nsf/schemas/report.schema.json`` is generated from it);
- ``config.yaml``: the study's resolved config, for the rerun commands.

Nothing is retrained: the content comes from MLflow alone (the parent run's ``study.json``,
validated as :class:`nsf.study.StudyResult`, and ``config.yaml``; the experiment's latest audit
run) plus the dataset's ``summary.json`` when the folder still exists. The report never
consults the current code for what the study logged (the feature inventory, the thresholds,
the families that were skipped and why).

Layers, each usable alone::

    model = build_report_model(study, audit, dataset_summary, source=..., environment=...)
    figures = render_figures(model)               # name -> PNG bytes
    model = reconcile(model)                      # what several sections name, derived once
    documents = build_documents(model, figures)   # {"report": sections, "appendix": sections}
    html = render_html(model, documents["report"], figures, kind="report")

The inventory's recommendation rule is :func:`recommend` (stated as :data:`RULE_TEXT`). A variant
family with its own typed result section declares its view in its module
(:mod:`nsf.study.families`); a section of no family registers one with
:func:`register_family_section`. The report core never names a family.
"""

from nsf.report import (
    _designs,  # noqa: F401  (registers the sharing designs' view)
    _explanations,  # noqa: F401  (registers the explanations section)
    _quantity,  # noqa: F401  (registers the ledger's view)
)
from nsf.report._answer import REPORT_SECTIONS, reconcile
from nsf.report._document import SECTIONS, build_document, build_documents
from nsf.report._families import register_family_section
from nsf.report._figures import FIGURES, render_figures
from nsf.report._model import REPORT_SCHEMA, build_report_model
from nsf.report._render import render_html, render_json, render_markdown
from nsf.report._rules import RULE_TEXT, Recommendation, recommend
from nsf.report._schema import ReportModel, report_json_schema
from nsf.report._write import DEFAULT_OUT_DIR, load_schema, validate_report, write_report

__all__ = [
    "DEFAULT_OUT_DIR",
    "FIGURES",
    "REPORT_SCHEMA",
    "REPORT_SECTIONS",
    "RULE_TEXT",
    "SECTIONS",
    "Recommendation",
    "ReportModel",
    "build_document",
    "build_documents",
    "build_report_model",
    "load_schema",
    "recommend",
    "reconcile",
    "register_family_section",
    "render_figures",
    "render_html",
    "render_json",
    "render_markdown",
    "report_json_schema",
    "validate_report",
    "write_report",
]
