"""A world that changes over time (``world.drift``): known answers, stationarity, bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_gen.dataset import build_dataset, read_manifest
from data_gen.simulate import drift_factors
from nsf.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
STILL = ["world.drift.income_growth=0", "world.drift.price_growth=0",
         "world.drift.appstore_growth=0", "world.drift.cohort_appstore_shift=0"]
# A year and a bit of monthly observation dates on a small population.
YEAR = ["world.population.n_users=8000", "world.calendar.days=450",
        "world.calendar.warmup_days=60", "world.feed.windows=[7, 30, 60]",
        "world.truth.oracle_snapshots=0"]
# Named tolerances: relative error of a mean amount over a month of ~thousands of payments.
AMOUNT_REL_TOL = 0.04


def _build(tmp_path, overrides):
    cfg = load_config(SMOKE, [*YEAR, *overrides])
    path, manifest, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                                      data_dir=tmp_path, chunk_users=8192)
    return cfg, path, manifest


def _feed(path) -> pd.DataFrame:
    return pd.concat([pq.read_table(path / f).to_pandas()
                      for f in read_manifest(path)["tables"]["feed"]["files"]],
                     ignore_index=True)


def _mean_payment(feed: pd.DataFrame, date) -> float:
    rows = feed[feed["observation_date"] == date]
    return float(rows["payment_amount_30d"].sum() / rows["n_payments_30d"].sum())


def test_stationary_drift_array_is_exactly_one():
    cfg = load_config(SMOKE, STILL)
    assert cfg.world.drift.stationary
    factors = drift_factors(cfg.world)
    assert factors.shape == (3, cfg.world.calendar.days)
    assert np.all(factors == 1.0)
    # The default world drifts: modest growth, one year later a few percent.
    default = drift_factors(load_config(SMOKE).world)
    assert not load_config(SMOKE).world.drift.stationary
    assert default[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert 1.0 < default[1, -1] < 1.01


def test_price_growth_shows_in_payment_amounts_and_zero_keeps_them(tmp_path):
    """Known answer: with prices growing 40% a year, the mean merchant payment of the last
    observation date is (1.4)^(days between / 365) times the first one's; with no drift the
    same users' mean payment stays where it was (within sampling noise)."""
    _, path, _ = _build(tmp_path / "drift", ["world.drift.price_growth=0.4"])
    feed = _feed(path)
    dates = sorted(feed["observation_date"].unique())
    first, last = dates[0], dates[-1]
    years = (pd.Timestamp(last) - pd.Timestamp(first)).days / 365.0
    ratio = _mean_payment(feed, last) / _mean_payment(feed, first)
    assert ratio == pytest.approx(1.4 ** years, rel=AMOUNT_REL_TOL)

    _, still_path, _ = _build(tmp_path / "still", STILL)
    still = _feed(still_path)
    assert _mean_payment(still, last) / _mean_payment(still, first) == pytest.approx(
        1.0, rel=AMOUNT_REL_TOL)


def test_new_cohorts_shift_app_store_purchases_to_recent_joiners(tmp_path):
    """Known answer: with a cohort shift, App Store charges of the users who joined last grow
    against those of the users who joined first; without it their ratio stays put."""

    def late_to_early(path) -> tuple[float, float]:
        feed = _feed(path)
        apple = feed[feed["apple_registered"]]
        join = apple["join_date"]
        late = join >= join.quantile(0.75)
        early = join <= join.quantile(0.25)
        dates = sorted(apple["observation_date"].unique())
        out = []
        for d in (dates[0], dates[-1]):
            on = apple["observation_date"] == d
            col = apple["n_appstore_charges_60d"]
            out.append(col[on & late].mean() / col[on & early].mean())
        return out[0], out[1]

    _, shifted, _ = _build(tmp_path / "shift", ["world.drift.cohort_appstore_shift=2.0"])
    before, after = late_to_early(shifted)
    assert after > 1.25 * before
    _, still, _ = _build(tmp_path / "still", STILL)
    before, after = late_to_early(still)
    assert after == pytest.approx(before, rel=0.15)


def test_base_rate_held_on_average_and_shown_per_date(tmp_path):
    cfg, path, _ = _build(tmp_path, ["world.drift.price_growth=0.3"])
    import json

    held = json.loads((path / "summary.json").read_text())["base_rate"]
    by_date = held["by_observation_date"]
    assert list(by_date) == [str(d) for d in cfg.world.calendar.observation_dates]
    assert abs(np.mean(list(by_date.values())) - held["target"]) <= held["tolerance"] + 0.01
    # Prices outgrowing the users' Pay Money habits: failed charges become commoner.
    rates = list(by_date.values())
    assert np.mean(rates[-3:]) > np.mean(rates[:3])


@pytest.mark.parametrize(("field", "value"), [
    ("income_growth", "3.5"), ("price_growth", "-0.6"), ("appstore_growth", "4"),
    ("cohort_appstore_shift", "-3.1")])
def test_drift_out_of_range_is_refused(field, value):
    with pytest.raises(ConfigError, match=rf"world\.drift\.{field}"):
        load_config(SMOKE, [f"world.drift.{field}={value}"])


def test_drift_out_of_range_is_one_line_and_exit_2(tmp_path):
    res = subprocess.run([sys.executable, "-m", "nsf", "simulate", str(SMOKE), "--set",
                          "world.drift.price_growth=9"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "world.drift.price_growth" in lines[0]
    assert not any(tmp_path.iterdir())
