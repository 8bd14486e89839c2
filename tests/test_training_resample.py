"""Training variance in the study's intervals: each seed re-draws the training subjects."""

import numpy as np
import pytest

from nsf.config import ConfigError, load_config
from nsf.metrics import seed_average
from nsf.pipeline import TrainingResample
from nsf.study import run_study, stream
from nsf.study._fit import FitTask, run_fit
from nsf.study._stats import compare_replicates
from nsf.study._variants import resolve_variants, training_resample

#: Sampling error of a share or mean from 20,000 independent subjects (about 4 standard errors).
SHARE_TOL = 0.03
#: Relative error of a variance estimated from 40,000 bootstrap replicates.
VARIANCE_RTOL = 0.05


def _subjects(n_subjects=20_000, rows_each=3):
    return np.repeat(np.arange(n_subjects) * 7 + 11, rows_each)


@pytest.mark.parametrize("kind", ["bootstrap", "subsample"])
def test_each_seed_draws_its_own_subjects_and_every_row_of_a_subject_alike(kind):
    subjects = _subjects()
    draw = TrainingResample(kind, 0.3)
    w = draw.row_weights(subjects, seed=5)
    np.testing.assert_array_equal(w, draw.row_weights(subjects, seed=5))  # determinism
    assert not np.array_equal(w, draw.row_weights(subjects, seed=6))
    per_subject = w.reshape(-1, 3)
    assert (per_subject == per_subject[:, :1]).all()  # a subject's rows go together
    first = per_subject[:, 0]
    if kind == "bootstrap":
        assert first.mean() == pytest.approx(1.0, abs=SHARE_TOL)  # Poisson(1) copies
        assert (first == 0).mean() == pytest.approx(np.exp(-1), abs=SHARE_TOL)
    else:
        assert set(np.unique(first)) == {0, 1}
        assert first.mean() == pytest.approx(0.3, abs=SHARE_TOL)
    # The rows' order does not change a subject's draw: the same draw for every variant.
    order = np.random.default_rng(0).permutation(subjects.size)
    np.testing.assert_array_equal(draw.row_weights(subjects[order], seed=5), w[order])


def test_bad_resample_settings_name_the_field():
    with pytest.raises(ConfigError, match=r"study\.training_resample"):
        load_config(None, ["study.training_resample=jackknife"])
    with pytest.raises(ConfigError, match=r"study\.training_fraction"):
        load_config(None, ["study.training_fraction=1.0"])
    with pytest.raises(ValueError, match="fraction"):
        TrainingResample("subsample", 0.0)


@pytest.mark.parametrize(("target", "factor"), [("mean", 1.0 / 5), ("single", 1.0)])
def test_the_seed_level_adds_the_unbiased_training_variance(target, factor):
    """Replicates = a row effect shared by the seeds + a fixed effect per re-drawn training
    sample: the combined variance is the rows' plus 1/K (mean) or 1 (single) times the seeds'
    unbiased variance (the plug-in bootstrap would give (K - 1)/K of it)."""
    rng = np.random.default_rng(3)
    n_rep, row_sd = 40_000, 0.01
    seed_effects = np.array([0.02, -0.01, 0.005, -0.03, 0.015])
    s2 = seed_effects.var(ddof=1)
    replicates = rng.normal(0, row_sd, size=(n_rep, 1)) + seed_effects
    combined = seed_average(replicates, np.random.default_rng(4), target,
                            unbiased_spread=True)
    assert combined.var() == pytest.approx(row_sd ** 2 + factor * s2, rel=VARIANCE_RTOL)
    plug_in = seed_average(replicates, np.random.default_rng(4), target)
    assert plug_in.var() == pytest.approx(row_sd ** 2 + factor * seed_effects.var(),
                                          rel=VARIANCE_RTOL)


