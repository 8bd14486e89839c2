"""The executor's process pools, whose workers never outlive their parent.

The local backend of :class:`nsf.execution.Executor` (study fits, audit enumeration, scoring
partitions, and the simulator's chunks when ``nsf simulate`` hands them to it) runs in a
``spawn`` :class:`~concurrent.futures.ProcessPoolExecutor` made by :func:`process_pool`.
The simulator run on its own keeps the same pool in ``data_gen.workers`` (it never imports
``nsf``, and ``nsf`` reads nothing of the simulator but the dataset it writes):

- each worker binds its life to the parent's: on Linux the kernel kills it when the parent
  dies (``prctl(PR_SET_PDEATHSIG)``, whatever killed the parent, SIGKILL included), and a
  watcher thread exits it when its parent process id changes (any platform);
- workers ignore SIGINT: a Ctrl-C at the terminal reaches the parent, which stops them (no
  traceback per worker);
- when the block is left by an exception (KeyboardInterrupt and SIGTERM turned into one by the
  command line included), queued tasks are cancelled and the workers are killed at once
  instead of running their current task to the end.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

__all__ = ["bind_to_parent", "process_pool", "stop_pool"]

#: ``PR_SET_PDEATHSIG`` from ``<sys/prctl.h>``.
_PR_SET_PDEATHSIG = 1
#: Seconds between the watcher thread's checks of the parent process id.
POLL_SECONDS = 0.5


def _exit_if_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(POLL_SECONDS)


def bind_to_parent(parent_pid: int) -> None:
    """Make this (worker) process end when the process ``parent_pid`` ends.

    Call it first in a worker; ``parent_pid`` is ``os.getpid()`` of the parent, passed in.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: the watcher thread remains
            pass
    if os.getppid() != parent_pid:  # the parent died before the kernel was told
        os._exit(1)
    threading.Thread(target=_exit_if_orphaned, args=(parent_pid,), daemon=True,
                     name="parent-watcher").start()


def _init(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    bind_to_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued tasks and kill the workers now (they hold nothing to clean up: their
    outputs are written to temporary names and renamed only when complete)."""
    # The executor keeps its worker processes in ``_processes`` (pid -> Process; cleared by
    # ``shutdown``, so read first) and has no public way to stop a running task.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=10)


@contextmanager
def process_pool(max_workers: int, *, initializer: Callable | None = None,
                 initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ``spawn`` process pool whose workers never outlive this process (see the module).

    Leaving the block normally waits for the submitted tasks; leaving it by an exception
    kills the workers first.
    """
    pool = ProcessPoolExecutor(
        max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init, initargs=(os.getpid(), initializer, tuple(initargs)))
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    else:
        pool.shutdown(wait=True)
