"""Process pools whose workers never outlive the process that started them.

Shared by both packages, which do not import each other: ``nsf``'s executor runs its local
backend here (study fits, audit enumeration, scoring partitions, and the simulator's chunks
when ``nsf simulate`` hands them to it), and ``data_gen`` runs the simulator's chunks here when
it runs on its own. Standard library only. A pool made by :func:`process_pool` is a
``forkserver`` :class:`~concurrent.futures.ProcessPoolExecutor`:

- workers are forked from a server process that has already imported the libraries the tasks
  need (``preload``: the task functions' modules, with everything they import), instead of
  each new worker importing them again (about 2 s of CPU per worker); the server starts with
  the first pool of this process and ends with it. Each worker gets this process's
  environment variables, working folder and ``sys.path`` as they are when the pool starts,
  as a ``spawn`` worker does. Where ``forkserver`` is not available (Windows), ``spawn``;
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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress

__all__ = ["bind_to_parent", "process_pool", "stop_pool"]

#: Modules the fork server of this process preloads (the ones asked for before it started).
_preload: list[str] = ["__main__"]

#: ``PR_SET_PDEATHSIG`` from ``<sys/prctl.h>``.
_PR_SET_PDEATHSIG = 1
#: Seconds between the watcher thread's checks of the parent process id.
POLL_SECONDS = 0.5


def _exit_if_orphaned(parent_pid: int, creator_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid or not _alive(creator_pid):
            os._exit(1)
        time.sleep(POLL_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_fork_server() -> None:
    """Close this forked worker's copy of its fork server's "alive" pipe. The server runs until
    every copy is closed, each worker's included; with the workers' copies closed, it ends with
    the pool's creator, and its workers with it (below)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def bind_to_parent(creator_pid: int) -> None:
    """Make this worker process end when the pool's creator, process ``creator_pid``, ends.

    Call it first in a worker. A spawned worker is the creator's child; a forked one is the
    child of the creator's fork server, which then ends with the creator. On Linux the kernel
    kills the worker when its parent ends (``prctl(PR_SET_PDEATHSIG)``), and a watcher thread
    exits it when its parent changes or the creator is gone (any platform).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    if parent != creator_pid:
        _release_fork_server()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: the watcher thread remains
            pass
    if os.getppid() != parent or not _alive(creator_pid):  # gone before the kernel was told
        os._exit(1)
    threading.Thread(target=_exit_if_orphaned, args=(parent, creator_pid), daemon=True,
                     name="parent-watcher").start()


def _init(creator_pid: int, environ: dict[str, str], initializer: Callable | None,
          initargs: tuple) -> None:
    bind_to_parent(creator_pid)
    # A forked worker has the fork server's environment (the creator's when the server
    # started): the creator's of now, as a spawned worker has.
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    if initializer is not None:
        initializer(*initargs)


def _context(preload: tuple[str, ...]):
    """The ``forkserver`` context, its server told to preload ``preload`` when it starts
    (modules asked for after it started are imported by the workers that need them);
    ``spawn`` where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    for name in preload:
        if name not in _preload:
            _preload.append(name)
    context.set_forkserver_preload(list(_preload))
    return context


def start_server(preload: Iterable[str] = ()) -> None:
    """Start this process's fork server now, preloading ``preload`` (nothing where there is
    no fork server, or once it runs): its imports then run while this process does other
    work, instead of when the first pool starts."""
    context = _context(tuple(preload))
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


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
                 initargs: tuple = (), preload: Iterable[str] = ()
                 ) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers never outlive this process (see the module).

    ``preload``: modules the workers will import (the task functions' modules), imported
    once by the fork server if it has not started yet.

    Leaving the block normally waits for the submitted tasks; leaving it by an exception
    kills the workers first.
    """
    pool = ProcessPoolExecutor(
        max_workers=max_workers, mp_context=_context(tuple(preload)), initializer=_init,
        initargs=(os.getpid(), dict(os.environ), initializer, tuple(initargs)))
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    else:
        pool.shutdown(wait=True)
