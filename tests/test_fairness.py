"""Group metrics, disparities and their intervals, and proxy strength."""

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

from nsf import fairness
from nsf.fairness._group import _group_codes
from nsf.metrics import GroupRates, ece

#: Agreement between two exact computations of the same quantity.
EXACT = 1e-12
#: A feature that carries no information predicts age at chance level up to sampling noise: the
#: AUC's standard error is about 0.015 on 1,500 balanced rows, balanced accuracy's similar.
CHANCE_TOL = 0.06
#: A feature built from age must beat chance by at least this much.
PROXY_MIN_LIFT = 0.15

# Two groups of five, each with both outcomes. Threshold 50 flags scores >= 50.
Y = np.array([0, 0, 1, 1, 0, 0, 1, 0, 1, 1])
PROB = np.array([0.1, 0.6, 0.7, 0.4, 0.2, 0.3, 0.9, 0.8, 0.6, 0.2])
SCORE = np.round(100 * PROB).astype(int)
GROUP = pd.Series(["a"] * 5 + ["b"] * 5, name="gender")
THRESHOLD = 50


def test_group_metrics_hand_built():
    result = fairness.group_metrics(Y, PROB, SCORE, GROUP, threshold=THRESHOLD)
    by_group = result.by_group
    assert list(by_group.columns) == list(fairness.GROUP_COLUMNS)
    assert by_group["n"].tolist() == [5, 5]
    assert by_group["n_bad"].tolist() == [2, 3]
    # Group a: flagged rows are 0.6 (y=0) and 0.7 (y=1) -> selection 2/5, FPR 1/3, FNR 1/2.
    assert by_group.loc["a", "selection_rate"] == pytest.approx(2 / 5, abs=EXACT)
    assert by_group.loc["a", "false_positive_rate"] == pytest.approx(1 / 3, abs=EXACT)
    assert by_group.loc["a", "false_negative_rate"] == pytest.approx(1 / 2, abs=EXACT)
    # Group b: flagged 0.9 (y=1), 0.8 (y=0), 0.6 (y=1) -> selection 3/5, FPR 1/2, FNR 1/3.
    assert by_group.loc["b", "selection_rate"] == pytest.approx(3 / 5, abs=EXACT)
    assert by_group.loc["b", "false_positive_rate"] == pytest.approx(1 / 2, abs=EXACT)
    assert by_group.loc["b", "false_negative_rate"] == pytest.approx(1 / 3, abs=EXACT)
    assert by_group.loc["a", "mean_score"] == pytest.approx(SCORE[:5].mean(), abs=EXACT)
    assert result.disparities["demographic_parity_difference"] == pytest.approx(0.2, abs=EXACT)
    assert result.disparities["demographic_parity_ratio"] == pytest.approx(2 / 3, abs=EXACT)
    # TPR difference = FNR difference = 1/6; FPR difference = 1/6 as well.
    assert result.disparities["equalized_odds_difference"] == pytest.approx(1 / 6, abs=EXACT)
    assert result.overall["n"] == 10
    assert result.threshold == THRESHOLD


def test_group_metrics_equal_scikit_learn_and_fairlearn():
    result = fairness.group_metrics(Y, PROB, SCORE, GROUP, threshold=THRESHOLD)
    flagged = (SCORE >= THRESHOLD).astype(int)
    for name, rows in (("a", slice(0, 5)), ("b", slice(5, 10))):
        row = result.by_group.loc[name]
        assert row["auc"] == pytest.approx(skm.roc_auc_score(Y[rows], PROB[rows]), abs=EXACT)
        assert row["ece"] == pytest.approx(ece(Y[rows], PROB[rows]), abs=EXACT)
        assert row["selection_rate"] == pytest.approx(
            flm.selection_rate(Y[rows], flagged[rows]), abs=EXACT
        )
        assert row["false_positive_rate"] == pytest.approx(
            flm.false_positive_rate(Y[rows], flagged[rows]), abs=EXACT
        )
        assert row["false_negative_rate"] == pytest.approx(
            flm.false_negative_rate(Y[rows], flagged[rows]), abs=EXACT
        )
    expected = {
        "demographic_parity_difference": flm.demographic_parity_difference(
            Y, flagged, sensitive_features=GROUP
        ),
        "demographic_parity_ratio": flm.demographic_parity_ratio(
            Y, flagged, sensitive_features=GROUP
        ),
        "equalized_odds_difference": flm.equalized_odds_difference(
            Y, flagged, sensitive_features=GROUP
        ),
        "false_positive_rate_difference": flm.false_positive_rate_difference(
            Y, flagged, sensitive_features=GROUP
        ),
    }
    for name, value in expected.items():
        assert result.disparities[name] == pytest.approx(value, abs=EXACT), name
    auc_by_group = result.by_group["auc"]
    assert result.disparities["auc_difference"] == pytest.approx(
        auc_by_group.max() - auc_by_group.min(), abs=EXACT
    )


