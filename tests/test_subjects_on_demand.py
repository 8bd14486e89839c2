"""Evaluation subjects simulated on demand (study.until: decided, study.budget.subjects): further
users of the same world, scored by every fitted model, the looks judged on their union."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nsf.study import Timing, run_study
from nsf.study._sequential import FurtherUsers, subject_looks, subjects_added
from nsf.vocabulary import INCONCLUSIVE


def _cfg(smoke_cfg, **budget):
    s = smoke_cfg.study
    return smoke_cfg.model_copy(update={
        "model": smoke_cfg.model.model_copy(update={"kind": "logistic"}),
        "study": s.model_copy(update={
            "families": ("drop_one",), "groups": ("email", "balance", "phone"),
            "until": "decided", "budget": s.budget.model_copy(update=budget),
            # A margin at which the smoke world decides some comparisons, not all at once.
            "margins": {**s.margins, "auc": 0.06},
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
    """(result, calls of the subjects source): the sequential study, run once per test run
    (the first pytest-xdist worker that needs it runs it; the others read its study.json)."""
    from nsf.study import StudyResult
    from tests.conftest import _once_per_run

    def build(folder):
        cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
        calls: list = []
        result = run_study(cfg, smoke_prepared, subjects=_source(cfg, folder, calls))
        return {"result": result, "calls": calls}

    value = _once_per_run(
        tmp_path_factory, "subjects_on_demand", build,
        encode=lambda v: {"result": v["result"].to_json(), "calls": v["calls"]},
        decode=lambda v: {"result": StudyResult.load(v["result"]),
                          "calls": [tuple(c) for c in v["calls"]]})
    return value["result"], value["calls"]


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


def test_further_subjects_and_fits_are_timed_apart_from_the_statistics(on_demand):
    """The looks' further test subjects have their own seconds; every stage leaves out what
    it waited for, so no second is counted twice."""
    result, _ = on_demand
    timing = result.timing.model_dump()
    assert timing["subjects"] > 0.0 and timing["fits"] > 0.0
    stages = sum(seconds for stage, seconds in timing.items() if stage not in Timing.NOT_STAGES)
    assert stages <= timing["total"], timing


def test_without_a_source_the_test_rows_stay(smoke_cfg, smoke_prepared):
    cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
    result = run_study(cfg, smoke_prepared)
    seq = result.sequential
    assert seq is not None and seq.budget_subjects == 0 and seq.looks_planned == 1
    assert seq.subjects_per_look == [seq.subjects_first]
    assert result.timing.subjects == 0.0


def _inconclusive(estimate, lower, upper, *, rows, seeds_var, subjects=1000, k=3):
    """An inconclusive AUC loss comparison (``removed``) with its power readout."""
    from nsf.study._power import comparison_power

    se = float(np.sqrt(rows + seeds_var))
    c = {"estimate": estimate, "lower": lower, "upper": upper, "standard_error": se,
         "margin": 0.02, "higher_is_better": True, "verdict": INCONCLUSIVE}
    c["power"] = comparison_power(
        estimate=estimate, standard_error=se, margin=0.02, row_variance=rows,
        seed_variance=seeds_var, level=0.99, seeds=k, test_subjects=subjects,
        higher_is_better=True, subject="removed", verdict=INCONCLUSIVE)
    return c


def test_futility_counts_the_subjects_the_budget_allows_and_the_whole_interval():
    from nsf.study._sequential import _beyond_budget

    # The test rows' variance dominates: no number of seeds decides it with these subjects
    # even at the far end of its interval (99%: +-2.576 SE), ten times as many subjects would.
    rows_bound = _inconclusive(-0.024, -0.0499, 0.0019, rows=1e-4, seeds_var=1e-6)
    assert _beyond_budget(rows_bound, "removed", 9, "mean")
    assert not _beyond_budget(rows_bound, "removed", 9, "mean", subjects_most=10_000)
    # An estimate at the margin: only the interval's far end can still be decided.
    at_margin = _inconclusive(-0.0201, -0.06, 0.02, rows=4e-5, seeds_var=1e-5)
    assert not _beyond_budget(at_margin, "removed", 9, "mean", subjects_most=20_000)
    narrow = _inconclusive(-0.0201, -0.0202, -0.0200, rows=4e-5, seeds_var=1e-5)
    assert _beyond_budget(narrow, "removed", 9, "mean", subjects_most=1001)


@pytest.mark.slow  # the study twice
def test_same_config_and_seed_same_looks(smoke_cfg, smoke_prepared, tmp_path, on_demand):
    first, _ = on_demand
    cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
    again = run_study(cfg, smoke_prepared, subjects=_source(cfg, tmp_path, []))
    assert again.sequential.model_dump(exclude={"minutes"}) == \
        first.sequential.model_dump(exclude={"minutes"})
    for a, b in zip(first.variants, again.variants, strict=True):
        assert a.comparisons[a.reference].metrics["auc"].model_dump() == \
            b.comparisons[b.reference].metrics["auc"].model_dump()


def test_the_cli_asks_for_subjects_only_where_the_world_is_known(smoke_cfg, tmp_path):
    from nsf.cli._study import further_subjects
    from nsf.config import load_config

    decided = load_config("experiments/smoke.yaml", ["study.until=decided"])
    assert isinstance(further_subjects(decided, False), FurtherUsers)
    assert further_subjects(smoke_cfg, False) is None  # until: fixed
    none = load_config("experiments/smoke.yaml", ["study.until=decided",
                                                  "study.budget.subjects=0"])
    assert further_subjects(none, False) is None
    folder = load_config("experiments/smoke.yaml", ["study.until=decided",
                                                    f"dataset.path={tmp_path}"])
    assert further_subjects(folder, False) is None  # its world is the folder's
    # Each call: the next further users, whole blocks after the last ones.
    made = []
    source = FurtherUsers(decided, made.append)
    source(10_000)
    source(5)
    assert [c.world.population.further_users for c in made] == [10_000, 5]
    assert [c.world.population.further_skip for c in made] == [0, 16_384]
    assert all(c.world.population.n_users == decided.world.population.n_users for c in made)


def test_the_readout_names_the_look_and_sizes_of_each_decided_verdict(on_demand):
    from nsf.study._power import readout_lines

    result, _ = on_demand
    named = [line for line in readout_lines(result) if line.startswith("decided at look")]
    done = [m for v in result.variants
            if (m := v.comparisons[v.reference].metrics["auc"]).verdict != INCONCLUSIVE]
    assert done  # at a margin of 0.06 the smoke world decides some
    assert len(named) == len({(m.sequential.look, m.sequential.test_subjects) for m in done})
    for v in result.variants:
        rec = v.comparisons[v.reference].metrics["auc"].sequential
        if rec.status == "decided":
            assert any(f"look {rec.look} ({rec.seeds} seeds, {rec.test_subjects:,} test "
                       "subjects)" in line and v.name in line for line in named)


@pytest.mark.slow  # the study twice
def test_kept_models_and_models_trained_again_score_alike(smoke_cfg, smoke_prepared, tmp_path,
                                                          on_demand, monkeypatch):
    """The looks score further subjects with the fits' own models; a fit without its model (one
    reused from the store) is trained again from its task: the same looks and verdicts."""
    import nsf.study._run as runner

    first, _ = on_demand
    monkeypatch.setattr(runner, "_keeps_models", lambda study, subjects: False)
    cfg = _cfg(smoke_cfg, seeds=3, subjects=1000)
    again = run_study(cfg, smoke_prepared, subjects=_source(cfg, tmp_path, []))
    assert again.sequential.subjects_per_look == first.sequential.subjects_per_look
    assert len(again.sequential.subjects_per_look) > 1  # subjects were added and scored
    for a, b in zip(first.variants, again.variants, strict=True):
        assert a.comparisons[a.reference].metrics["auc"].model_dump() == \
            b.comparisons[b.reference].metrics["auc"].model_dump()
