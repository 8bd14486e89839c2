"""``nsf audit``: can the shared pseudonyms be reversed or linked, and what would HMAC hold?"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nsf.cli import app
from nsf.cli._common import ConfigArg, QuietOpt, SetOpt, resolve, signing_key
from nsf.errors import NsfError

#: Shown in the summary table, in this order (label, metric key, format).
_SUMMARY = (
    ("phone numbers recovered", "phone_recovered_fraction", "{:.1%}"),
    ("  of those in the enumerated sub-space", "phone_recovered_in_space_fraction", "{:.1%}"),
    ("  recoveries that are the right number", "phone_recovery_correct_fraction", "{:.1%}"),
    ("enumeration time (s)", "reversal_seconds", "{:.1f}"),
    ("hashes per second", "hashes_per_s", "{:,.0f}"),
    ("whole 10^8 space at that rate (s)", "full_space_seconds_est", "{:.1f}"),
    ("recipient rows linked", "link_fraction", "{:.1%}"),
    ("  links to the right user", "link_precision", "{:.1%}"),
    ("users unique on shared attributes", "unique_fraction", "{:.1%}"),
    ("  after the recommended coarsening", "unique_fraction_coarse", "{:.1%}"),
    ("users in classes with k < 5", "k_lt_5_fraction", "{:.1%}"),
    ("  after coarsening", "k_lt_5_fraction_coarse", "{:.1%}"),
    ("HMAC: phone numbers recovered", "hmac_phone_recovered_fraction", "{:.1%}"),
    ("HMAC: recipient rows linked", "hmac_link_fraction", "{:.1%}"),
)


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    columns = (
        "[progress.description]{task.description}", BarColumn(), TaskProgressColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(), disable=not enabled) as bar:

        def factory(description: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(description, total=total)
            return lambda done: bar.advance(task, done)

        yield factory


def _summary_table(metrics: dict[str, float]) -> Table:
    table = Table(title="de-identification audit", show_header=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, key, fmt in _SUMMARY:
        if key in metrics:
            table.add_row(label, fmt.format(metrics[key]))
    return table


@app.command("audit")
def audit(
    config: ConfigArg = None,
    set_: SetOpt = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Dataset folder to audit (default: the configured dataset, "
                     "simulated first if missing)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the full result as JSON here.")
    ] = None,
    mlflow: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow.")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Reverse and link the hashed identifiers, measure uniqueness, and compare with HMAC."""
    cfg = resolve(config, set_)
    if data is None:
        from nsf.cli._simulate import ensure_dataset

        data, _, _ = ensure_dataset(cfg, quiet=quiet)
    audit_dataset(cfg, data, quiet=quiet, json_out=json_out, log=mlflow)


def _manifest_digest(data: Path) -> str:
    return hashlib.sha256((Path(data) / "manifest.json").read_bytes()).hexdigest()


def audit_dataset(cfg, data: Path, *, quiet: bool, json_out: Path | None = None,
                  log: bool = True) -> dict[str, Any]:
    """Run the audit of the dataset folder ``data``, print its summary, log it to MLflow."""
    from nsf.audit import read_audit_tables, run_audit

    tables = read_audit_tables(data, cfg.audit.quasi_identifiers, verify=cfg.dataset.verify,
                               signing_key=signing_key(cfg))
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(1)[0])
    with _progress_bars(not quiet and sys.stdout.isatty()) as progress:
        result: dict[str, Any] = run_audit(
            tables.users, cfg.audit, rng=rng, truth_users=tables.truth_users,
            sensitive=tables.sensitive, source=tables.source, progress=progress,
            execution=cfg.execution,
        )
    result["dataset"] = tables.source
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        except OSError as exc:
            raise NsfError(f"{json_out}: cannot write ({exc.strerror})") from None
    if not quiet:
        Console(width=100).print(_summary_table(result["metrics"]))
    if log:
        from nsf.tracking.audit import log_audit

        run_id = log_audit(result, cfg, dataset=tables.source,
                           manifest_digest=_manifest_digest(data))
        typer.echo(f"audit logged: experiment {cfg.name!r}, run {run_id}")
    metrics = result["metrics"]
    typer.echo(
        "audit: "
        + ", ".join(
            f"{key}={metrics[key]:.6g}"
            for key in ("phone_recovered_fraction", "hashes_per_s", "link_fraction",
                        "unique_fraction", "unique_fraction_coarse")
            if key in metrics
        )
    )
    return result


def ensure_audit(cfg, data: Path, *, quiet: bool) -> None:
    """Audit ``data`` for the report unless an audit of the same dataset and settings is
    already logged in the experiment (``nsf study`` calls this before writing the report)."""
    from nsf.tracking.audit import find_logged_audit

    found = find_logged_audit(cfg, manifest_digest=_manifest_digest(data))
    if found is not None:
        typer.echo(f"audit: reusing run {found} (same dataset and audit settings)")
        return
    if not quiet:
        typer.echo(f"audit: enumerating {cfg.audit.phone_space_size:,} phone numbers with "
                   f"{cfg.audit.workers} workers (study.audit=false skips it)", err=True)
    audit_dataset(cfg, data, quiet=quiet)