def test_identical_groups_have_zero_disparity():
    y = np.r_[Y, Y]
    prob = np.r_[PROB, PROB]
    score = np.r_[SCORE, SCORE]
    group = pd.Series(["x"] * Y.size + ["y"] * Y.size, name="nationality")
    result = fairness.group_metrics(y, prob, score, group, threshold=THRESHOLD)
    for name, value in result.disparities.items():
        assert value == (1.0 if name == "demographic_parity_ratio" else 0.0), name


def test_intersections_of_several_sensitive_columns():
    rng = np.random.default_rng(3)
    n = 400
    sensitive = pd.DataFrame(
        {"age_band": rng.choice(["<30", "30+"], n), "gender": rng.choice(["F", "M"], n)}
    )
    prob = rng.uniform(size=n)
    y = rng.binomial(1, prob)
    result = fairness.group_metrics(y, prob, np.round(100 * prob), sensitive, threshold=THRESHOLD)
    assert result.by_group.index.names == ["age_band", "gender"]
    assert len(result.by_group) == 4
    assert result.by_group["n"].sum() == n
    counts = sensitive.value_counts()
    for (age_band, gender), n_group in counts.items():
        assert result.by_group.loc[(age_band, gender), "n"] == n_group


def test_an_unobserved_combination_of_sensitive_columns_is_no_group():
    """The groups of several columns are their observed combinations: one never seen is not a
    group (it used to fail casting its missing count to an integer)."""
    rng = np.random.default_rng(4)
    n = 300
    sensitive = pd.DataFrame({"region": rng.choice(["north", "south"], n),
                              "gender": rng.choice(["F", "M"], n)})
    sensitive.loc[sensitive["region"] == "south", "gender"] = "F"  # no (south, M)
    prob = rng.uniform(size=n)
    y = rng.binomial(1, prob)
    result = fairness.group_metrics(y, prob, np.round(100 * prob), sensitive, threshold=THRESHOLD)
    assert sorted(result.by_group.index) == [("north", "F"), ("north", "M"), ("south", "F")]
    assert result.by_group["n"].sum() == n
    alone = fairness.group_metrics(y, prob, np.round(100 * prob),
                                   sensitive["region"] + "|" + sensitive["gender"],
                                   threshold=THRESHOLD)
    np.testing.assert_array_equal(result.by_group.to_numpy(), alone.by_group.to_numpy())
    assert result.disparities == alone.disparities


