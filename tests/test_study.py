"""The study's statistics, fairness engine, search logic, config, and end to end on MLflow."""

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from sklearn.metrics import roc_auc_score

from nsf.config import ConfigError, load_config
from nsf.fairness import DISPARITIES, group_metrics, replicate_disparities
from nsf.metrics import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED, GroupRates, difference_interval
from nsf.scoring import probability_to_score
from nsf.study import (
    StudyResult,
    fairness_table,
    minimal_sufficient_set,
    replicate_seeds,
    stream,
    verdict_for,
)
from nsf.study._fairness import attribute_groups
from nsf.study._stats import arm_replicates, compare_replicates
from tests.conftest import undrawn_figures

#: Two exact computations of the same number.
EXACT = 1e-12
#: Interval bounds of two bootstraps with different random draws (1,000 resamples each).
BOUND_TOL = 0.004

# Two groups of five, both outcomes in each; threshold 50 flags scores >= 50.
Y = np.array([0, 0, 1, 1, 0, 0, 1, 0, 1, 1])
PROB = np.array([0.1, 0.6, 0.7, 0.4, 0.2, 0.3, 0.9, 0.8, 0.6, 0.2])
GROUP = pd.DataFrame({"gender": ["a"] * 5 + ["b"] * 5})


def _synthetic(n=4000, seed=0, shift=0.1, seeds=3, y=None):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.08).astype(int)
    y = labels if y is None else y
    probs = [np.round(np.clip(0.08 + shift * y + rng.normal(0, 0.05, n), 1e-4, 1 - 1e-4), 3)
             for _ in range(seeds)]
    return y, probs


# --- Verdicts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("lower", "upper", "subject", "expected"), [
    (-0.03, -0.01, "removed", NEEDED),             # dropping costs > 0.005 for sure
    (-0.004, 0.01, "removed", NOT_SHOWN_NEEDED),    # worst case within the margin
    (-0.01, 0.01, "removed", INCONCLUSIVE),
    (0.01, 0.03, "added", NEEDED),                  # adding gains > 0.005 for sure
    (-0.01, 0.004, "added", NOT_SHOWN_NEEDED),
    (-0.01, 0.01, "added", INCONCLUSIVE),
])
def test_verdict_for_removed_and_added_data(lower, upper, subject, expected):
    assert verdict_for(lower, upper, 0.005, metric="auc", subject=subject) == expected


def test_verdict_for_a_loss_metric_flips_direction():
    # Brier rises by 0.01..0.02 when the data is removed: needed at margin 0.005.
    assert verdict_for(0.01, 0.02, 0.005, metric="brier", subject="removed") == NEEDED


# --- Bootstrap replicates ------------------------------------------------------------------


def test_compare_replicates_matches_difference_interval():
    y, base = _synthetic(seed=2)
    _, variant = _synthetic(seed=3, shift=0.09, y=y)
    kw = {"metrics": ("auc", "brier"), "margins": {"auc": 0.005}, "subject": "removed",
          "confidence": 0.95, "target": "mean"}
    a = arm_replicates(y, base, metrics=kw["metrics"], n_resamples=1000, rng=stream(1, "rows"))
    b = arm_replicates(y, variant, metrics=kw["metrics"], n_resamples=1000,
                       rng=stream(1, "rows"))
    ours = compare_replicates(a, b, **kw, rng=stream(1, "seeds"))
    for m in kw["metrics"]:
        d = difference_interval(base, variant, y, m, n_resamples=1000, rng=stream(3, m))
        assert ours[m]["estimate"] == pytest.approx(d.estimate, abs=EXACT)
        assert ours[m]["lower"] == pytest.approx(d.lower, abs=BOUND_TOL)
        assert ours[m]["upper"] == pytest.approx(d.upper, abs=BOUND_TOL)


