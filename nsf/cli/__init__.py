"""The ``nsf`` command: the only place that parses arguments and prints.

Each sub-module registers its commands on :data:`app`; :func:`main` turns the project's
user-facing errors into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import signal
import sys

# Idle OpenMP threads sleep instead of spinning. LightGBM's and scikit-learn's OpenMP runtimes
# share the process (and its worker processes, which inherit the environment); on a machine
# with few cores the spinning threads of one starve the other. Only how idle threads wait
# changes, never a result. Set before either library is imported; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer

from nsf.errors import USER_ERRORS

app = typer.Typer(
    name="nsf",
    help="Reproduce and audit an insufficient-funds (NSF) risk score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstring paragraphs are re-wrapped to the terminal instead of keeping source line breaks.
    rich_markup_mode="markdown",
)

# Registration by import; each module owns its commands.
from nsf.cli import (  # noqa: E402, F401
    _config,
    _extra,
    _simulate,
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: worker pools are
    stopped, the UI's server is stopped, MLflow runs are marked as not finished."""


class Finished(SystemExit):
    """A command stopped by a signal that has already said so in its own words: its exit
    code, and no other message."""


#: Set when SIGTERM arrived (libraries may turn the exception into another KeyboardInterrupt).
_terminated = False


def _on_sigterm(signum, frame) -> None:
    global _terminated
    _terminated = True
    raise Terminated


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Standalone mode lets click report usage errors (exit 2); the project's own errors pass
    # through it and are reported here as one line.
    try:
        app(args=argv, standalone_mode=True)
    except USER_ERRORS as exc:
        print(f"nsf: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass
    except Finished as exc:
        raise SystemExit(exc.code) from None
    except SystemExit as exc:
        # Typer turns an interrupt into exit code 130 without a word.
        if exc.code != 130 and not _terminated:
            raise
    else:
        return
    what = "terminated" if _terminated else "interrupted"
    print(f"nsf: {what}; finished parts are kept and a re-run resumes", file=sys.stderr)
    raise SystemExit(143 if _terminated else 130)
