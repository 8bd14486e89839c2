"""``nsf export-table``: a simulated dataset as one flat table plus its table config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nsf.cli import app
from nsf.cli._common import ConfigArg, QuietOpt, SetOpt, resolve, signing_key
from nsf.errors import NsfError


@app.command("export-table")
def export_table_cmd(
    config: ConfigArg = None,
    out: Annotated[Path, typer.Argument(help="The table to write: .csv or .parquet.")] = Path(
        "table.parquet"),
    config_out: Annotated[Path | None, typer.Option(
        "--config-out", help="Where the table config goes (default: OUT with .yaml).")] = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write the configured simulated dataset as one flat table plus the table config that
    describes it, so the same data can be studied through both doors.

    The table has a pseudonymous subject number (no identifier or hash), the observation date,
    the evaluation-population flag, every feature of the shared feed (as the study derives
    them), the sensitive columns and the outcome. The config names its groups, contested groups
    and sensitive columns, and keeps the experiment's split, model and study settings.
    """
    import yaml

    from nsf.data import open_dataset
    from nsf.pipeline import export_table, prepare

    cfg = resolve(config, set_)
    if cfg.dataset.kind != "simulated":
        raise NsfError("export-table writes a simulated dataset; dataset.kind is 'table'")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise NsfError(f"export-table OUT {out}: the suffix must be .csv or .parquet")
    config_out = config_out or out.with_suffix(".yaml")
    if config_out.resolve() == out.resolve():
        raise NsfError(f"export-table: --config-out {config_out} is the table itself")
    path = cfg.dataset.path
    if path is None:
        from nsf.cli._simulate import ensure_dataset

        path, _, _ = ensure_dataset(cfg, quiet=quiet)
    prepared = prepare(cfg, open_dataset(path, signing_key=signing_key(cfg)))
    frame, table_cfg = export_table(cfg, prepared, str(out.resolve()))
    out.parent.mkdir(parents=True, exist_ok=True)
    config_out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the targets, then renamed: an interrupted export leaves no half file.
    tmp_table = out.with_name(f".{out.name}.partial")
    tmp_cfg = config_out.with_name(f".{config_out.name}.partial")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp_table, index=False)
        else:
            frame.to_parquet(tmp_table, index=False)
        header = (f"# {out.name}: the simulated dataset {Path(path).name} as one table "
                  "(written by nsf export-table)\n")
        tmp_cfg.write_text(header + yaml.safe_dump(table_cfg, sort_keys=False), encoding="utf-8")
        os.replace(tmp_table, out)
        os.replace(tmp_cfg, config_out)
    finally:
        for tmp in (tmp_table, tmp_cfg):
            tmp.unlink(missing_ok=True)
    typer.echo(f"wrote {out} ({len(frame):,} rows, {frame.shape[1]} columns) and {config_out}")


@app.command("export-latest")
def export_latest_cmd(
    config: ConfigArg = None,
    out: Annotated[Path, typer.Argument(help="The folder to write (Parquet parts).")] = Path(
        "latest"),
    data: Annotated[Path | None, typer.Option(
        "--data", help="Simulated dataset folder (default: dataset.path, or the configured "
        "world, simulated first if missing).")] = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write every user's latest feed row (the input of scoring the whole population with
    `nsf score`) as a folder of Parquet parts, one per feed file, read file by file."""
    from nsf.data import export_latest, open_dataset
    from nsf.execution import executor_for

    cfg = resolve(config, set_)
    if cfg.dataset.kind != "simulated":
        raise NsfError("export-latest reads a simulated dataset; dataset.kind is 'table'")
    path = data or cfg.dataset.path
    if path is None:
        from nsf.cli._simulate import ensure_dataset

        path, _, _ = ensure_dataset(cfg, quiet=quiet)
    dataset = open_dataset(path, verify=cfg.dataset.verify, signing_key=signing_key(cfg))
    with executor_for(cfg, cfg.simulate.workers) as executor:
        stats = export_latest(dataset, out, executor)
    typer.echo(f"wrote {out} ({stats['rows']:,} users' latest feed rows, {stats['parts']} "
               f"parts, {stats['bytes'] / 1e6:,.1f} MB)")
