"""Intervals and verdicts that hold jointly over a family of paired-bootstrap comparisons."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from nsf.metrics import (
    INCONCLUSIVE,
    NEEDED,
    NOT_SHOWN_NEEDED,
    bootstrap_p_values,
    holm_verdicts,
    simultaneous_intervals,
)
from nsf.study._stats import family_verdicts, verdict_for

#: Monte-Carlo error of a coverage near 0.95 from 400 worlds is about 0.011; three of them.
COVERAGE_TOL = 0.035


def _noise_family(rng, *, n_comparisons, n_resamples, rho):
    """One world's family of pure-noise comparisons (true differences all zero).

    Each comparison's estimate is drawn around zero, correlated across comparisons (they share
    the baseline arm); its bootstrap replicates are drawn around the estimate with the same
    covariance, as the paired bootstrap approximates the sampling distribution.
    """
    cov = np.full((n_comparisons, n_comparisons), rho) + (1.0 - rho) * np.eye(n_comparisons)
    chol = np.linalg.cholesky(cov)
    estimate = chol @ rng.standard_normal(n_comparisons)
    replicates = estimate + rng.standard_normal((n_resamples, n_comparisons)) @ chol.T
    return estimate, replicates


def test_pure_noise_family_is_covered_jointly_at_the_nominal_rate():
    rng = np.random.default_rng(20240611)
    n_worlds, k = 400, 12
    joint_sim, joint_own, wider = 0, 0, 0
    for _ in range(n_worlds):
        _, reps = _noise_family(rng, n_comparisons=k, n_resamples=400, rho=0.5)
        sim = simultaneous_intervals(reps, confidence=0.95, method="max_statistic")
        own = simultaneous_intervals(reps, confidence=0.95, method="none")
        # Every comparison's true difference is 0.
        joint_sim += bool(np.all((sim.lower <= 0) & (sim.upper >= 0)))
        joint_own += bool(np.all((own.lower <= 0) & (own.upper >= 0)))
        wider += bool(np.all(sim.lower <= own.lower) and np.all(sim.upper >= own.upper)
                      and np.any(sim.upper - sim.lower > own.upper - own.lower))
    assert wider == n_worlds
    assert joint_sim / n_worlds == pytest.approx(0.95, abs=COVERAGE_TOL)
    # Twelve 95% intervals at their own level cover jointly far less often.
    assert joint_own / n_worlds < 0.80


def test_a_family_of_one_or_no_correction_keeps_the_per_comparison_interval():
    rng = np.random.default_rng(3)
    reps = rng.standard_normal((500, 4))
    one = simultaneous_intervals(reps[:, :1], confidence=0.9)
    alpha = 1.0 - 0.9  # as the per-comparison intervals compute it
    lower, upper = np.quantile(reps[:, 0], [alpha / 2, 1 - alpha / 2])
    assert (one.lower[0], one.upper[0], one.level) == (lower, upper, 0.9)
    none = simultaneous_intervals(reps, confidence=0.9, method="none")
    np.testing.assert_array_equal(none.lower, np.quantile(reps, alpha / 2, axis=0))
    assert none.level == 0.9


def test_identical_comparisons_need_no_widening():
    # Perfectly dependent comparisons are one question: the max-statistic sees that, Bonferroni
    # does not.
    reps = np.repeat(np.random.default_rng(5).standard_normal((1000, 1)), 6, axis=1)
    sim = simultaneous_intervals(reps, confidence=0.95)
    assert sim.level == 0.95
    assert simultaneous_intervals(reps, confidence=0.95, method="holm").level == \
        pytest.approx(1 - 0.05 / 6)


def test_bad_family_input_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        simultaneous_intervals(np.zeros((10, 2)), method="bonferroni")
    with pytest.raises(ValueError, match="finite"):
        simultaneous_intervals(np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        simultaneous_intervals(np.zeros(10))


def _mixed_family(rng):
    """Eight comparisons, oriented as losses: two clearly needed, two clearly not, the rest
    near the margin."""
    centres = np.array([-0.05, -0.03, 0.0, 0.001, -0.008, -0.006, -0.004, -0.0065])
    return centres + 0.002 * rng.standard_normal((1000, centres.size))


def test_holm_verdicts_equal_statsmodels_holm_on_the_bootstrap_p_values():
    reps = _mixed_family(np.random.default_rng(11))
    margin = 0.005
    got = holm_verdicts(reps, margin, confidence=0.95)
    # The p-values from their definition, then statsmodels' Holm.
    share_above = (reps >= -margin).mean(axis=0)
    p_needed = np.minimum(1, 2 * share_above)
    p_not = np.minimum(1, 2 * (1 - share_above))
    np.testing.assert_array_equal(bootstrap_p_values(reps, margin), (p_needed, p_not))
    needed = multipletests(p_needed, alpha=0.05, method="holm")[0]
    not_needed = multipletests(p_not, alpha=0.05, method="holm")[0]
    expected = [NEEDED if a else NOT_SHOWN_NEEDED if b else INCONCLUSIVE
                for a, b in zip(needed, not_needed, strict=True)]
    assert got == expected
    assert {NEEDED, NOT_SHOWN_NEEDED, INCONCLUSIVE} <= set(got)


def _comparisons(reps, subject="removed", margin=0.005):
    return [({"replicates": reps[:, k], "margin": margin, "verdict": v}, subject)
            for k, v in enumerate(_own_verdicts(reps, margin, subject))]


def _own_verdicts(reps, margin, subject):
    lower, upper = np.quantile(reps, [0.025, 0.975], axis=0)
    return [verdict_for(lo, hi, margin, metric="auc", subject=subject)
            for lo, hi in zip(lower, upper, strict=True)]


@pytest.mark.parametrize("subject", ["removed", "added"])
def test_family_verdicts_read_the_simultaneous_interval(subject):
    reps = _mixed_family(np.random.default_rng(12))
    if subject == "added":
        reps = -reps  # the variant has the data: a gain over the reference is the effect
    comparisons = _comparisons(reps, subject)
    family_verdicts(comparisons, "auc", method="max_statistic", confidence=0.95)
    sim = simultaneous_intervals(reps, confidence=0.95)
    changed = 0
    for k, (c, _) in enumerate(comparisons):
        assert (c["simultaneous_lower"], c["simultaneous_upper"]) == (sim.lower[k],
                                                                      sim.upper[k])
        assert c["family_size"] == 8 and c["decided_by"] == "simultaneous"
        assert c["verdict"] == verdict_for(sim.lower[k], sim.upper[k], 0.005, metric="auc",
                                           subject=subject)
        changed += c["verdict"] != c["per_comparison_verdict"]
        # A wider interval only ever turns a verdict into 'inconclusive'.
        assert c["verdict"] in (c["per_comparison_verdict"], INCONCLUSIVE)
    assert changed >= 1


def test_family_verdicts_holm_orients_a_loss_metric():
    # Brier: a rise is the loss; the replicates of variant - reference are the negated ones.
    reps = _mixed_family(np.random.default_rng(13))
    comparisons = [({"replicates": -reps[:, k], "margin": 0.005, "verdict": None}, "removed")
                   for k in range(reps.shape[1])]
    family_verdicts(comparisons, "brier", method="holm", confidence=0.95)
    assert [c["verdict"] for c, _ in comparisons] == holm_verdicts(reps, 0.005)
    assert all(c["decided_by"] == "holm" for c, _ in comparisons)


def test_a_shared_reference_drawn_once_per_replicate_needs_less_widening():
    """Comparisons against one reference share its seed draw in a bootstrap of the family;
    calibrated on that joint draw the level is lower than on comparisons drawn one by one,
    and the bounds still come from each comparison's own replicates."""
    from nsf.study._stats import joint_replicates

    rng = np.random.default_rng(21)
    n_resamples, n_seeds, k = 2000, 3, 12
    rows = rng.standard_normal((n_resamples, 1))  # shared row resamples
    # The reference's seeds differ a lot; each variant is the reference plus small noise.
    reference = {"replicates": rows + 2.0 * rng.standard_normal((n_resamples, n_seeds))}
    variants = [{"replicates": reference["replicates"] + 0.3 * rng.standard_normal(
        (n_resamples, n_seeds))} for _ in range(k)]
    one_by_one = np.column_stack([
        joint_replicates(reference, [v], target="mean", rng=np.random.default_rng(100 + j))[:, 0]
        for j, v in enumerate(variants)])
    joint = joint_replicates(reference, variants, target="mean", rng=np.random.default_rng(7))
    alone = simultaneous_intervals(one_by_one, confidence=0.95)
    together = simultaneous_intervals(one_by_one, confidence=0.95, joint=joint)
    assert together.level < alone.level
    alpha = 1.0 - together.level
    np.testing.assert_array_equal(together.lower, np.quantile(one_by_one, alpha / 2, axis=0))
    assert together.joint_coverage >= 0.95
    same = joint_replicates(reference, [reference, variants[0]], target="mean",
                            rng=np.random.default_rng(1))
    assert not same[:, 0].any() and same[:, 1].any()


def test_with_resampled_training_the_family_draws_its_seeds_once():
    """Paired seeds (each seed one re-drawn training sample for every arm): one draw of the
    seeds per replicate serves every comparison of the family."""
    from nsf.study._stats import joint_replicates

    rng = np.random.default_rng(4)
    reference = {"replicates": rng.standard_normal((300, 3)), "per_seed": np.zeros(3)}
    effect = np.array([0.01, -0.02, 0.03])  # per seed: what each training draw does
    twin_a = {"replicates": reference["replicates"] + effect, "per_seed": effect}
    twin_b = {"replicates": reference["replicates"] + effect, "per_seed": effect}
    joint = joint_replicates(reference, [twin_a, twin_b, reference], target="mean",
                             rng=np.random.default_rng(9), resampled_training=True)
    np.testing.assert_array_equal(joint[:, 0], joint[:, 1])
    assert joint[:, 0].std() > 0 and not joint[:, 2].any()
