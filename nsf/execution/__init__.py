"""One executor for every parallel step: worker processes of this machine, or a Dask cluster.

Simulator chunks, study fits and statistics, and audit enumeration shards all run through
:class:`Executor.map_unordered`: a pure, module-level task function applied to a list of
items, results yielded as they finish with the item's index. Two backends, chosen by
``execution.backend``:

``local``
    A :class:`concurrent.futures.ProcessPoolExecutor` whose workers never outlive
    this process (:func:`boundpool.process_pool`: parent-death signal and watcher,
    SIGINT ignored in workers, workers killed at once when the run stops by an exception).
    One worker runs the tasks in this process.
``dask``
    A :class:`distributed.Client` to ``execution.address``, or to a
    :class:`distributed.LocalCluster` of ``execution.workers`` single-threaded worker processes
    started (and closed) here. An unreachable scheduler stops the run with one line after
    ``execution.connect_timeout`` seconds; a task whose worker dies is rescheduled on another;
    when Dask gives up, the run stops with one line, and a rerun resumes from what was kept
    (the simulator's finished chunks, the study's finished fits).

Every task is a pure function of its item and of state set up from the config (``setup``):
results never depend on the backend, the worker count or the order tasks finish in.

Why here and not in ``data_gen``: the simulator does not import ``nsf``. It takes the task
runner as an injected callable (``build_dataset(run_tasks=...)``), which ``nsf simulate`` fills
with :meth:`Executor.run_tasks`; run on its own it uses the same local pool.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from nsf.config import ExecutionConfig, ExperimentConfig
from nsf.errors import NsfError

__all__ = ["Executor", "ExecutorError", "Setup", "executor_for"]


class ExecutorError(NsfError):
    """The cluster cannot be reached or gave up on a task; one line, exit code 2."""


@dataclass(frozen=True)
class Setup:
    """Per-worker state made once by ``fn(*args)`` and passed to every task of a map.

    ``token`` names the state: a worker keeps the state of the latest token only, so a
    worker that ran a previous step does not hold that step's data.

    ``light``: the arguments are small (a few megabytes). Local workers already running for
    another step are then kept and given the arguments with each task (each worker makes the
    state once), instead of new workers started (a fork, the state made again, and the
    imports of any module the fork server had not preloaded).
    Heavy arguments (the default) go to new workers once, through their initializer.
    """

    fn: Callable[..., Any]
    args: tuple = ()
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    light: bool = False


#: Worker state: token -> value of :class:`Setup` (the latest token only).
_STATE: dict[str, Any] = {}


def _install(token: str, fn: Callable, args: tuple) -> Any:
    if token not in _STATE:
        _STATE.clear()
        _STATE[token] = fn(*args)
    return _STATE[token]


def _call(fn: Callable, item: Any, setup: tuple[str, Callable, Any] | None) -> Any:
    """Run one task; ``setup`` is ``(token, fn, args)``, ``args`` None when the pool's
    initializer installed the state (local) or the scattered arguments (Dask)."""
    if setup is None:
        return fn(item)
    token, setup_fn, args = setup
    if args is None:
        if token not in _STATE:
            raise RuntimeError("worker state not installed")
        return fn(_STATE[token], item)
    return fn(_install(token, setup_fn, args), item)


class Executor:
    """Runs task functions over items on the configured backend (see the module).

    Use as a context manager; the pool or cluster starts at the first parallel map and is
    closed (workers stopped) when the block is left, at once when it is left by an exception.

    Parameters
    ----------
    config : ``execution`` section of the config.
    workers : worker processes (``config.workers`` wins when set).
    """

    def __init__(self, config: ExecutionConfig | None = None, workers: int = 1):
        self.config = config or ExecutionConfig()
        self.workers = int(self.config.workers or workers)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        self._pool: ProcessPoolExecutor | None = None
        self._pool_context: AbstractContextManager[ProcessPoolExecutor] | None = None
        self._pool_token: str | None = None
        self._client: Any = None  # distributed.Client
        self._cluster: Any = None  # distributed.LocalCluster

    @property
    def backend(self) -> str:
        return self.config.backend

    @property
    def parallel(self) -> bool:
        """Whether tasks run outside this process."""
        return self.backend == "dask" or self.workers > 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)

    def close(self, exc: BaseException | None = None) -> None:
        """Stop the workers (killed at once when ``exc`` is given)."""
        if self._pool_context is not None:
            context, self._pool_context, self._pool = self._pool_context, None, None
            if exc is None:
                context.__exit__(None, None, None)
            else:
                context.__exit__(type(exc), exc, exc.__traceback__)
        if self._client is not None:
            client, self._client = self._client, None
            client.close(timeout=10)
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close(timeout=10)

    def warm(self, fn: Callable) -> None:
        """Let the local workers of ``fn`` start sooner: their fork server imports ``fn``'s
        module now, in another process, while this one goes on (nothing for one worker, for
        Dask, or once the server runs)."""
        if self.backend == "local" and self.workers > 1:
            from boundpool import start_server

            start_server((fn.__module__,))

    # -- backends -----------------------------------------------------------------------

    def _local_pool(self, setup: Setup | None = None, preload: tuple[str, ...] = ()):
        token = None if setup is None else setup.token
        if self._pool is not None and setup is not None and not setup.light \
                and token != self._pool_token:
            # Another step's heavy state: new workers (they hold nothing else).
            old, self._pool_context, self._pool = self._pool_context, None, None
            if old is not None:
                old.__exit__(None, None, None)
        if self._pool is None:
            from boundpool import process_pool

            # The state is made once per worker by the initializer (its arguments, such as a
            # bitmap of tens of megabytes, are not sent with every task). The workers are
            # forked from a server that imported the task's modules once (``preload``).
            if setup is None:
                pool_context = process_pool(self.workers, preload=preload)
            else:
                pool_context = process_pool(self.workers, initializer=_install,
                                            initargs=(setup.token, setup.fn, setup.args),
                                            preload=preload)
            self._pool_context = pool_context
            self._pool = pool_context.__enter__()
            self._pool_token = token
        return self._pool

    def client(self):
        """The Dask client (connecting or starting the LocalCluster on first use)."""
        if self._client is not None:
            return self._client
        from distributed import Client

        timeout = self.config.connect_timeout
        if self.config.address is not None:
            try:
                self._client = Client(self.config.address, timeout=f"{timeout}s",
                                      set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ExecutorError(
                    f"execution.address {self.config.address}: no Dask scheduler reachable "
                    f"within {timeout:g} s ({reason})") from None
            return self._client
        from distributed import LocalCluster

        self._cluster = LocalCluster(
            n_workers=self.workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.ERROR,
            # No dashboard, and the scheduler's HTTP endpoint on a free loopback port: with
            # ``None`` alone it takes 8787 on every interface, so a second run on the same
            # machine (or a user's own cluster) collides with the first.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
        self._client = Client(self._cluster, timeout=f"{timeout}s", set_as_default=False)
        return self._client

    # -- running ------------------------------------------------------------------------

    def map_unordered(self, fn: Callable, items: Iterable[Any], *,
                      setup: Setup | None = None) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` (``fn(state, item)`` with ``setup``) as tasks finish.

        Serial (local backend, one worker): in order, in this process. An exception in a task
        is raised here after the results already finished were yielded; the tasks not yet
        run are cancelled.
        """
        items = list(items)
        if not items:
            return
        if not self.parallel:
            # In this process the state lives for this map only (not in the workers' cache).
            state = None if setup is None else setup.fn(*setup.args)
            for i, item in enumerate(items):
                yield i, fn(item) if setup is None else fn(state, item)
            return
        if self.backend == "local":
            yield from self._map_local(fn, items, setup)
        else:
            yield from self._map_dask(fn, items, setup)

    def run_tasks(self, fn: Callable, items: Iterable[Any]) -> Iterator[Any]:
        """``fn(item)`` for each item, yielded as they finish (the simulator's task runner)."""
        for _, result in self.map_unordered(fn, items):
            yield result

    def _map_local(self, fn, items, setup) -> Iterator[tuple[int, Any]]:
        modules = (fn.__module__,) + (() if setup is None else (setup.fn.__module__,))
        pool = self._local_pool(setup, preload=modules)
        if setup is None:
            state = None
        elif setup.token == self._pool_token:  # installed by the workers' initializer
            state = (setup.token, setup.fn, None)
        else:  # light state on workers started for another step: sent with each task
            state = (setup.token, setup.fn, setup.args)
            # The workers drop the initializer's state for it: a later map of that step
            # starts new workers.
            self._pool_token = None
        pending: dict[Future, int] = {pool.submit(_call, fn, item, state): i
                                      for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    i = pending.pop(future)
                    yield i, future.result()
        finally:
            for future in pending:
                future.cancel()

    def _map_dask(self, fn, items, setup) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self.client()
        state = None
        if setup is not None:
            # The set-up arguments go to each worker once (a future resolved on the worker),
            # not with every task.
            [args] = client.scatter([setup.args], broadcast=True, hash=False)
            state = (setup.token, setup.fn, args)
        futures = [client.submit(_call, fn, item, state, pure=False,
                                 retries=self.config.retries)
                   for item in items]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    result = future.result()
                except KilledWorker as exc:
                    raise ExecutorError(
                        f"Dask workers died running {getattr(fn, '__name__', 'a task')} "
                        f"({exc.__class__.__name__}); rerun to resume from the finished "
                        "work") from None
                yield index[future.key], result
        finally:
            client.cancel(futures)


def executor_for(cfg: ExperimentConfig, workers: int) -> Executor:
    """The configured executor for a step whose own worker setting is ``workers``."""
    return Executor(cfg.execution, workers)
