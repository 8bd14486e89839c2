"""`nsf simulate` and `nsf config` from the command line: reuse, resume, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_gen import dataset as ds
from data_gen.errors import WorldError
from nsf.config import ConfigError, ExperimentConfig, field_names, load_config
from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
TINY = ["world.population.n_users=2000", "world.calendar.days=40",
        "world.calendar.warmup_days=20", "world.calendar.horizon_days=10",
        "world.feed.windows=[7]", "world.truth.oracle_draws=4"]


def nsf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nsf", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def sets(items):
    return [x for item in items for x in ("--set", item)]


def test_every_experiment_config_loads():
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        cfg = load_config(path)
        assert isinstance(cfg, ExperimentConfig)
    full = load_config(ROOT / "experiments/full_population.yaml")
    assert full.world.population.n_users == 40_450_000
    assert load_config(ROOT / "experiments/default.yaml").world.population.n_users == 100_000


def test_config_is_frozen_and_overrides_apply():
    cfg = load_config(ROOT / "experiments/smoke.yaml", ["world.population.n_users=77"])
    assert cfg.world.population.n_users == 77
    with pytest.raises(ValueError):
        cfg.world.population.n_users = 5  # type: ignore[misc]


def test_schema_documents_every_field(tmp_path):
    names = list(field_names())
    assert "world.dependence.email_domain" in names
    res = nsf("config", "schema", "--plain", cwd=tmp_path)
    assert res.returncode == 0
    rows = [line.split("\t") for line in res.stdout.strip().splitlines()[1:]]
    assert [r[0] for r in rows] == names
    missing = [r[0] for r in rows if not r[4].strip()]
    assert not missing, f"fields without a meaning: {missing}"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("world.population.n_users=-5", "world.population.n_users"),
        ("world.population.ios_share=1.5", "world.population.ios_share"),
        ("world.population.n_userz=5", "unknown key"),
        ("world.population.n_users=lots", "world.population.n_users"),
        ("world.calendar.warmup_days=400", "warmup_days + horizon_days"),
        ("world.feed.windows=[30, 7]", "world.feed.windows"),
        ("simulate.chunk_users=1000", "simulate.chunk_users"),
    ],
)
def test_bad_config_values_get_one_line_and_exit_2(tmp_path, monkeypatch, capsys, override,
                                                  needle):
    """``nsf simulate`` run in this process (a command of its own costs seconds of imports;
    the next test runs one as a user does)."""
    monkeypatch.chdir(tmp_path)
    res = in_process(capsys, "simulate", str(ROOT / "experiments/smoke.yaml"), "--set", override)
    assert res.returncode == 2
    err = res.stderr
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_a_bad_config_value_from_the_command_line_is_one_line_and_exit_2(tmp_path):
    res = nsf("simulate", str(ROOT / "experiments/smoke.yaml"), "--set",
              "world.population.n_users=-5", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "world.population.n_users" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "data").exists()


def test_missing_config_file_and_bad_yaml(tmp_path):
    res = nsf("config", "show", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert res.returncode == 2 and "config file not found" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("world: [unclosed\n")
    res = nsf("config", "show", str(bad), cwd=tmp_path)
    assert res.returncode == 2 and "not valid YAML" in res.stderr
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        bad.write_text("- a\n- b\n")
        load_config(bad)


def test_reuse_force_and_dataset_errors(tmp_path, monkeypatch, capsys):
    """The first as a user runs it (a new process), the others through the same entry point
    in this process."""
    args = ["simulate", str(ROOT / "experiments/smoke.yaml"), "-q", *sets(TINY)]
    first = nsf(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "built in" in first.stdout
    (folder,) = [p for p in (tmp_path / "data").iterdir() if not p.name.startswith(".")]
    manifest = json.loads((folder / "manifest.json").read_text())
    monkeypatch.chdir(tmp_path)
    again = in_process(capsys, *args)
    assert again.returncode == 0 and "reused" in again.stdout
    assert "simulate:" not in first.stderr  # -q: no progress
    # Without -q and with stderr not a terminal: plain progress lines instead of a bar.
    forced = in_process(capsys, *[a for a in args if a != "-q"], "--force")
    assert forced.returncode == 0 and "built in" in forced.stdout
    assert "simulate: chunks 1/1" in forced.stderr, forced.stderr
    assert json.loads((folder / "manifest.json").read_text())["checksums"] == \
        manifest["checksums"]

    # A corrupt manifest: one line, exit 2, the folder left as it was.
    (folder / "manifest.json").write_text("{not json")
    res = in_process(capsys, *args)
    assert res.returncode == 2 and "corrupt manifest" in res.stderr
    assert (folder / "manifest.json").read_text() == "{not json"


def test_foreign_folder_and_unwritable_output(tmp_path, monkeypatch, capsys):
    cfg = load_config(ROOT / "experiments/smoke.yaml", TINY)
    digest = ds.world_digest(cfg.world, cfg.seed, None)
    target = ds.dataset_path(tmp_path / "data", cfg.name, digest)
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    res = in_process(capsys, "simulate", str(ROOT / "experiments/smoke.yaml"), "-q",
                     *sets(TINY))
    assert res.returncode == 2 and "is not a dataset" in res.stderr
    assert (target / "notes.txt").read_text() == "mine"

    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = in_process(capsys, "simulate", str(ROOT / "experiments/smoke.yaml"), "-q",
                     *sets(TINY), "--set", f"simulate.data_dir={blocker}/sub")
    assert res.returncode == 2 and "cannot write" in res.stderr, res.stderr


def test_interrupted_build_leaves_no_manifest_and_resumes(tmp_path):
    cfg = load_config(ROOT / "experiments/smoke.yaml",
                      [*TINY, "world.population.n_users=20000"])
    kwargs = dict(seed=cfg.seed, name=cfg.name, chunk_users=8192)
    calls = []

    def crash_after_first_chunk(done, total):
        calls.append(done)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ds.build_dataset(cfg.world, data_dir=tmp_path / "a", progress=crash_after_first_chunk,
                         **kwargs)
    digest = ds.world_digest(cfg.world, cfg.seed, None)
    final = ds.dataset_path(tmp_path / "a", cfg.name, digest)
    assert not final.exists()
    with pytest.raises(WorldError, match="no such dataset"):
        ds.read_manifest(final)
    resumed_from = []
    _path, manifest, _reused = ds.build_dataset(
        cfg.world, data_dir=tmp_path / "a", progress=lambda d, t: resumed_from.append(d),
        **kwargs)
    assert resumed_from[0] == 1  # the finished chunk was kept
    _, clean, _ = ds.build_dataset(cfg.world, data_dir=tmp_path / "b", **kwargs)
    assert manifest["checksums"] == clean["checksums"]
