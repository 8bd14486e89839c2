"""Reading a finished study (and the experiment's audit) back from MLflow for the report.

Nothing here trains or writes results: :func:`find_study_run` resolves which parent run to
report on, :func:`load_study` and :func:`load_audit` fetch what ``nsf study`` and ``nsf audit``
logged, and :func:`log_report` attaches the rendered report to the study's parent run.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsf.config import TrackingConfig
from nsf.errors import NsfError
from nsf.tracking._store import open_store

if TYPE_CHECKING:
    from nsf.study import StudyResult

__all__ = ["AuditRecord", "StudyRecord", "find_study_run", "load_audit", "load_study",
           "log_report", "run_metrics"]

_PAGE = 1000
#: Longest answer quoted in the run's description (MLflow keeps tag values up to 8,000
#: characters; the report has them in full).
_ANSWER_CHARS = 500


@dataclass
class StudyRecord:
    """What the study's parent run holds.

    Attributes
    ----------
    run_id, experiment_id, experiment_name, status : the parent run.
    start_time, end_time : milliseconds since the epoch (end None while running).
    tags, params, metrics : as logged on the parent run.
    study : ``study.json`` validated (:class:`nsf.study.StudyResult`), or None when the run
        never logged it.
    config_yaml : the resolved config as logged (``config.yaml``), or None.
    artifacts : top-level artifact paths of the parent run.
    missing : one line per part that could not be read.
    """

    run_id: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time: int | None
    end_time: int | None
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    study: StudyResult | None
    config_yaml: str | None
    artifacts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class AuditRecord:
    """The latest finished audit run of the experiment (``nsf.role=audit``)."""

    run_id: str
    start_time: int | None
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    audit: dict[str, Any] | None


def _client(tracking: TrackingConfig):
    from mlflow.tracking import MlflowClient

    open_store(tracking)
    return MlflowClient(tracking_uri=tracking.uri)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def find_study_run(tracking: TrackingConfig, *, run_id: str | None = None,
                   experiment: str | None = None) -> str:
    """The parent run to report on: ``run_id`` checked, or the latest study of ``experiment``.

    Raises
    ------
    NsfError
        Neither or both given; the run does not exist or is not a study parent run
        (``nsf.role=study``); the experiment does not exist or holds no study.
    """
    from mlflow.exceptions import MlflowException

    if (run_id is None) == (experiment is None):
        raise NsfError("give exactly one of --run RUN_ID or --experiment NAME")
    client = _client(tracking)
    if run_id is not None:
        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            raise NsfError(f"run {run_id!r} not found in {tracking.uri!r} "
                           f"({_first_line(exc)})") from None
        role = run.data.tags.get("nsf.role")
        if role != "study":
            raise NsfError(f"run {run_id!r} is not a study (tag nsf.role={role!r}); pass the "
                           "parent run id `nsf study` printed, or --experiment NAME")
        return run_id
    try:
        exp = client.get_experiment_by_name(experiment)
    except MlflowException as exc:
        raise NsfError(f"tracking store {tracking.uri!r}: {_first_line(exc)}") from None
    if exp is None:
        raise NsfError(f"experiment {experiment!r} not found in {tracking.uri!r}")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`nsf.role` = 'study'",
                              order_by=["attributes.start_time DESC"], max_results=20)
    if not runs:
        raise NsfError(f"experiment {experiment!r} holds no study run; run `nsf study CONFIG` "
                       "first")
    finished = [r for r in runs if r.info.status == "FINISHED"]
    return (finished or runs)[0].info.run_id


def _download_json(client, run_id: str, path: str, missing: list[str]) -> Any:
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError) as exc:
            missing.append(f"{path} of run {run_id}: {_first_line(exc)}")
            return None


def _download_text(client, run_id: str, path: str, missing: list[str]) -> str | None:
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")
        except (MlflowException, OSError, ValueError) as exc:
            missing.append(f"{path} of run {run_id}: {_first_line(exc)}")
            return None


def load_study(tracking: TrackingConfig, run_id: str) -> StudyRecord:
    """Everything the parent run ``run_id`` logged (checked with :func:`find_study_run`).

    A run that never wrote ``study.json`` (a study that failed before the end) gives a record
    with ``study=None`` and the reason in ``missing``; it does not raise.

    Raises
    ------
    NsfError
        ``study.json`` of an older schema (the study must be re-run) or not matching its
        schema.
    """
    from nsf.study import StudyResult

    client = _client(tracking)
    run_id = find_study_run(tracking, run_id=run_id)
    run = client.get_run(run_id)
    exp = client.get_experiment(run.info.experiment_id)
    artifacts = [a.path for a in client.list_artifacts(run_id)]
    missing: list[str] = []
    study = config_yaml = None
    if "study.json" in artifacts:
        text = _download_text(client, run_id, "study.json", missing)
        if text is not None:
            study = StudyResult.load(text, where=f"study.json of run {run_id}")
    else:
        missing.append(f"study.json: not logged on run {run_id} (status {run.info.status}); "
                       "the study did not finish")
    if "config.yaml" in artifacts:
        config_yaml = _download_text(client, run_id, "config.yaml", missing)
    return StudyRecord(
        run_id=run_id, experiment_id=exp.experiment_id, experiment_name=exp.name,
        status=run.info.status, start_time=run.info.start_time, end_time=run.info.end_time,
        tags=dict(run.data.tags), params=dict(run.data.params),
        metrics=dict(run.data.metrics), study=study, config_yaml=config_yaml,
        artifacts=artifacts, missing=missing)


def load_audit(tracking: TrackingConfig, experiment_id: str, *,
               dataset: str | None = None) -> AuditRecord | None:
    """The latest finished audit run of the experiment, or None.

    An audit of ``dataset`` (tag ``nsf.dataset``, the dataset folder) is preferred over a more
    recent audit of another dataset.
    """
    client = _client(tracking)
    runs = client.search_runs([experiment_id], filter_string="tags.`nsf.role` = 'audit' and "
                              "attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=50)
    if not runs:
        return None
    same = [r for r in runs if dataset is not None and r.data.tags.get("nsf.dataset") == dataset]
    run = (same or runs)[0]
    missing: list[str] = []
    audit = _download_json(client, run.info.run_id, "audit.json", missing)
    return AuditRecord(run_id=run.info.run_id, start_time=run.info.start_time,
                       tags=dict(run.data.tags), params=dict(run.data.params),
                       metrics=dict(run.data.metrics), audit=audit)


def run_metrics(tracking: TrackingConfig, run_ids: list[str]) -> dict[str, dict[str, float]]:
    """run id -> its logged metrics (latest value of each key); unknown runs are left out."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking)
    out: dict[str, dict[str, float]] = {}
    for run_id in dict.fromkeys(run_ids):
        try:
            out[run_id] = dict(client.get_run(run_id).data.metrics)
        except MlflowException:
            continue
    return out


