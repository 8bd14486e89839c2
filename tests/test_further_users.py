"""Further users of the same world (world.population.further_users): the users a larger world
would have there, simulated alone, with the world's own calibration and digest rules."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_gen.config import BLOCK_USERS
from data_gen.dataset import build_dataset, read_manifest
from nsf.config import ConfigError, load_config

TINY = [
    "world.calendar.days=70", "world.calendar.warmup_days=30",
    "world.calendar.horizon_days=15", "world.calendar.snapshot_every_days=10",
    "world.feed.windows=[7, 30]", "world.truth.oracle_draws=4",
    # The pilot of both worlds below: their first 1,000 users (the calibration is the world's).
    "world.targets.pilot_users=1000",
]
TABLES = ("users", "sensitive", "feed", "outcomes", "truth", "truth_users")


def _build(tmp_path, extra):
    cfg = load_config("experiments/smoke.yaml", [*TINY, *extra])
    return build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp_path,
                         chunk_users=BLOCK_USERS)


def _table(path, name) -> pd.DataFrame:
    return pd.concat([pq.read_table(path / f).to_pandas()
                      for f in read_manifest(path)["tables"][name]["files"]], ignore_index=True)


@pytest.mark.slow  # a world of 8,492 users: about 40 s
def test_further_users_equal_the_same_users_of_a_larger_world(tmp_path):
    # The world of 1,000 users, and 300 further users of it: block 1 (users 8192..8491).
    _, small, _ = _build(tmp_path / "a", ["world.population.n_users=1000"])
    further, m_further, _ = _build(tmp_path / "b", ["world.population.n_users=1000",
                                                    "world.population.further_users=300"])
    # A larger world that simulates them among its own users.
    larger, _, _ = _build(tmp_path / "c", [f"world.population.n_users={BLOCK_USERS + 300}"])
    assert m_further["digest"] != small["digest"]
    summary_further = (further / "summary.json").read_text()
    summary_larger = (larger / "summary.json").read_text()
    # The calibration is the world's (its first 1,000 users), whichever users are simulated.
    assert json.loads(summary_further)["base_rate"]["pay_money_scale"] == \
        json.loads(summary_larger)["base_rate"]["pay_money_scale"]
    for name in TABLES:
        a = _table(further, name)
        b = _table(larger, name)
        b = b[b["user_id"] >= BLOCK_USERS].reset_index(drop=True)
        if name == "users":
            assert a["user_id"].min() == BLOCK_USERS and a["user_id"].nunique() == 300
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_own_users_digest_unchanged_and_bad_ranges_refused(tmp_path):
    cfg = load_config("experiments/smoke.yaml", [])
    explicit = load_config("experiments/smoke.yaml", ["world.population.further_users=0",
                                                      "world.population.further_skip=0"])
    assert cfg.world.digest(1) == explicit.world.digest(1)
    assert cfg.world.user_range() == (0, cfg.world.population.n_users)
    more = load_config("experiments/smoke.yaml", ["world.population.further_users=10",
                                                  f"world.population.further_skip={BLOCK_USERS}"])
    assert more.world.user_range() == (2 * BLOCK_USERS, 10)  # 3,000 users: one own block
    with pytest.raises(ConfigError, match="further_skip"):
        load_config("experiments/smoke.yaml", ["world.population.further_skip=8192"])
    with pytest.raises(ConfigError, match="further_skip"):
        load_config("experiments/smoke.yaml", ["world.population.further_users=5",
                                               "world.population.further_skip=100"])
