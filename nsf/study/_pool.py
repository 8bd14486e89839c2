"""Running the study's tasks serially or in worker processes, with identical results.

Workers are started with ``spawn`` (no state inherited from the parent) and each prepares the
data once, from the same config and dataset, so a task sees exactly the rows it would see in
the parent. Every task is a pure function of its inputs and of random streams named by the
task (:func:`nsf.study.stream`), never of the order in which tasks finish, so the results do
not depend on the number of workers. MLflow is touched by the parent only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from data_gen.workers import process_pool
from nsf.config import ExperimentConfig

#: Worker state: the prepared data and config, set once by :func:`_init_worker`.
_WORKER: dict[str, Any] = {}

#: A task function: ``fn(prepared, cfg, item, threads) -> result`` (module level, picklable).
TaskFn = Callable[[Any, ExperimentConfig, Any, int | None], Any]


def _init_worker(cfg: ExperimentConfig, dataset_path: str | None, latents: bool) -> None:
    from nsf.data import open_dataset
    from nsf.pipeline import prepare

    # The parent verified the content checksums of the tables it read before starting the
    # pool; the workers check the row counts only instead of hashing every table again.
    dataset = open_dataset(dataset_path, verify="rows") if dataset_path is not None else None
    _WORKER["prepared"] = prepare(cfg, dataset, latents=latents)
    _WORKER["cfg"] = cfg


#: Threads per task. One: the study runs tasks in parallel processes instead, results do not
#: depend on it (LightGBM runs with ``deterministic=True``; the tests check serial = parallel),
#: and with two OpenMP runtimes in one process (LightGBM's and scikit-learn's libgomp) a
#: multi-threaded LightGBM fit was measured 8-15x slower than a single-threaded one here.
TASK_THREADS = 1


def _run_in_worker(fn: TaskFn, item: Any) -> Any:
    return fn(_WORKER["prepared"], _WORKER["cfg"], item, TASK_THREADS)


class TaskPool:
    """Serial (``workers=1``) or process-parallel execution of study tasks.

    Parameters
    ----------
    cfg : the experiment config.
    prepared : the parent's prepared data (serial tasks use it directly).
    dataset_path : the simulated dataset folder the workers prepare from (None for a table).
    latents : whether ``prepared`` holds the latent traits (the workers load them too).
    workers : number of worker processes (1: no processes).
    """

    def __init__(self, cfg: ExperimentConfig, prepared, *, dataset_path: Path | str | None,
                 latents: bool, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        self.cfg, self.prepared, self.workers = cfg, prepared, int(workers)
        self._dataset_path = None if dataset_path is None else str(dataset_path)
        self._latents = latents
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> TaskPool:
        if self.workers > 1:
            # Workers die with this process (data_gen.workers); an exception here (Ctrl-C,
            # SIGTERM) kills them at once instead of letting their fits run to the end.
            self._context = process_pool(
                self.workers, initializer=_init_worker,
                initargs=(self.cfg, self._dataset_path, self._latents))
            self._executor = self._context.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._executor is not None:
            self._executor = None
            self._context.__exit__(exc_type, exc, tb)

    def run(self, fn: TaskFn, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(...))`` as tasks finish (in order when serial).

        An exception in a task is raised here, after the tasks already finished were yielded;
        the remaining ones are cancelled when the pool closes.
        """
        items = list(items)
        if self._executor is None:
            for item in items:
                yield item, fn(self.prepared, self.cfg, item, TASK_THREADS)
            return
        pending: dict[Future, tuple[int, Any]] = {
            self._executor.submit(_run_in_worker, fn, item): (i, item)
            for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            # Finished futures in submission order, so logging order is stable per batch.
            for future in sorted(done, key=lambda f: pending[f][0]):
                _, item = pending.pop(future)
                yield item, future.result()