def test_identical_arms_differ_by_exactly_zero():
    y, base = _synthetic()
    a = arm_replicates(y, base, metrics=("auc",), n_resamples=100, rng=stream(1, "rows"))
    out = compare_replicates(a, a, metrics=("auc",), margins={"auc": 0.005},
                             subject="removed", confidence=0.95, target="mean",
                             rng=stream(1, "s"))["auc"]
    assert (out["estimate"], out["lower"], out["upper"]) == (0.0, 0.0, 0.0)
    assert out["verdict"] == NOT_SHOWN_NEEDED


# --- Fairness ------------------------------------------------------------------------------


def test_group_rates_equal_fairlearn_and_scikit_learn_on_hand_data():
    codes, labels, _ = attribute_groups(GROUP, ["gender"])
    rates = GroupRates(Y, PROB, codes, score=probability_to_score(PROB), threshold=50,
                       n_bins=10).per_group(np.ones((1, 10)))
    flagged = (np.round(100 * PROB) >= 50).astype(int)
    frame = MetricFrame(metrics={"sel": selection_rate, "fpr": false_positive_rate},
                        y_true=Y, y_pred=flagged, sensitive_features=GROUP["gender"])
    for k, (label, rows) in enumerate((("a", slice(0, 5)), ("b", slice(5, 10)))):
        assert labels[k] == label
        assert rates["auc"][0, k] == pytest.approx(roc_auc_score(Y[rows], PROB[rows]),
                                                   abs=EXACT)
        assert rates["selection_rate"][0, k] == pytest.approx(frame.by_group.loc[label, "sel"],
                                                              abs=EXACT)
        assert rates["false_positive_rate"][0, k] == pytest.approx(
            frame.by_group.loc[label, "fpr"], abs=EXACT)
    gm = group_metrics(Y, PROB, np.round(100 * PROB), GROUP["gender"], threshold=50)
    ours = replicate_disparities(rates)[0]
    for j, name in enumerate(DISPARITIES):
        assert ours[j] == pytest.approx(gm.disparities[name], abs=EXACT), name


def test_group_rates_equal_metricframe_for_intersections_with_ties():
    rng = np.random.default_rng(4)
    n = 2000
    y = (rng.random(n) < 0.15).astype(int)
    p = np.round(np.clip(rng.random(n) * 0.5 + 0.2 * y, 1e-4, 1), 2)
    sens = pd.DataFrame({"age_band": rng.choice(["20-29", "30-39", "40-49"], n),
                         "gender": rng.choice(["female", "male"], n)})
    codes, labels, row_groups = attribute_groups(sens, ["age_band", "gender"])
    gm = group_metrics(y, p, np.round(100 * p), row_groups, threshold=20)
    rates = GroupRates(y, p, codes, score=probability_to_score(p), threshold=20,
                       n_bins=10).per_group(np.ones((1, n)))
    for metric, values in rates.items():
        np.testing.assert_allclose(values[0], gm.by_group.loc[labels, metric].to_numpy(),
                                   atol=EXACT, err_msg=metric)


def test_identical_groups_have_zero_disparity():
    y, probs = _synthetic(n=1000)
    # The same rows twice, labelled as two groups.
    y2 = np.r_[y, y]
    probs2 = [np.r_[p, p] for p in probs]
    sens = pd.DataFrame({"gender": ["a"] * 1000 + ["b"] * 1000})
    table = fairness_table(y2, probs2, sens, ["gender"], threshold=10, n_bins=10,
                           n_resamples=60, confidence=0.95, target="mean",
                           row_rng=stream(0, "r"), seed_rng=stream(0, "s"))
    for name, d in table["disparities"].items():
        expected = 1.0 if name == "demographic_parity_ratio" else 0.0
        assert d["estimate"] == pytest.approx(expected, abs=EXACT), name
    assert table["groups"][0]["auc"] == pytest.approx(table["groups"][1]["auc"], abs=EXACT)


# --- Minimal set, seeds, config ------------------------------------------------------------


