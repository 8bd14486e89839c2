"""Known answers of the decisions on a simulated world: the study's models, real costs."""

from __future__ import annotations

import pytest

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.decisions import OUTCOME_COLUMNS, ArmPredictions, cost_inputs, evaluate_decisions
from nsf.pipeline import fit_variant, prepare
from nsf.pipeline._prepare import KEYS
from nsf.study._variants import replicate_seeds, resolve_variants, stream

#: A pure-noise drop may swap at most this much more than retraining the baseline alone does
#: (three seeds, about 1,500 test rows: the standard error of a swap share is about 0.01).
SWAP_TOL = 0.05

CONFIG = [
    "name=decisions", "world.population.n_users=10000", "world.calendar.days=120",
    "world.calendar.warmup_days=60", "world.feed.windows=[7,30]", "world.truth.oracle_draws=32",
    # E-mail is pure noise; balance drives failures mechanically.
    "world.dependence.email_domain=0", "study.groups=[email,balance]",
    "study.families=[drop_one]",
    # A stationary world (the known answer is about a noise group, not about change over time).
    "world.drift.income_growth=0", "world.drift.price_growth=0", "world.drift.appstore_growth=0",
    "world.drift.cohort_appstore_shift=0",
]


@pytest.fixture(scope="module")
def decisions(tmp_path_factory):
    cfg = load_config(None, CONFIG)
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                               data_dir=tmp_path_factory.mktemp("decisions"), chunk_users=8192)
    dataset = open_dataset(path)
    prepared = prepare(cfg, dataset)
    outcomes = prepared.rows[KEYS].merge(
        dataset.table("outcomes", [*KEYS, *OUTCOME_COLUMNS.values()]), on=KEYS, how="left",
        validate="one_to_one")
    horizon = cfg.world.calendar.horizon_days
    vi, ti = prepared.validation_index, prepared.test_index
    baseline, variants = resolve_variants(cfg, prepared)
    arms = {}
    for v in [baseline, *variants]:
        p_val, p_test = [], []
        for seed in replicate_seeds(cfg.seed, 3):
            fitted = fit_variant(prepared, v.selection, cfg.model, seed,
                                 population=v.population, label=v.label)
            p_val.append(fitted.predict_proba(prepared.frame.iloc[vi]))
            p_test.append(fitted.predict_proba(prepared.frame.iloc[ti]))
        arms[v.name] = ArmPredictions(p_val, p_test)
    p_true = prepared.rows["p_true"].to_numpy()
    return evaluate_decisions(
        cfg.policy, cost_inputs(outcomes.iloc[vi], OUTCOME_COLUMNS, horizon),
        cost_inputs(outcomes.iloc[ti], OUTCOME_COLUMNS, horizon), arms, baseline="baseline",
        strata=prepared.rows["nsf_appstore"].to_numpy()[ti], cost_margin=cfg.study.cost_margin,
        rng=stream(cfg.seed, "decisions"), p_true_test=p_true[ti],
        p_true_validation=p_true[vi], n_resamples=500,
        sensitive={"gender": prepared.sensitive["gender"].to_numpy()[ti]})


def test_oracle_is_a_floor_of_every_model_s_cost(decisions):
    anchors = {a.name: a for a in decisions.anchors}
    assert set(anchors) == {"bundle_no_one", "bundle_everyone", "oracle"}
    for arm in decisions.arms:
        assert arm.oracle_gap_per_1k.lower <= 0, (arm.name, arm.oracle_gap_per_1k)
    # The default costs make the decision matter: the oracle beats both fixed policies.
    oracle = anchors["oracle"].cost_per_1k
    for name in ("bundle_no_one", "bundle_everyone"):
        assert oracle.estimate < anchors[name].cost_per_1k.estimate, name


def test_dropping_a_pure_noise_group_costs_nothing_and_churns_like_a_retrain(decisions):
    email = next(c for c in decisions.comparisons if c.variant == "drop_email")
    diff = email.cost_diff_per_1k
    assert diff.lower <= 0 <= diff.upper, diff
    floor = decisions.seed_churn
    assert floor is not None and floor.pairs == 3
    assert email.swap.swap <= floor.swap + SWAP_TOL, (email.swap, floor)
    print(f"swap floor {floor.swap:.3f}, drop_email swap {email.swap.swap:.3f}, "
          f"psi floor {decisions.seed_psi:.3f}, drop_email psi {email.psi:.3f}")
