"""Bad knobs and quiet runs: each refused with one line naming the field, or kept quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsf.config import ConfigError, load_config
from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"


def nsf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nsf", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize(("value", "needle"), [
    ("true", r"seed: a number is required, not a yes/no value"),
    ("false", r"seed: a number is required, not a yes/no value"),
    ("7.0", r"seed: Input should be a valid integer"),
    ("'7'", r"seed: Input should be a valid integer"),
])
def test_seed_is_a_strict_integer(value, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(SMOKE, [f"seed={value}"])
    assert load_config(SMOKE, ["seed=7"]).seed == 7


@pytest.mark.parametrize("override", [
    "study.seeds=true", "world.population.n_users=false", "study.margins={auc: true}",
    "study.retention_days=[30, true]", "split.test_fraction=true",
])
def test_yes_no_is_never_taken_for_a_number(override):
    """Pydantic would read ``true`` as 1 (or 1.0); anywhere in the config it is refused,
    naming the field (and the item of a list or mapping)."""
    field = override.split("=")[0]
    with pytest.raises(ConfigError, match=r"a number is required, not a yes/no value") as info:
        load_config(SMOKE, [override])
    assert field.split("{")[0] in str(info.value)
    # A yes/no field still takes yes/no.
    assert load_config(SMOKE, ["study.audit=false"]).study.audit is False


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["world.feed.windows=[7,500]"], r"longest window \(500 days\) exceeds the simulated "
                                         r"history \(calendar.days = 120\)"),
        (["world.feed.windows=[7,30,90]"], r"calendar.warmup_days \(60\) is shorter than the "
                                           r"longest feed window \(90 days\)"),
    ],
)
def test_feed_windows_must_fit_the_history(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(SMOKE, overrides)
    # Every shipped experiment fits.
    for path in (ROOT / "experiments").glob("*.yaml"):
        load_config(path)


def test_bad_window_is_one_line_and_exit_2(tmp_path):
    res = nsf("simulate", str(SMOKE), "--set", "world.feed.windows=[7,500]", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "feed.windows" in lines[0]


def test_quiet_hides_mlflow_and_cloudpickle_warnings(smoke_dataset, tmp_path, tracking_store):
    res = nsf("train", str(SMOKE), "-q", "--data", str(smoke_dataset),
              "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    # Without -q, logging the scorer prints MLflow's CloudPickle warning and its INFO lines.
    assert res.stderr.strip() == ""


# -- bad config files: one line, exit 2, nothing written ------------------------------------------

def _refused_in_one_line(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, res.stdout + res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("text", "needle"), [
    ("", "is empty"),                                       # a 0-byte file
    ("# only a comment\n\n", "is empty"),
    ("- world\n- seed\n", "top level must be a mapping"),
    ("42\n", "top level must be a mapping"),
])
def test_empty_or_non_mapping_config_is_refused(tmp_path, capsys, text, needle):
    """An empty config file used to run the whole default job (100,000 users). ``nsf
    simulate`` in this process (the commands below run as a user runs them)."""
    config = tmp_path / "experiment.yaml"
    config.write_text(text)
    res = in_process(capsys, "simulate", str(config), "--set",
                     f"simulate.data_dir={tmp_path / 'data'}")
    _refused_in_one_line(res, str(config), needle)
    assert not (tmp_path / "data").exists()
    with pytest.raises(ConfigError, match=needle):
        load_config(config)


@pytest.mark.parametrize(("text", "key", "line"), [
    ("world:\n  population:\n    n_users: 3000\n    n_users: 300000\n",
     "world.population.n_users", 4),
    ("seed: 1\nname: a\nseed: 2\n", "seed", 3),
    ("world:\n  feed:\n    windows: [7]\nworld:\n  calendar:\n    days: 90\n", "world", 4),
    ("study:\n  margins: {auc: 0.01, auc: 0.02}\n", "study.margins.auc", 2),
])
def test_duplicated_yaml_keys_are_refused(tmp_path, text, key, line):
    """YAML lets the last of two equal keys win silently; like an unknown key, it is refused,
    naming the key, the file and the line."""
    config = tmp_path / "experiment.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=rf"{config}: duplicated key '{key}' at line {line}"):
        load_config(config)


def test_duplicated_yaml_key_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "experiment.yaml"
    config.write_text(SMOKE.read_text() + "name: other\n")
    res = nsf("simulate", str(config), "--set", f"simulate.data_dir={tmp_path / 'data'}",
              cwd=tmp_path)
    _refused_in_one_line(res, str(config), "duplicated key 'name'")
    assert not (tmp_path / "data").exists()
    with pytest.raises(ConfigError, match=r"--set study.margins=\{auc: 1, auc: 2\}: duplicated "
                                          r"key 'study.margins.auc'"):
        load_config(SMOKE, ["study.margins={auc: 1, auc: 2}"])


def test_impossible_date_is_refused_on_the_command_line(tmp_path):
    res = nsf("simulate", str(SMOKE), "--set", "world.calendar.start_date=2019-02-30",
              "--set", f"simulate.data_dir={tmp_path / 'data'}", cwd=tmp_path)
    _refused_in_one_line(res, "world.calendar.start_date", "2019-02-30")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", ["2019-02-30", "2019-13-01", "2019-04-31"])
def test_impossible_date_is_refused_in_yaml(tmp_path, value):
    config = tmp_path / "experiment.yaml"
    config.write_text(f"world:\n  calendar:\n    start_date: {value}\n")
    with pytest.raises(ConfigError, match=rf"{config}: world.calendar.start_date: .*"
                                          rf"'{value}'"):
        load_config(config)
    with pytest.raises(ConfigError, match=r"world.calendar.start_date: .*'2019-02-30'"):
        load_config(SMOKE, ["world.calendar.start_date=2019-02-30"])
    # A real date still loads, from YAML and from --set.
    config.write_text("world:\n  calendar:\n    start_date: 2019-02-28\n")
    assert str(load_config(config).world.calendar.start_date) == "2019-02-28"
    assert str(load_config(SMOKE, ["world.calendar.start_date=2020-02-29"])
               .world.calendar.start_date) == "2020-02-29"


def test_impossible_date_in_yaml_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "experiment.yaml"
    config.write_text(SMOKE.read_text().replace("  calendar:\n",
                                                "  calendar:\n    start_date: 2019-02-30\n"))
    res = nsf("simulate", str(config), "--set", f"simulate.data_dir={tmp_path / 'data'}",
              cwd=tmp_path)
    _refused_in_one_line(res, str(config), "world.calendar.start_date")
    assert not (tmp_path / "data").exists()
