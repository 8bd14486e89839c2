"""Runs that happen at once, and shutdown: file locks around the store, a study and a dataset
build; worker pools and the UI's server never outlive the command that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
TINY = ["world.population.n_users=2000", "world.calendar.days=40",
        "world.calendar.warmup_days=20", "world.calendar.horizon_days=10",
        "world.feed.windows=[7]", "world.truth.oracle_draws=4"]
#: Seconds a killed command's workers may take to go.
GONE_WITHIN = 15.0


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _sets(items) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nsf", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_first_using_a_new_store_both_succeed(tmp_path):
    """Creating and migrating a new SQLite store (and the experiment) under a file lock."""
    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from nsf.config import load_config\n"
        "from nsf.tracking import experiment_id\n"
        f"cfg = load_config(None, ['tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}'])\n"
        "import mlflow  # imported before the start line so the processes race\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.01)\n"
        "print(experiment_id(cfg.tracking, 'race'))\n")
    ready = [tmp_path / f"ready-{i}" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(flag)], cwd=tmp_path,
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for flag in ready]
    deadline = time.monotonic() + 120
    # All three have imported MLflow and wait for the start line.
    while not all(flag.exists() for flag in ready):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert len({out.strip() for out, _ in outs}) == 1  # one experiment, the same id for all


def test_a_second_identical_study_says_one_line_and_exits_2(smoke_dataset, tmp_path):
    from nsf.cli._study import study_lock

    sets = [f"dataset.path={smoke_dataset}", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "study.audit=false"]
    cfg = load_config(SMOKE, sets)
    with study_lock(cfg):  # the first study
        res = subprocess.run([sys.executable, "-m", "nsf", "study", str(SMOKE), "-q",
                              *_sets(sets)], cwd=tmp_path, env=_env(), capture_output=True,
                             text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "another `nsf study` of experiment 'smoke'" in lines[0]
    # A study of another config (another digest) is not blocked by it.
    with study_lock(cfg), study_lock(load_config(SMOKE, [*sets, "study.seeds=2"])):
        pass


def test_two_identical_simulates_at_once_build_once(tmp_path):
    sets = _sets([*TINY, f"simulate.data_dir={tmp_path / 'data'}"])
    procs = [_start("simulate", str(SMOKE), "-q", *sets, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    stdout = "".join(out for out, _ in outs)
    assert stdout.count("(reused)") == 1 and stdout.count("built in") == 1, stdout
    assert not list((tmp_path / "data").glob("*.partial"))


def test_a_build_waits_for_the_lock_then_reuses(tmp_path):
    from filelock import FileLock

    from data_gen.dataset import build_dataset, dataset_path, lock_file, world_digest

    cfg = load_config(SMOKE, TINY)
    kw = dict(seed=cfg.seed, name=cfg.name, data_dir=tmp_path, chunk_users=8192)
    build_dataset(cfg.world, **kw)
    final = dataset_path(tmp_path, cfg.name, world_digest(cfg.world, cfg.seed, None))
    waited = threading.Event()
    result = {}
    with FileLock(lock_file(final)):
        thread = threading.Thread(target=lambda: result.update(out=build_dataset(
            cfg.world, on_wait=lambda _lock: waited.set(), **kw)))
        thread.start()
        assert waited.wait(30)
        time.sleep(0.5)
        assert "out" not in result  # still waiting
    thread.join(60)
    assert result["out"][2] is True  # reused


# -- no orphans ----------------------------------------------------------------------------------

def _workers(proc: subprocess.Popen, n: int, timeout: float = 240.0) -> list[psutil.Process]:
    """Wait until ``proc`` runs ``n`` or more pool workers; return all its descendant processes
    (the workers, the fork server that forked them, the resource tracker)."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"command ended early: {proc.communicate()[1][-3000:]}")
        if len(_pool_workers(parent.children(recursive=True))) >= n:
            time.sleep(1.0)  # let the workers start their tasks
            return parent.children(recursive=True)
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} worker processes after {timeout} s")


