"""Bootstrap: the vectorised kernels equal scikit-learn on the same resamples; intervals cover."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from nsf import metrics
from nsf.metrics._cells import CELL_METRICS, metric_kernel
from nsf.metrics._weighted import iter_resample_counts

#: Agreement between the weighted kernels and scikit-learn on a materialised resample.
EXACT = 1e-10
#: Monte Carlo coverage of a nominal 95% interval from 200 simulated test sets has a standard
#: error of about 1.5 points; the percentile bootstrap also undercovers slightly at n = 400.
COVERAGE_LOW, COVERAGE_HIGH = 0.88, 0.995


def _simulated(n=2_000, seed=11, decimals=None):
    rng = np.random.default_rng(seed)
    p_true = rng.beta(1.2, 5.0, size=n)
    y = rng.binomial(1, p_true)
    prob_a = np.clip(p_true + rng.normal(0, 0.08, size=n), 0, 1)
    prob_b = np.clip(p_true + rng.normal(0, 0.12, size=n), 0, 1)
    if decimals is not None:
        # Coarse probabilities make ties common, the hard case for rank metrics.
        prob_a, prob_b = np.round(prob_a, decimals), np.round(prob_b, decimals)
    return y, prob_a, prob_b


REFERENCE = {
    "auc": skm.roc_auc_score,
    "pr_auc": skm.average_precision_score,
    "brier": skm.brier_score_loss,
    "log_loss": lambda y, p: skm.log_loss(y, p, labels=[0, 1]),
    "ece": metrics.ece,
    "ks": lambda y, p: (
        stats.ks_2samp(p[y == 0], p[y == 1], alternative="greater", method="asymp").statistic
    ),
    "gini": lambda y, p: 2 * skm.roc_auc_score(y, p) - 1,
}


# --- Kernels against references on the same resamples -----------------------------------------


@pytest.mark.parametrize("name", sorted(CELL_METRICS))
@pytest.mark.parametrize("decimals", [None, 2])
def test_kernel_equals_reference_on_materialised_resamples(name, decimals):
    y, prob, _ = _simulated(n=600, decimals=decimals)
    rng = np.random.default_rng(3)
    counts = next(iter_resample_counts(y, n_resamples=5, rng=rng))
    values = metric_kernel(name, y, prob)(counts)
    rows = np.arange(y.size)
    for replicate, weights in zip(values, counts, strict=True):
        drawn = np.repeat(rows, weights.astype(int))
        assert replicate == pytest.approx(REFERENCE[name](y[drawn], prob[drawn]), abs=EXACT)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=30).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < n),
            st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), min_size=n, max_size=n),
            st.lists(st.integers(0, 4), min_size=n, max_size=n),
        )
    )
)
def test_weighted_auc_equals_sklearn_sample_weight(data):
    y, prob, weights = (np.array(column) for column in data)
    w = weights.astype(np.float64)
    if w[y == 1].sum() == 0 or w[y == 0].sum() == 0:
        # A resample without one class: the kernel reports NaN (undefined).
        assert np.isnan(metric_kernel("auc", y, prob)(w[None, :])[0])
        return
    expected = skm.roc_auc_score(y, prob, sample_weight=w)
    assert metric_kernel("auc", y, prob)(w[None, :])[0] == pytest.approx(expected, abs=EXACT)


def test_generic_callable_gives_the_same_replicates_as_the_fast_path():
    y, prob_a, prob_b = _simulated(n=500, decimals=2)
    fast = metrics.paired_bootstrap(
        "auc", y, prob_a, prob_b, n_resamples=50, rng=np.random.default_rng(5)
    )
    slow = metrics.paired_bootstrap(
        skm.roc_auc_score, y, prob_a, prob_b, n_resamples=50, rng=np.random.default_rng(5)
    )
    np.testing.assert_allclose(fast.replicates_a, slow.replicates_a, atol=EXACT)
    np.testing.assert_allclose(fast.replicates_b, slow.replicates_b, atol=EXACT)
    assert slow.metric == "roc_auc_score"
    assert fast.metric == "auc"


def test_metric_function_is_recognised_as_its_name():
    y, prob_a, prob_b = _simulated(n=300)
    result = metrics.paired_bootstrap(
        metrics.brier, y, prob_a, prob_b, n_resamples=10, rng=np.random.default_rng(0)
    )
    assert result.metric == "brier"


# --- Resampling -------------------------------------------------------------------------------


def test_resample_counts_stratified_keep_class_sizes_and_chunk():
    y = np.r_[np.zeros(9_000, dtype=int), np.ones(1_000, dtype=int)]
    chunks = list(iter_resample_counts(y, n_resamples=450, rng=np.random.default_rng(1)))
    counts = np.concatenate(chunks)
    assert len(chunks) > 1  # 450 x 10,000 cells exceed one chunk
    assert counts.shape == (450, y.size)
    np.testing.assert_array_equal(counts.sum(axis=1), y.size)
    np.testing.assert_array_equal(counts[:, y == 1].sum(axis=1), 1_000)


def test_resample_counts_are_reproducible():
    y = np.array([0, 1] * 50)
    first = np.concatenate(
        list(iter_resample_counts(y, n_resamples=20, rng=np.random.default_rng(4)))
    )
    second = np.concatenate(
        list(iter_resample_counts(y, n_resamples=20, rng=np.random.default_rng(4)))
    )
    np.testing.assert_array_equal(first, second)


def test_unstratified_bootstrap_with_rare_class_reports_undefined_replicates():
    y = np.r_[np.zeros(30, dtype=int), 1]
    prob = np.linspace(0, 1, y.size)
    with pytest.raises(ValueError, match=r"undefined in .* bootstrap resamples.*stratify=True"):
        metrics.bootstrap_metric(
            "auc", y, prob, n_resamples=200, rng=np.random.default_rng(0), stratify=False
        )


# --- paired_bootstrap / bootstrap_metric ------------------------------------------------------


def test_paired_bootstrap_estimates_and_identical_models():
    y, prob_a, prob_b = _simulated()
    result = metrics.paired_bootstrap(
        "auc", y, prob_a, prob_a, n_resamples=100, rng=np.random.default_rng(2)
    )
    assert result.difference == 0.0
    np.testing.assert_array_equal(result.replicates_difference, 0.0)
    assert (result.lower, result.upper) == (0.0, 0.0)

    result = metrics.paired_bootstrap(
        "auc", y, prob_a, prob_b, n_resamples=200, rng=np.random.default_rng(2)
    )
    assert result.estimate_a == metrics.auc(y, prob_a)
    assert result.estimate_b == metrics.auc(y, prob_b)
    assert result.difference == result.estimate_b - result.estimate_a
    assert result.lower < result.difference < result.upper
    assert result.replicates_a.shape == (200,)
    assert result.standard_error > 0


def test_pairing_narrows_the_interval():
    # Both models share most of their signal, so their test-set noise largely cancels.
    y, prob_a, prob_b = _simulated(n=3_000)
    paired = metrics.paired_bootstrap(
        "auc", y, prob_a, prob_b, n_resamples=300, rng=np.random.default_rng(8)
    )
    single_a = metrics.bootstrap_metric(
        "auc", y, prob_a, n_resamples=300, rng=np.random.default_rng(9)
    )
    single_b = metrics.bootstrap_metric(
        "auc", y, prob_b, n_resamples=300, rng=np.random.default_rng(10)
    )
    unpaired_se = np.hypot(single_a.standard_error, single_b.standard_error)
    assert paired.standard_error < 0.8 * unpaired_se


def test_fast_auc_bootstrap_replicates_equal_the_resampled_auc():
    """The fast AUC path on a large sample: finite replicates, the point estimate equal to
    scikit-learn's AUC and a plausible spread (its speed is measured by benchmarks, not here)."""
    rng = np.random.default_rng(0)
    y = rng.binomial(1, 0.1, size=20_000)
    prob = np.clip(0.1 + 0.1 * y + rng.normal(0, 0.1, size=y.size), 0, 1)
    result = metrics.bootstrap_metric("auc", y, prob, n_resamples=200,
                                      rng=np.random.default_rng(3))
    assert result.replicates.shape == (200,)
    assert np.all(np.isfinite(result.replicates))
    assert abs(result.estimate - skm.roc_auc_score(y, prob)) < 1e-12
    assert 0 < result.standard_error < 0.02


