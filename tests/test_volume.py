"""The volume family: nested subsamples, bad sizes, the power law, and a known-answer curve."""

from pathlib import Path

import numpy as np
import pytest

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.errors import NsfError
from nsf.pipeline import nested_subjects, prepare
from nsf.study import run_study
from nsf.study._variants import fit_key, resolve_study
from nsf.study.families.volume import fit_power_law, power_law


def _with(cfg, **study):
    return cfg.model_copy(update={"study": cfg.study.model_copy(update=study)})


def test_subsamples_are_nested_per_seed_and_differ_between_seeds(smoke_prepared):
    prepared = smoke_prepared
    train = prepared.rows_for("train")
    users = prepared.rows["user_id"].to_numpy()
    small = nested_subjects(prepared, train, 50, seed=7)
    large = nested_subjects(prepared, train, 200, seed=7)
    assert np.unique(users[small]).size == 50
    assert np.unique(users[large]).size == 200
    assert set(small) <= set(large)
    # Every row of a chosen subject is kept (subjects, not rows, are sampled).
    chosen = np.isin(users[train], np.unique(users[small]))
    assert np.array_equal(np.sort(train[chosen]), small)
    other = nested_subjects(prepared, train, 50, seed=8)
    assert set(users[other]) != set(users[small])
    with pytest.raises(ValueError):
        nested_subjects(prepared, train, np.unique(users[train]).size + 1, seed=7)


def test_default_sizes_above_the_population_are_skipped_with_the_reason(smoke_cfg,
                                                                         smoke_prepared):
    cfg = _with(smoke_cfg, families=("volume", "drop_one"), volume_sizes=None)
    resolved = resolve_study(cfg, smoke_prepared)
    reasons = dict(resolved.skipped_families)
    assert "not below the training population" in reasons["volume"]
    assert not [v for v in resolved.variants if v.family == "volume"]


def test_configured_size_above_the_population_is_refused(smoke_cfg, smoke_prepared):
    n = np.unique(smoke_prepared.rows["user_id"].to_numpy()[
        smoke_prepared.rows_for("train")]).size
    cfg = _with(smoke_cfg, families=("volume",), volume_sizes=(100, n))
    with pytest.raises(NsfError, match=r"study.volume_sizes: \[\d+\] not below the training"):
        resolve_study(cfg, smoke_prepared)


def test_configured_size_with_one_class_is_refused(smoke_cfg, smoke_prepared):
    cfg = _with(smoke_cfg, families=("volume",), volume_sizes=(2,))
    with pytest.raises(NsfError, match="one class only"):
        resolve_study(cfg, smoke_prepared)


@pytest.mark.parametrize("value", ["[]", "[0]", "[1,100]"])
def test_bad_volume_sizes_in_the_config_name_the_field(value):
    with pytest.raises(Exception, match="volume_sizes"):
        load_config(None, [f"study.volume_sizes={value}"])


def test_volume_fits_have_their_own_keys_and_the_baseline_keeps_its(smoke_cfg, smoke_prepared):
    cfg = _with(smoke_cfg, families=("volume",), volume_sizes=(150, 250))
    resolved = resolve_study(cfg, smoke_prepared)
    keys = {fit_key(v, 1, cfg, "d", reliance=False)
            for v in [resolved.baseline, *resolved.variants]}
    assert len(keys) == 3
    assert [v.train_subjects for v in resolved.variants] == [150, 250]
    assert resolved.baseline.train_subjects is None


def test_power_law_recovers_its_parameters_and_marks_the_extrapolation():
    sizes = np.array([500, 1_000, 3_000, 10_000, 30_000])
    values = power_law(sizes, 0.8, 0.05, 0.6)
    law = fit_power_law(sizes, values, np.full(sizes.size, 0.002),
                        rng=np.random.default_rng(0))
    assert law["fitted"] and law["is_extrapolation"]
    assert law["a"] == pytest.approx(0.8, abs=1e-4)
    assert law["c"] == pytest.approx(0.6, abs=1e-3)
    assert law["extrapolated"] == pytest.approx(float(power_law(40_450_000, 0.8, 0.05, 0.6)),
                                                abs=1e-4)
    assert law["lower"] <= law["extrapolated"] <= law["upper"]
    # A loss metric (lower is better) is fitted to its negative.
    loss = fit_power_law(sizes, -values, rng=None, higher_is_better=False)
    assert loss["a"] == pytest.approx(-0.8, abs=1e-4)
    assert not fit_power_law(sizes[:3], values[:3])["fitted"]
    flat = fit_power_law(sizes, 0.9 - power_law(sizes, 0.0, 0.05, 0.6))
    assert not flat["fitted"] and "does not improve" in flat["reason"]


@pytest.fixture(scope="module")
def curve_world(tmp_path_factory):
    world = ["name=volume", "world.population.n_users=10000", "world.calendar.days=120",
             "world.calendar.warmup_days=60", "world.feed.windows=[7,30]",
             "world.truth.oracle_draws=4"]
    study = ["study.families=[volume]", "study.volume_sizes=[100,300,600]",
             "study.n_bootstrap=300", "study.fairness_n_bootstrap=100",
             "study.proxy_targets=[age_band]", "study.proxy_estimator=logistic_regression",
             "study.minimal_set.enabled=false", "study.fairness_attributes=[gender]",
             "study.intersections=[]", "study.shap_rows=200", "study.permutation_rows=300",
             "study.permutation_repeats=1"]
    cfg = load_config(None, [*world, *study])
    tmp: Path = tmp_path_factory.mktemp("volume")
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp,
                               chunk_users=cfg.simulate.chunk_users)
    return cfg, prepare(cfg, open_dataset(path))


def test_learning_curve_is_monotone_within_its_intervals(curve_world):
    cfg, prepared = curve_world
    result = run_study(cfg, prepared)
    curve = result.sections.volume.model_dump()
    points = curve["points"]
    assert [p["size"] for p in points][:-1] == [100, 300, 600]
    assert points[-1]["variant"] == "baseline" and points[-1]["size"] == curve["n_all"]
    # Known answer: more subjects never make the model worse beyond both intervals.
    for i, small in enumerate(points):
        for large in points[i + 1:]:
            assert large["upper"] >= small["lower"], (small, large)
    assert curve["monotone_within_intervals"] is True
    # The smallest training set is clearly worse than all of them (a real curve, not flat).
    assert points[0]["difference"]["verdict"] == "needed"
    assert points[0]["estimate"] < points[-1]["estimate"]
    # The smallest sufficient size is a size of the curve, non-inferior with every larger one.
    smallest = curve["smallest_sufficient"]
    assert smallest in [p["size"] for p in points]
    for p in points[:-1]:
        if p["size"] >= smallest:
            assert p["difference"]["verdict"] == "not shown needed"
    # The baseline's own fits are "all": no extra training for the last point.
    assert result.fits.unique == 4 * cfg.study.seeds
    # Each size's difference is the study's own comparison of that variant with the baseline.
    by_name = {v.name: v for v in result.variants}
    for p in points[:-1]:
        logged = by_name[p["variant"]].comparisons["baseline"].metrics["auc"]
        assert (p["difference"]["estimate"], p["difference"]["verdict"]) == \
            (logged.estimate, logged.verdict)
        assert by_name[p["variant"]].train_subjects == p["size"]
