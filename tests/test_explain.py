"""Group reliance: TreeSHAP summed by group, grouped permutation importance."""

import numpy as np
import pytest

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.explain import group_reliance, group_shap, grouped_permutation_importance
from nsf.pipeline import FeatureSelection, fit_variant, prepare

#: TreeSHAP contributions add up to the raw log-odds up to float32/float64 rounding.
ADDITIVITY_TOL = 1e-6


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


def test_group_shap_is_none_for_non_tree_models(fitted_world):
    cfg, prepared, _, test, _ = fitted_world
    logistic = fit_variant(prepared, FeatureSelection(drop_groups=("email",)),
                           cfg.model.model_copy(update={"kind": "logistic"}), cfg.seed)
    assert group_shap(logistic, test) is None


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