def _binormal(rng, n_neg, n_pos, shift_a, shift_b, rho):
    """Scores whose population AUCs are known: Phi(shift / sqrt(2)) for unit-variance normals."""
    shared = rng.normal(size=n_neg + n_pos)
    own = rng.normal(size=(2, n_neg + n_pos))
    y = np.r_[np.zeros(n_neg, dtype=int), np.ones(n_pos, dtype=int)]
    score_a = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own[0] + shift_a * y
    score_b = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own[1] + shift_b * y
    # A monotone map to (0, 1) keeps the AUC and makes the scores valid probabilities.
    return y, stats.norm.cdf(score_a / 3), stats.norm.cdf(score_b / 3)


def test_paired_bootstrap_interval_covers_true_difference():
    shift_a, shift_b = 1.0, 0.8
    true_difference = stats.norm.cdf(shift_b / np.sqrt(2)) - stats.norm.cdf(shift_a / np.sqrt(2))
    rng = np.random.default_rng(2024)
    n_trials = 200
    covered = 0
    for _ in range(n_trials):
        y, prob_a, prob_b = _binormal(rng, 300, 100, shift_a, shift_b, rho=0.6)
        result = metrics.paired_bootstrap("auc", y, prob_a, prob_b, n_resamples=200, rng=rng)
        covered += result.lower <= true_difference <= result.upper
    assert COVERAGE_LOW <= covered / n_trials <= COVERAGE_HIGH


