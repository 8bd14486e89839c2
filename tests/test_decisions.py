"""The bundle-or-charge decisions: costs, thresholds, churn and their known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nsf.cli import main
from nsf.config import PolicyConfig, load_config
from nsf.decisions import (
    NO_ONE,
    OUTCOME_COLUMNS,
    ArmPredictions,
    CostInputs,
    bundle,
    bundle_rate_threshold,
    cost_inputs,
    evaluate_decisions,
    migration_table,
    optimal_threshold,
    per_1k_month,
    psi,
    row_costs,
    scores_of,
    seed_churn,
    swap_shares,
    table_cost_columns,
)
from nsf.metrics import ratio_difference, ratio_intervals
from nsf.metrics._weighted import iter_resample_counts

#: Rows of the synthetic worlds below.
N = 4000
#: A noise variant's predictions differ from the baseline's by this much (probability).
NOISE = 0.002


def _world(rng: np.random.Generator, n: int = N, horizon: int = 30):
    """Users with a true P(failure), purchases grouped into charges, failures drawn from it."""
    p_true = np.clip(rng.beta(0.6, 8.0, n), 0, 1)
    purchases = rng.poisson(3.5, n).astype(float)
    charges = np.where(purchases > 0, np.ceil(purchases * rng.uniform(0.4, 1.0, n)), 0.0)
    amount = purchases * rng.choice([1200.0, 2500.0, 5900.0], n)
    failed = np.where(charges > 0, rng.random(n) < p_true, False).astype(float)
    failed_amount = failed * amount / np.maximum(charges, 1)
    inputs = CostInputs(purchases=purchases, grouped_charges=charges, grouped_amount=amount,
                        failed_charges=failed, failed_amount=failed_amount,
                        horizon_days=horizon)
    return inputs, p_true, failed.astype(np.int8)


def _model(p_true, rng, noise=0.02):
    return np.clip(p_true + rng.normal(0, noise, p_true.size), 0, 1)


def test_row_costs_on_a_hand_built_table():
    inputs = CostInputs(purchases=np.array([4.0, 0, 3]), grouped_charges=np.array([2.0, 0, 1]),
                        grouped_amount=np.array([8000.0, 0, 9000]),
                        failed_charges=np.array([1.0, 0, 0]),
                        failed_amount=np.array([5000.0, 0, 0]), horizon_days=15)
    policy = PolicyConfig(fee_per_charge=100, loss_share=0.2, retry_cost=50)
    costs = row_costs(inputs, policy)
    assert np.allclose(costs.if_bundled, [2 * 100 + 50 + 0.2 * 5000, 0, 100])
    assert np.allclose(costs.if_charged, [400, 0, 300])
    assert np.allclose(costs.saving, [400 - 1250, 0, 200])
    # A 15-day horizon: a row's cost is half a month's.
    assert per_1k_month(1.0, 15) == pytest.approx(2000.0)
    # Another bundling window: one charge per window, at most the purchases, at least failures.
    weekly = row_costs(inputs, policy.model_copy(update={"bundling_window_days": 7}))
    assert np.allclose(weekly.if_bundled, [3 * 100 + 50 + 1000, 0, 3 * 100])


def test_cost_inputs_reject_bad_columns():
    frame = pd.DataFrame({c: [1, 2] for c in OUTCOME_COLUMNS.values()})
    assert len(cost_inputs(frame, OUTCOME_COLUMNS, 30)) == 2
    with pytest.raises(ValueError, match="missing from the data"):
        cost_inputs(frame.drop(columns="grouped_amount"), OUTCOME_COLUMNS, 30)
    with pytest.raises(ValueError, match="not numeric"):
        cost_inputs(frame.assign(grouped_amount=["a", "b"]), OUTCOME_COLUMNS, 30)
    with pytest.raises(ValueError, match="failed_charges cannot exceed"):
        cost_inputs(frame.assign(n_failed_charges=[5, 5]), OUTCOME_COLUMNS, 30)
    with pytest.raises(ValueError, match="purchases must be"):
        cost_inputs(frame.assign(n_grouped_purchases=[-1, 1]), OUTCOME_COLUMNS, 30)
    named, reason = table_cost_columns(PolicyConfig().columns)
    assert named is None and "policy.columns.purchases" in reason


def test_threshold_rules():
    scores = np.array([0, 0, 1, 5, 5, 50, 99])
    # Bundling saves on low scores and costs on high ones: the cheapest rule stops at 5.
    saving = np.array([1.0, 1, 1, 2, 0, -10, -1])
    assert optimal_threshold(scores, saving) == 5
    assert bundle(scores, 5).tolist() == [True] * 5 + [False] * 2
    assert optimal_threshold(scores, -np.abs(saving)) == NO_ONE
    assert optimal_threshold(scores, np.abs(saving)) == 100
    assert bundle_rate_threshold(scores, 0.5) == 1  # 3 of 7 rows at <= 1, 5 of 7 at <= 5
    assert bundle_rate_threshold(np.arange(101), 0.2) == 19


@pytest.mark.parametrize("fee, loss_share, retry, anchor", [
    (0.0, 0.3, 100.0, "bundle_no_one"),  # nothing to save, something to lose
    (200.0, 0.0, 0.0, "bundle_everyone"),  # nothing to lose
])
def test_model_policies_cost_what_the_degenerate_anchor_costs(fee, loss_share, retry, anchor):
    rng = np.random.default_rng(1)
    val, p_val, _ = _world(rng)
    test, p_test, y = _world(rng)
    policy = PolicyConfig(fee_per_charge=fee, loss_share=loss_share, retry_cost=retry)
    arms = {"baseline": ArmPredictions([_model(p_val, rng) for _ in range(2)],
                                       [_model(p_test, rng) for _ in range(2)])}
    result = evaluate_decisions(policy, val, test, arms, baseline="baseline", strata=y,
                                cost_margin=0.0, rng=np.random.default_rng(2),
                                p_true_test=p_test, p_true_validation=p_val, n_resamples=200)
    anchors = {a.name: a for a in result.anchors}
    model = result.arms[0]
    expected_threshold = NO_ONE if anchor == "bundle_no_one" else 100
    assert model.thresholds == [expected_threshold] * 2
    assert anchors["oracle"].thresholds == [expected_threshold]
    assert model.bundle_rate == anchors[anchor].bundle_rate
    assert model.cost_per_1k.estimate == pytest.approx(anchors[anchor].cost_per_1k.estimate)
    assert anchors["oracle"].cost_per_1k.estimate == pytest.approx(
        anchors[anchor].cost_per_1k.estimate)


def test_oracle_beats_models_and_a_noise_variant_costs_nothing():
    rng = np.random.default_rng(3)
    val, p_val, _ = _world(rng, n=6000)
    test, p_test, y = _world(rng, n=6000)
    # Losses large enough that telling users apart is worth money.
    policy = PolicyConfig(fee_per_charge=300, loss_share=0.5, retry_cost=200)
    base_val = [_model(p_val, rng, 0.03) for _ in range(3)]
    base_test = [_model(p_test, rng, 0.03) for _ in range(3)]
    arms = {
        "baseline": ArmPredictions(base_val, base_test),
        # The same models, perturbed by noise far below a score point: nothing learnt changed.
        "drop_noise": ArmPredictions(
            [np.clip(p + rng.normal(0, NOISE, p.size), 0, 1) for p in base_val],
            [np.clip(p + rng.normal(0, NOISE, p.size), 0, 1) for p in base_test]),
        # Scores that carry no information about the user.
        "uninformed": ArmPredictions([rng.permutation(p_val) for _ in range(3)],
                                     [rng.permutation(p_test) for _ in range(3)]),
    }
    result = evaluate_decisions(policy, val, test, arms, baseline="baseline", strata=y,
                                cost_margin=20_000.0, rng=np.random.default_rng(4),
                                p_true_test=p_test, p_true_validation=p_val, n_resamples=300)
    anchors = {a.name: a for a in result.anchors}
    assert anchors["oracle"].threshold_rows == "validation"
    comparisons = {c.variant: c for c in result.comparisons}
    # The oracle costs at most what each model costs, up to the interval of oracle - model.
    for arm in result.arms:
        assert arm.oracle_gap_per_1k.lower <= 0, arm.name
    noise = comparisons["drop_noise"]
    assert noise.cost_diff_per_1k.lower <= 0 <= noise.cost_diff_per_1k.upper
    assert noise.verdict == "not shown needed"
    # Its swap set is no bigger than retraining the baseline alone causes.
    assert noise.swap.swap <= result.seed_churn.swap + 0.01
    uninformed = comparisons["uninformed"]
    assert uninformed.cost_diff_per_1k.lower > 0  # losing the information costs money
    assert uninformed.verdict == "needed"


def test_group_table_matches_metricframe_and_a_direct_computation():
    rng = np.random.default_rng(5)
    val, p_val, _ = _world(rng)
    test, p_test, y = _world(rng)
    policy = PolicyConfig(fee_per_charge=300, loss_share=0.1, retry_cost=200)
    preds = [_model(p_test, rng) for _ in range(2)]
    arms = {"baseline": ArmPredictions([_model(p_val, rng) for _ in range(2)], preds)}
    group = np.where(rng.random(N) < 0.3, "a", "b")
    result = evaluate_decisions(policy, val, test, arms, baseline="baseline", strata=y,
                                cost_margin=0.0, rng=np.random.default_rng(6),
                                sensitive={"g": group}, n_resamples=100, group_n_resamples=100)
    assert "no oracle" in result.oracle_note
    thresholds = result.arms[0].thresholds
    failed = test.failed_charges > 0
    costs = row_costs(test, policy)
    for row in result.groups:
        rows = group == row.group
        decided = [bundle(scores_of(p), t)[rows] for p, t in zip(preds, thresholds, strict=True)]
        f = failed[rows]
        want = {
            "bundle_rate": np.mean([d.mean() for d in decided]),
            "refused_safe_rate": np.mean([(~d[~f]).mean() for d in decided]),
            "failure_among_bundled": np.mean([f[d].mean() for d in decided]),
            "cost_per_1k": np.mean([per_1k_month(np.where(d, costs.if_bundled[rows],
                                                          costs.if_charged[rows]).mean(), 30)
                                    for d in decided]),
        }
        assert row.n == rows.sum()
        for metric, value in want.items():
            got = row.metrics[metric]
            assert got.estimate == pytest.approx(value, rel=1e-9), metric
            assert got.lower <= got.estimate <= got.upper


def test_ratio_intervals_are_the_engine_s_resamples():
    """A mean through ratio_intervals equals the mean of each materialised resample."""
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 100.0, 300)
    strata = rng.integers(0, 2, 300)
    out = ratio_intervals(values[:, None], np.ones((300, 1)), [[0]], strata=strata,
                          n_resamples=64, rng=np.random.default_rng(8))[0][0]
    row_rng, _ = np.random.default_rng(8).spawn(2)
    counts = np.concatenate(list(iter_resample_counts(strata, n_resamples=64, rng=row_rng)))
    direct = np.array([np.repeat(values, c.astype(int)).mean() for c in counts])
    assert np.allclose(out.replicates, direct)
    assert out.estimate == pytest.approx(values.mean())
    # Paired differences of an arm with itself vanish.
    two = ratio_intervals(np.column_stack([values, values]), np.ones((300, 2)), [[0], [1]],
                          strata=strata, n_resamples=64, rng=np.random.default_rng(9))[0]
    d = ratio_difference(two[0], two[1])
    assert d.lower == d.upper == 0.0


def test_churn_and_psi_known_answers():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    s = swap_shares([a], [b])
    assert (s.swap, s.to_charged, s.to_bundled) == (0.5, 0.25, 0.25)
    assert swap_shares([a], [a]).swap == 0.0
    assert seed_churn([a]) is None
    assert seed_churn([a, a, b]).swap == pytest.approx((0 + 0.5 + 0.5) / 3)
    scores = np.arange(1000) % 100
    assert psi(scores, scores) == 0.0
    table = migration_table(scores, scores)
    assert np.allclose(np.diag(table).sum(), 1.0) and table.shape == (10, 10)
    assert psi(scores, np.minimum(scores + 30, 100)) > 0.25  # a large shift


@pytest.mark.parametrize("override, field", [
    ("policy.fee_per_charge=-1", "policy.fee_per_charge"),
    ("policy.retry_cost=-5", "policy.retry_cost"),
    ("policy.loss_share=1.5", "policy.loss_share"),
    ("policy.loss_share=-0.1", "policy.loss_share"),
    ("policy.threshold=101", "policy.threshold"),
    ("policy.threshold=-1", "policy.threshold"),
    ("policy.target_bundle_rate=0", "policy.target_bundle_rate"),
    ("policy.target_bundle_rate=1", "policy.target_bundle_rate"),
    ("policy.threshold_rule=best", "policy.threshold_rule"),
    ("study.cost_margin=-1", "study.cost_margin"),
])
def test_bad_policy_is_one_line_naming_the_field(override, field, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["config", "show", "experiments/smoke.yaml", "--set", override])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err


def test_every_policy_default_is_marked_and_printed():
    from nsf.config import iter_schema

    rows = {name: meaning for name, _t, _d, _r, meaning in iter_schema()}
    for name in ("policy.fee_per_charge", "policy.loss_share", "policy.retry_cost",
                 "policy.bundling_window_days", "policy.threshold_rule", "policy.threshold",
                 "policy.target_bundle_rate", "study.cost_margin"):
        assert "[ASSUMPTION]" in rows[name], name
    assert load_config(None).policy.threshold_rule == "optimal"


@pytest.mark.parametrize("multiplicity", ["max_statistic", "holm", "none"])
def test_cost_verdicts_hold_jointly_over_the_variants(multiplicity):
    from nsf.metrics import non_inferiority_verdict

    rng = np.random.default_rng(7)
    val, p_val, _ = _world(rng, n=6000)
    test, p_test, y = _world(rng, n=6000)
    policy = PolicyConfig(fee_per_charge=300, loss_share=0.5, retry_cost=200)
    base_val = [_model(p_val, rng, 0.03) for _ in range(2)]
    base_test = [_model(p_test, rng, 0.03) for _ in range(2)]

    def near(probs):
        return [np.clip(p + rng.normal(0, NOISE, p.size), 0, 1) for p in probs]

    # A family of eight: copies of the baseline up to noise, noisier models, uninformed ones.
    arms = {"baseline": ArmPredictions(base_val, base_test),
            **{f"near_{k}": ArmPredictions(near(base_val), near(base_test)) for k in range(3)},
            **{f"noisier_{k}": ArmPredictions([_model(p_val, rng, 0.1) for _ in range(2)],
                                              [_model(p_test, rng, 0.1) for _ in range(2)])
               for k in range(3)},
            **{f"uninformed_{k}": ArmPredictions([rng.permutation(p_val) for _ in range(2)],
                                                 [rng.permutation(p_test) for _ in range(2)])
               for k in range(2)}}
    kw = {"baseline": "baseline", "strata": y, "cost_margin": 20_000.0, "n_resamples": 300,
          "p_true_test": p_test, "p_true_validation": p_val}
    result = evaluate_decisions(policy, val, test, arms, rng=np.random.default_rng(8),
                                multiplicity=multiplicity, **kw)
    for c in result.comparisons:
        own, sim = c.cost_diff_per_1k, c.cost_diff_simultaneous
        assert c.per_comparison_verdict == non_inferiority_verdict(
            own.lower, own.upper, 20_000.0, higher_is_better=False)
        assert sim.lower <= own.lower + 1e-6 and sim.upper >= own.upper - 1e-6
        if multiplicity == "max_statistic":
            assert c.decided_by == "simultaneous"
            assert c.verdict == non_inferiority_verdict(sim.lower, sim.upper, 20_000.0,
                                                        higher_is_better=False)
        elif multiplicity == "none":
            assert (c.decided_by, c.verdict) == ("per_comparison", c.per_comparison_verdict)
            assert (sim.lower, sim.upper) == pytest.approx((own.lower, own.upper), rel=1e-12)
        else:
            # Holm's adjusted p-values are never below the raw ones: it only ever withholds a
            # verdict the comparison alone would give.
            assert c.decided_by == "holm"
            assert c.verdict in (c.per_comparison_verdict, "inconclusive")
    if multiplicity != "none":
        widths = [(c.cost_diff_simultaneous.upper - c.cost_diff_simultaneous.lower)
                  / (c.cost_diff_per_1k.upper - c.cost_diff_per_1k.lower)
                  for c in result.comparisons]
        assert min(widths) > 1.0
    assert len({c.verdict for c in result.comparisons}) > 1  # not a vacuous family
