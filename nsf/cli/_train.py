"""``nsf train`` and ``nsf score``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from nsf.cli import app
from nsf.cli._common import ConfigArg, QuietOpt, SetOpt, resolve, signing_key
from nsf.errors import NsfError

#: Printed after training, in this order.
_HEADLINE = ("test_auc", "test_pr_auc", "test_brier", "test_ece", "oracle_auc", "oracle_gap_auc")


@app.command("train")
def train_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Simulated dataset folder (default: dataset.path, or the "
                     "configured world, simulated first if missing)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train the configured model, evaluate it on the test rows, log the run to MLflow."""
    from nsf.data import open_dataset
    from nsf.tracking import check_store
    from nsf.train import train

    cfg = resolve(config, set_)
    check_store(cfg.tracking)
    dataset = None
    if cfg.dataset.kind == "simulated":
        path = data or cfg.dataset.path
        if path is None:
            from nsf.cli._simulate import ensure_dataset

            path, _, _ = ensure_dataset(cfg, quiet=quiet)
        dataset = open_dataset(path, verify=cfg.dataset.verify, signing_key=signing_key(cfg))
    elif data is not None:
        raise NsfError("--data is for simulated datasets; dataset.kind is 'table'")
    t0 = time.perf_counter()
    result = train(cfg, dataset)
    m = result.evaluation.metrics
    typer.echo(f"run {result.run_id} (experiment {cfg.name!r}, {cfg.model.kind}, "
               f"{time.perf_counter() - t0:.1f}s): {result.split_note}")
    typer.echo("  " + ", ".join(
        f"{k}={m[k]:.4f}" + (f" [{m[k + '_lower']:.4f}, {m[k + '_upper']:.4f}]"
                             if k + "_lower" in m else "")
        for k in _HEADLINE if k in m))
    if "scorer_uri" in result.uris:
        typer.echo(f"  scorer: {result.uris['scorer_uri']}")


@app.command("score")
def score_cmd(
    model_uri: Annotated[str, typer.Argument(help="Logged scorer: runs:/RUN_ID/model, "
                                             "models:/<id>, or a local model folder.")],
    input_path: Annotated[str, typer.Argument(help="Feed rows: .parquet or .csv (a path or "
                                              "a file:// URL).")],
    output_path: Annotated[str, typer.Argument(help="Scores: .parquet or .csv (a path or a "
                                               "file:// URL).")],
    config: Annotated[Path | None, typer.Option("--config", help="Experiment YAML (tracking "
                                                "store, batch size).")] = None,
    set_: SetOpt = None,
    batch_rows: Annotated[int | None, typer.Option("--batch-rows", min=1000,
                                                   help="Rows per batch.")] = None,
    reasons: Annotated[int | None, typer.Option(
        "--reasons", help="Also write each row's K reason codes: the attribute groups that "
        "raised its score most, with the signed points of the 0-100 score each accounts for "
        "(1 to the model's number of groups).")] = None,
    partitioned: Annotated[bool, typer.Option(
        "--partitioned", help="Score partitions (the files of a Parquet folder, or the row "
        "groups of one Parquet file) on the configured executor (execution.backend; "
        "scoring.workers processes) and write OUTPUT as a folder of part files, in input "
        "order; the same scores as the serial path. Implied by a folder INPUT.")] = False,
) -> None:
    """Score a file of shared feed rows with a logged model (0-100 scores, in batches)."""
    from nsf.execution import executor_for
    from nsf.paths import local_path
    from nsf.scoring import score_file, score_partitions
    from nsf.tracking import load_fitted

    source = local_path(input_path, "input")
    target = local_path(output_path, "output")
    cfg = resolve(config, set_)
    if reasons is not None and reasons < 1:
        raise NsfError(f"--reasons must be at least 1 (got {reasons})")
    fitted = load_fitted(model_uri, cfg.tracking.uri)
    rows = batch_rows or cfg.scoring.batch_rows
    if partitioned or source.is_dir():
        with executor_for(cfg, cfg.scoring.workers) as executor:
            stats = score_partitions(fitted, source, target, executor,
                                     batch_rows=rows, reasons=reasons or 0)
        reused = f", {stats['reused']} reused" if stats["reused"] else ""
        typer.echo(f"scored {int(stats['rows']):,} rows in {stats['parts']} partitions"
                   f"{reused} ({cfg.execution.backend}) into {target} in "
                   f"{stats['seconds']:.2f}s ({stats['rows_per_s']:,.0f} rows/s)")
    else:
        stats = score_file(fitted, source, target, batch_rows=rows,
                           reasons=reasons or 0)
        typer.echo(f"scored {int(stats['rows']):,} rows into {target} in "
                   f"{stats['seconds']:.2f}s ({stats['rows_per_s']:,.0f} rows/s)")
    by_column = stats["missing_by_column"]
    worst = ", ".join(f"{c} {n:,}" for c, n in sorted(by_column.items(),
                                                      key=lambda kv: -kv[1])[:3])
    typer.echo(f"  missing values scored as missing: {int(stats['missing_values']):,} in "
               f"{len(by_column)} of the model's input columns" + (f" ({worst}, ...)"
                                                                  if worst else ""))
    if reasons:
        typer.echo(f"  {reasons} reason code(s) per row: points of the score counted from the "
                   f"base score {stats['base_score']:.1f}")