def test_single_class_group_has_undefined_auc_and_rates():
    y = np.array([0, 1, 0, 1, 1, 1])
    prob = np.array([0.2, 0.7, 0.4, 0.9, 0.6, 0.8])
    group = pd.Series(["mixed"] * 4 + ["all_nsf"] * 2, name="region")
    result = fairness.group_metrics(y, prob, np.round(100 * prob), group, threshold=THRESHOLD)
    assert np.isnan(result.by_group.loc["all_nsf", "auc"])
    assert np.isnan(result.by_group.loc["all_nsf", "false_positive_rate"])
    assert result.by_group.loc["all_nsf", "false_negative_rate"] == 0.0
    # Undefined groups are ignored: a single defined group leaves a zero AUC spread.
    assert result.disparities["auc_difference"] == 0.0
    assert result.disparities["false_positive_rate_difference"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 101}, r"threshold must be an integer score in \[0, 100\]"),
        ({"threshold": 50.5}, "threshold must be an integer"),
        ({"sensitive": pd.Series(["a", None] * 5)}, "have missing values"),
        ({"sensitive": pd.Series(["a"] * 3)}, "sensitive has 3 rows but y_true has 10"),
        ({"sensitive": ["a"] * 10}, "must be a pandas Series or DataFrame"),
        ({"score": SCORE + 60}, r"score must be finite and lie in \[0, 100\]"),
        ({"n_bins": 0}, "n_bins must be an integer >= 1"),
    ],
)
def test_group_metrics_rejections(kwargs, message):
    arguments = {
        "y_true": Y,
        "y_prob": PROB,
        "score": SCORE,
        "sensitive": GROUP,
        "threshold": THRESHOLD,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        fairness.group_metrics(**arguments)


# --- Bootstrap of disparities -----------------------------------------------------------------


@pytest.fixture
def audited_rows():
    rng = np.random.default_rng(21)
    n = 600
    sensitive = pd.DataFrame(
        {"age_band": rng.choice(["<30", "30-49", "50+"], n), "os": rng.choice(["ios", "other"], n)}
    )
    # Younger users get slightly higher true risk, so the disparities are not all zero.
    p_true = np.clip(rng.beta(1.5, 6, n) + 0.05 * (sensitive["age_band"] == "<30").to_numpy(), 0, 1)
    y = rng.binomial(1, p_true)
    prob = np.clip(p_true + rng.normal(0, 0.05, n), 0, 1)
    return y, prob, np.round(100 * prob), sensitive


def test_weighted_disparities_equal_group_metrics_on_the_same_resample(audited_rows):
    y, prob, score, sensitive = audited_rows
    codes = _group_codes(sensitive)
    rates = GroupRates(y, prob, codes, score=score, threshold=20, n_bins=10)
    eligible = fairness.support_mask(rates.n, rates.n_bad, 1)
    rng = np.random.default_rng(4)
    for _ in range(3):
        drawn = np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(codes * 2 + y == cell), size=np.sum(codes * 2 + y == cell)
                )
                for cell in np.unique(codes * 2 + y)
            ]
        )
        weights = np.bincount(drawn, minlength=y.size).astype(np.float64)
        fast = fairness.replicate_disparities(rates.per_group(weights[None, :]), eligible)[0]
        reference = fairness.group_metrics(
            y[drawn], prob[drawn], score[drawn], sensitive.iloc[drawn], threshold=20
        )
        expected = [reference.disparities[name] for name in fairness.DISPARITIES]
        np.testing.assert_allclose(fast, expected, atol=1e-10)


def test_disparity_intervals(audited_rows):
    y, prob, score, sensitive = audited_rows
    table = fairness.disparity_intervals(
        y, prob, score, sensitive, threshold=20, n_resamples=200, rng=np.random.default_rng(5)
    )
    assert list(table.index) == list(fairness.DISPARITIES)
    point = fairness.group_metrics(y, prob, score, sensitive, threshold=20).disparities
    assert table["estimate"].to_dict() == point
    assert (table["lower"] <= table["upper"]).all()
    assert (table["standard_error"] > 0).all()
    assert (table["n_undefined"] == 0).all()
    again = fairness.disparity_intervals(
        y, prob, score, sensitive, threshold=20, n_resamples=200, rng=np.random.default_rng(5)
    )
    pd.testing.assert_frame_equal(table, again)


def test_disparity_change():
    baseline = {"demographic_parity_difference": 0.10, "auc_difference": 0.04}
    variant = {"demographic_parity_difference": 0.07, "auc_difference": 0.05}
    change = fairness.disparity_change(baseline, variant)
    assert change["demographic_parity_difference"] == pytest.approx(-0.03, abs=EXACT)
    assert change["auc_difference"] == pytest.approx(0.01, abs=EXACT)
    with pytest.raises(ValueError, match="only in baseline: \\['auc_difference'\\]"):
        fairness.disparity_change(baseline, {"demographic_parity_difference": 0.1})


# --- Proxy strength ---------------------------------------------------------------------------


def _proxy_strength(*args, **kwargs):
    # One thread: on a busy CI machine, OpenMP oversubscription makes gradient boosting on
    # these small frames 10-20x slower.
    return fairness.proxy_strength(*args, n_threads=1, **kwargs)


