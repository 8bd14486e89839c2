"""``nsf config show|schema``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from nsf.cli import app
from nsf.cli._common import ConfigArg, SetOpt, resolve
from nsf.config import config_to_yaml, iter_schema

config_app = typer.Typer(help="Inspect configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Print the resolved config (defaults + file + --set) as YAML."""
    typer.echo(config_to_yaml(resolve(config, set_)), nl=False)


@config_app.command("schema")
def schema(plain: bool = typer.Option(False, help="Tab-separated, no table.")) -> None:
    """Print every field: type, default, allowed range and meaning."""
    rows = list(iter_schema())
    if plain:
        typer.echo("field\ttype\tdefault\trange\tmeaning")
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(show_lines=False, expand=True)
    for col in ("field", "type", "default", "range", "meaning"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)