def _fake_evaluate(costs, margin=0.005):
    """Removing a set costs the sum of its groups' costs, known exactly (zero-width interval)."""
    calls = []

    def evaluate(sets):
        calls.append(sets)
        out = []
        for s in sets:
            d = -sum(costs[g] for g in s)
            out.append({"estimate": d, "lower": d, "upper": d,
                        "verdict": NOT_SHOWN_NEEDED if d >= -margin else NEEDED})
        return out

    return evaluate, calls


@pytest.mark.parametrize("strategy", ["ranked", "greedy"])
def test_minimal_set_removes_what_fits_in_the_margin(strategy):
    costs = {"balance": 0.05, "email": 0.0, "phone": 0.002, "cards": 0.004}
    evaluate, _ = _fake_evaluate(costs)
    order = sorted(costs, key=costs.get)
    out = minimal_sufficient_set(order, evaluate, strategy=strategy)
    # email + phone cost 0.002; adding cards (0.006) would exceed the 0.005 margin.
    assert sorted(out["removed"]) == ["email", "phone"]
    assert sorted(out["kept"]) == ["balance", "cards"]
    assert out["complete"]


def test_minimal_set_stops_after_max_steps():
    evaluate, calls = _fake_evaluate({"a": 0.0, "b": 0.0, "c": 0.0})
    out = minimal_sufficient_set(["a", "b", "c"], evaluate, strategy="ranked", max_steps=2)
    assert out["removed"] == ["a", "b"] and not out["complete"] and len(calls) == 2


def test_replicate_seeds_start_with_the_experiment_seed():
    seeds = replicate_seeds(20190711, 3)
    assert seeds[0] == 20190711 and len(set(seeds)) == 3
    assert seeds == replicate_seeds(20190711, 3)


@pytest.mark.parametrize(("override", "field"), [
    ("study.margins={foo: 0.1}", "study.margins"),
    ("study.margins={auc: -1}", "study.margins"),
    ("study.primary_metric=brier", "study"),
    ("study.intersections=[[age_band]]", "study.intersections"),
    ("study.seeds=0", "study.seeds"),
    ("study.variants=[{name: baseline}]", "study"),
    ("study.multiplicity=bonferroni", "study.multiplicity"),
])
def test_bad_study_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(None, [override])


# --- End to end: nsf study on MLflow --------------------------------------------------------

TINY = ["name=tiny", "world.population.n_users=2500", "world.calendar.days=120",
        "world.calendar.warmup_days=60", "world.feed.windows=[7,30]",
        "world.truth.oracle_draws=4", "study.groups=[email,balance]",
        "study.families=[drop_one,drop_all,keep_one,coarsen,retention]",
        "study.minimal_set.enabled=true", "study.retention_days=[7,30]", "study.n_bootstrap=200",
        "study.fairness_n_bootstrap=60", "study.proxy_targets=[age_band,income_band]",
        "study.proxy_estimator=logistic_regression", "study.proxy_rows=1000",
        "study.shap_rows=100", "study.permutation_rows=200", "study.permutation_repeats=1",
        "study.seeds=2", "audit.phone_space_size=200000", "audit.workers=1",
        # In-process tasks: the crash test below patches the task function.
        "study.workers=1"]


def _run_cli(tmp_path, *extra):
    from typer.testing import CliRunner

    from nsf.cli import app

    args = ["study", "--quiet", "--set", f"simulate.data_dir={tmp_path / 'data'}",
            "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    for item in TINY:
        args += ["--set", item]
    return CliRunner().invoke(app, [*args, *extra], catch_exceptions=False)


def _runs(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["tiny"], output_format="list")


def _study_json(tmp_path, run_id):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="study.json",
                                               dst_path=str(tmp_path / "dl" / run_id))
    with open(path, encoding="utf-8") as fh:
        return StudyResult.load(fh.read())


