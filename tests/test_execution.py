"""The one executor: same results on every backend and worker count, and its faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nsf.config import ConfigError, ExecutionConfig, load_config
from nsf.errors import NsfError
from nsf.execution import Executor, ExecutorError, Setup

ROOT = Path(__file__).resolve().parents[1]
DASK2 = ExecutionConfig(backend="dask", workers=2)


def _draw(state: dict, item: int) -> tuple[int, float, int]:
    """A pure task: a seeded draw from the item, shifted by the worker's set-up state."""
    rng = np.random.default_rng([state["seed"], item])
    return item, float(rng.normal() + state["shift"]), os.getpid()


def _make_state(seed: int, shift: float) -> dict:
    return {"seed": seed, "shift": shift}


def _sleep_then(item: int) -> tuple[int, int]:
    time.sleep(0.4)
    return item, os.getpid()


def _die_on_three(item: int) -> int:
    if item == 3:
        os._exit(1)
    return item


def _results(config: ExecutionConfig, workers: int) -> dict[int, float]:
    setup = Setup(_make_state, (7, 0.5))
    with Executor(config, workers) as executor:
        out = {i: (item, value) for i, (item, value, _) in
               executor.map_unordered(_draw, range(12), setup=setup)}
    assert all(i == item for i, (item, _) in out.items())
    return {i: value for i, (_, value) in out.items()}


def test_backends_and_worker_counts_give_identical_results():
    serial = _results(ExecutionConfig(), 1)
    assert sorted(serial) == list(range(12))
    assert _results(ExecutionConfig(), 2) == serial
    assert _results(DASK2, 2) == serial


def test_a_local_cluster_starts_while_the_dashboard_port_is_taken():
    """Two runs on one machine: the local cluster takes no fixed port (8787 is Dask's default,
    held here by a stand-in for another run) and serves nothing on other interfaces."""
    import socket

    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen(1)
    except OSError:
        pass  # already held by another process on this machine: the same situation
    try:
        with Executor(DASK2, 2) as executor:
            assert sorted(i for i, _ in executor.map_unordered(abs, range(4))) == [0, 1, 2, 3]
            scheduler = executor._client.scheduler_info()
            assert "8787" not in str(scheduler.get("services", {}))
    finally:
        holder.close()


def test_setup_runs_once_per_worker_and_tasks_spread_over_workers():
    with Executor(DASK2) as executor:
        pids = {pid for _, (_, _, pid) in executor.map_unordered(
            _draw, range(16), setup=Setup(_make_state, (1, 0.0)))}
    assert os.getpid() not in pids  # ran in the cluster's processes
    assert 1 <= len(pids) <= 2


def test_light_state_reuses_running_workers_and_heavy_state_gets_new_ones():
    """A step with light state (``Setup.light``) runs on the workers another step started,
    with the same results as on workers of its own; a later heavy step starts new workers,
    whose initializer installs its state."""
    heavy, light = Setup(_make_state, (1, 0.0)), Setup(_make_state, (2, 10.0), light=True)

    def run(executor, setup):
        out = sorted(executor.map_unordered(_draw, range(8), setup=setup))
        # The pool the step ran on (None: in this process), and every worker process it has
        # started (a loaded machine may give all the tasks to one of them).
        pool = executor._pool
        return ([r for _, (_, r, _) in out], {pid for _, (_, _, pid) in out}, pool,
                set(pool._processes) if pool is not None else set())

    with Executor(ExecutionConfig(), 2) as executor:
        first, _, first_pool, first_workers = run(executor, heavy)
        shifted, light_pids, light_pool, light_workers = run(executor, light)
        again, again_pids, again_pool, _ = run(executor, heavy)
    with Executor(ExecutionConfig(), 2) as executor:
        alone, *_ = run(executor, light)
    # The light step ran on the pool (and the workers) the heavy step started.
    assert light_pool is first_pool and light_pids <= light_workers
    # The heavy state again: a new pool, none of whose workers ran before.
    assert again_pool is not first_pool and not again_pids & (first_workers | light_workers)
    assert shifted == alone and again == first
    assert shifted == [x + 10.0 for x in run(Executor(ExecutionConfig(), 1),
                                             Setup(_make_state, (2, 0.0)))[0]]


