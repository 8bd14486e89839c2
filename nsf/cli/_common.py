"""Options shared by commands."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from nsf.config import ExperimentConfig, load_config

ConfigArg = Annotated[
    Path | None,
    typer.Argument(help="Experiment YAML (holds only what differs from the defaults)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a field: dotted.key=value (repeatable)."),
]


def _hush_libraries(quiet: bool) -> bool:
    """With ``-q``: MLflow's log lines below ERROR, and the warnings MLflow and cloudpickle
    raise (e.g. about pickling the scorer), are not shown; errors still are."""
    if quiet:
        import logging
        import os
        import warnings

        # MLflow sets its loggers' level from this variable when it is imported (later).
        os.environ["MLFLOW_LOGGING_LEVEL"] = "ERROR"
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        for module in ("mlflow", "cloudpickle"):
            warnings.filterwarnings("ignore", module=rf"{module}(\..*)?$")
    return quiet


QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", callback=_hush_libraries,
    help="No progress bar, and no log lines or warnings from MLflow and cloudpickle.")]


def resolve(config: Path | None, overrides: list[str] | None) -> ExperimentConfig:
    """Load and validate the config once; errors surface as one line (exit 2)."""
    return load_config(config, overrides or ())


def signing_key(cfg: ExperimentConfig) -> bytes | None:
    """The dataset signing key from the config or its environment variable (CLI edge only)."""
    import os

    return cfg.dataset.signing_secret(os.environ)


def plain_progress(prefix: str) -> Callable[[str, int, int], None]:
    """Progress for a log file or CI (stderr not a terminal): one line on stderr per stage and
    per quarter of it, with the seconds elapsed; ``report(stage, done, total)``."""
    t0 = time.perf_counter()
    logged: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        step = 4 * done // max(total, 1)
        if logged.get(stage, -1) < step:
            logged[stage] = step
            print(f"{prefix}: {stage} {done}/{total} ({time.perf_counter() - t0:.0f}s)",
                  file=sys.stderr, flush=True)

    return report
