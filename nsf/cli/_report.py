"""``nsf report``: the data-minimisation report of a finished study, from MLflow alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nsf.cli import app
from nsf.cli._common import ConfigArg, SetOpt, resolve


@app.command("report")
def report_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="Parent run id of the study (`nsf study` prints it).")] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", help="Report on the latest study of this MLflow experiment "
        "(default: the config's name when --run is not given).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Reports root: files go to OUT/EXPERIMENT/RUN_ID/.")] =
        Path("reports"),
    folder: Annotated[Path | None, typer.Option(
        "--folder", help="Write the files into this folder instead of OUT/EXPERIMENT/RUN_ID/ "
        "(e.g. reports/example for the committed example).")] = None,
    log: Annotated[bool, typer.Option(
        "--log/--no-log", help="Also attach the report to the study's parent run "
        "(artifacts report/).")] = False,
) -> None:
    """Write the report (report.html, self-contained, and report.md: the answers), the technical
    appendix (appendix.html, appendix.md: every table, method and assumption) and one
    report.json for a finished study.

    Nothing is retrained: the numbers come from what `nsf study` and `nsf audit` logged. The
    config (and --set) only says where the tracking store is.
    """
    from nsf.report import write_report
    from nsf.tracking.report import find_study_run

    cfg = resolve(config, set_)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if run is None and experiment is None:
        experiment = cfg.name
    run_id = find_study_run(cfg.tracking, run_id=run, experiment=experiment)
    folder = write_report(run_id, cfg, out_dir=out, log_to_mlflow=log, folder=folder)
    typer.echo(f"report of study run {run_id}: {folder / 'report.html'} "
               f"(technical appendix: {folder / 'appendix.html'}; also the .md files and "
               "report.json)")
