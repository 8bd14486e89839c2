"""A full disk: the simulator checks its free space before it starts, a disk that fills up
mid-build gives one line naming the path and the space needed and leaves no temporary file, and
a tracking store whose creation ran out of space is usable on the rerun.

A full file system is simulated by raising ``ENOSPC`` where the writes happen (and, for SQLite,
by capping the database's pages: SQLite then fails exactly as on a full disk), so the tests run
unprivileged."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_gen.dataset import build_dataset, verify_dataset
from data_gen.errors import WorldError
from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
#: Three chunks of 8,192 users over a short calendar (seconds).
CHUNKED = ["world.population.n_users=20000", "world.calendar.days=40",
           "world.calendar.warmup_days=20", "world.calendar.horizon_days=10",
           "world.calendar.snapshot_every_days=10", "world.feed.windows=[7]",
           "world.truth.oracle_draws=2"]
_Usage = namedtuple("_Usage", "total used free")


def _build(data_dir: Path, **kw):
    cfg = load_config(SMOKE, CHUNKED)
    return build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=data_dir,
                         chunk_users=8192, **kw)


def _leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.tmp"))


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_simulate_checks_free_space_before_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(WorldError, match=rf"{tmp_path}: not enough free space for the dataset: "
                                         r"it needs about [\d.]+ MB, 5.00 kB are free"):
        _build(tmp_path)
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]  # nothing written

    from nsf.cli import main

    with pytest.raises(SystemExit) as info:
        main(["simulate", str(SMOKE), "-q", "--set", f"simulate.data_dir={tmp_path}"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not enough free space" in err[0] and str(tmp_path) in err[0]


def test_disk_full_midway_is_one_line_leaves_no_tmp_and_resumes(tmp_path, monkeypatch):
    real_write = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def fill_up_after_a_chunk(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 12:  # the first chunk's parts are written, then the disk is full
            _no_space()
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fill_up_after_a_chunk)
    with pytest.raises(WorldError, match=r"\.partial: no space left on the device; the dataset "
                                         r"needs about [\d.]+ MB \([\d.]+ [kMG]?B free now\); "
                                         r"finished chunks are kept"):
        _build(tmp_path / "data")
    assert _leftovers(tmp_path) == []
    (staging,) = (tmp_path / "data").glob("*.partial")
    assert (staging / "_chunks" / "00000.json").is_file()  # kept for the rerun

    monkeypatch.setattr(pq.ParquetWriter, "write_table", real_write)
    resumed = []
    path, manifest, _ = _build(tmp_path / "data", progress=lambda d, t: resumed.append(d))
    assert resumed[0] == 1
    assert all(verify_dataset(path).values())
    _, clean, _ = _build(tmp_path / "clean")
    assert manifest["checksums"] == clean["checksums"]
    assert manifest["summary_sha256"] == clean["summary_sha256"]


def test_disk_full_while_writing_json_leaves_no_tmp(tmp_path, monkeypatch, capsys):
    real_fsync = os.fsync
    calls = {"n": 0}

    def fill_up_after_the_marker(fd):
        calls["n"] += 1
        if calls["n"] > 1:  # the build's marker is written, the first chunk's record is not
            _no_space()
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fill_up_after_the_marker)
    with pytest.raises(WorldError, match=r"no space left on the device"):
        _build(tmp_path / "data")
    assert _leftovers(tmp_path) == []
    assert calls["n"] == 2

    monkeypatch.setattr(os, "fsync", _no_space)  # from the first write on

    from nsf.cli import main

    with pytest.raises(SystemExit) as info:
        main(["simulate", str(SMOKE), "-q", "--set", f"simulate.data_dir={tmp_path / 'cli'}"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device" in err[0], err
    assert _leftovers(tmp_path) == []


#: First use of a new SQLite store with SQLite capped at a few pages: the schema's migrations
#: stop with "database or disk is full" half-way, as on a full disk.
_FULL_STORE = """
import sys
import sqlalchemy

from nsf.config import TrackingConfig
from nsf.errors import NsfError
from nsf.tracking import experiment_id

@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
def _cap(dbapi_connection, _record):
    dbapi_connection.execute("PRAGMA max_page_count = 60")

try:
    experiment_id(TrackingConfig(uri=sys.argv[1]), "full")
except NsfError as exc:
    print(exc)
    sys.exit(2)
"""
_USE_STORE = """
import sys
from nsf.config import TrackingConfig
from nsf.tracking import experiment_id
print(experiment_id(TrackingConfig(uri=sys.argv[1]), "again"))
"""


def _python(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_store_created_on_a_full_disk_is_usable_on_rerun(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    full = _python(_FULL_STORE, uri, cwd=tmp_path)
    assert full.returncode == 2, full.stdout + full.stderr[-3000:]
    assert "database or disk is full" in full.stdout
    assert len(full.stdout.strip().splitlines()) == 1
    # Nothing half-made is left where the store goes.
    assert not (tmp_path / "mlflow.db").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mlflow.db")]
    again = _python(_USE_STORE, uri, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().isdigit()  # the experiment's id
