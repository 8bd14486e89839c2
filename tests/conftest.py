"""Shared fixtures: one smoke dataset per test session, built in a temporary folder."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
#: The smoke study shrunk to seconds: all families, three contested groups, two seeds.
SHRINK = ["study.seeds=2", "study.groups=[email,balance,join_date]", "study.n_bootstrap=200",
          "study.fairness_n_bootstrap=60", "study.proxy_rows=1000", "study.shap_rows=100",
          "study.permutation_rows=200", "study.permutation_repeats=1",
          "audit.phone_space_size=200000"]


@pytest.fixture(scope="session")
def smoke_cfg():
    """The real smoke config (3,000 users, two observation dates)."""
    return load_config(SMOKE)


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory, smoke_cfg):
    """Path of the smoke dataset, simulated once per session (seconds)."""
    from data_gen.dataset import build_dataset

    path, _, _ = build_dataset(
        smoke_cfg.world, seed=smoke_cfg.seed, name=smoke_cfg.name,
        data_dir=tmp_path_factory.mktemp("smoke_data"), chunk_users=8192, workers=1)
    return path


@pytest.fixture(scope="session")
def smoke_prepared(smoke_cfg, smoke_dataset):
    """The smoke dataset read and split once (nsf.pipeline.prepare)."""
    from nsf.data import open_dataset
    from nsf.pipeline import prepare

    return prepare(smoke_cfg, open_dataset(smoke_dataset))


@pytest.fixture
def tracking_overrides(tmp_path):
    """``--set`` items pointing MLflow at a throw-away SQLite store in ``tmp_path``."""
    return [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]


@contextmanager
def _chdir(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """(folder, tracking overrides, parent run id, cli outputs): study, audit, report once."""
    from typer.testing import CliRunner

    from nsf.cli import app

    root = tmp_path_factory.mktemp("report_e2e")
    sets = [f"simulate.data_dir={root / 'data'}", f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
            *SHRINK]
    args = [a for item in sets for a in ("--set", item)]
    runner = CliRunner()
    with _chdir(root):  # nsf study writes its report under ./reports
        study = runner.invoke(app, ["study", str(SMOKE), "--quiet", *args],
                              catch_exceptions=False)
        assert study.exit_code == 0, study.output
        audit = runner.invoke(app, ["audit", str(SMOKE), "--quiet", *args],
                              catch_exceptions=False)
        assert audit.exit_code == 0, audit.output
        report = runner.invoke(app, ["report", str(SMOKE), *args, "--out", str(root / "out")],
                               catch_exceptions=False)
        assert report.exit_code == 0, report.output
    parent = next(line.split()[2] for line in study.output.splitlines()
                  if line.startswith("study run "))
    return {"root": root, "sets": sets, "parent": parent, "study_output": study.output,
            "folder": root / "out" / "smoke" / parent}


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