@pytest.fixture
def population():
    rng = np.random.default_rng(31)
    n = 1_500
    age = rng.integers(18, 75, size=n)
    age_band = pd.Series(
        pd.cut(age, [0, 29, 49, 120], labels=["<30", "30-49", "50+"]).astype(str),
        name="age_band",
    )
    young = pd.Series(np.where(age < 30, "<30", "30+"), name="young")
    # The join date and email domain depend on age; the carrier code does not.
    domains = np.where(
        rng.uniform(size=n) < 0.7,
        np.where(age < 30, "gmail.com", np.where(age < 50, "naver.com", "daum.net")),
        rng.choice(["gmail.com", "naver.com", "daum.net"], n),
    )
    related = pd.DataFrame(
        {"join_year": 2014 + (75 - age) / 10 + rng.normal(0, 1.5, n), "email_domain": domains}
    )
    independent = pd.DataFrame(
        {"carrier_code": rng.integers(0, 3, n).astype(float), "noise": rng.normal(size=n)}
    )
    return related, independent, age_band, young


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "logistic_regression"])
def test_feature_from_age_is_a_proxy_for_age(population, estimator):
    related, _, age_band, young = population
    binary = _proxy_strength(related, young, rng=np.random.default_rng(1), estimator=estimator)
    assert binary.metric == "auc"
    assert binary.chance == 0.5
    assert binary.lift > PROXY_MIN_LIFT
    multi = _proxy_strength(related, age_band, rng=np.random.default_rng(1), estimator=estimator)
    assert multi.metric == "balanced_accuracy"
    assert multi.chance == pytest.approx(1 / 3)
    assert multi.n_classes == 3
    assert multi.lift > PROXY_MIN_LIFT
    assert multi.auc - multi.auc_chance > PROXY_MIN_LIFT


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "logistic_regression"])
def test_independent_feature_is_no_proxy(population, estimator):
    _, independent, age_band, young = population
    binary = _proxy_strength(independent, young, rng=np.random.default_rng(2), estimator=estimator)
    assert abs(binary.lift) < CHANCE_TOL
    multi = _proxy_strength(
        independent, age_band, rng=np.random.default_rng(2), estimator=estimator
    )
    assert abs(multi.lift) < CHANCE_TOL
    assert abs(multi.auc - 0.5) < CHANCE_TOL


def test_categorical_feature_alone_is_handled(population):
    related, _, age_band, _ = population
    result = _proxy_strength(
        related[["email_domain"]].astype("category"), age_band, rng=np.random.default_rng(3)
    )
    assert result.lift > PROXY_MIN_LIFT
    assert set(result.to_dict()) >= {"metric", "score", "chance", "lift", "auc"}


def test_proxy_strength_is_reproducible(population):
    related, _, _, young = population
    first = _proxy_strength(related, young, rng=np.random.default_rng(9))
    second = _proxy_strength(related, young, rng=np.random.default_rng(9))
    assert first == second


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cv": 1}, "cv must be an integer >= 2"),
        ({"estimator": "svm"}, "estimator must be one of"),
        ({"sensitive": pd.Series(["a"] * 6)}, "holds one class only"),
        ({"sensitive": pd.Series(["a"] * 5 + ["b"])}, "needs at least cv=3 rows; class 'b' has 1"),
        ({"sensitive": pd.Series(["a", None] * 3)}, "missing values"),
        ({"sensitive": pd.Series(["a", "b"] * 2)}, "sensitive has 4 rows but X_group has 6"),
        ({"X_group": pd.DataFrame(index=range(6))}, "at least one column"),
        ({"rng": 0}, "rng must be a numpy.random.Generator"),
        ({"n_threads": 0}, "n_threads must be None or an integer >= 1"),
    ],
)
def test_proxy_strength_rejections(kwargs, message):
    arguments = {
        "X_group": pd.DataFrame({"x": np.arange(6.0)}),
        "sensitive": pd.Series(["a", "b"] * 3),
        "rng": np.random.default_rng(0),
    } | kwargs
    with pytest.raises(ValueError, match=message):
        fairness.proxy_strength(**arguments)


# --- Small groups and the bias of max - min --------------------------------------------------


def _with_small_group():
    """Groups a and b (400 rows each, both outcomes) and c: 12 rows, 2 NSF rows, both missed."""
    rng = np.random.default_rng(7)
    y_ab = rng.binomial(1, 0.2, 800)
    prob_ab = np.clip(0.2 + 0.4 * y_ab + rng.normal(0, 0.15, 800), 0, 1)
    y = np.r_[y_ab, [1, 1] + [0] * 10]
    prob = np.r_[prob_ab, [0.05] * 12]
    group = pd.Series(["a"] * 400 + ["b"] * 400 + ["c"] * 12, name="age_band")
    return y, prob, np.round(100 * prob), group


