"""Explanation stability across fits, and the per-person withheld-group view."""

from __future__ import annotations

import numpy as np
import pytest

from nsf.config import ModelConfig
from nsf.explain import group_shap, reliance_stability, shap_values, withheld_group_effect
from nsf.features import FeatureSelection
from nsf.pipeline import fit_variant

GROUPS = ("a", "b", "c", "d", "e")


def _values(scale, n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, len(scale))) * np.asarray(scale, dtype=float)


def test_identical_rankings_correlate_one_and_reversed_ones_minus_one():
    same = _values([5, 4, 3, 2, 1])
    reversed_ = _values([1, 2, 3, 4, 5], seed=1)
    for method in ("spearman", "kendall"):
        table = reliance_stability({"x": same, "y": same * 2.0, "z": reversed_}, GROUPS,
                                   method=method, n_bootstrap=200,
                                   rng=np.random.default_rng(1), threshold=0.5)
        xy = table[(table.a == "x") & (table.b == "y")].iloc[0]
        assert xy.correlation == pytest.approx(1.0)
        assert xy.lower == pytest.approx(1.0) and xy.upper == pytest.approx(1.0)
        assert xy.stable
        xz = table[(table.a == "x") & (table.b == "z")].iloc[0]
        assert xz.correlation == pytest.approx(-1.0)
        assert not xz.stable
    assert table.attrs["reliance"]["y"]["a"] == pytest.approx(
        2 * table.attrs["reliance"]["x"]["a"])


def test_close_reliance_gives_a_wide_interval_and_is_reproducible():
    flat = _values([1.0, 1.0, 1.0, 1.0, 1.02], n=200, seed=2)
    other = _values([1.0, 1.0, 1.0, 1.0, 1.02], n=200, seed=3)
    args = ({"x": flat, "y": other}, GROUPS)
    one = reliance_stability(*args, n_bootstrap=300, rng=np.random.default_rng(5))
    two = reliance_stability(*args, n_bootstrap=300, rng=np.random.default_rng(5))
    assert one.equals(two)
    row = one.iloc[0]
    assert row.upper - row.lower > 0.5  # rankings of nearly equal groups are noise
    assert row.stable is None  # no threshold given


def test_reliance_stability_rejects_bad_input():
    v = _values([1, 2, 3, 4, 5])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="method"):
        reliance_stability({"x": v, "y": v}, GROUPS, method="pearson", rng=rng)
    with pytest.raises(ValueError, match="at least two fits"):
        reliance_stability({"x": v}, GROUPS, rng=rng)
    with pytest.raises(ValueError, match="same rows"):
        reliance_stability({"x": v, "y": v[:10]}, GROUPS, rng=rng)
    with pytest.raises(ValueError, match="n_bootstrap"):
        reliance_stability({"x": v, "y": v}, GROUPS, n_bootstrap=-1, rng=rng)


def test_seeds_and_families_on_the_smoke_world(smoke_prepared):
    test = smoke_prepared.frame.iloc[smoke_prepared.test_index[:400]]
    fits = {f"{kind} seed {seed}": fit_variant(smoke_prepared, FeatureSelection(),
                                               ModelConfig(kind=kind), seed=seed)
            for kind in ("lightgbm", "logistic") for seed in (1, 2)}
    values = {k: shap_values(f, test) for k, f in fits.items()}
    groups = next(iter(values.values())).groups
    table = reliance_stability({k: v.values for k, v in values.items()}, groups,
                               n_bootstrap=100, rng=np.random.default_rng(0))
    assert len(table) == 6
    seeds = table[(table.a == "lightgbm seed 1") & (table.b == "lightgbm seed 2")].iloc[0]
    assert seeds.lower <= seeds.correlation <= seeds.upper
    assert seeds.correlation > 0.5  # two seeds of one family mostly agree on the smoke world
    # The reliance it ranks is group_shap's.
    shares = group_shap(fits["lightgbm seed 1"], test)["mean_abs"]
    for g, r in table.attrs["reliance"]["lightgbm seed 1"].items():
        assert r == pytest.approx(shares[g])


def test_withholding_a_group_the_model_never_uses_changes_nobody(smoke_prepared):
    fitted = fit_variant(smoke_prepared, FeatureSelection(), ModelConfig(), seed=3)
    test = smoke_prepared.frame.iloc[smoke_prepared.test_index]
    shares = group_shap(fitted, test)["mean_abs"]
    unused = [g for g in shares.index if shares[g] == 0.0]
    assert unused and "balance" not in unused
    table = withheld_group_effect(fitted, test, [*unused, "balance"], threshold=20)
    for g in unused:  # no split on it: every row takes the same path, missing or not
        assert table.loc[g, "score_unchanged"] == 1.0
        assert table.loc[g, "decision_unchanged"] == 1.0 == table.loc[g, "band_unchanged"]
    bal = table.loc["balance"]
    assert bal.score_unchanged < 1.0 and bal.mean_abs_change > 0
    assert bal.both_unchanged <= min(bal.decision_unchanged, bal.band_unchanged)
    assert table["n_rows"].eq(len(test)).all()
    with pytest.raises(ValueError, match="not among the model's"):
        withheld_group_effect(fitted, test, ["no_such_group"], threshold=20)
