"""Stops a process group when the process that started it dies, whatever killed it.

Run as a script (``python _watchdog.py PGID``, importing nothing of the project) in a session
of its own, with its standard input the read end of a pipe whose write end only the starting
process holds: reading returns when that process has ended (the kernel closes its end even on
SIGKILL). Then the group gets SIGTERM, and SIGKILL after a grace period.
"""

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 10.0


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` is alive (one we may not signal counts)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(pgid: int) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while os.read(0, 4096):
        pass  # nothing is ever written: only the end of the pipe matters
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]))