def test_small_group_is_shown_but_left_out_of_disparities():
    y, prob, score, group = _with_small_group()
    everyone = fairness.group_metrics(y, prob, score, group, threshold=THRESHOLD)
    supported = fairness.group_metrics(y, prob, score, group, threshold=THRESHOLD, min_support=30)
    ab = fairness.group_metrics(y[:800], prob[:800], score[:800], group[:800],
                                threshold=THRESHOLD)
    # Group c misses both of its NSF rows: alone it sets the false-negative spread...
    assert everyone.by_group.loc["c", "false_negative_rate"] == 1.0
    assert everyone.disparities["false_negative_rate_difference"] == pytest.approx(
        1.0 - everyone.by_group.loc[["a", "b"], "false_negative_rate"].min(), abs=EXACT)
    # ...and with a support of 30 every disparity is that of a and b alone, while c's values
    # are still reported.
    for name in fairness.DISPARITIES:
        assert supported.disparities[name] == pytest.approx(ab.disparities[name], abs=EXACT), name
    pd.testing.assert_frame_equal(supported.by_group, everyone.by_group)


def test_support_mask_uses_each_metric_denominator():
    mask = fairness.support_mask([100, 100, 10], [5, 50, 5], 30)
    assert mask["false_negative_rate"].tolist() == [False, True, False]
    assert mask["false_positive_rate"].tolist() == [True, True, False]
    assert mask["auc"].tolist() == [False, True, False]
    assert mask["selection_rate"].tolist() == [True, True, False]


def test_fast_disparities_respect_the_support(audited_rows):
    y, prob, score, sensitive = audited_rows
    codes = _group_codes(sensitive)
    rates = GroupRates(y, prob, codes, score=score, threshold=20, n_bins=10)
    eligible = fairness.support_mask(rates.n, rates.n_bad, 60)
    fast = fairness.replicate_disparities(rates.per_group(np.ones((1, y.size))), eligible)[0]
    reference = fairness.group_metrics(y, prob, score, sensitive, threshold=20, min_support=60)
    np.testing.assert_allclose(fast, [reference.disparities[n] for n in fairness.DISPARITIES],
                               atol=1e-10)


def test_basic_interval_reflects_biased_replicates():
    # Replicates centred 0.01 above the estimate: the interval moves below it.
    assert fairness.basic_interval(0.05, 0.04, 0.08, "auc_difference") == pytest.approx(
        (0.02, 0.06), abs=EXACT)
    assert fairness.bias_corrected(0.05, 0.06, "auc_difference") == pytest.approx(0.04)
    # Clipped to the disparity's range.
    assert fairness.basic_interval(0.01, 0.015, 0.05, "auc_difference")[0] == 0.0
    assert fairness.basic_interval(0.95, 0.85, 0.9, "demographic_parity_ratio")[1] == 1.0


def test_equal_groups_have_intervals_near_zero_and_estimates_inside():
    # Two groups drawn from one distribution: the raw max - min is pure noise, the
    # bias-corrected value is smaller, and the interval reaches zero.
    rng = np.random.default_rng(11)
    n = 4000
    y = rng.binomial(1, 0.15, n)
    prob = np.clip(0.15 + 0.3 * y + rng.normal(0, 0.1, n), 0, 1)
    group = pd.Series(rng.choice(["a", "b"], n), name="gender")
    table = fairness.disparity_intervals(y, prob, np.round(100 * prob), group, threshold=30,
                                         n_resamples=400, rng=np.random.default_rng(3))
    for name in ("auc_difference", "demographic_parity_difference",
                 "false_positive_rate_difference"):
        row = table.loc[name]
        assert row["bias_corrected"] <= row["estimate"], name
        assert row["lower"] == 0.0, name


def test_proxy_strength_interval_brackets_the_score_and_separates_proxies(population):
    related, independent, age_band, young = population
    for sensitive in (young, age_band):
        proxy = _proxy_strength(related, sensitive, rng=np.random.default_rng(4))
        noise = _proxy_strength(independent, sensitive, rng=np.random.default_rng(4))
        for r in (proxy, noise):
            assert r.score_lower <= r.score <= r.score_upper
        # The age proxy's interval clears chance; the independent feature's covers it (the
        # interval is about the rows, so chance may sit just outside it: a named tolerance).
        assert proxy.score_lower > proxy.chance
        assert noise.score_lower - CHANCE_TOL < noise.chance < noise.score_upper + CHANCE_TOL
        # Point values do not depend on the resampling.
        plain = _proxy_strength(related, sensitive, rng=np.random.default_rng(4), n_resamples=0)
        assert plain.score == proxy.score and np.isnan(plain.score_lower)
