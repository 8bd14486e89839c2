"""Running the study's tasks on the configured executor, with identical results.

Workers (local processes or Dask workers, :mod:`nsf.execution`) prepare the data once, from
the same config and dataset, so a task sees exactly the rows it would see in this process.
Every task is a pure function of its inputs and of random streams named by the task
(:func:`nsf.study.stream`), never of the order in which tasks finish, so the results do not
depend on the backend or the number of workers. MLflow is touched by this process only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nsf.config import ExecutionConfig, ExperimentConfig
from nsf.execution import Executor, Setup

#: A task function: ``fn(prepared, cfg, item, threads) -> result`` (module level, picklable).
TaskFn = Callable[[Any, ExperimentConfig, Any, int | None], Any]


def _prepare_in_worker(cfg: ExperimentConfig, dataset_path: str | None,
                       latents: bool) -> tuple[Any, ExperimentConfig]:
    from nsf.data import open_dataset
    from nsf.pipeline import prepare

    # This process verified the content checksums of the tables it read before starting the
    # workers; the workers check the row counts only instead of hashing every table again.
    dataset = open_dataset(dataset_path, verify="rows") if dataset_path is not None else None
    return prepare(cfg, dataset, latents=latents,
                   sample_subjects=cfg.study.sample_subjects).for_study(
        cfg.study.crossfit_below, cfg.study.crossfit_folds), cfg


#: Threads per task. One: the study runs tasks in parallel processes instead, results do not
#: depend on it (LightGBM runs with ``deterministic=True``; the tests check serial = parallel),
#: and with two OpenMP runtimes in one process (LightGBM's and scikit-learn's libgomp) a
#: multi-threaded LightGBM fit was measured 8-15x slower than a single-threaded one here.
TASK_THREADS = 1


def _run_in_worker(state: tuple[Any, ExperimentConfig], task: tuple[TaskFn, Any]) -> Any:
    prepared, cfg = state
    fn, item = task
    return fn(prepared, cfg, item, TASK_THREADS)


def warm_workers(cfg: ExperimentConfig, workers: int) -> None:
    """Start what the study's local workers are made from now (:meth:`Executor.warm`): its
    imports then overlap the caller's own set-up (reading the data, opening the tracking
    store) instead of delaying the first fits. Nothing for one worker or Dask."""
    Executor(cfg.execution, workers).warm(_run_in_worker)


class TaskPool:
    """Study tasks run serially (local backend, one worker) or on the configured executor.

    Parameters
    ----------
    cfg : the experiment config (``cfg.execution`` chooses the backend).
    prepared : this process's prepared data (serial tasks use it directly).
    dataset_path : the simulated dataset folder the workers prepare from (None for a table).
    latents : whether ``prepared`` holds the latent traits (the workers load them too).
    workers : worker processes (``execution.workers`` wins when set).
    serial : run every task in this process whatever the config (the workers could not
        prepare the data: simulated data without its dataset folder).
    """

    def __init__(self, cfg: ExperimentConfig, prepared, *, dataset_path: Path | str | None,
                 latents: bool, workers: int = 1, serial: bool = False):
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        drawn = None if prepared.sample is None else prepared.sample.size
        if drawn != cfg.study.sample_subjects:
            # The workers prepare with the config's sample: the same rows as this process's.
            raise ValueError(f"the prepared data holds a sample of {drawn} subjects but "
                             f"study.sample_subjects is {cfg.study.sample_subjects}: prepare "
                             "with sample_subjects=cfg.study.sample_subjects")
        self.cfg, self.prepared = cfg, prepared
        self._executor = Executor(ExecutionConfig() if serial else cfg.execution,
                                  1 if serial else workers)
        self.workers = self._executor.workers
        self._setup = Setup(_prepare_in_worker, (
            cfg, None if dataset_path is None else str(dataset_path), latents))

    @property
    def parallel(self) -> bool:
        return self._executor.parallel

    @property
    def executor(self) -> Executor:
        """The executor the tasks run on (later steps with light state reuse its workers)."""
        return self._executor

    def __enter__(self) -> TaskPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Left by an exception (Ctrl-C, SIGTERM): the workers are stopped at once instead of
        # running their fits to the end.
        self._executor.close(exc)

    def run(self, fn: TaskFn, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(...))`` as tasks finish (in order when serial).

        An exception in a task is raised here, after the tasks already finished were yielded;
        the remaining ones are cancelled.
        """
        items = list(items)
        if not self._executor.parallel:
            for item in items:
                yield item, fn(self.prepared, self.cfg, item, TASK_THREADS)
            return
        for i, result in self._executor.map_unordered(
                _run_in_worker, [(fn, item) for item in items], setup=self._setup):
            yield items[i], result
