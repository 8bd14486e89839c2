"""``nsf ui``: the MLflow UI of the configured store, opened on the study's runs view."""

from __future__ import annotations

import signal
import socket
import sys
import time
from typing import Annotated

import typer

from nsf.cli import app
from nsf.cli._common import ConfigArg, SetOpt, resolve
from nsf.errors import NsfError


class HangUp(KeyboardInterrupt):
    """SIGHUP (the terminal closed): unwinds like Ctrl-C, so the server is stopped."""


def _on_sighup(signum, frame) -> None:
    raise HangUp


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@app.command("ui")
def ui_cmd(
    config: ConfigArg = None,
    set_: SetOpt = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 5000,
    open_: Annotated[bool, typer.Option(
        "--open", help="Open the runs view in the default browser once the server listens.")]
        = False,
) -> None:
    """Start the MLflow UI for the configured store on 127.0.0.1 and print the URL of the
    study's runs view (one row per variant, with its difference, interval and verdict).

    Ctrl-C stops it; so does closing the terminal or killing `nsf ui` in any way (the server
    never outlives it).
    """
    from nsf.cli import Finished, Terminated
    from nsf.tracking import check_store
    from nsf.tracking.ui import UiServer, runs_url, ui_command

    cfg = resolve(config, set_)
    check_store(cfg.tracking)
    base = f"http://127.0.0.1:{port}/"
    url, note = runs_url(cfg.tracking, cfg.name, base)
    argv, env = ui_command(cfg.tracking, port=port)
    signal.signal(signal.SIGHUP, _on_sighup)
    server = UiServer(argv, env)
    typer.echo(f"MLflow UI for {cfg.tracking.uri}: {url}  (Ctrl-C to stop)")
    if note:
        typer.echo(f"  {note}")
    try:
        if open_:
            while server.proc.poll() is None and not _listening(port):
                time.sleep(0.3)
            if server.proc.poll() is None:
                import webbrowser

                webbrowser.open(url)
        code = server.wait()
    except KeyboardInterrupt as exc:
        server.stop()
        what, status = (("terminated", 143) if isinstance(exc, Terminated) else
                        ("the terminal closed", 129) if isinstance(exc, HangUp) else
                        ("interrupted", 130))
        print(f"nsf ui: {what}; the MLflow UI at {base} is stopped", file=sys.stderr)
        raise Finished(status) from None
    except BaseException:
        server.stop()
        raise
    server.stop()
    if code != 0:
        raise NsfError(f"mlflow server exited with code {code} (is port {port} in use?)")
