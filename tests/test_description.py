"""The dataset description both doors produce, the families that read it, and bad tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nsf.config import ConfigError, load_config
from nsf.data import DatasetDescription, open_dataset
from nsf.errors import NsfError
from nsf.pipeline import prepare
from nsf.study import resolve_study

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from make_credit_table import credit_table  # noqa: E402

TABLE = ["dataset.kind=table", "dataset.table.target_column=risk",
         "dataset.table.positive_label=bad", "dataset.table.sensitive_columns=[age_in_years, sex]"]


def _credit(tmp_path, n_rows=600, seed=7, **changes) -> Path:
    frame = credit_table(n_rows, seed)
    for col, values in changes.items():
        frame[col] = values
    path = tmp_path / "credit.csv"
    frame.to_csv(path, index=False)
    return path


def _cfg(path, *extra):
    return load_config(None, [*TABLE, f"dataset.table.path={path}", *extra])


# --- the simulated door ---------------------------------------------------------------------


def test_simulated_manifest_carries_the_description(smoke_cfg, smoke_dataset, smoke_prepared):
    manifest = json.loads((smoke_dataset / "manifest.json").read_text())
    description = DatasetDescription.from_dict(manifest["description"])
    assert description.door == "simulated"
    horizon = smoke_cfg.world.calendar.horizon_days
    assert description.outcome == f"a grouped App Store charge fails within {horizon} days"
    assert description.windows == tuple(smoke_cfg.world.feed.windows)
    assert description.sensitive_names == ("age_band", "gender", "nationality", "region",
                                           "device_os")
    assert "balance" in description.contested_groups
    assert "appstore_history" in description.uncontested_groups
    # Prepared data carries it, with coarse versions filled in from the registry.
    prepared = smoke_prepared.description
    assert prepared.group_names == description.group_names
    assert {g.name for g in prepared.groups if g.coarse} >= {"balance", "email", "join_date"}
    assert DatasetDescription.from_dict(json.loads(prepared.to_json())) == prepared
    assert open_dataset(smoke_dataset).description == description


def test_simulated_families_all_apply_and_narrowing_keeps_contested(smoke_cfg, smoke_prepared):
    resolved = resolve_study(smoke_cfg, smoke_prepared)
    # The smoke calendar has two observation dates: too few for a build and dates after it.
    assert [f for f, _ in resolved.skipped_families] == ["freshness"]
    assert {v.family for v in resolved.variants} == {
        "drop_one", "drop_all", "keep_one", "coarsen", "population", "retention", "sensitive",
        "volume", "drop_uncontested"}
    unc = {v.groups[0] for v in resolved.variants if v.family == "drop_uncontested"}
    assert unc and not unc & set(resolved.contested)
    narrowed = smoke_cfg.model_copy(update={"study": smoke_cfg.study.model_copy(
        update={"groups": ("balance", "email")})})
    small = resolve_study(narrowed, smoke_prepared)
    assert small.covered == ["email", "balance"]
    assert small.contested == resolved.contested
    # The uncontested core still drops every contested group, not only the covered ones.
    core = next(v for v in small.variants if v.name == "drop_all_contested")
    assert set(core.selection.drop_groups) == set(resolved.contested)


def test_sensitive_names_are_checked_against_the_description(smoke_cfg, smoke_prepared):
    for field, value in (("fairness_attributes", ("income",)),
                         ("sensitive_features", ("age_in_years",)),
                         ("proxy_targets", ("sex",)), ("intersections", (("gender", "sex"),))):
        cfg = smoke_cfg.model_copy(update={"study": smoke_cfg.study.model_copy(
            update={field: value})})
        with pytest.raises(NsfError, match=rf"^study\.{field}: .* not sensitive columns of this "
                           r"dataset \(has: age_band, gender"):
            resolve_study(cfg, smoke_prepared)


# --- the table door -------------------------------------------------------------------------


def test_plain_table_description_and_fairness_bands(tmp_path):
    prepared = prepare(_cfg(_credit(tmp_path)))
    d = prepared.description
    assert d.door == "table" and d.id_column is None and d.positive_label == "bad"
    assert d.outcome == "the risk column equals bad"
    assert d.group_names == ("checking_account", "duration_months", "credit_amount", "purpose",
                             "savings", "housing", "existing_credits")
    assert d.contested_groups == d.group_names
    assert d.sensitive_kinds() == {"age_in_years": "numeric", "sex": "categorical"}
    frame = pd.read_csv(tmp_path / "credit.csv")
    assert prepared.rows["nsf_appstore"].tolist() == (frame["risk"] == "bad").astype(int).tolist()
    # Row numbers are the subjects; the numeric age is cut into four quantile bands.
    assert prepared.rows["user_id"].tolist() == list(range(len(frame)))
    bands = prepared.sensitive["age_in_years"]
    assert bands.nunique() == 4 and bands.str.startswith("[").all()
    counts = bands.value_counts()
    assert counts.min() > 0.15 * len(frame)
    assert set(prepared.sensitive["sex"]) == {"female", "male"}
    # The raw age stays in the frame, as a number, for the 'sensitive' variant.
    assert prepared.frame["age_in_years"].dtype.kind == "i"


def test_rare_sensitive_levels_are_pooled(tmp_path):
    n = 600
    nation = np.where(np.arange(n) < 5, "atlantis", np.where(np.arange(n) % 2, "a", "b"))
    prepared = prepare(_cfg(_credit(tmp_path, n, nationality=nation),
                            "dataset.table.sensitive_columns=[nationality]"))
    assert set(prepared.sensitive["nationality"]) == {"a", "b", "(pooled rare levels)"}


def test_plain_table_families_skip_with_reasons(tmp_path):
    prepared = prepare(_cfg(_credit(tmp_path)))
    cfg = _cfg(tmp_path / "credit.csv")
    resolved = resolve_study(cfg, prepared)
    skipped = dict(resolved.skipped_families)
    assert set(skipped) == {"drop_all", "keep_one", "population", "retention", "volume",
                            "decisions", "freshness", "drop_uncontested"}
    assert "every attribute group is contested" in skipped["drop_uncontested"]
    assert "not below the training population" in skipped["volume"]
    assert "no time axis" in skipped["freshness"]
    assert "policy.columns" in skipped["decisions"]
    assert "dataset.table.contested_groups" in skipped["drop_all"]
    assert "history windows" in skipped["retention"]
    assert "population column" in skipped["population"]
    assert {v.family for v in resolved.variants} == {"drop_one", "coarsen", "sensitive"}
    sens = next(v for v in resolved.variants if v.family == "sensitive")
    assert sens.selection.sensitive == ("age_in_years", "sex")
    assert resolved.attributes.fairness == ("age_in_years", "sex")
    assert resolved.attributes.intersections == (("age_in_years", "sex"),)
    assert resolved.attributes.proxy_targets == ("age_in_years", "sex")
    # Naming the disputed groups leaves an uncontested core: drop_all and keep_one run.
    cfg2 = _cfg(tmp_path / "credit.csv",
                "dataset.table.contested_groups=[savings, housing, purpose]")
    resolved2 = resolve_study(cfg2, prepare(cfg2))
    skipped2 = dict(resolved2.skipped_families)
    # Text columns have no coarse version: the coarsen family has nothing to do there.
    assert set(skipped2) == {"coarsen", "population", "retention", "volume", "decisions",
                             "freshness"}
    assert "coarse version" in skipped2["coarsen"]
    assert [v.name for v in resolved2.variants if v.family == "keep_one"] == [
        "core+purpose", "core+savings", "core+housing"]
    # The uncontested groups get their drop-one figure too, in a family of their own (marked
    # as not contested; the contested groups' multiplicity family is unchanged).
    unc = [v for v in resolved2.variants if v.family == "drop_uncontested"]
    assert {v.groups[0] for v in unc} == {"checking_account", "duration_months",
                                          "credit_amount", "existing_credits"}
    assert all("not contested" in v.description for v in unc)
    assert {v.groups[0] for v in resolved2.variants if v.family == "drop_one"} == {
        "savings", "housing", "purpose"}


def test_every_family_inapplicable_is_one_line(tmp_path):
    path = _credit(tmp_path)
    cfg = _cfg(path, "study.families=[retention, population]")
    with pytest.raises(NsfError, match=r"^study: no variant to run, every family is "
                       r"inapplicable \(population: needs a population column.*; retention: needs "
                       r"history windows"):
        resolve_study(cfg, prepare(cfg))


@pytest.mark.parametrize(("items", "needle"), [
    (["dataset.table.id_column=risk"], "id_column 'risk' is the target column"),
    (["dataset.table.id_column=savings", "dataset.table.groups={a: [savings]}"],
     "id_column 'savings' cannot be a feature"),
    (["dataset.table.id_column=sex"], "sensitive columns cannot be the id"),
    (["dataset.table.groups={a: [sex], b: [savings]}"], "sensitive columns cannot be features"),
    (["dataset.table.time_column=risk"], "time_column 'risk' is the target column"),
])
def test_bad_table_configs(items, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [*TABLE, "dataset.table.path=x.csv", *items])


def test_bad_tables_are_one_line(tmp_path):
    path = _credit(tmp_path)
    with pytest.raises(NsfError, match=r"positive_label 'Bad' does not occur in target column "
                       r"'risk' \(values \['bad', 'good'\]\)"):
        prepare(_cfg(path, "dataset.table.positive_label=Bad"))
    with pytest.raises(NsfError, match=r"missing declared columns \['income'\]"):
        prepare(_cfg(path, "dataset.table.groups={a: [income], b: [savings]}"))
    with pytest.raises(NsfError, match=r"is not 0/1 or false/true .*set "
                       "dataset.table.positive_label"):
        prepare(load_config(None, ["dataset.kind=table", f"dataset.table.path={path}",
                                   "dataset.table.target_column=risk"]))
    few = np.array(["good"] * 600)
    few[:19] = "bad"
    with pytest.raises(NsfError, match="19 positive and 581 negative rows; each class needs "
                       "at least 20"):
        prepare(_cfg(_credit(tmp_path, risk=few)))
    with pytest.raises(NsfError, match="600 positive and 0 negative rows"):
        prepare(_cfg(_credit(tmp_path, risk=np.array(["bad"] * 600))))
    three = np.array(["good", "bad", "unknown"] * 200)
    with pytest.raises(NsfError, match="has 3 values"):
        prepare(_cfg(_credit(tmp_path, risk=three)))


def test_numeric_and_boolean_targets_with_a_positive_label(tmp_path):
    frame = credit_table(400, 3)
    frame["risk"] = np.where(frame["risk"] == "bad", 2, 1)
    frame.to_csv(tmp_path / "c.csv", index=False)
    cfg = load_config(None, ["dataset.kind=table", f"dataset.table.path={tmp_path / 'c.csv'}",
                             "dataset.table.target_column=risk",
                             "dataset.table.positive_label=2"])
    prepared = prepare(cfg)
    assert prepared.rows["nsf_appstore"].tolist() == (frame["risk"] == 2).astype(int).tolist()
    assert prepared.description.outcome == "the risk column equals 2"


# --- small tables are cross-fitted ----------------------------------------------------------


def test_small_table_is_cross_fitted_out_of_fold(tmp_path):
    from nsf.pipeline import fit_variant
    from nsf.study import FitTask, run_fit

    cfg = _cfg(_credit(tmp_path, 500), "model.kind=logistic")
    prepared = prepare(cfg)
    assert prepared.crossfit is None and prepared.test_index.size < 500
    view = prepared.for_study(cfg.study.crossfit_below, 5)
    assert view.crossfit is not None and view.test_index.size == 500
    assert "cross-fitted: 5 stratified folds" in view.split_note
    # Above the threshold the split is kept.
    assert prepared.for_study(500, 5) is prepared
    labels = view.rows["nsf_appstore"].to_numpy()
    subjects = view.rows["user_id"].to_numpy()
    fold_a = view.crossfit.assign(labels, subjects, 1)
    fold_b = view.crossfit.assign(labels, subjects, 2)
    assert not np.array_equal(fold_a, fold_b)
    assert np.array_equal(fold_a, view.crossfit.assign(labels, subjects, 1))
    rates = [labels[fold_a == k].mean() for k in range(5)]
    assert max(rates) - min(rates) < 0.02  # stratified
    baseline = resolve_study(cfg, view).baseline
    outcome = run_fit(view, cfg.model, FitTask("k", baseline, 1))
    assert outcome.p_test.shape == (500,) and np.isfinite(outcome.p_test).all()
    assert outcome.metrics["test_rows"] == 500
    # Fold 0's rows are predicted by the model that never saw them.
    fold_view = view.fold_view(fold_a, 0)
    assert set(fold_view.test_index) == set(np.flatnonzero(fold_a == 0))
    assert not set(fold_view.rows_for("train")) & set(fold_view.test_index)
    fitted = fit_variant(fold_view, baseline.selection, cfg.model, 1)
    expect = fitted.predict_proba(view.frame.iloc[fold_view.test_index])
    np.testing.assert_allclose(outcome.p_test[fold_a == 0], expect, rtol=0, atol=1e-12)


def test_cross_fitting_keeps_subjects_together(tmp_path):
    frame = credit_table(600, 11)
    frame["applicant"] = np.arange(600) // 3
    path = tmp_path / "grouped.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(None, [*TABLE, f"dataset.table.path={path}",
                             "dataset.table.id_column=applicant",
                             "dataset.table.time_column=null"])
    with pytest.raises(NsfError, match="duplicate rows for \\(applicant\\)"):
        prepare(cfg)
    frame["month"] = np.tile(["2024-01-31", "2024-02-29", "2024-03-31"], 200)
    frame.to_csv(path, index=False)
    cfg = load_config(None, [*TABLE, f"dataset.table.path={path}",
                             "dataset.table.id_column=applicant",
                             "dataset.table.time_column=month"])
    view = prepare(cfg).for_study(20_000, 4)
    assert view.crossfit.grouped
    fold = view.crossfit.assign(view.rows["nsf_appstore"].to_numpy(),
                                view.rows["user_id"].to_numpy(), 5)
    per_subject = pd.Series(fold).groupby(view.rows["user_id"].to_numpy()).nunique()
    assert (per_subject == 1).all()
    assert sorted(np.unique(fold)) == [0, 1, 2, 3]


def test_table_knobs_are_in_the_schema_and_auto_split_keeps_fit_keys(smoke_cfg):
    from nsf.config import field_names
    from nsf.features import FeatureSelection
    from nsf.study import Variant, fit_key

    names = set(field_names())
    assert {"dataset.table.positive_label", "dataset.table.sensitive_columns",
            "study.crossfit_below"} <= names
    # 'auto' resolves to 'time' on simulated data: the same fits as an explicit 'time' split.
    v = Variant("baseline", "baseline", FeatureSelection(), "apple", "nsf_appstore",
                features=(("pay_money_balance", False),))
    explicit = smoke_cfg.model_copy(update={"split": smoke_cfg.split.model_copy(
        update={"kind": "time"})})
    assert smoke_cfg.split.kind == "auto"
    assert fit_key(v, 1, smoke_cfg, "d", reliance=False) == fit_key(v, 1, explicit, "d",
                                                                     reliance=False)
