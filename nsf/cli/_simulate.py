"""``nsf simulate``: build (or reuse) the configured dataset."""

from __future__ import annotations

import os
import sys
import time

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nsf.cli import app
from nsf.cli._common import (
    ConfigArg,
    QuietOpt,
    SetOpt,
    plain_progress,
    resolve,
    signing_key,
)
from nsf.config import ExperimentConfig
from nsf.data import read_summary
from nsf.errors import NsfError


def hmac_key(cfg: ExperimentConfig) -> bytes | None:
    """The identifier secret from the config or its environment variable (CLI edge only)."""
    ident = cfg.world.identifiers
    if ident.scheme != "hmac-sha256":
        return None
    if ident.hmac_key is not None:
        return ident.hmac_key.get_secret_value().encode()
    value = os.environ.get(ident.hmac_key_env, "")
    if not value:
        raise NsfError(
            f"world.identifiers.scheme is 'hmac-sha256' but neither world.identifiers.hmac_key "
            f"nor the environment variable {ident.hmac_key_env} holds a secret")
    return value.encode()


def ensure_dataset(cfg: ExperimentConfig, *, force: bool = False, quiet: bool = False,
                   workers: int | None = None):
    """Build or reuse the dataset, with a progress bar over chunks on a terminal."""
    from nsf.execution import Executor
    from nsf.simulator import WorldError, build_dataset

    show = not quiet and sys.stderr.isatty()
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=not show, transient=False) as bar:
        task = bar.add_task("simulating chunks", total=None)
        plain = None if show or quiet else plain_progress("simulate")

        def progress(done: int, total: int) -> None:
            if plain is not None:
                plain("chunks", done, total)
            bar.update(task, completed=done, total=total)

        def waiting(lock) -> None:
            print(f"nsf: another process is building this dataset ({lock} is held); waiting "
                  "for it to finish", file=sys.stderr, flush=True)

        n_workers = workers if workers is not None else cfg.simulate.workers
        with Executor(cfg.execution, n_workers) as executor:
            try:
                return build_dataset(
                    cfg.world, seed=cfg.seed, name=cfg.name, data_dir=cfg.simulate.data_dir,
                    chunk_users=cfg.simulate.chunk_users, workers=executor.workers,
                    hmac_key=hmac_key(cfg), force=force, progress=progress,
                    verify=cfg.dataset.verify, on_wait=waiting,
                    run_tasks=executor.run_tasks if executor.parallel else None,
                    signing_key=signing_key(cfg))
            except WorldError as exc:  # the simulator's bad input: one line, exit 2
                raise NsfError(str(exc)) from None


@app.command("simulate")
def simulate(
    config: ConfigArg = None,
    set_: SetOpt = None,
    force: bool = typer.Option(False, "--force", help="Rebuild even if the dataset exists."),
    workers: int = typer.Option(None, "--workers", min=1, help="Worker processes "
                                "(default: simulate.workers); never changes the outputs."),
    quiet: QuietOpt = False,
) -> None:
    """Simulate the world and write the dataset folder (reused when already built)."""
    cfg = resolve(config, set_)
    t0 = time.perf_counter()
    path, manifest, reused = ensure_dataset(cfg, force=force, quiet=quiet, workers=workers)
    took = time.perf_counter() - t0
    verb = "reused" if reused else f"built in {took:.1f}s"
    rows = ", ".join(f"{t}={n:,}" for t, n in manifest["rows"].items())
    typer.echo(f"dataset {path} ({verb}): {rows}")
    if not quiet:
        summary = read_summary(path, manifest)
        for key, item in summary["calibration"].items():
            rel = item["relative_error"]
            rel_s = "   n/a" if rel is None else f"{rel:+6.1%}"
            typer.echo(f"  {key:<40} simulated {item['simulated']:.4f}  target "
                       f"{item['target']:.4f}  ({rel_s})")