#: A task module (importable by name, so the fork server can preload it) and a script that runs
#: it on two pools one after the other in a new process (the server starts with the first).
_PROBE = textwrap.dedent("""
    import os

    IMPORTED_IN = os.getpid()  # in a forked worker: the fork server, which preloaded it

    def where(_item):
        return [os.environ.get("NSF_TEST_POOL_VARIABLE"), os.getcwd(), IMPORTED_IN,
                os.getppid()]
""")
_TWO_POOLS = textwrap.dedent("""
    import json, os, sys
    from boundpool import process_pool
    from pool_probe import where

    if __name__ == "__main__":
        with process_pool(2, preload=[where.__module__]) as pool:
            before = list(pool.map(where, range(4)))
        os.environ["NSF_TEST_POOL_VARIABLE"] = "after"
        os.chdir(sys.argv[1])
        with process_pool(2, preload=[where.__module__]) as pool:
            after = list(pool.map(where, range(4)))
        print(json.dumps([os.getpid(), before, after]))
""")


def _run_pool_script(tmp_path, script: str):
    """Run ``script`` (beside the task module :data:`_PROBE`) in a new process from
    ``tmp_path``, its argument a folder to enter; returns the folder and its printed JSON."""
    import json

    (tmp_path / "pool_probe.py").write_text(_PROBE)
    (tmp_path / "script.py").write_text(script)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NSF_TEST_POOL_VARIABLE"}
    proc = subprocess.run([sys.executable, str(tmp_path / "script.py"), str(folder)],
                          cwd=tmp_path, env={**env, "PYTHONPATH": f"{ROOT}:{tmp_path}"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder, json.loads(proc.stdout)


def test_forked_workers_see_this_process_as_it_is_when_their_pool_starts(tmp_path):
    """Workers are forked from a server started with the first pool, which preloaded that
    pool's task module (the workers do not import it again); a later pool's workers still see
    the environment variables and working folder of the moment it starts, as spawned workers
    do. That they die with the process: the signal tests below."""
    folder, (pid, before, after) = _run_pool_script(tmp_path, _TWO_POOLS)
    assert {(b[0], b[1]) for b in before} == {(None, str(tmp_path))}
    assert {(a[0], a[1]) for a in after} == {("after", str(folder))}
    if sys.platform.startswith("linux"):
        # One server forked the workers of both pools; it had imported the task's module.
        parents = {w[3] for w in before + after}
        assert len(parents) == 1 and pid not in parents
        assert {w[2] for w in before + after} == parents


_WARM_THEN_POOL = textwrap.dedent("""
    import json, os, sys
    from multiprocessing import forkserver
    from boundpool import process_pool, start_server
    from nsf.config import ExecutionConfig
    from nsf.execution import Executor
    from pool_probe import where

    if __name__ == "__main__":
        Executor(ExecutionConfig(), 1).warm(where)  # one worker: nothing to start
        alone = forkserver._forkserver._forkserver_pid
        Executor(ExecutionConfig(), 2).warm(where)
        server = forkserver._forkserver._forkserver_pid
        os.environ["NSF_TEST_POOL_VARIABLE"] = "after"
        os.chdir(sys.argv[1])
        with process_pool(2) as pool:
            got = list(pool.map(where, range(4)))
        print(json.dumps([alone, server, got]))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork server: Linux here")
def test_warming_starts_the_fork_server_with_the_task_module_before_any_pool(tmp_path):
    """``Executor.warm`` starts the fork server at once, the task's module preloaded; the pool
    made later forks its workers from it, and they still see the variables and working folder
    of the moment the pool starts. One worker starts nothing."""
    folder, (alone, server, got) = _run_pool_script(tmp_path, _WARM_THEN_POOL)
    assert alone is None and isinstance(server, int)
    assert len(got) == 4
    for variable, folder_seen, imported_in, parent in got:
        assert (variable, folder_seen) == ("after", str(folder))
        assert imported_in == server and parent == server


def test_unreachable_scheduler_is_one_line_within_the_timeout():
    cfg = ExecutionConfig(backend="dask", address="tcp://127.0.0.1:9", connect_timeout=2)
    began = time.monotonic()
    with pytest.raises(ExecutorError) as err, Executor(cfg) as executor:
        list(executor.map_unordered(_sleep_then, [1]))
    assert time.monotonic() - began < 10
    message = str(err.value)
    assert "\n" not in message and "execution.address tcp://127.0.0.1:9" in message


def test_unreachable_scheduler_from_the_command_line_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nsf", "simulate", "experiments/smoke.yaml", "-q",
         "--set", f"simulate.data_dir={tmp_path}", "--set", "execution.backend=dask",
         "--set", "execution.address=tcp://127.0.0.1:9", "--set", "execution.connect_timeout=2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Dask scheduler reachable within 2 s" in lines[0]
    assert not list(tmp_path.glob("*/manifest.json"))


def test_a_killed_worker_tasks_are_rerun_on_the_others():
    with Executor(DASK2) as executor:
        client = executor.client()
        client.wait_for_workers(2, timeout=60)
        worker_pids = set(client.run(os.getpid).values())
        got, killed = {}, None
        for i, (item, pid) in executor.map_unordered(_sleep_then, range(20)):
            got[i] = item
            if killed is None:
                killed = pid
                os.kill(pid, signal.SIGKILL)
    assert killed in worker_pids
    assert got == {i: i for i in range(20)}


def test_dask_giving_up_on_a_task_is_one_line():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            Executor(DASK2) as executor, pytest.raises(ExecutorError) as err:
        list(executor.map_unordered(_die_on_three, range(6)))
    assert "\n" not in str(err.value) and "rerun to resume" in str(err.value)


_CLIENT = textwrap.dedent("""
    import sys, time
    from nsf.config import ExecutionConfig
    from nsf.execution import Executor

    def slow(item):
        import os, time
        time.sleep(60)
        return os.getpid()

    if __name__ == "__main__":
        # Ctrl-C as a program in the foreground of a terminal gets it, however this test run
        # was started (a run started in the background ignores SIGINT, and its children too).
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        backend = sys.argv[1]
        with Executor(ExecutionConfig(backend=backend, workers=2)) as executor:
            if backend == "dask":
                client = executor.client()
                client.wait_for_workers(2, timeout=60)
                pids = client.run(lambda: __import__("os").getpid()).values()
            else:
                pool = executor._local_pool()
                for _ in pool.map(abs, range(4)):
                    pass
                pids = [p.pid for p in pool._processes.values()]
            print(" ".join(str(p) for p in pids), flush=True)
            list(executor.map_unordered(slow, range(8)))
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (dead) parent's reaper counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["local", "dask"])
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupting_the_client_leaves_no_worker_process(tmp_path, backend, how):
    script = tmp_path / "client.py"
    script.write_text(_CLIENT)
    with subprocess.Popen([sys.executable, str(script), backend], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            pids = [int(p) for p in proc.stdout.readline().split()]
            assert len(pids) == 2
            time.sleep(1.0)
            proc.send_signal(how)
            proc.wait(timeout=60)
            deadline = time.monotonic() + 20
            while any(_alive(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not [p for p in pids if _alive(p)]
        finally:
            if proc.poll() is None:
                proc.kill()


def test_audit_enumeration_shards_agree_on_every_backend():
    import hashlib

    from nsf.audit import recover_phones

    phones = [f"010{n:08d}" for n in (3, 70_001, 149_999, 150_000)]
    digests = [hashlib.sha256(p.encode()).hexdigest() for p in phones]
    runs = [recover_phones(digests, space_size=150_000, workers=w, execution=e).recovered
            for w, e in ((1, None), (2, None), (1, DASK2))]
    assert runs[0] == {d: p for d, p in zip(digests[:3], phones[:3], strict=True)}
    assert runs[1] == runs[0] and runs[2] == runs[0]


@pytest.mark.slow
def test_study_on_a_local_cluster_equals_the_serial_study(tmp_path):
    from data_gen.dataset import build_dataset
    from nsf.data import open_dataset
    from nsf.pipeline import prepare
    from nsf.study import run_study
    from tests.test_study import TINY

    cfg = load_config(None, [*TINY, "study.families=[drop_one,coarsen]", "study.seeds=2"])
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                               data_dir=tmp_path, chunk_users=cfg.simulate.chunk_users)
    prepared = prepare(cfg, open_dataset(path), latents=True)
    serial = run_study(cfg, prepared, workers=1, dataset_path=path)
    dask_cfg = load_config(None, [*TINY, "study.families=[drop_one,coarsen]", "study.seeds=2",
                                  "execution.backend=dask", "execution.workers=2"])
    on_dask = run_study(dask_cfg, prepared, workers=1, dataset_path=path)
    drop = {"timing", "config"}
    assert serial.model_dump(exclude=drop) == on_dask.model_dump(exclude=drop)


@pytest.mark.slow
def test_dataset_checksums_equal_on_a_local_cluster(tmp_path):
    from data_gen.dataset import build_dataset

    cfg = load_config(ROOT / "experiments" / "smoke.yaml",
                      ["world.population.n_users=10000", "simulate.chunk_users=8192"])
    kw = {"seed": cfg.seed, "name": cfg.name, "chunk_users": cfg.simulate.chunk_users}
    _, serial, _ = build_dataset(cfg.world, data_dir=tmp_path / "serial", **kw)
    with Executor(DASK2) as executor:
        _, on_dask, _ = build_dataset(cfg.world, data_dir=tmp_path / "dask",
                                      run_tasks=executor.run_tasks, **kw)
    assert len(serial["tables"]["feed"]["files"]) == 2  # two chunks, one per worker
    assert on_dask["checksums"] == serial["checksums"]


def test_data_dir_and_score_paths_as_fsspec_urls(tmp_path):
    from nsf.paths import local_path

    cfg = load_config(None, [f"simulate.data_dir=file://{tmp_path}/data"])
    assert cfg.simulate.data_dir == tmp_path / "data"
    assert local_path(f"file://{tmp_path}/in.parquet", "input") == tmp_path / "in.parquet"
    assert local_path("relative/x.csv") == Path("relative/x.csv")
    with pytest.raises(ConfigError, match=r"simulate\.data_dir.*MemoryFileSystem"):
        load_config(None, ["simulate.data_dir=memory://bucket/data"])
    with pytest.raises(NsfError, match=r"^output: .memory://x\.parquet. is on"):
        local_path("memory://x.parquet", "output")


def _kill_a_busy_worker(client) -> int:
    """SIGKILL a worker process that is running a task (its pid)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError("no worker was running a task")


@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [0, 3])
def test_a_simulation_whose_dask_worker_dies_resumes_to_the_same_dataset(tmp_path,
                                                                        allowed_failures):
    """A worker killed mid-run: with no retry allowed the run stops with one line and a rerun
    resumes from the finished chunks; with retries the chunk reruns on another worker. Either
    way the dataset is the serial one, checksum for checksum."""
    import dask
    import distributed  # noqa: F401  (its config defaults, before one of them is set)

    from data_gen.dataset import build_dataset

    cfg = load_config(ROOT / "experiments" / "smoke.yaml",
                      ["world.population.n_users=40000", "simulate.chunk_users=8192"])
    kw = {"seed": cfg.seed, "name": cfg.name, "chunk_users": cfg.simulate.chunk_users}
    _, serial, _ = build_dataset(cfg.world, data_dir=tmp_path / "serial", **kw)
    assert len(serial["tables"]["feed"]["files"]) == 5
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            Executor(DASK2) as executor:
        client = executor.client()
        client.wait_for_workers(2, timeout=60)

        def killing_one(fn, items):
            for i, result in enumerate(executor.run_tasks(fn, items)):
                yield result
                if i == 0:
                    _kill_a_busy_worker(client)

        if allowed_failures == 0:
            with pytest.raises(ExecutorError) as err:
                build_dataset(cfg.world, data_dir=tmp_path / "dask", run_tasks=killing_one,
                              **kw)
            assert "\n" not in str(err.value) and "rerun to resume" in str(err.value)
            assert not list((tmp_path / "dask").glob("*/manifest.json"))
        else:
            _, on_dask, _ = build_dataset(cfg.world, data_dir=tmp_path / "dask",
                                          run_tasks=killing_one, **kw)
            assert on_dask["checksums"] == serial["checksums"]
            return
    # The rerun (a new cluster) resumes: the chunks finished before the stop are not redone.
    progress = []
    with Executor(DASK2) as executor:
        _, resumed, _ = build_dataset(cfg.world, data_dir=tmp_path / "dask",
                                      run_tasks=executor.run_tasks,
                                      progress=lambda done, total: progress.append(done), **kw)
    assert progress[0] >= 1
    assert resumed["checksums"] == serial["checksums"]
