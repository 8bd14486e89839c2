"""Shared fixtures, built once per test session in temporary folders; a test that only reads
their outputs uses them instead of simulating or studying again:

- ``smoke_cfg``, ``smoke_dataset``, ``smoke_prepared``: the smoke config, its simulated dataset,
  the dataset read and split;
- ``smoke_study``: ``nsf study`` (with its audit and report) on the smoke config shrunk by
  :data:`SHRINK` and :data:`SMOKE_DESIGNS`, on ``smoke_dataset``'s data, with its MLflow store;
  ``smoke_report``: ``nsf report`` of that study, from MLflow alone;
- ``table_study``: ``nsf study`` of ``experiments/own_table.yaml`` shrunk by
  :data:`TABLE_SHRINK`, as a command;
- ``tracking_store`` / ``tracking_overrides``: a new, empty MLflow store per test (a copy of one
  migrated per session).

The default run (not ``slow``) runs on two pytest-xdist workers (``-n 2`` in pyproject.toml;
``-n 0`` runs in one process) and should take under five minutes on an idle 2-core machine, with
no test in it over :data:`BUDGET_SECONDS`; the summary at the end lists the slowest. The
whole-study fixtures are made once per run, not once per worker (:func:`_once_per_run`), and
the simulator's compiled kernels once per run, while the first tests run
(:func:`pytest_sessionstart`).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

# Before anything loads an OpenMP runtime (LightGBM's libgomp and scikit-learn's own copy live in
# one process here): idle OpenMP threads sleep instead of spinning. With both runtimes spinning
# for the cores, a two-thread LightGBM fit in the test process took 7-14 s instead of 0.2 s
# (smoke data, a loaded 2-core machine). The wait policy never changes a result. Subprocesses
# started with the test's environment inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The test modules' rewritten bytecode (pytest) and the project's own is cached even where the
# environment says otherwise (PYTHONDONTWRITEBYTECODE): each pytest-xdist worker otherwise
# rewrites every test module and compiles the package again at each run, and every `nsf`
# process a test starts compiles the modules it imports (about 3 s per worker at collection).
sys.dont_write_bytecode = False

import pytest  # noqa: E402  (after the two settings above)

from nsf.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
#: The smoke study shrunk to seconds: all families, three contested groups, two seeds, its tasks
#: and the audit's enumeration in one process (the two test workers keep both cores busy: worker
#: processes would only add their start-up; tests/test_study.py and tests/test_concurrency.py run
#: studies on workers, tests/test_execution.py the audit's shards).
SHRINK = ["study.workers=1", "study.seeds=2", "study.groups=[email,balance,join_date]",
          "study.n_bootstrap=200",
          "study.fairness_n_bootstrap=60", "study.proxy_rows=1000", "study.shap_rows=100",
          "study.permutation_rows=200", "study.permutation_repeats=1",
          "audit.phone_space_size=200000", "audit.workers=1"]
#: The smoke study's sharing designs: one of each kind (the data in use under each identifier,
#: fewer people, a coarser group, a shorter history) and the recommended one, instead of every
#: design of every variant (each design fits its own adversaries).
SMOKE_DESIGNS = ("study.designs=[in_use,in_use_hmac,in_use_random,population_only,coarse_email,"
                 "retention_30d,recommended]")


# --- The time budget of the default run, made visible -------------------------------------------

#: Seconds a test outside ``slow`` may take on an idle 2-core machine (setup, call and
#: teardown; the first user of a session fixture pays for building it). The default run
#: as a whole should stay under five minutes there.
BUDGET_SECONDS = 30.0
#: How many of the slowest tests outside ``slow`` the summary lists.
SHOW_SLOWEST = 8

_seconds: dict[str, list[float]] = {}
_slow: set[str] = set()


#: The browser test runs in the middle of the order, after ``test_own_table.py``, instead of
#: last (its module sorts last). pytest-xdist hands each worker consecutive tests and the rest
#: as they finish: a 25 s test at the end of the order left the other worker idle until it
#: ended. Not at the start: the first user of the smoke study builds it (a worker that needs it
#: meanwhile waits), and in a fresh clone it also compiles the project's own kernels, which put
#: a test first in the order over the 30 s budget.
MOVE_AFTER = ("tests/test_ui_browser.py::", "tests/test_own_table.py::")


def pytest_collection_modifyitems(config, items):
    moved, after = MOVE_AFTER
    chosen = [item for item in items if item.nodeid.startswith(moved)]
    rest = [item for item in items if not item.nodeid.startswith(moved)]
    anchors = [i for i, item in enumerate(rest) if item.nodeid.startswith(after)]
    if chosen and anchors:
        items[:] = rest[:anchors[-1] + 1] + chosen + rest[anchors[-1] + 1:]


def pytest_runtest_logreport(report):
    spent = _seconds.setdefault(report.nodeid, [0.0, 0.0])
    spent[0] += report.duration
    if report.when == "setup":
        spent[1] += report.duration
    if "slow" in report.keywords:
        _slow.add(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    """The slowest tests outside ``slow`` and those over :data:`BUDGET_SECONDS` (a report,
    never a failure: tests check behaviour; timings depend on the machine's load)."""
    fast = sorted(((total, setup, node) for node, (total, setup) in _seconds.items()
                   if node not in _slow), reverse=True)
    if not fast:
        return
    tr = terminalreporter
    if "seconds" in _kernels:
        tr.write_line(f"simulator kernels compiled once, beside the first tests: "
                      f"{_kernels['seconds']:.0f} s" + (f" (failed: {_kernels['error']})"
                                                       if _kernels["error"] else ""))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    over = [node for total, _, node in fast if total > BUDGET_SECONDS]
    tr.write_sep("-", f"slowest tests outside `slow` (load average {load}; "
                      f"{sum(t for t, _, _ in fast):.0f} s in all)")
    for total, setup, node in fast[:SHOW_SLOWEST]:
        tr.write_line(f"{total:7.1f} s  (setup {setup:5.1f} s)  {node}")
    if over:
        tr.write_line(f"{len(over)} test(s) outside `slow` took over {BUDGET_SECONDS:.0f} s "
                      "(the budget on an idle 2-core machine; under load, times stretch): share "
                      "a session fixture of tests/conftest.py or mark the test slow and keep a "
                      "cheaper version in the default run.")


# --- The simulator's kernels, compiled once per run ---------------------------------------------

#: A simulation of a few users in a fresh process: in a fresh clone it compiles the simulator's
#: numba kernels into their cache (``cache=True``: ``data_gen/__pycache__``), which every later
#: process loads in under a second instead of compiling them again (20-30 s each).
_COMPILE_KERNELS = f"""
import tempfile
from data_gen.dataset import build_dataset
from nsf.config import load_config
cfg = load_config({str(SMOKE)!r}, ["world.population.n_users=200"])
with tempfile.TemporaryDirectory() as folder:
    build_dataset(cfg.world, seed=cfg.seed, name="kernels", data_dir=folder, chunk_users=8192,
                  workers=1)
"""
_KERNELS_LOCK = "NSF_TESTS_KERNELS_LOCK"
_kernels: dict = {}


def _kernels_cached() -> bool:
    """Whether the simulator's kernels are in their cache, newer than their source."""

    source = ROOT / "data_gen" / "world.py"
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    index = list((ROOT / "data_gen" / "__pycache__").glob(f"world.*.{tag}.nbi"))
    return bool(index) and min(p.stat().st_mtime for p in index) >= source.stat().st_mtime


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Compile the simulator's kernels once per run, before any test simulates: in a fresh
    clone each pytest-xdist worker (and every ``nsf`` process a test starts) would otherwise
    compile them itself, several at once on two cores. The compilation runs in a background
    process while the workers start, collect and run the tests that need no simulator; each
    waits for it before the first simulator kernel it runs (:func:`pytest_collection_finish`).
    A process a test starts meanwhile compiles what it needs itself."""
    if os.environ.get("PYTEST_XDIST_WORKER") is not None or _kernels_cached():
        return
    import subprocess
    import tempfile
    import threading
    import time

    from filelock import FileLock

    path = Path(tempfile.gettempdir()) / f"nsf-tests-kernels-{os.getpid()}.lock"
    held = threading.Event()

    def compile_kernels() -> None:
        t0 = time.perf_counter()
        try:
            with FileLock(str(path)):
                held.set()
                res = subprocess.run([sys.executable, "-c", _COMPILE_KERNELS], cwd=ROOT,
                                     capture_output=True, text=True, timeout=900)
            _kernels["error"] = res.stderr[-2000:] if res.returncode else None
        except Exception as exc:  # said in the summary; the tests then compile what they need
            _kernels["error"] = repr(exc)
        finally:
            held.set()
            _kernels["seconds"] = time.perf_counter() - t0

    thread = threading.Thread(target=compile_kernels, daemon=True)
    thread.start()
    held.wait()
    _kernels.update(thread=thread, lock=path)
    os.environ[_KERNELS_LOCK] = str(path)  # the workers, started next, inherit it


def pytest_collection_finish(session):
    """Wait for the kernels being compiled: one process without workers joins its thread
    before the first test; a worker waits on the lock the compiling process holds the first
    time it is about to run a simulator kernel (:func:`_wait_before_the_first_kernel`), so
    the tests that never simulate start at once."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        if not session.config.pluginmanager.hasplugin("dsession") and "thread" in _kernels:
            _kernels["thread"].join()
        return
    path = os.environ.get(_KERNELS_LOCK)
    if path:
        _wait_before_the_first_kernel(path)


def _wait_before_the_first_kernel(path: str) -> None:
    """Make numba wait for the lock at ``path`` before it compiles or loads the first kernel of
    ``data_gen`` in this process (numba's dispatchers look their overloads up through
    ``Dispatcher._compile_for_args`` when a call has none yet); other kernels go through."""
    from filelock import FileLock
    from numba.core.dispatcher import Dispatcher

    original = Dispatcher._compile_for_args

    def compile_for_args(self, *args, **kwargs):
        if getattr(self.py_func, "__module__", "").startswith("data_gen."):
            Dispatcher._compile_for_args = original  # once: the cache is ready after this
            with FileLock(path):
                pass
        return original(self, *args, **kwargs)

    Dispatcher._compile_for_args = compile_for_args


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """A run whose tests all finished before the kernels did (none of them simulated) waits
    for the compiling process instead of leaving it behind."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None and "thread" in _kernels:
        _kernels["thread"].join()


def pytest_unconfigure(config):
    if "lock" in _kernels and os.environ.get("PYTEST_XDIST_WORKER") is None:
        Path(_kernels["lock"]).unlink(missing_ok=True)


# --- Shared data, studies and helpers ------------------------------------------------------------


@pytest.fixture(scope="session")
def smoke_cfg():
    """The real smoke config (3,000 users, two observation dates)."""
    return load_config(SMOKE)


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory, smoke_cfg):
    """Path of the smoke dataset, simulated once per run (seconds; the first simulation on a
    machine also compiles the simulator's kernels, about a minute)."""

    def build(folder: Path) -> dict:
        from data_gen.dataset import build_dataset

        path, _, _ = build_dataset(smoke_cfg.world, seed=smoke_cfg.seed, name=smoke_cfg.name,
                                   data_dir=folder, chunk_users=8192, workers=1)
        return {"folder": path}

    return _once_per_run(tmp_path_factory, "smoke_data", build)["folder"]


@pytest.fixture(scope="session")
def smoke_prepared(smoke_cfg, smoke_dataset):
    """The smoke dataset read and split once (nsf.pipeline.prepare)."""
    from nsf.data import open_dataset
    from nsf.pipeline import prepare

    return prepare(smoke_cfg, open_dataset(smoke_dataset))


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store created and migrated once per run (seconds each time); the
    fixtures below copy it and never write to it."""

    def build(folder: Path) -> dict:
        from mlflow.tracking import MlflowClient

        path = folder / "mlflow.db"
        MlflowClient(f"sqlite:///{path}").search_experiments()
        return {"folder": path}

    return _once_per_run(tmp_path_factory, "empty_store", build)["folder"]


@pytest.fixture
def tracking_store(tmp_path, _empty_store) -> str:
    """URI of a new, empty MLflow store at ``tmp_path / "mlflow.db"``: a copy of the session's
    migrated one. Tests of how a store is created make their own."""
    import shutil

    shutil.copyfile(_empty_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def tracking_overrides(tracking_store):
    """``--set`` items pointing MLflow at a throw-away SQLite store in ``tmp_path``."""
    return [f"tracking.uri={tracking_store}"]


def _once_per_run(tmp_path_factory, name: str, build, encode=None, decode=None):
    """``build(folder)`` once per test run: in one process, or in the first pytest-xdist worker
    that needs it while the others wait for it (a file lock in the run's shared temporary
    folder) and read what it returned (JSON: paths and strings; ``encode`` / ``decode`` for
    anything else)."""
    import json

    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's
    paths = {"root", "folder", "data"}
    with FileLock(str(shared / f"{name}.lock")):
        done = shared / f"{name}.json"
        if done.exists():
            raw = json.loads(done.read_text(encoding="utf-8"))
            value = {k: Path(v) if k in paths else v for k, v in raw.items()}
            return decode(value) if decode else value
        folder = shared / name
        folder.mkdir()
        value = build(folder)
        raw = encode(value) if encode else value
        done.write_text(json.dumps({k: str(v) if k in paths else v for k, v in raw.items()}),
                        encoding="utf-8")
        return value


@contextmanager
def _chdir(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory, _empty_store, smoke_dataset):
    """(root, overrides, parent run id, study output, data folder): ``nsf study`` once (it
    audits the dataset and writes its report under ``root/reports``). The data is
    ``smoke_dataset``'s (the same world and seed: ``nsf study`` finds and reuses it). The
    report regenerated from MLflow alone: :func:`smoke_report`."""

    def build(root: Path) -> dict:
        import shutil

        from typer.testing import CliRunner

        from nsf.cli import app

        shutil.copyfile(_empty_store, root / "mlflow.db")  # migrated once per session
        sets = [f"simulate.data_dir={smoke_dataset.parent}",
                f"tracking.uri=sqlite:///{root / 'mlflow.db'}", *SHRINK, SMOKE_DESIGNS]
        args = [a for item in sets for a in ("--set", item)]
        runner = CliRunner()
        with _chdir(root):  # nsf study writes its report under ./reports
            study = runner.invoke(app, ["study", str(SMOKE), "--quiet", *args],
                                  catch_exceptions=False)
            assert study.exit_code == 0, study.output
        parent = next(line.split()[2] for line in study.output.splitlines()
                      if line.startswith("study run "))
        return {"root": root, "sets": sets, "parent": parent, "study_output": study.output,
                "data": smoke_dataset}

    return _once_per_run(tmp_path_factory, "report_e2e", build)


@pytest.fixture(scope="session")
def smoke_report(tmp_path_factory, smoke_study) -> Path:
    """Folder of the smoke study's report regenerated by ``nsf report`` from MLflow alone,
    under ``smoke_study["root"] / "out"`` (once per run). A test that changes the smoke
    study's store asks for it first: the report is made from the store as the study left
    it."""

    def build(_folder: Path) -> dict:
        from typer.testing import CliRunner

        from nsf.cli import app

        root = smoke_study["root"]
        args = [a for item in smoke_study["sets"] for a in ("--set", item)]
        with _chdir(root):
            report = CliRunner().invoke(app, ["report", str(SMOKE), *args, "--out",
                                              str(root / "out")], catch_exceptions=False)
        assert report.exit_code == 0, report.output
        return {"folder": root / "out" / "smoke" / smoke_study["parent"]}

    return _once_per_run(tmp_path_factory, "smoke_report", build)["folder"]


#: The default study of the README's own table shrunk to seconds: in one process (as SHRINK),
#: two seeds, fewer resamples,
#: three of its seven contested groups (two of them coarsenable; the contested groups, the
#: inventory and the families that apply stay those of the whole table), one sharing design of
#: each kind and the recommended one.
TABLE_SHRINK = ["study.workers=1", "study.seeds=2", "study.n_bootstrap=100",
                "study.fairness_n_bootstrap=60",
                "study.shap_rows=100", "study.permutation_rows=200",
                "study.permutation_repeats=1", "study.proxy_estimator=logistic_regression",
                "study.groups=[checking_account,duration_months,credit_amount]",
                "study.designs=[in_use,drop_credit_amount,coarse_credit_amount,recommended]"]


@pytest.fixture(scope="session")
def table_study(tmp_path_factory, _empty_store):
    """(work folder, tracking overrides, parent run id, report folder, process): ``nsf study``
    of ``experiments/own_table.yaml`` (the README's own table) run once per session, as a
    user runs it (a fresh process, a bare environment), on :data:`TABLE_SHRINK`."""
    import subprocess

    def build(work: Path) -> dict:
        import shutil

        shutil.copyfile(_empty_store, work / "mlflow.db")  # migrated once per session
        sets = [f"tracking.uri=sqlite:///{work / 'mlflow.db'}", *TABLE_SHRINK]
        res = subprocess.run(
            [sys.executable, "-m", "nsf", "study", str(ROOT / "experiments" / "own_table.yaml"),
             "-q", *[a for item in sets for a in ("--set", item)]],
            cwd=work, capture_output=True, text=True, timeout=900,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert res.returncode == 0, res.stderr[-3000:]
        (folder,) = (work / "reports" / "own_table").iterdir()
        return {"root": work, "sets": sets, "parent": folder.name, "folder": folder,
                "process": res}

    def encode(value: dict) -> dict:
        res = value["process"]
        return value | {"process": [res.args, res.returncode, res.stdout, res.stderr]}

    def decode(value: dict) -> dict:
        return value | {"process": subprocess.CompletedProcess(*value["process"])}

    return _once_per_run(tmp_path_factory, "table_study", build, encode, decode)


#: The 8 bytes every PNG file starts with (:func:`undrawn_figures`).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def undrawn_figures(monkeypatch) -> None:
    """Figures are built but not drawn: each saved PNG is the 8-byte PNG signature. For tests of
    where files go and what is logged, not of what a figure shows (the smoke study draws every
    figure; saving them is most of a report's time)."""

    def save(self, target, **kwargs):
        if isinstance(target, str | os.PathLike):
            Path(target).write_bytes(PNG_SIGNATURE)
        else:
            target.write(PNG_SIGNATURE)

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", save)


def in_process(capsys, *args: str):
    """``nsf args`` through the console entry point in this process, as a finished process
    (exit code, stdout, stderr): the same words and exit code as a new process, without the
    seconds of a new interpreter loading the libraries. Tests that need the working folder
    set it with ``monkeypatch.chdir`` first."""
    import subprocess

    from nsf.cli import main

    capsys.readouterr()
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["nsf", *args], code, out.out, out.err)


def file_texts(path: Path):
    """The text a file holds: decoded tables, archive members, or its raw bytes (for scans of
    artifacts and reports for values that must not be there)."""
    import io
    import zipfile

    import pyarrow.parquet as pq

    data = path.read_bytes()
    if data[:4] == b"PAR1":
        yield pq.read_table(io.BytesIO(data)).to_pandas().to_csv(index=False)
    elif data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield archive.read(name).decode("latin-1")
    else:
        yield data.decode("latin-1")