def _crash_resume_and_check(tmp_path, monkeypatch):
    """A study that crashes after two fits, then its re-run: what is logged and resumed."""
    from nsf.study import _run as study_run_module

    monkeypatch.chdir(tmp_path)  # the report goes to ./reports
    undrawn_figures(monkeypatch)  # where files go and what is logged

    # A crash after two fits: the finished children stay, the parent is FAILED.
    real = study_run_module._fit_task
    calls = {"n": 0}

    def crashing(*args):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("simulated crash")
        return real(*args)

    monkeypatch.setattr(study_run_module, "_fit_task", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run_cli(tmp_path)
    runs = _runs(tmp_path)
    parent = [r for r in runs if r.data.tags["nsf.role"] == "study"]
    children = [r for r in runs if r.data.tags["nsf.role"] == "seed"]
    assert [r.info.status for r in parent] == ["FAILED"]
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)
    assert not [r for r in runs if r.data.tags["nsf.role"] == "variant"]

    monkeypatch.setattr(study_run_module, "_fit_task", real)
    result = _run_cli(tmp_path)
    assert result.exit_code == 0, result.output
    assert "2 reused" in result.output and "resumed" in result.output
    # The study audited its dataset (study.audit) and wrote the report.
    assert "audit logged" in result.output
    assert (tmp_path / "reports" / "tiny").is_dir()
    runs = _runs(tmp_path)
    parents = [r for r in runs if r.data.tags["nsf.role"] == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len([r for r in runs if r.data.tags["nsf.role"] == "audit"]) == 1
    # Three levels: the study run, one run per variant (the baseline and the minimal-set
    # search too), the fits under their variant.
    parent_id = parents[0].info.run_id
    variants = {r.data.tags["nsf.variant"]: r for r in runs
                if r.data.tags["nsf.role"] in ("variant", "minimal_set")}
    children = [r for r in runs if r.data.tags["nsf.role"] == "seed"]
    assert {r.data.tags["mlflow.parentRunId"] for r in variants.values()} == {parent_id}
    assert {r.data.tags["nsf.study_run"] for r in [*variants.values(), *children]} == \
        {parent_id}
    by_id = {r.info.run_id: r for r in runs}
    for child in children:
        above = by_id[child.data.tags["mlflow.parentRunId"]]
        assert above.data.tags["nsf.role"] in ("variant", "minimal_set"), child.info.run_name
        if above.data.tags["nsf.role"] == "variant":
            assert above.data.tags["nsf.variant"] == child.data.tags["nsf.variant"]
            assert child.info.run_name.startswith(above.info.run_name + " - seed ")
    train_keys = {"auc", "ece", "x/test_pr_auc", "x/test_brier", "x/test_log_loss"}
    assert all(train_keys <= set(r.data.metrics) for r in children)
    assert all({"nsf.variant", "nsf.seed", "nsf.child_key"} <= set(r.data.tags)
               for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)

    study = _study_json(tmp_path, parents[0].info.run_id)
    # One run per variant: its seed mean, difference to its reference with both intervals,
    # the verdict as a tag and a number, under the documented names; no undefined value.
    from nsf.tracking._vocab import VERDICT_NUMBER

    assert set(variants) == {"baseline", "minimal_set", *(v.name for v in study.variants)}
    assert variants["baseline"].data.tags["nsf.verdict"] == "reference"
    for v in study.variants:
        run = variants[v.name]
        mc = v.comparisons[v.reference].metrics["auc"]
        m = run.data.metrics
        assert (m["auc_diff"], m["auc_diff_lo"], m["auc_diff_hi"]) == \
            (mc.estimate, mc.lower, mc.upper), v.name
        if mc.simultaneous_lower is not None:
            assert (m["auc_diff_sim_lo"], m["auc_diff_sim_hi"]) == \
                (mc.simultaneous_lower, mc.simultaneous_upper)
        assert m["auc"] == v.metrics["test_auc"].mean
        assert run.data.tags["nsf.verdict"] == v.verdict
        assert m["verdict"] == VERDICT_NUMBER[v.verdict]
        assert run.data.tags["nsf.family"] == v.family
        assert run.info.run_name == v.description.split(" (")[0]  # in words
    for run in runs:
        assert all(math.isfinite(x) for x in run.data.metrics.values()), run.info.run_name
        assert "null" not in run.data.params.values() or run.data.tags["nsf.role"] == "study"
    assert study.schema_ == "nsf.study/2"
    names = {v.name for v in study.variants}
    assert {"drop_email", "drop_balance", "drop_all_contested", "core+email",
            "coarse_balance", "retention_7d", "retention_30d"} <= names
    # Variants carry their family and groups: found without parsing names.
    assert study.variant_for("drop_one", "email").name == "drop_email"
    assert study.variant_for("coarsen", "balance").name == "coarse_balance"
    retention_30 = next(v for v in study.variants if v.name == "retention_30d")
    assert retention_30.family == "retention" and retention_30.selection.retention_days == 30
    assert retention_30.same_fits_as == "baseline"  # the feed has no longer window
    assert retention_30.comparisons["baseline"].metrics["auc"].upper == 0.0
    core = next(v for v in study.variants if v.name == "core+email")
    assert set(core.comparisons) == {"baseline", "drop_all_contested"}
    assert core.subject == "added" and core.family == "keep_one" and core.groups == ["email"]
    assert {"gender", "age_band+gender"} <= set(study.fairness.attributes)
    assert {p.target for p in study.proxies} == {"age_band", "income_band"}
    assert {r.group for r in study.reliance} >= {"email", "balance"}
    assert study.minimal_set.strategy == "ranked"
    assert study.run_ids.parent == parents[0].info.run_id
    # Every threshold that decides an answer is logged with the result.
    s = load_config(None, TINY).study
    assert (study.settings.proxy_lift_threshold, study.settings.equalized_odds_cut,
            study.settings.reliance_top_k, study.settings.n_bins) == \
        (s.proxy_lift_threshold, s.equalized_odds_cut, s.reliance_top_k, s.n_bins)
    assert {g.name for g in study.inventory.groups if g.contested} >= {"email", "balance"}
    # The explanations section: two seeds compared on the same rows, the per-person view of
    # every contested group, the views; the figures are artifacts of the parent run.
    ex = study.sections.explanations
    assert ex is not None and ex.rows == min(100, ex.n_test_rows)
    assert [(p.a, p.b) for p in ex.stability] == [("seed 1", "seed 2")]
    # study.threshold null: the simulated policy's operating point, logged with how it was chosen.
    assert s.threshold is None and study.settings.threshold == 20
    assert study.settings.threshold_source == "the simulated policy's operating point"
    assert ex.stability_threshold == s.explain_stability_min and ex.threshold == 20
    assert {w.group for w in ex.withheld} == set(study.contested_groups)
    assert all(0.0 <= w.decision_unchanged <= 1.0 for w in ex.withheld)
    assert {"beeswarm", "dependence", "waterfalls"} <= set(ex.views)
    from mlflow.tracking import MlflowClient

    logged = {a.path for a in MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
              .list_artifacts(parents[0].info.run_id, "explanations")}
    assert logged == {f"explanations/{n}.png" for n in
                      ("shap_beeswarm", "shap_dependence", "shap_waterfalls")}
    report_md = next((tmp_path / "reports" / "tiny").glob("*/appendix.md")).read_text()
    assert "Explanations: SHAP views, stability and the per-person view" in report_md
    assert "figures/shap_waterfalls.png" in report_md


def test_study_cli_logs_parent_and_children_and_resumes(tmp_path, monkeypatch, tracking_store):
    _crash_resume_and_check(tmp_path, monkeypatch)


@pytest.mark.slow
def test_a_rerun_reuses_every_child_and_fresh_retrains_them(tmp_path, monkeypatch,
                                                             tracking_store):
    """After the study above, two more runs (the default run keeps the crash and the resume:
    its re-run reuses the two fits the crash left; tests/test_tracking.py reruns with and
    without --fresh)."""
    _crash_resume_and_check(tmp_path, monkeypatch)
    # A second run reuses every child; --fresh retrains them all.
    again = _run_cli(tmp_path)
    assert "0 fits trained" in again.output
    # Every fit request of the second run is served by key, from the first run's children.
    assert "cache hit rate 100%" in again.output
    assert "audit: reusing run" in again.output  # same dataset and audit settings
    fresh = _run_cli(tmp_path, "--fresh")
    assert "0 reused" in fresh.output


def test_parallel_workers_give_identical_results(tmp_path):
    from data_gen.dataset import build_dataset
    from nsf.config import load_config as load
    from nsf.data import open_dataset
    from nsf.pipeline import prepare
    from nsf.study import run_study

    cfg = load(None, [*TINY, "study.families=[drop_one,coarsen]", "study.seeds=2"])
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                               data_dir=tmp_path, chunk_users=cfg.simulate.chunk_users)
    prepared = prepare(cfg, open_dataset(path), latents=True)
    serial = run_study(cfg, prepared, workers=1, dataset_path=path)
    parallel = run_study(cfg, prepared, workers=2, dataset_path=path)
    assert serial.model_dump(exclude={"timing"}) == parallel.model_dump(exclude={"timing"})
    for result, workers in ((serial, 1), (parallel, 2)):
        # The fits' estimators' own CPU seconds, whichever process trained them, and the least
        # wall time they leave the fits on the study's workers: no run of the fits beats it.
        t = result.timing
        assert t.fits_estimator_cpu > 0
        assert t.fits_floor == pytest.approx(t.fits_estimator_cpu / workers)
        assert t.fits_floor <= t.fits