def test_paired_seeds_cancel_what_both_arms_share():
    """With re-drawn training samples, seed k of both arms saw the same subjects: a training
    effect common to both arms does not widen the interval of their difference."""
    rng = np.random.default_rng(5)
    rows = rng.normal(0, 0.01, size=(2000, 1))
    shared = np.array([0.05, -0.04, 0.01])  # the same draw helps or hurts both arms
    ref = {"auc": {"replicates": 0.8 + rows + shared, "per_seed": 0.8 + shared}}
    var = {"auc": {"replicates": 0.79 + rows + shared, "per_seed": 0.79 + shared}}
    kw = {"metrics": ("auc",), "margins": {"auc": 0.005}, "subject": "removed",
          "confidence": 0.95, "target": "mean"}
    paired = compare_replicates(ref, var, **kw, rng=stream(1, "p"),
                                resampled_training=True)["auc"]
    assert paired["estimate"] == pytest.approx(-0.01)
    assert paired["lower"] == pytest.approx(-0.01) and paired["upper"] == pytest.approx(-0.01)
    unpaired = compare_replicates(ref, var, **kw, rng=stream(1, "p"))["auc"]
    assert unpaired["upper"] - unpaired["lower"] > 0.02


def test_few_seeds_widen_the_interval_as_a_t_interval_would():
    """Welch-Satterthwaite: with the seeds dominating, K = 3 widens a 95% interval by
    t_2 / z = 2.2; with the rows dominating, hardly at all; one seed, not at all."""
    from scipy import stats

    from nsf.study._stats import few_seeds_widening

    d = np.array([0.01, -0.02, 0.005])
    z = stats.norm.ppf(0.975)
    assert few_seeds_widening(d, 0.0, target="mean", confidence=0.95) == pytest.approx(
        stats.t.ppf(0.975, 2) / z)
    assert few_seeds_widening(d, 1.0, target="mean", confidence=0.95) == pytest.approx(
        1.0, abs=1e-3)
    assert few_seeds_widening(d[:1], 0.0, target="mean", confidence=0.95) == 1.0
    assert few_seeds_widening(np.zeros(3), 0.0, target="single", confidence=0.95) == 1.0


def _logistic(smoke_cfg, resample):
    return smoke_cfg.model_copy(update={
        "model": smoke_cfg.model.model_copy(update={"kind": "logistic"}),
        "study": smoke_cfg.study.model_copy(update={
            "families": ("drop_one",), "groups": ("email",), "training_resample": resample,
            "n_bootstrap": 300, "fairness_n_bootstrap": 50, "proxy_rows": 500,
            "shap_rows": 100, "permutation_rows": 200, "permutation_repeats": 1,
            "minimal_set": smoke_cfg.study.minimal_set.model_copy(update={"enabled": False}),
            # Neither fairness tables nor proxy checks: the tests read the comparisons only.
            "fairness_attributes": (), "intersections": (), "proxy_targets": (),
        })})


def test_a_deterministic_model_varies_across_seeds_and_its_intervals_widen(smoke_cfg,
                                                                           smoke_prepared):
    """Logistic regression is deterministic: without a training resample its seeds give one
    fit (SD 0) and the interval holds the test rows only; with it, the seeds differ and the
    interval is wider."""
    results = {mode: run_study(_logistic(smoke_cfg, mode), smoke_prepared)
               for mode in ("none", "bootstrap")}
    auc = {mode: r.variant_for("drop_one", "email").comparisons["baseline"].metrics["auc"]
           for mode, r in results.items()}
    assert results["none"].baseline.metrics["test_auc"].sd == 0.0
    assert results["bootstrap"].baseline.metrics["test_auc"].sd > 0.0
    assert len(set(auc["bootstrap"].reference_per_seed)) == 3
    width = {mode: a.upper - a.lower for mode, a in auc.items()}
    assert width["bootstrap"] > width["none"], width
    assert results["bootstrap"].settings.training_resample == "bootstrap"


def test_the_same_seed_gives_the_same_fit(smoke_cfg, smoke_prepared):
    cfg = _logistic(smoke_cfg, "bootstrap")
    prepared = smoke_prepared.for_study(cfg.study.crossfit_below, cfg.study.crossfit_folds)
    baseline, _ = resolve_variants(cfg, prepared)
    task = FitTask("k", baseline, 77, resample=training_resample(cfg))
    first, again = run_fit(prepared, cfg.model, task), run_fit(prepared, cfg.model, task)
    np.testing.assert_array_equal(first.p_test, again.p_test)
    other = run_fit(prepared, cfg.model, FitTask("k", baseline, 78, resample=task.resample))
    assert not np.array_equal(first.p_test, other.p_test)
    assert first.info["training_resample"].startswith("bootstrap")
