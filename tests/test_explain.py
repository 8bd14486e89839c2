"""Group reliance: SHAP of every family summed by group, grouped permutation importance."""

import warnings

import numpy as np
import pytest

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.explain import group_reliance, group_shap, grouped_permutation_importance, shap_values
from nsf.explain._shap import hist_gb_input, logistic_input_map
from nsf.pipeline import FeatureSelection, fit_variant, prepare

#: TreeSHAP contributions add up to the raw log-odds up to float32/float64 rounding.
ADDITIVITY_TOL = 1e-6
#: The linear explainer's values against coefficient x (value - background mean).
LINEAR_TOL = 1e-9
#: Largest reliance share of the pure-noise e-mail group, with about 5,700 training rows
#: (balance takes about 0.4). A model fitted on few rows leans on noise too: with about 1,200
#: training rows the share of e-mail was 0.04 (LightGBM) to 0.08 (HistGradientBoosting,
#: logistic); it falls as the training rows grow.
NOISE_SHARE_TOL = 0.03
FAMILIES = ("lightgbm", "hist_gb", "logistic")


@pytest.fixture(scope="module")
def fitted_world(tmp_path_factory):
    cfg = load_config(None, ["name=explain", "world.population.n_users=2000",
                             "world.calendar.days=120", "world.calendar.warmup_days=60",
                             "world.feed.windows=[7,30]", "world.truth.oracle_draws=4"])
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                               data_dir=tmp_path_factory.mktemp("explain"),
                               chunk_users=cfg.simulate.chunk_users)
    prepared = prepare(cfg, open_dataset(path))
    fitted = fit_variant(prepared, FeatureSelection(), cfg.model, cfg.seed)
    test = prepared.frame.iloc[prepared.test_index]
    y = prepared.rows["nsf_appstore"].to_numpy()[prepared.test_index]
    return cfg, prepared, fitted, test, y


def test_group_shap_is_additive_and_shares_sum_to_one(fitted_world):
    _, _, fitted, test, _ = fitted_world
    table = group_shap(fitted, test)
    assert table.attrs["max_additivity_error"] < ADDITIVITY_TOL
    assert table["share"].sum() == pytest.approx(1.0)
    assert (table["mean_abs"] >= 0).all()
    assert set(table.index) == {s.group for s in fitted.features}
    assert table["n_features"].sum() == len(fitted.feature_names)


@pytest.fixture(scope="module")
def families(fitted_world):
    cfg, prepared, fitted, _, _ = fitted_world
    out = {"lightgbm": fitted}
    for kind in ("hist_gb", "logistic"):
        out[kind] = fit_variant(prepared, FeatureSelection(),
                                cfg.model.model_copy(update={"kind": kind}), cfg.seed)
    return out


@pytest.mark.parametrize("kind", FAMILIES)
def test_every_family_is_explained_additively_in_its_margin(families, fitted_world, kind):
    test = fitted_world[3]
    fitted = families[kind]
    attribution = shap_values(fitted, test)
    X = fitted.encoder.transform(test)
    if kind == "lightgbm":
        margin = fitted.estimator_.booster_.predict(X, raw_score=True)
    else:
        margin = fitted.estimator_.decision_function(X.astype(np.float64))
    np.testing.assert_allclose(attribution.margin, margin, rtol=0, atol=1e-12)
    gap = attribution.base_value + attribution.values.sum(axis=1) - margin
    assert np.abs(gap).max() < ADDITIVITY_TOL
    # The group values are sums of the feature values.
    np.testing.assert_allclose(attribution.values.sum(axis=1),
                               attribution.feature_values.sum(axis=1), atol=1e-12)
    table = group_shap(fitted, test)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.attrs["max_additivity_error"] < ADDITIVITY_TOL


@pytest.fixture(scope="module")
def noise_world(tmp_path_factory):
    """A world where e-mail is pure noise, large enough that a model cannot fit the noise."""
    cfg = load_config(None, ["name=noise", "world.population.n_users=50000",
                             "world.calendar.days=120", "world.calendar.warmup_days=60",
                             "world.feed.windows=[7,30]", "world.truth.oracle_draws=1",
                             "world.dependence.email_domain=0"])
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                               data_dir=tmp_path_factory.mktemp("noise"),
                               chunk_users=cfg.simulate.chunk_users)
    prepared = prepare(cfg, open_dataset(path))
    test = prepared.frame.iloc[prepared.test_index[:800]]
    return cfg, prepared, test


@pytest.mark.parametrize("kind", FAMILIES)
def test_a_pure_noise_group_gets_a_reliance_share_near_zero(noise_world, kind):
    cfg, prepared, test = noise_world
    fitted = fit_variant(prepared, FeatureSelection(), cfg.model.model_copy(update={"kind": kind}),
                         cfg.seed)
    table = group_shap(fitted, test)
    assert table.loc["email", "share"] < NOISE_SHARE_TOL, table["share"].round(3).to_dict()
    assert table.loc["balance", "share"] > 5 * NOISE_SHARE_TOL  # the mechanical driver


