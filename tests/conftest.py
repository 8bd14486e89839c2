"""Shared fixtures: one smoke dataset per test session, built in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"


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