def test_fairness_table_marks_small_groups_and_leaves_them_out():
    y, probs = _synthetic(n=2000)
    # Ten rows of a third group, all NSF: too few non-NSF rows (none) and NSF rows (10 < 30).
    y3 = np.r_[y, np.ones(10, dtype=int)]
    probs3 = [np.r_[p, np.full(10, 0.01)] for p in probs]
    sens = pd.DataFrame({"region": ["a"] * 1000 + ["b"] * 1000 + ["c"] * 10})
    kw = {"threshold": 10, "n_bins": 10, "n_resamples": 60, "confidence": 0.95,
          "target": "mean"}
    table = fairness_table(y3, probs3, sens, ["region"], **kw, min_support=30,
                           row_rng=stream(0, "r"), seed_rng=stream(0, "s"))
    two = fairness_table(y, probs, sens.iloc[:2000], ["region"], **kw,
                         row_rng=stream(0, "r"), seed_rng=stream(0, "s"))
    small = table["groups"][2]
    assert small["group"] == "c"
    assert set(small["below_support"]) == {"auc", "ece", "mean_score", "selection_rate",
                                           "false_positive_rate", "false_negative_rate"}
    assert table["groups"][0]["below_support"] == []
    for name, d in table["disparities"].items():
        assert d["estimate"] == pytest.approx(two["disparities"][name]["estimate"],
                                              abs=EXACT), name


@pytest.mark.parametrize("n_bins", [4, 25])
def test_study_ece_comparisons_use_study_n_bins(n_bins):
    """The arms' ECE replicates (and so every ECE comparison) have ``study.n_bins`` bins."""
    from types import SimpleNamespace

    from nsf.metrics import ece
    from nsf.study._run import _arm_task, _ArmItem

    y, probs = _synthetic(n=1500, seed=5)
    rows = pd.DataFrame({"nsf_appstore": y.astype(np.int8)})
    prepared = SimpleNamespace(test_index=np.arange(y.size), rows=rows,
                               sensitive=pd.DataFrame(index=rows.index))
    cfg = load_config(None, ["study.n_bootstrap=50", f"study.n_bins={n_bins}"])
    out = _arm_task(prepared, cfg, _ArmItem("arm", probs, ("ece",)), 1)["metrics"]["ece"]
    expected = [ece(y, p, n_bins=n_bins) for p in probs]
    assert out["per_seed"].tolist() == pytest.approx(expected, abs=EXACT)
    assert expected != pytest.approx([ece(y, p) for p in probs], abs=1e-6)