# --- difference_interval ----------------------------------------------------------------------


def test_difference_interval_with_identical_seeds_equals_one_seed():
    y, prob_a, prob_b = _simulated(n=800)
    one = metrics.difference_interval(
        [prob_a], [prob_b], y, "auc", n_resamples=200, rng=np.random.default_rng(6)
    )
    many = metrics.difference_interval(
        [prob_a] * 3, [prob_b] * 4, y, "auc", n_resamples=200, rng=np.random.default_rng(6)
    )
    np.testing.assert_allclose(one.replicates, many.replicates, atol=EXACT)
    assert one.estimate == pytest.approx(metrics.auc(y, prob_b) - metrics.auc(y, prob_a))
    assert many.per_seed_a.shape == (3,)
    assert many.per_seed_b.shape == (4,)


def test_difference_interval_adds_seed_variance():
    y, prob_a, prob_b = _simulated(n=2_000)
    rng = np.random.default_rng(12)
    # Seed-to-seed noise in the predictions, large next to the test-set noise.
    seeds_a = [np.clip(prob_a + rng.normal(0, 0.15, y.size), 0, 1) for _ in range(5)]
    seeds_b = [np.clip(prob_b + rng.normal(0, 0.15, y.size), 0, 1) for _ in range(5)]
    rows_only = metrics.paired_bootstrap(
        "auc",
        y,
        np.mean(seeds_a, axis=0),
        np.mean(seeds_b, axis=0),
        n_resamples=300,
        rng=np.random.default_rng(13),
    )
    mean_target = metrics.difference_interval(
        seeds_a, seeds_b, y, "auc", n_resamples=300, rng=np.random.default_rng(13)
    )
    single_target = metrics.difference_interval(
        seeds_a, seeds_b, y, "auc", n_resamples=300, rng=np.random.default_rng(13), target="single"
    )
    assert mean_target.standard_error > rows_only.standard_error
    assert single_target.standard_error > mean_target.standard_error
    assert mean_target.lower < mean_target.estimate < mean_target.upper
    assert single_target.target == "single"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_seed_a": []}, "per_seed_a is empty"),
        ({"per_seed_a": np.array([0.1, 0.2])}, "must be a list of arrays"),
        ({"per_seed_b": [np.array([0.1])]}, r"per_seed_b\[0\] has 1 rows but y_true has 2"),
        ({"target": "median"}, "target must be 'mean' or 'single'"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1"),
        ({"confidence": 1.0}, r"confidence must be a number in \(0, 1\)"),
        ({"rng": 42}, "rng must be a numpy.random.Generator"),
        ({"metric": "accuracy"}, "metric must be a callable or one of"),
    ],
)
def test_difference_interval_rejections(kwargs, message):
    arguments = {
        "per_seed_a": [np.array([0.2, 0.8])],
        "per_seed_b": [np.array([0.3, 0.7])],
        "y_true": np.array([0, 1]),
        "metric": "auc",
        "n_resamples": 10,
        "rng": np.random.default_rng(0),
    } | kwargs
    with pytest.raises(ValueError, match=message):
        metrics.difference_interval(**arguments)


# --- non_inferiority_verdict ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper", "expected"),
    [
        (-0.05, -0.02, metrics.NEEDED),  # whole interval below -margin
        (-0.005, 0.01, metrics.NOT_SHOWN_NEEDED),  # lower bound above -margin
        (-0.01, 0.003, metrics.NOT_SHOWN_NEEDED),  # lower bound exactly -margin
        (-0.03, 0.001, metrics.INCONCLUSIVE),  # straddles -margin
        (-0.03, -0.01, metrics.INCONCLUSIVE),  # upper bound exactly -margin: not below it
    ],
)
def test_non_inferiority_verdict_branches(lower, upper, expected):
    assert metrics.non_inferiority_verdict(lower, upper, 0.01) == expected


def test_non_inferiority_verdict_for_a_loss():
    # Dropping the group raises the Brier score by 0.02 to 0.03: more than the 0.01 margin.
    assert (
        metrics.non_inferiority_verdict(0.02, 0.03, 0.01, higher_is_better=False) == metrics.NEEDED
    )
    assert (
        metrics.non_inferiority_verdict(-0.01, 0.005, 0.01, higher_is_better=False)
        == metrics.NOT_SHOWN_NEEDED
    )
    assert (
        metrics.non_inferiority_verdict(0.0, 0.02, 0.01, higher_is_better=False)
        == metrics.INCONCLUSIVE
    )