def _pool_workers(descendants: list[psutil.Process]) -> list[psutil.Process]:
    """The workers among a command's descendants: neither the resource tracker nor a process
    with children of its own (the fork server)."""
    parents = set()
    workers = []
    for p in descendants:
        try:
            parents.add(p.ppid())
            if "resource_tracker" not in " ".join(p.cmdline()):
                workers.append(p)
        except psutil.NoSuchProcess:
            pass
    return [p for p in workers if p.pid not in parents]


def _assert_all_gone(procs: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(procs, timeout=GONE_WITHIN)
    leftovers = [(p.pid, p.cmdline()[:4]) for p in alive]
    for p in alive:  # do not leave them running after a failure
        p.kill()
    assert not leftovers, f"orphaned processes: {leftovers}"


@pytest.mark.parametrize("sig", [signal.SIGKILL,
                                 pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_simulate_workers_die_with_their_parent(tmp_path, sig):
    sets = _sets(["world.population.n_users=65536", "simulate.chunk_users=8192",
                  f"simulate.data_dir={tmp_path / 'data'}"])
    proc = _start("simulate", str(SMOKE), "-q", "--workers", "2", *sets, cwd=tmp_path)
    workers = _workers(proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    _assert_all_gone(workers)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert err.strip() == "nsf: terminated; finished parts are kept and a re-run resumes"


@pytest.mark.slow
def test_audit_workers_die_with_their_parent(smoke_dataset, tmp_path):
    sets = _sets(["audit.workers=2", "audit.phone_space_size=100000000"])
    proc = _start("audit", str(SMOKE), "-q", "--no-mlflow", "--data", str(smoke_dataset), *sets,
                  cwd=tmp_path)
    workers = _workers(proc, 2)
    proc.kill()
    proc.communicate(timeout=60)
    _assert_all_gone(workers)


def test_study_workers_stop_on_sigterm(smoke_dataset, tmp_path, tracking_store):
    sets = _sets([f"dataset.path={smoke_dataset}", "study.audit=false",
                  f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"])
    proc = _start("study", str(SMOKE), "-q", "--workers", "2", *sets, cwd=tmp_path)
    workers = _workers(proc, 2)
    proc.terminate()
    proc.communicate(timeout=60)
    _assert_all_gone(workers)
    assert proc.returncode == 143


@pytest.mark.parametrize("sig", [
    # SIGTERM: also in the default run, where the browser test's UI is stopped
    # (tests/test_ui_browser.py); SIGKILL (nothing of nsf ui runs: the watchdog and the
    # parent-death signal stop the server), SIGHUP (the terminal closed), SIGINT (Ctrl-C).
    pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
    pytest.param(signal.SIGKILL, marks=pytest.mark.slow),
    pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_ui_server_stops_with_nsf_ui(tmp_path, sig, tracking_store):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start("ui", "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                  "--port", str(port), cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the MLflow server did not start listening")
    children = psutil.Process(proc.pid).children(recursive=True)
    # The server, its uvicorn process and the watchdog.
    assert len(children) >= 3, [c.cmdline()[:4] for c in children]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    _assert_all_gone(children)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the port any more
    if sig != signal.SIGKILL:
        # The UI's own words, not the study's ("a re-run resumes").
        assert "nsf ui:" in err and "is stopped" in err and "resumes" not in err, err[-2000:]
        assert proc.returncode == 128 + sig


def test_experiments_are_tagged_custom_model_development(tmp_path, tracking_store):
    """New experiments, and ones an earlier version created without the tag."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from nsf.tracking import EXPERIMENT_TAGS, experiment_id

    cfg = load_config(None, [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"])
    new = experiment_id(cfg.tracking, "new")
    mlflow.set_tracking_uri(cfg.tracking.uri)
    old = mlflow.create_experiment("old")
    assert "mlflow.experimentKind" not in MlflowClient(cfg.tracking.uri).get_experiment(old).tags
    assert experiment_id(cfg.tracking, "old") == old
    client = MlflowClient(cfg.tracking.uri)
    for exp in (new, old):
        tags = client.get_experiment(exp).tags
        assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert EXPERIMENT_TAGS == {"mlflow.experimentKind": "custom_model_development"}
