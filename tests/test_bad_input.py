"""Bad knobs and quiet runs: each refused with one line naming the field, or kept quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsf.config import ConfigError, load_config

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


def test_quiet_hides_mlflow_and_cloudpickle_warnings(smoke_dataset, tmp_path):
    res = nsf("train", str(SMOKE), "-q", "--data", str(smoke_dataset),
              "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    # Without -q, logging the scorer prints MLflow's CloudPickle warning and its INFO lines.
    assert res.stderr.strip() == ""
