"""Options shared by commands."""

from __future__ import annotations

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
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def resolve(config: Path | None, overrides: list[str] | None) -> ExperimentConfig:
    """Load and validate the config once; errors surface as one line (exit 2)."""
    return load_config(config, overrides or ())
