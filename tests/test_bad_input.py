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


@pytest.mark.parametrize("value", ["true", "false", "7.0", "'7'"])
def test_seed_is_a_strict_integer(value):
    with pytest.raises(ConfigError, match=r"seed: Input should be a valid integer"):
        load_config(SMOKE, [f"seed={value}"])
    assert load_config(SMOKE, ["seed=7"]).seed == 7


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