@pytest.mark.parametrize(
    ("lower", "upper", "margin", "message"),
    [
        (0.1, -0.1, 0.01, "lower must be <= upper"),
        (-0.1, 0.1, -0.01, "margin must be >= 0"),
        (np.nan, 0.1, 0.01, "lower must be a finite number"),
    ],
)
def test_non_inferiority_verdict_rejections(lower, upper, margin, message):
    with pytest.raises(ValueError, match=message):
        metrics.non_inferiority_verdict(lower, upper, margin)


def _retrained(rng, signal, n_seeds):
    """Predictions of one training procedure under ``n_seeds`` seeds (seed = added noise)."""
    return [stats.norm.cdf((signal + rng.normal(0, 0.8, signal.size)) / 3) for _ in range(n_seeds)]


def test_difference_interval_covers_zero_for_the_same_training_procedure():
    # Both arms retrain the same model: the expected difference is 0 whatever the seeds do.
    # The pigeonhole bootstrap is mildly conservative (Owen 2007), so coverage may exceed 95%.
    rng = np.random.default_rng(77)
    y = np.r_[np.zeros(200, dtype=int), np.ones(70, dtype=int)]
    n_trials = 60
    covered = 0
    for _ in range(n_trials):
        signal = rng.normal(size=y.size) + 0.9 * y
        result = metrics.difference_interval(
            _retrained(rng, signal, 5),
            _retrained(rng, signal, 5),
            y,
            "auc",
            n_resamples=150,
            rng=rng,
        )
        covered += result.lower <= 0.0 <= result.upper
    assert covered / n_trials >= COVERAGE_LOW


@pytest.mark.parametrize("n_bins", [5, 10, 17])
def test_seed_replicates_ece_has_the_given_bins(n_bins):
    y, prob_a, prob_b = _simulated(n=800, decimals=2)
    reps = metrics.seed_replicates(y, [prob_a, prob_b], ("ece",), n_resamples=4,
                                   rng=np.random.default_rng(2), n_bins=n_bins)["ece"]
    assert reps["per_seed"].tolist() == pytest.approx(
        [metrics.ece(y, p, n_bins=n_bins) for p in (prob_a, prob_b)], abs=EXACT)
    counts = next(iter_resample_counts(y, n_resamples=4, rng=np.random.default_rng(2)))
    rows = np.arange(y.size)
    for r, weights in enumerate(counts):
        drawn = np.repeat(rows, weights.astype(int))
        for k, prob in enumerate((prob_a, prob_b)):
            assert reps["replicates"][r, k] == pytest.approx(
                metrics.ece(y[drawn], prob[drawn], n_bins=n_bins), abs=EXACT)


def test_shared_resample_counts_equal_the_drawn_ones_and_leave_the_stream_where_drawing_does():
    from nsf.metrics._weighted import shared_resample_counts

    strata = np.repeat([0, 1, 1, 2], [40, 7, 0, 13])
    drawn_rng = np.random.default_rng(11)
    drawn = list(iter_resample_counts(strata, n_resamples=300, rng=drawn_rng))
    after = drawn_rng.random(3)
    for _ in range(2):  # drawn, then reused
        rng = np.random.default_rng(11)
        shared = shared_resample_counts(strata, n_resamples=300, rng=rng)
        assert len(shared) == len(drawn)
        assert all(s.dtype.kind == "u" and np.array_equal(s, d)
                   for s, d in zip(shared, drawn, strict=True))
        np.testing.assert_array_equal(rng.random(3), after)
    # Another stream or other strata draw again.
    other = shared_resample_counts(strata, n_resamples=300, rng=np.random.default_rng(12))
    assert not np.array_equal(other[0], drawn[0])


def test_cell_counts_of_integer_weights_equal_those_of_float_weights():
    from nsf.metrics._cells import ScoreCells

    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.2
    p = np.round(rng.random(500), 2)
    cells = ScoreCells(y, p, rng.integers(0, 3, 500))
    counts = rng.poisson(1.0, size=(20, 500))
    for a, b in zip(cells.counts(counts.astype(np.uint8)), cells.counts(counts.astype(float)),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    pos, neg = cells.counts(counts.astype(float))
    # Each cell holds its own rows' weights, split by outcome.
    for c in range(cells.n_cells):
        rows = cells.cell_of_row == c
        np.testing.assert_array_equal(pos[:, c], counts[:, rows & y].sum(axis=1))
        np.testing.assert_array_equal(neg[:, c], counts[:, rows & ~y].sum(axis=1))
