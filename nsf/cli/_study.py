"""``nsf study``: the data-minimisation and fairness study (variants x seeds, verdicts)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nsf.cli import app
from nsf.cli._common import (
    ConfigArg,
    QuietOpt,
    SetOpt,
    plain_progress,
    resolve,
    signing_key,
)
from nsf.errors import NsfError

_STAGES = {"fits": "variants x seeds", "minimal set": "minimal-set fits",
           "proxies": "proxy checks", "fairness": "fairness tables",
           "statistics": "bootstrap arms"}


def _fmt(x) -> str:
    return "   n/a" if x is None else f"{x:+.4f}"


def _summary(result) -> Table:
    s = result.settings
    metric = s.primary_metric
    table = Table(title=f"study {result.name!r}: {metric} difference to the reference, "
                  f"{s.confidence:.0%} interval over rows and {len(result.seeds)} seeds "
                  "(the one that decided the verdict), "
                  f"margin {s.margins[metric]}")
    for col in ("variant", "reference", "estimate", "interval", "decided by", "verdict",
                "MDE", "seeds"):
        table.add_column(col, justify="right" if col in ("estimate", "interval", "MDE", "seeds")
                         else "left")
    for v in result.variants:
        m = v.comparisons[v.reference].metrics[metric]
        # The interval that decided the verdict: the simultaneous one of the variant's family
        # when multiplicity control widened it, else the per-comparison one.
        if m.decided_by == "simultaneous" and m.simultaneous_lower is not None:
            lo, hi, by = m.simultaneous_lower, m.simultaneous_upper, \
                f"simultaneous ({m.family_size})"
        else:
            lo, hi = m.lower, m.upper
            by = {"holm": "Holm", None: "per comparison"}.get(m.decided_by, "per comparison")
        table.add_row(v.name, v.reference, _fmt(m.estimate), f"[{_fmt(lo)}, {_fmt(hi)}]",
                      by, v.verdict or "", *_power_cells(m, len(result.seeds)))
    return table


def _power_cells(m, seeds: int) -> tuple[str, str]:
    """The minimum detectable loss at the margin, and the seeds behind the verdict (with
    ``study.until: decided``, the seeds and test subjects of the look that decided it)."""
    mde = "" if m.power is None else f"{m.power.mde:.4f}"
    if m.sequential is None:
        return mde, str(seeds)
    rec = m.sequential
    return mde, f"{rec.seeds} x {rec.test_subjects:,} subj. (look {rec.look})"


def further_subjects(cfg, latents: bool, workers: int | None = None):
    """The source of test subjects on demand of ``study.until: decided`` on simulated data:
    further users of the same world, built through the simulate command (each a dataset
    folder of its own, with its manifest and description, reused on a re-run) and prepared as
    the study's data. None for a table (fixed size), a dataset folder given by
    dataset.path (its world is the folder's, not necessarily the config's), or without a
    budget of subjects. ``workers``: processes that simulate them (default
    ``simulate.workers``; the study's workers are idle meanwhile); never changes them."""
    s = cfg.study
    if cfg.dataset.kind != "simulated" or cfg.dataset.path is not None or \
            s.until != "decided" or s.budget.subjects == 0:
        return None
    from nsf.cli._simulate import ensure_dataset
    from nsf.data import open_dataset
    from nsf.pipeline import prepare
    from nsf.study._sequential import FurtherUsers

    def make(further):
        path, _, _ = ensure_dataset(further, quiet=True, workers=workers)
        return prepare(further, open_dataset(path, verify=further.dataset.verify,
                                             signing_key=signing_key(further)),
                       latents=latents)

    return FurtherUsers(cfg, make)


@contextmanager
def study_lock(cfg) -> Iterator[None]:
    """The lock of one study (experiment and config digest), held while its parent run is
    found or started and its children are logged: a second identical study cannot attach to
    the same parent run and duplicate the children.

    Raises
    ------
    NsfError
        Another process holds it (one line, exit 2).
    """
    from filelock import FileLock, Timeout

    from nsf.tracking import lock_folder
    from nsf.tracking.study import study_key

    lock = FileLock(lock_folder(cfg.tracking) / f"study-{cfg.name}-{study_key(cfg)[:16]}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise NsfError(f"another `nsf study` of experiment {cfg.name!r} with the same config "
                       f"is running ({lock.lock_file} is held); re-run it when that one has "
                       "finished to reuse its fits") from None
    try:
        yield
    finally:
        lock.release()


@app.command("study")
def study_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker processes for fits and statistics (default: "
        "study.workers); never changes the results.")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Retrain every variant even if an earlier run finished it.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Ablations with intervals, necessity verdicts, minimal set, fairness, proxies, reliance.

    Each variant is retrained with study.seeds seeds and compared with the baseline on the
    same test rows. Finished variant runs are reused on a re-run (--fresh redoes them); the
    result is logged to one MLflow parent run (study.json and CSV tables).
    """
    from nsf.data import open_dataset, reading_summary
    from nsf.pipeline import prepare
    from nsf.study import resolve_variants, run_study, study_tables, warm_workers
    from nsf.tracking import check_store, log_description
    from nsf.tracking.study import (
        MlflowFitStore,
        log_study_result,
        study_run,
        with_parent,
    )

    cfg = resolve(config, set_)
    check_store(cfg.tracking)
    # Reusing children downloads their predictions: no progress bar per download.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    t0 = time.perf_counter()
    dataset, path = None, None
    if cfg.dataset.kind == "simulated":
        path = cfg.dataset.path
        if path is None:
            from nsf.cli._simulate import ensure_dataset

            path, _, _ = ensure_dataset(cfg, quiet=quiet)
        dataset = open_dataset(path, verify=cfg.dataset.verify, signing_key=signing_key(cfg))
    n_workers = workers if workers is not None else cfg.study.workers
    warm_workers(cfg, n_workers)
    # The latent income is read only for the income proxy (simulated data, never a feature).
    latents = cfg.dataset.kind == "simulated" and (
        cfg.study.proxy_targets is None or "income_band" in cfg.study.proxy_targets)
    show = not quiet and sys.stderr.isatty()
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=not show) as bar:
        tasks: dict[str, TaskID] = {}
        plain = None if show or quiet else plain_progress("study")

        def progress(stage: str, done: int, total: int) -> None:
            if plain is not None:
                plain(_STAGES.get(stage, stage), done, total)
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        # Read and check the data and the variants before a run exists: bad input writes nothing.
        prepared = prepare(cfg, dataset, latents=latents,
                           sample_subjects=cfg.study.sample_subjects)
        resolve_variants(cfg, prepared.for_study(cfg.study.crossfit_below,
                                                 cfg.study.crossfit_folds))
        # What reading the table found, once the input is known to be good (bad input is one
        # line): printed even when quiet, as warnings are.
        for line in (reading_summary(prepared.description)
                     if prepared.description is not None else []):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        with study_lock(cfg), study_run(cfg, fresh=fresh) as (run_id, resumed):
            log_description(prepared.description)
            store = MlflowFitStore(cfg, run_id, prepared.digest)
            result = run_study(cfg, prepared, store=store, workers=n_workers,
                               dataset_path=path, fresh=fresh, progress=progress,
                               subjects=further_subjects(cfg, latents, n_workers))
            result = with_parent(result, run_id, resumed)
            log_study_result(result, study_tables(result), dataset_digest=prepared.digest)
    fits = result.fits
    if not quiet:
        Console(width=120).print(_summary(result))
        from nsf.study._power import readout_lines

        for line in readout_lines(result):
            typer.echo(line)
        minimal = result.minimal_set
        if minimal is not None:
            typer.echo(f"minimal sufficient set ({minimal.strategy}): keeps "
                       f"{', '.join(minimal.kept) or 'no contested group'}; removes "
                       f"{', '.join(minimal.removed) or 'nothing'}")
        for skipped in result.skipped_families:
            typer.echo(f"family {skipped.family}: not applicable: {skipped.reason}")
    typer.echo(f"study run {run_id} (experiment {cfg.name!r}{', resumed' if resumed else ''}):"
               f" {len(result.variants)} variants x {len(result.seeds)} seeds, "
               f"{fits.trained} fits trained, {fits.reused} reused, "
               f"{fits.shared} shared by key ({fits.requested} requested, cache hit rate "
               f"{fits.hit_rate:.0%}), {time.perf_counter() - t0:.1f}s")
    if fits.trained:
        typer.echo(f"the fits' estimators trained for {result.timing.fits_estimator_cpu:.1f} "
                   f"CPU s: the fits cannot take under {result.timing.fits_floor:.1f}s on "
                   "this study's workers, whatever else is made faster")
    if store.unreadable:
        typer.echo(f"{len(store.unreadable)} earlier fits in the store could not be read "
                   "(their artifacts are missing or damaged) and were trained again")
    if cfg.study.audit and path is not None:
        from nsf.cli._audit import ensure_audit

        ensure_audit(cfg, path, quiet=quiet)
    from nsf.report import write_report

    # The report and its figures also go into the study run (artifacts report/), and the run's
    # description states the headline answers and links them.
    typer.echo(f"report: {write_report(run_id, cfg, log_to_mlflow=True)}")
