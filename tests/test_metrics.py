"""Point metrics: known answers, agreement with scikit-learn/scipy, rejections, edge cases."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from nsf import metrics

#: Tolerance for agreement between two exact computations of the same quantity.
EXACT = 1e-12
#: ECE of a perfectly calibrated forecast on 100,000 rows in 10 bins is sampling noise of order
#: sqrt(0.25 / 10,000) = 0.005 per bin; 0.01 is about twice that.
ECE_CALIBRATED_TOL = 0.01

EVALUATE_KEYS = {
    "test_auc",
    "test_pr_auc",
    "test_brier",
    "test_log_loss",
    "test_ece",
    "test_ks",
    "test_gini",
}
ORACLE_KEYS = {"oracle_auc", "oracle_auc_raw", "oracle_gap_auc", "test_calibration_mae_vs_truth"}
ORACLE_INTERVAL_KEYS = {"oracle_auc_lower", "oracle_auc_upper", "oracle_gap_auc_lower",
                        "oracle_gap_auc_upper"}


@pytest.fixture
def scored_rows():
    """Labels drawn from known probabilities, and a noisier model forecast."""
    rng = np.random.default_rng(20240601)
    p_true = rng.beta(1.0, 6.0, size=5_000)
    y = rng.binomial(1, p_true)
    p_model = np.clip(p_true + rng.normal(0.0, 0.05, size=p_true.size), 0.0, 1.0)
    return y, p_true, p_model


# --- Known answers ------------------------------------------------------------------------


Y_SMALL = np.array([0, 0, 1, 1, 0, 1])
P_PERFECT = np.array([0.1, 0.2, 0.7, 0.8, 0.3, 0.9])


def test_perfect_scorer_has_auc_1_ks_1_gini_1():
    assert metrics.auc(Y_SMALL, P_PERFECT) == 1.0
    assert metrics.ks(Y_SMALL, P_PERFECT) == 1.0
    assert metrics.gini(Y_SMALL, P_PERFECT) == 1.0
    assert metrics.pr_auc(Y_SMALL, P_PERFECT) == 1.0


def test_reversed_scorer_has_auc_0_and_ks_0():
    reversed_prob = 1.0 - P_PERFECT
    assert metrics.auc(Y_SMALL, reversed_prob) == 0.0
    assert metrics.gini(Y_SMALL, reversed_prob) == -1.0
    # KS is directional (max TPR - FPR): a reversed score never beats "flag nobody".
    assert metrics.ks(Y_SMALL, reversed_prob) == 0.0


def test_constant_scorer_has_auc_half_ks_0_gini_0():
    constant = np.full(Y_SMALL.shape, 0.4)
    assert metrics.auc(Y_SMALL, constant) == 0.5
    assert metrics.ks(Y_SMALL, constant) == 0.0
    assert metrics.gini(Y_SMALL, constant) == 0.0
    # Average precision of a constant score is the NSF rate.
    assert metrics.pr_auc(Y_SMALL, constant) == pytest.approx(Y_SMALL.mean(), abs=EXACT)


def test_ks_hand_computed():
    # Scores ascending; NSF rows at 0.3, 0.6, 0.8. Thresholds "flag score >= t":
    #   t=0.8: TPR 1/3, FPR 0    -> 1/3
    #   t=0.6: TPR 2/3, FPR 0    -> 2/3   <- maximum
    #   t=0.5: TPR 2/3, FPR 1/3  -> 1/3
    #   t=0.3: TPR 1,   FPR 1/3  -> 2/3   <- maximum (tie)
    #   t=0.1: TPR 1,   FPR 2/3  -> 1/3
    #   t=0.0: TPR 1,   FPR 1    -> 0
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.0, 0.1, 0.3, 0.5, 0.6, 0.8])
    assert metrics.ks(y, p) == pytest.approx(2.0 / 3.0, abs=EXACT)
    # Hand AUC: pairs (pos > neg): 0.3 beats 2 of 3, 0.6 and 0.8 beat 3 -> 8 / 9.
    assert metrics.auc(y, p) == pytest.approx(8.0 / 9.0, abs=EXACT)


def test_ks_equals_scipy_two_sample_statistic(scored_rows):
    y, _, p_model = scored_rows
    expected = stats.ks_2samp(
        p_model[y == 0], p_model[y == 1], alternative="greater", method="asymp"
    ).statistic
    assert metrics.ks(y, p_model) == pytest.approx(expected, abs=EXACT)


def test_metrics_equal_scikit_learn(scored_rows):
    y, _, p = scored_rows
    assert metrics.auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=EXACT)
    assert metrics.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=EXACT)
    assert metrics.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=EXACT)
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), abs=EXACT)
    assert metrics.gini(y, p) == pytest.approx(2 * skm.roc_auc_score(y, p) - 1, abs=EXACT)


def test_brier_and_log_loss_hand_computed():
    y = np.array([1, 0])
    p = np.array([0.8, 0.4])
    assert metrics.brier(y, p) == pytest.approx((0.2**2 + 0.4**2) / 2, abs=EXACT)
    assert metrics.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, abs=EXACT)


def test_log_loss_of_confident_wrong_forecast_is_finite():
    assert np.isfinite(metrics.log_loss([1, 0], [0.0, 1.0]))


# --- ECE ----------------------------------------------------------------------------------


def test_ece_hand_computed():
    # Bins of width 0.5: rows 0.2, 0.4 (mean p 0.3, mean y 0.5); row 0.9 (p 0.9, y 1).
    y = np.array([0, 1, 1])
    p = np.array([0.2, 0.4, 0.9])
    expected = (2 / 3) * abs(0.5 - 0.3) + (1 / 3) * abs(1.0 - 0.9)
    assert metrics.ece(y, p, n_bins=2) == pytest.approx(expected, abs=EXACT)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_equals_weighted_calibration_curve(scored_rows, strategy):
    y, _, p = scored_rows
    n_bins = 10
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    # Row count per non-empty bin, with calibration_curve's own binning convention.
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]
    expected = np.sum(counts / y.size * np.abs(prob_true - prob_pred))
    assert metrics.ece(y, p, n_bins=n_bins, strategy=strategy) == pytest.approx(expected, abs=EXACT)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_of_calibrated_forecast_is_near_zero(strategy):
    rng = np.random.default_rng(7)
    p = rng.uniform(size=100_000)
    y = rng.binomial(1, p)
    assert metrics.ece(y, p, strategy=strategy) < ECE_CALIBRATED_TOL
    # The same labels against a distorted forecast: clearly miscalibrated.
    assert metrics.ece(y, p**2, strategy=strategy) > 10 * ECE_CALIBRATED_TOL


def test_ece_rejects_bad_options():
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        metrics.ece([0, 1], [0.2, 0.8], n_bins=0)
    with pytest.raises(ValueError, match="strategy must be 'uniform' or 'quantile'"):
        metrics.ece([0, 1], [0.2, 0.8], strategy="equal")


# --- Single class and input checks ---------------------------------------------------------


@pytest.mark.parametrize("metric", [metrics.auc, metrics.pr_auc, metrics.ks, metrics.gini])
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_ranking_metrics_reject_single_class(metric, labels):
    with pytest.raises(ValueError, match="undefined: y_true holds only the class"):
        metric(labels, [0.1, 0.5, 0.9])


@pytest.mark.parametrize("metric", [metrics.brier, metrics.log_loss, metrics.ece])
def test_probability_metrics_accept_single_class(metric):
    value = metric([0, 0, 0], [0.1, 0.5, 0.9])
    assert np.isfinite(value)


def test_brier_single_class_value():
    assert metrics.brier([0, 0], [0.2, 0.4]) == pytest.approx(0.1, abs=EXACT)
    assert metrics.brier([1, 1], [0.2, 0.4]) == pytest.approx((0.64 + 0.36) / 2, abs=EXACT)


@pytest.mark.parametrize(
    ("y_true", "y_prob", "message"),
    [
        ([0, 2], [0.1, 0.2], "must hold only 0 and 1"),
        ([0, 1], [0.1, 1.2], r"must lie in \[0, 1\]"),
        ([0, 1], [0.1, np.nan], "NaN or infinite"),
        ([0, 1], [0.1, 0.2, 0.3], "has 3 rows but y_true has 2"),
        ([], [], "is empty"),
        ([[0, 1]], [[0.1, 0.2]], "must be 1-D"),
        (["a", "b"], [0.1, 0.2], "must hold the numbers 0 and 1"),
    ],
)
def test_inputs_are_rejected_with_a_precise_message(y_true, y_prob, message):
    with pytest.raises(ValueError, match=message):
        metrics.brier(y_true, y_prob)


def test_boolean_labels_are_accepted():
    assert metrics.auc(np.array([False, True]), [0.2, 0.8]) == 1.0


# --- Hypothesis: ties and constant forecasts -------------------------------------------------

labels_and_probs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < n),
        # Few distinct values so that ties are common.
        st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(labels_and_probs)
def test_ranking_metrics_with_ties_match_references(data):
    y, p = np.array(data[0]), np.array(data[1])
    assert metrics.auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=EXACT)
    assert metrics.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=EXACT)
    ks_ref = stats.ks_2samp(p[y == 0], p[y == 1], alternative="greater", method="asymp").statistic
    assert metrics.ks(y, p) == pytest.approx(ks_ref, abs=EXACT)
    assert 0.0 <= metrics.ece(y, p) <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=2, max_size=30).filter(lambda v: 0 < sum(v) < len(v)),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_all_equal_probabilities(labels, value):
    y = np.array(labels)
    p = np.full(y.shape, value)
    assert metrics.auc(y, p) == 0.5
    assert metrics.gini(y, p) == 0.0
    assert metrics.ks(y, p) == 0.0
    # One bin holds every row: ECE is |NSF rate - forecast|.
    assert metrics.ece(y, p) == pytest.approx(abs(y.mean() - value), abs=EXACT)


# --- Versus the oracle ------------------------------------------------------------------------


def test_calibration_error_vs_truth_hand_computed():
    p_true = np.array([0.1, 0.3, 0.6, 0.8])
    p_model = np.array([0.2, 0.2, 0.6, 1.0])
    result = metrics.calibration_error_vs_truth(p_true, p_model, n_bins=2)
    assert result["mae"] == pytest.approx((0.1 + 0.1 + 0.0 + 0.2) / 4, abs=EXACT)
    assert result["rmse"] == pytest.approx(np.sqrt((0.01 + 0.01 + 0.04) / 4), abs=EXACT)
    assert result["bias"] == pytest.approx((0.1 - 0.1 + 0.0 + 0.2) / 4, abs=EXACT)
    # Bins of p_model: [0.2, 0.2] vs truth [0.1, 0.3] cancel; [0.6, 1.0] vs [0.6, 0.8] -> 0.2.
    assert result["ece"] == pytest.approx(0.2 / 4, abs=EXACT)


def test_calibration_error_vs_truth_is_zero_for_the_truth(scored_rows):
    _, p_true, _ = scored_rows
    result = metrics.calibration_error_vs_truth(p_true, p_true)
    assert result == {"mae": 0.0, "rmse": 0.0, "bias": 0.0, "ece": 0.0}


# --- Score bands --------------------------------------------------------------------------


def test_score_bands_hand_built():
    score = np.array([0, 5, 10, 19, 55, 100, 90])
    y = np.array([0, 1, 0, 0, 1, 1, 0])
    bands = metrics.score_bands(y, score)
    assert list(bands.index) == [f"[{lo}, {lo + 10})" for lo in range(0, 90, 10)] + ["[90, 100]"]
    assert bands["n"].tolist() == [2, 2, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bands["n_bad"].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert bands.loc["[0, 10)", "bad_rate"] == 0.5
    assert bands.loc["[0, 10)", "mean_score"] == 2.5
    assert bands.loc["[90, 100]", "mean_score"] == 95.0
    assert np.isnan(bands.loc["[20, 30)", "bad_rate"])
    assert bands["n"].sum() == score.size


def test_score_bands_custom_edges():
    bands = metrics.score_bands([0, 1, 1], [1, 50, 99], edges=(0, 50, 100))
    assert bands["n"].tolist() == [1, 2]
    assert bands["bad_rate"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("score", "edges", "message"),
    [
        ([0, 101], (0, 50, 100), r"score must lie in \[0, 100\]"),
        ([0, 10], (0, 50, 50), "strictly increasing"),
        ([0, np.nan], (0, 100), "NaN or infinite"),
        ([0, 1, 2], (0, 100), r"score has shape \(3,\)"),
    ],
)
def test_score_bands_rejections(score, edges, message):
    with pytest.raises(ValueError, match=message):
        metrics.score_bands([0, 1], score, edges=edges)


def test_is_monotonic_ignores_empty_bands():
    bands = metrics.score_bands([0, 0, 1, 1], [5, 15, 95, 100])
    assert metrics.is_monotonic(bands)
    rising_then_falling = metrics.score_bands([0, 1, 0], [5, 50, 95])
    assert not metrics.is_monotonic(rising_then_falling)
    flat = pd.DataFrame({"n": [3, 0, 3], "bad_rate": [0.2, np.nan, 0.2]})
    assert metrics.is_monotonic(flat)


def test_is_monotonic_rejects_other_frames():
    with pytest.raises(ValueError, match="missing"):
        metrics.is_monotonic(pd.DataFrame({"n": [1]}))


# --- evaluate -----------------------------------------------------------------------------


def test_evaluate_keys_and_values(scored_rows):
    y, _, p = scored_rows
    result = metrics.evaluate(y, p)
    assert set(result) == EVALUATE_KEYS
    assert result["test_auc"] == metrics.auc(y, p)
    assert result["test_ece"] == metrics.ece(y, p)
    assert all(isinstance(value, float) for value in result.values())


def test_evaluate_with_oracle(scored_rows):
    y, p_true, p = scored_rows
    result = metrics.evaluate(y, p, p_true=p_true)
    assert set(result) == EVALUATE_KEYS | ORACLE_KEYS
    assert result["oracle_auc"] == pytest.approx(skm.roc_auc_score(y, p_true), abs=EXACT)
    assert result["oracle_gap_auc"] == pytest.approx(
        result["oracle_auc"] - result["test_auc"], abs=EXACT
    )
    # The noisy model ranks worse than the truth it was made from.
    assert result["oracle_gap_auc"] > 0
    assert result["test_calibration_mae_vs_truth"] == pytest.approx(
        np.mean(np.abs(p - p_true)), abs=EXACT
    )


def test_evaluate_rejects_single_class():
    with pytest.raises(ValueError, match="auc is undefined"):
        metrics.evaluate([0, 0], [0.1, 0.2])


# --- The oracle's AUC ---------------------------------------------------------------------

#: Monte-Carlo draws behind the noisy oracle of the tests below, and their groups.
ORACLE_TEST_DRAWS = 32
ORACLE_TEST_GROUPS = 8
#: The corrected AUC's error on 20,000 rows at M = 32 (the raw error is ~0.02; what remains is
#: second order and sampling noise).
CORRECTED_TOL = 0.005


def _noisy_oracle(seed: int, n: int = 20_000, draws: int = ORACLE_TEST_DRAWS,
                  n_groups: int = ORACLE_TEST_GROUPS):
    """Labels from known probabilities, and the probability's Monte-Carlo estimate (the mean of
    ``draws`` yes/no draws) with the estimate of each group of draws (draw m in group
    m % n_groups)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 4.0, size=n)
    y = rng.binomial(1, p)
    sizes = np.asarray([(draws - g + n_groups - 1) // n_groups for g in range(n_groups)])
    hits = np.stack([rng.binomial(k, p) for k in sizes], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        groups = hits / sizes
    return y, p, hits.sum(axis=1) / draws, groups


def test_oracle_auc_of_an_exact_truth_is_its_auc(scored_rows):
    y, p_true, p = scored_rows
    res = metrics.oracle_auc(y, p_true, p_model=p)
    assert res.estimate == pytest.approx(skm.roc_auc_score(y, p_true), abs=EXACT)
    assert res.correction == 0.0 and res.lower is None and res.gap_lower is None
    assert res.gap == pytest.approx(res.estimate - skm.roc_auc_score(y, p), abs=EXACT)


@pytest.mark.parametrize(("draws", "n_groups"), [(32, 8), (30, 8), (32, 2), (5, 8)])
def test_oracle_auc_corrects_the_monte_carlo_bias(draws, n_groups):
    """The AUC of a Monte-Carlo probability is biased low; the jackknife over groups of draws
    removes most of it, for equal and unequal groups, split halves, and fewer draws than
    groups (empty groups)."""
    y, p, estimate, groups = _noisy_oracle(7, draws=draws, n_groups=n_groups)
    exact = skm.roc_auc_score(y, p)
    res = metrics.oracle_auc(y, estimate, p_groups=groups, draws=draws)
    assert res.raw == pytest.approx(skm.roc_auc_score(y, estimate), abs=EXACT)
    assert exact - res.raw > 2 * CORRECTED_TOL  # the bias is real
    if draws >= 30:
        assert abs(res.estimate - exact) < CORRECTED_TOL, (res.raw, res.estimate, exact)
    else:  # at M = 5 the second-order remainder is large; still, most of the bias goes
        assert abs(res.estimate - exact) < 0.5 * (exact - res.raw), (res.raw, res.estimate)
    assert res.correction > 0


def test_oracle_auc_interval_covers_the_exact_auc_and_the_gap_is_paired():
    y, p, estimate, groups = _noisy_oracle(11)
    model = np.clip(p + np.random.default_rng(3).normal(0, 0.04, p.size), 0, 1)
    kw = {"p_groups": groups, "draws": ORACLE_TEST_DRAWS, "p_model": model, "n_resamples": 300}
    res = metrics.oracle_auc(y, estimate, rng=np.random.default_rng(5), **kw)
    assert res.lower < res.estimate < res.upper
    assert res.lower < skm.roc_auc_score(y, p) < res.upper
    assert res.gap == pytest.approx(res.estimate - skm.roc_auc_score(y, model), abs=EXACT)
    assert res.gap_lower < res.gap < res.gap_upper
    # Pairing: the gap's interval is narrower than the oracle's own.
    assert res.gap_upper - res.gap_lower < res.upper - res.lower
    again = metrics.oracle_auc(y, estimate, rng=np.random.default_rng(5), **kw)
    assert (again.lower, again.upper) == (res.lower, res.upper)


def test_oracle_auc_without_interval_is_the_same_computed_once_per_set_of_rows():
    """Models evaluated on the same rows share the oracle's side (computed once per set of
    rows); every value equals the interval path's, which computes it anew, to the last bit."""
    y, p, estimate, groups = _noisy_oracle(17)
    kw = {"p_groups": groups, "draws": ORACLE_TEST_DRAWS}
    for seed in (1, 2):
        model = np.clip(p + np.random.default_rng(seed).normal(0, 0.04, p.size), 0, 1)
        point = metrics.oracle_auc(y, estimate, p_model=model, **kw)
        full = metrics.oracle_auc(y, estimate, p_model=model, rng=np.random.default_rng(0),
                                  n_resamples=20, **kw)
        assert (point.estimate, point.raw, point.model_auc, point.gap) == \
            (full.estimate, full.raw, full.model_auc, full.gap)
        assert point.model_auc == pytest.approx(skm.roc_auc_score(y, model), abs=EXACT)
        assert point.lower is None and point.replicates is None
    # Other rows (a half of them): their own oracle, not the one computed last.
    half = slice(0, y.size // 2)
    kw = {"p_groups": groups[half], "draws": ORACLE_TEST_DRAWS}
    other = metrics.oracle_auc(y[half], estimate[half], **kw)
    assert other.raw == pytest.approx(skm.roc_auc_score(y[half], estimate[half]), abs=EXACT)
    assert other.estimate == metrics.oracle_auc(y[half], estimate[half], n_resamples=20,
                                                rng=np.random.default_rng(0), **kw).estimate
    assert other.raw != metrics.oracle_auc(y, estimate, p_groups=groups,
                                           draws=ORACLE_TEST_DRAWS).raw


def test_oracle_auc_rejects_inconsistent_inputs():
    y, _, estimate, groups = _noisy_oracle(1, n=200)
    with pytest.raises(ValueError, match="draws >= 2"):
        metrics.oracle_auc(y, estimate, p_groups=groups, draws=1)
    with pytest.raises(ValueError, match="shape"):
        metrics.oracle_auc(y, estimate, p_groups=groups[:-1], draws=ORACLE_TEST_DRAWS)
    with pytest.raises(ValueError, match="do not average"):
        metrics.oracle_auc(y, estimate, p_groups=groups, draws=ORACLE_TEST_DRAWS - 2)


def test_evaluate_with_oracle_groups_and_interval():
    y, p, estimate, groups = _noisy_oracle(13)
    model = np.clip(p + np.random.default_rng(3).normal(0, 0.04, p.size), 0, 1)
    result = metrics.evaluate(y, model, p_true=estimate, p_true_groups=groups,
                              oracle_draws=ORACLE_TEST_DRAWS, rng=np.random.default_rng(2),
                              n_resamples=200)
    assert set(result) == EVALUATE_KEYS | ORACLE_KEYS | ORACLE_INTERVAL_KEYS
    assert result["oracle_auc"] > result["oracle_auc_raw"]
    assert result["oracle_auc_lower"] < result["oracle_auc"] < result["oracle_auc_upper"]