def log_report(tracking: TrackingConfig, run_id: str, folder: Path) -> None:
    """Attach the rendered report (``folder``'s files: HTML, Markdown, JSON, figures) to the
    parent run under ``report/``, and make the run's description (``mlflow.note.content``,
    shown on the run's page) state the headline answers and link the files."""
    client = _client(tracking)
    client.log_artifacts(run_id, str(folder), "report")
    run = client.get_run(run_id)
    client.set_tag(run_id, "mlflow.note.content",
                   report_note(folder, run.info.experiment_id, run_id))


def report_note(folder: Path, experiment_id: str, run_id: str) -> str:
    """Markdown: the report's title and each question's answer (from ``report.json``), then
    links to the report's files and figures in the run's artifacts."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}/artifacts/report"
    lines: list[str] = []
    try:
        model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        model = {}
    lines.append(f"## {model.get('title') or 'Study'}")
    for item in model.get("summary") or []:
        if isinstance(item, dict) and item.get("answer"):
            number = f"{item['number']}. " if item.get("number") else ""
            # Brackets escaped: the UI's Markdown would take "[a, b]" for a link and drop them.
            answer = str(item["answer"]).replace("[", "\\[").replace("]", "\\]")
            if len(answer) > _ANSWER_CHARS:
                answer = answer[:_ANSWER_CHARS].rsplit(" ", 1)[0] + " ... (see the report)"
            lines.append(f"**{number}{item.get('question', '')}** {answer}")
    files = [name for name in ("report.html", "report.md", "report.json", "config.yaml")
             if (folder / name).is_file()]
    files += sorted(p.name for p in folder.iterdir()
                    if p.is_file() and p.name not in files and not p.name.startswith("."))
    lines.append("**The report in this run's artifacts:** " + ", ".join(
        f"[{name}]({page}/{name})" for name in files))
    figures = sorted(p.name for p in (folder / "figures").glob("*.png"))
    if figures:
        lines.append("**Figures:** " + ", ".join(
            f"[{Path(name).stem.replace('_', ' ')}]({page}/figures/{name})"
            for name in figures))
    return "\n\n".join(lines)
