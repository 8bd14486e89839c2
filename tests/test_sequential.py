"""A study that runs until it can tell (study.until: decided), on the smoke world."""

import pytest

from nsf.study import run_study
from nsf.vocabulary import INCONCLUSIVE


def _cfg(smoke_cfg, until, **budget):
    s = smoke_cfg.study
    return smoke_cfg.model_copy(update={
        "model": smoke_cfg.model.model_copy(update={"kind": "logistic"}),
        "study": s.model_copy(update={
            "families": ("drop_one",), "groups": ("email", "balance", "phone"),
            "until": until, "budget": s.budget.model_copy(update=budget),
            "n_bootstrap": 300, "fairness_n_bootstrap": 50, "proxy_rows": 500,
            "shap_rows": 100, "permutation_rows": 200, "permutation_repeats": 1,
            "minimal_set": s.minimal_set.model_copy(update={"enabled": False}),
        })})


@pytest.fixture(scope="module")
def decided(smoke_cfg, smoke_prepared):
    return run_study(_cfg(smoke_cfg, "decided", seeds=6, seed_step=3), smoke_prepared)


def test_every_verdict_says_at_which_look_it_was_decided(decided):
    seq = decided.sequential
    assert seq is not None and seq.method == "bonferroni_over_looks"
    assert seq.looks_planned == 2
    assert seq.level_per_look == pytest.approx(1 - 0.05 / 2)
    assert 1 <= seq.looks_run <= 2
    assert len(seq.decided_per_look) == len(seq.open_per_look) == seq.looks_run
    heads = {}
    for v in decided.variants:
        m = v.comparisons[v.reference].metrics["auc"]
        heads[f"{v.name}@{v.reference}"] = m
        rec = m.sequential
        assert rec is not None and rec.level == pytest.approx(seq.level_per_look)
        assert rec.seeds == {1: 3, 2: 6}[rec.look]
        assert len(m.variant_per_seed) == len(m.reference_per_seed) == rec.seeds
        assert (rec.status == "decided") == (m.verdict != INCONCLUSIVE)
        assert m.power is not None and m.power.seeds == rec.seeds
        # The other metrics keep the first look's intervals.
        assert len(v.comparisons[v.reference].metrics["brier"].variant_per_seed) == 3
    assert sorted(seq.undecided) == sorted(k for k, m in heads.items()
                                           if m.verdict == INCONCLUSIVE)
    assert sum(seq.decided_per_look) == sum(m.verdict != INCONCLUSIVE for m in heads.values())


def test_a_fixed_study_has_no_looks_but_a_power_readout(smoke_cfg, smoke_prepared):
    fixed = run_study(_cfg(smoke_cfg, "fixed"), smoke_prepared)
    assert fixed.sequential is None
    for v in fixed.variants:
        m = v.comparisons[v.reference].metrics["auc"]
        assert m.sequential is None
        p = m.power
        assert p is not None and p.level == pytest.approx(m.simultaneous_level)
        assert p.mde == pytest.approx(m.margin + p.resolution)
        if m.verdict == INCONCLUSIVE:
            # Some size decides it, unless the estimate sits (nearly) at the margin.
            assert p.seeds_to_decide or p.test_subjects_to_decide or p.scale_to_decide \
                or p.distance < p.resolution / 100
        else:
            assert p.seeds_to_decide is None and p.test_subjects_to_decide is None
            assert p.scale_to_decide is None


def test_bad_budget_names_the_field():
    from nsf.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"study\.until"):
        load_config(None, ["study.until=forever"])
    with pytest.raises(ConfigError, match=r"study\.budget\.seeds"):
        load_config(None, ["study.budget.seeds=0"])