def test_lightgbm_pred_contrib_equals_the_shap_package(families, fitted_world):
    import shap

    fitted = families["lightgbm"]
    X = fitted.encoder.transform(fitted_world[3])
    explainer = shap.TreeExplainer(fitted.estimator_.booster_,
                                   feature_perturbation="tree_path_dependent")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightGBM binary classifier with "
                                "TreeExplainer shap values output has changed",
                                category=UserWarning)
        expected = np.asarray(explainer.shap_values(X))
    got = shap_values(fitted, X=X)
    np.testing.assert_allclose(got.feature_values, expected, rtol=0, atol=1e-12)
    assert got.base_value == pytest.approx(float(np.ravel(explainer.expected_value)[0]),
                                           abs=1e-12)


def test_hist_gb_equals_the_shap_package_where_it_reads_the_model(fitted_world):
    """Without categorical splits the shap package converts the model itself: same values."""
    import shap

    cfg, prepared, fitted, test, _ = fitted_world
    categorical = sorted({s.group for s in fitted.features if s.kind == "categorical"})
    numeric_only = fit_variant(prepared, FeatureSelection(drop_groups=tuple(categorical)),
                               cfg.model.model_copy(update={"kind": "hist_gb"}), cfg.seed)
    assert not numeric_only.encoder.categorical_mask.any()
    X = numeric_only.encoder.transform(test).astype(np.float64)
    expected = shap.TreeExplainer(numeric_only.estimator_).shap_values(X)
    got = shap_values(numeric_only, X=X)
    np.testing.assert_allclose(got.feature_values, np.asarray(expected), rtol=0, atol=1e-9)


def test_hist_gb_categorical_columns_map_back_to_their_features(families, fitted_world):
    estimator = families["hist_gb"].estimator_
    X = families["hist_gb"].encoder.transform(fitted_world[3])
    seen, source = hist_gb_input(estimator, X)
    assert sorted(source.tolist()) == list(range(X.shape[1]))
    np.testing.assert_array_equal(np.isnan(seen[:, ~estimator._is_categorical_remapped]),
                                  np.isnan(X[:, source[~estimator._is_categorical_remapped]]))


def test_logistic_shap_is_coefficient_times_distance_from_the_background_mean(families,
                                                                                  fitted_world):
    fitted = families["logistic"]
    X = fitted.encoder.transform(fitted_world[3]).astype(np.float64)
    pipeline = fitted.estimator_
    Z = pipeline.named_steps["columns"].transform(X)
    coef = pipeline.named_steps["logistic"].coef_[0]
    source = logistic_input_map(pipeline)
    numeric = ~fitted.encoder.categorical_mask[source]
    # The background is the training rows: their standardised inputs have mean 0.
    np.testing.assert_allclose(fitted.background_[numeric], 0.0, atol=LINEAR_TOL)
    got = shap_values(fitted, X=X).feature_values
    for k in np.flatnonzero(numeric):  # one standardised input per numeric feature
        np.testing.assert_allclose(got[:, source[k]],
                                   coef[k] * (Z[:, k] - fitted.background_[k]),
                                   rtol=0, atol=LINEAR_TOL)
    expected = np.zeros_like(got)
    np.add.at(expected.T, source, (coef * (Z - fitted.background_)).T)
    np.testing.assert_allclose(got, expected, rtol=0, atol=LINEAR_TOL)


def test_permuting_a_group_the_model_ignores_changes_nothing(fitted_world):
    _, _, fitted, test, y = fitted_world
    table = grouped_permutation_importance(fitted, test, y, n_repeats=2,
                                           rng=np.random.default_rng(0))
    shap = group_shap(fitted, test)
    unused = shap.index[shap["mean_abs"] == 0]
    for group in unused:  # no split on the group: predictions unchanged by construction
        assert table.loc[group, "auc_drop"] == 0.0
    assert table.loc["balance", "auc_drop"] > 0  # balance drives NSF mechanically


def test_group_reliance_samples_and_validates(fitted_world):
    _, _, fitted, test, y = fitted_world
    out = group_reliance(fitted, test, y, shap_rows=50, permutation_rows=100, n_repeats=1,
                         rng=np.random.default_rng(1))
    assert out["shap_rows"] == 50 and out["permutation_rows"] == 100
    assert set(out["groups"]) == {s.group for s in fitted.features}
    with pytest.raises(ValueError, match="n_repeats"):
        grouped_permutation_importance(fitted, test, y, n_repeats=0,
                                       rng=np.random.default_rng(0))


def test_permutation_sample_keeps_both_classes_at_a_rare_rate():
    """A permutation sample of a frame with few NSF rows still holds NSF rows (drawn within
    each class, in proportion), has exactly the requested size, and draws from the seed."""
    from nsf.explain._reliance import _stratified_sample

    y = np.zeros(200_000, dtype=int)
    y[:300] = 1  # 0.15%: a plain sample of 100 rows holds no NSF row 86% of the time
    for seed in range(20):
        idx = _stratified_sample(y, 100, np.random.default_rng(seed))
        assert idx.size == 100 and np.unique(idx).size == 100
        assert 1 <= y[idx].sum() <= 2
    again = _stratified_sample(y, 100, np.random.default_rng(3))
    assert np.array_equal(again, _stratified_sample(y, 100, np.random.default_rng(3)))
    assert np.array_equal(_stratified_sample(y[:50], 100, np.random.default_rng(0)),
                          np.arange(50))
