"""Evaluation subjects simulated on demand (study.until: decided, study.budget.subjects): further
users of the same world, scored by every fitted model, the looks judged on their union."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nsf.study import run_study
from nsf.study._sequential import FurtherUsers, subject_looks, subjects_added
from nsf.vocabulary import INCONCLUSIVE


def _cfg(smoke_cfg, **budget):
    s = smoke_cfg.study
    return smoke_cfg.model_copy(update={
        "model": smoke_cfg.model.model_copy(update={"kind": "logistic"}),
        "study": s.model_copy(update={
            "families": ("drop_one",), "groups": ("email", "balance", "phone"),
            "until": "decided", "budget": s.budget.model_copy(update=budget),
            "n_bootstrap": 300, "fairness_n_bootstrap": 50, "proxy_rows": 500,
            "shap_rows": 100, "permutation_rows": 200, "permutation_repeats": 1,
            "minimal_set": s.minimal_set.model_copy(update={"enabled": False}),
        })})


def _source(cfg, data_dir, calls):
    from data_gen.dataset import build_dataset
    from nsf.data import open_dataset
    from nsf.pipeline import prepare

    def make(c):
        pop = c.world.population
        calls.append((pop.further_skip, pop.further_users))
        path, _, _ = build_dataset(c.world, seed=c.seed, name=c.name, data_dir=data_dir,
                                   chunk_users=8192)
        return prepare(c, open_dataset(path))

    return FurtherUsers(cfg, make)


@pytest.fixture(scope="module")
def on_demand(smoke_cfg, smoke_prepared, tmp_path_factory):
    cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
    calls: list = []
    result = run_study(cfg, smoke_prepared,
                       subjects=_source(cfg, tmp_path_factory.mktemp("further"), calls))
    return result, calls


def test_the_schedule_is_fixed_in_advance():
    assert subject_looks(500, 0) == 0
    assert subject_looks(500, 500) == 1  # 500 -> 1,000
    assert subject_looks(500, 1000) == 2  # -> 1,000 -> 1,500 (capped)
    assert subject_looks(500, 1500) == 2  # -> 1,000 -> 2,000
    assert [subjects_added(500, 1000, k) for k in (1, 2, 3, 4)] == [0, 500, 1000, 1000]


def test_later_looks_judge_on_the_union_of_test_subjects(on_demand, smoke_prepared):
    result, calls = on_demand
    seq = result.sequential
    assert seq is not None
    n0 = seq.subjects_first
    assert n0 == len(np.unique(smoke_prepared.rows["user_id"].to_numpy()[
        smoke_prepared.test_index]))
    assert seq.budget_subjects == 1000
    looks = 1 + subject_looks(n0, 1000)  # no seed looks: budget.seeds = seeds = 3
    assert seq.looks_planned == looks
    assert seq.level_per_look == pytest.approx(1 - 0.05 / looks)
    # The test subjects follow the schedule exactly (enough further users are simulated).
    assert seq.subjects_per_look == [n0 + subjects_added(n0, 1000, k)
                                     for k in range(1, seq.looks_run + 1)]
    sizes = seq.subjects_per_look
    assert all(b > a for a, b in itertools.pairwise(sizes))
    # One simulation per later look, further users that never overlap (whole blocks apart).
    assert len(calls) == seq.looks_run - 1
    ends = [skip + users for skip, users in calls]
    assert all(skip >= end for (skip, _), end in zip(calls[1:], ends, strict=False))
    for v in result.variants:
        m = v.comparisons[v.reference].metrics["auc"]
        rec = m.sequential
        assert rec is not None and rec.seeds == 3
        assert rec.test_subjects == seq.subjects_per_look[rec.look - 1]
        assert m.power is not None and m.power.test_subjects == rec.test_subjects
        assert (rec.status == "decided") == (m.verdict != INCONCLUSIVE)
    assert "further users of the same world" in seq.note


def test_without_a_source_the_test_rows_stay(smoke_cfg, smoke_prepared):
    cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
    result = run_study(cfg, smoke_prepared)
    seq = result.sequential
    assert seq is not None and seq.budget_subjects == 0 and seq.looks_planned == 1
    assert seq.subjects_per_look == [seq.subjects_first]
