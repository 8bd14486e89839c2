"""``write_report``: fetch a finished study from MLflow, build the model, write the files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from nsf.config import ExperimentConfig
from nsf.data import read_summary
from nsf.errors import NsfError

__all__ = ["DEFAULT_OUT_DIR", "PACKAGES", "load_schema", "report_folder", "safe_name",
           "validate_report", "write_report"]

#: Reports go to <out_dir>/<experiment>/<run id>/.
DEFAULT_OUT_DIR = Path("reports")
#: Versions listed in the reproducibility section.
PACKAGES = ("nsf", "numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "shap", "fairlearn",
            "mlflow", "pydantic", "matplotlib", "jinja2", "numba")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def load_schema() -> dict:
    """The JSON schema of report.json (package data ``nsf/schemas/report.schema.json``,
    generated from :class:`nsf.report.ReportModel`)."""
    from importlib.resources import files

    return json.loads(files("nsf").joinpath("schemas", "report.schema.json")
                      .read_text(encoding="utf-8"))


def validate_report(model: dict) -> None:
    """Validate ``model`` against :class:`nsf.report.ReportModel` (the form whose JSON schema
    is ``report.schema.json``).

    Raises
    ------
    NsfError
        The model does not match (a bug in the report generator).
    """
    from pydantic import ValidationError

    from nsf.report._schema import ReportModel

    try:
        ReportModel.model_validate(model)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "/".join(str(p) for p in err["loc"]) or "(top level)"
        raise NsfError(f"report.json does not match its schema at {where}: "
                       f"{err['msg'][:200]}") from None


def _dataset_summary(study) -> tuple[dict | None, str]:
    """The dataset's summary.json, read from the folder the study names, and where from."""
    if study is None:
        return None, "the study logged no result"
    if study.dataset.kind != "simulated":
        return None, f"not applicable: the study used a {study.dataset.kind!r} dataset"
    source = study.dataset.source
    if not source:
        return None, "the study does not name its dataset folder"
    path = Path(source) / "summary.json"
    if not path.exists():
        return None, f"{path} not found (dataset moved or deleted; the study logged no copy)"
    try:
        summary = read_summary(Path(source))
    except ValueError as exc:  # NsfError included
        return None, f"{path} not used: {exc}"
    return summary, f"From {path} (the dataset the study read; checked against its manifest)."


def safe_name(name: str) -> str:
    """``name`` as one harmless path component: characters other than letters, digits, ``_``,
    ``-`` and ``.`` become ``_``, leading dots are dropped (no ``..``, no hidden folder), at
    most 100 characters; ``_`` if nothing is left."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).lstrip(".")[:100]
    return cleaned or "_"


def report_folder(out_dir: Path | str, experiment: str, run_id: str) -> Path:
    """``<out_dir>/<experiment>/<run id>/`` from sanitised names, checked to stay under
    ``out_dir`` (names come from MLflow, where anyone can rename an experiment).

    Raises
    ------
    NsfError
        The folder would not be inside ``out_dir`` (e.g. through a symbolic link).
    """
    root = Path(out_dir)
    folder = root / safe_name(experiment) / safe_name(run_id)
    if not folder.resolve().is_relative_to(root.resolve()):
        raise NsfError(f"report folder {folder}: resolves outside the reports root {root}")
    return folder


def _atomic_write(path: Path, data: str | bytes) -> None:
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        # mkstemp creates 0600; a report is for sharing, so the usual umask applies.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(parent_run_id: str, cfg: ExperimentConfig, *,
                 out_dir: Path | str | None = None, log_to_mlflow: bool = False,
                 folder: Path | str | None = None) -> Path:
    """Render the report of the study ``parent_run_id`` from what MLflow holds (no training).

    Parameters
    ----------
    parent_run_id : the study's parent run (``nsf.role=study``).
    cfg : only its tracking store is used; the report describes the config the study logged.
    out_dir : reports root (default ``reports``); files go to
        ``<out_dir>/<experiment>/<run id>/``: the report (``report.html``, ``report.md``: the
        answers), the technical appendix (``appendix.html``, ``appendix.md``: every table,
        interval, method and assumption, the reproducibility record, the glossary), one
        ``report.json``, ``figures/*.png`` and ``config.yaml``.
    log_to_mlflow : also attach the files to the parent run under ``report/``.
    folder : write into this folder instead of ``<out_dir>/<experiment>/<run id>/`` (the
        committed example report, ``reports/example/``); files of an earlier report there are
        replaced.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    NsfError
        The run does not exist or is not a study; the store cannot be read; the folder cannot
        be written.
    """
    from nsf.report._answer import reconcile
    from nsf.report._document import build_documents, config_yaml_from
    from nsf.report._figures import render_figures
    from nsf.report._model import build_report_model
    from nsf.report._render import DOCUMENTS, render_html, render_json, render_markdown
    from nsf.tracking.report import load_audit, load_study, log_report

    record = load_study(cfg.tracking, parent_run_id)
    study = record.study
    dataset = study.dataset.source if study is not None else None
    audit_record = load_audit(cfg.tracking, record.experiment_id, dataset=dataset)
    audit = None if audit_record is None else {
        "run_id": audit_record.run_id, "metrics": audit_record.metrics,
        "audit": audit_record.audit}
    summary, summary_note = _dataset_summary(study)
    config_yaml = record.config_yaml or config_yaml_from(study)
    source = {"tracking_uri": cfg.tracking.uri, "experiment": record.experiment_name,
              "experiment_id": record.experiment_id, "parent_run_id": record.run_id,
              "status": record.status, "tags": record.tags, "metrics": record.metrics,
              "missing": record.missing, "config_yaml": config_yaml}
    environment = {"generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                   "packages": package_versions()}
    raw = build_report_model(study, audit, summary, source=source, environment=environment,
                             dataset_summary_note=summary_note)
    validate_report(raw)
    model = reconcile(raw)
    figures = render_figures(model)
    documents = build_documents(model, figures)

    if folder is None:
        folder = report_folder(out_dir if out_dir is not None else DEFAULT_OUT_DIR,
                               record.experiment_name, record.run_id)
    else:
        folder = Path(folder)
        # Figures of an earlier report that this one does not draw would be left behind.
        for old in (folder / "figures").glob("*.png"):
            if old.stem not in figures:
                old.unlink()
    try:
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        for name, png in figures.items():
            _atomic_write(folder / "figures" / f"{name}.png", png)
        if config_yaml:
            _atomic_write(folder / "config.yaml", config_yaml)
        _atomic_write(folder / "report.json", render_json(model))
        for kind, document in documents.items():
            _atomic_write(folder / DOCUMENTS[kind]["md"],
                          render_markdown(model, document, kind=kind))
            _atomic_write(folder / DOCUMENTS[kind]["html"],
                          render_html(model, document, figures, kind=kind))
    except OSError as exc:
        raise NsfError(f"report folder {folder}: cannot write ({exc.strerror or exc})") from None
    if log_to_mlflow:
        log_report(cfg.tracking, record.run_id, folder)
    return folder
