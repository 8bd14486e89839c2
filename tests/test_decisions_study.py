"""The decisions family inside the study: no new fits, money per arm, metrics on child runs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nsf.config import load_config
from nsf.decisions import ROW_COLUMNS
from nsf.errors import NsfError
from nsf.pipeline import prepare
from nsf.study import resolve_study, run_study

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from make_credit_table import credit_table  # noqa: E402

STUDY = ["study.families=[drop_one, decisions]", "study.groups=[email, balance]",
         "study.n_bootstrap=100", "study.fairness_n_bootstrap=60",
         "study.proxy_targets=[gender]", "study.proxy_estimator=logistic_regression",
         "study.minimal_set.enabled=false", "study.shap_rows=100",
         "study.permutation_rows=200", "study.permutation_repeats=1", "study.seeds=2"]


class RecordingStore:
    """A fit store that keeps nothing but remembers every run and metric it was given."""

    def __init__(self):
        self.runs: dict[str, str] = {}
        self.metrics: dict[str, dict[str, float]] = {}

    def lookup(self, key):
        return None

    def record(self, outcome, variant):
        run_id = f"run{len(self.runs)}"
        self.runs[run_id] = variant.name
        return run_id

    def log_metrics(self, run_id, metrics):
        self.metrics.setdefault(run_id, {}).update(metrics)


def test_decisions_section_reuses_the_study_fits(smoke_dataset):
    cfg = load_config(ROOT / "experiments" / "smoke.yaml", STUDY)
    from nsf.data import open_dataset

    prepared = prepare(cfg, open_dataset(smoke_dataset))
    assert set(ROW_COLUMNS.values()) <= set(prepared.rows.columns)
    store = RecordingStore()
    result = run_study(cfg, prepared, store=store)
    section = result.sections.decisions
    assert section is not None and "decisions" in result.families
    decisions = section.result
    names = ["baseline", *[v.name for v in result.variants]]
    assert [a.name for a in decisions.arms] == names
    assert [c.variant for c in decisions.comparisons] == names[1:]
    # No new fits: two seeds per arm, each with its own threshold and cost.
    assert result.fits.trained == len(store.runs) == 2 * len(names)
    for arm in decisions.arms:
        assert len(arm.thresholds) == len(arm.per_seed_cost_per_1k) == 2
        assert arm.cost_per_1k.estimate == pytest.approx(np.mean(arm.per_seed_cost_per_1k))
    assert {a.name for a in decisions.anchors} == {"bundle_no_one", "bundle_everyone",
                                                    "oracle"}
    assert result.timing.decisions > 0
    # Every child run got its money metrics; variants also their difference to the baseline.
    assert set(store.metrics) == set(store.runs)
    for run_id, metrics in store.metrics.items():
        assert {"test_cost_per_1k", "decision_threshold"} <= set(metrics)
        if store.runs[run_id] != "baseline":
            assert {"cost_diff_per_1k", "swap_rate", "psi"} <= set(metrics)
    # Groups of every fairness attribute, for every arm.
    attributes = {g.attribute for g in decisions.groups}
    assert "gender" in attributes and "age_band+gender" in attributes
    # The section survives study.json.
    again = type(result).load(result.to_json())
    assert again.sections.decisions == section


def _credit(tmp_path, **extra) -> Path:
    frame = credit_table(600, 7)
    rng = np.random.default_rng(0)
    purchases = rng.poisson(3, len(frame))
    charges = np.minimum(purchases, rng.poisson(2, len(frame)))
    failed = np.where((frame["risk"] == "bad") & (charges > 0), 1, 0)
    frame = frame.assign(n_buys=purchases, n_charges=charges, charged_amount=charges * 3000,
                         n_failed=failed, failed_amount=failed * 3000, **extra)
    path = tmp_path / "credit.csv"
    frame.to_csv(path, index=False)
    return path


TABLE = ["dataset.kind=table", "dataset.table.target_column=risk",
         "dataset.table.positive_label=bad", "dataset.table.sensitive_columns=[age_in_years, sex]",
         "dataset.table.exclude_columns=[n_buys, n_charges, charged_amount, n_failed, "
         "failed_amount]"]
COLUMNS = ["policy.columns.purchases=n_buys", "policy.columns.grouped_charges=n_charges",
           "policy.columns.grouped_amount=charged_amount", "policy.columns.failed_charges=n_failed",
           "policy.columns.failed_amount=failed_amount", "policy.columns.horizon_days=30"]


def test_a_table_without_cost_columns_skips_the_family_with_its_reason(tmp_path):
    cfg = load_config(None, [*TABLE, f"dataset.table.path={_credit(tmp_path)}"])
    skipped = dict(resolve_study(cfg, prepare(cfg)).skipped_families)
    assert "policy.columns.purchases" in skipped["decisions"]


def test_a_table_that_names_its_cost_columns_gets_the_family(tmp_path):
    cfg = load_config(None, [*TABLE, f"dataset.table.path={_credit(tmp_path)}", *COLUMNS])
    prepared = prepare(cfg)
    assert "decisions" not in dict(resolve_study(cfg, prepared).skipped_families)
    assert prepared.rows[ROW_COLUMNS["failed_amount"]].max() == 3000


@pytest.mark.parametrize(("extra", "needle"), [
    (["policy.columns.purchases=no_such_column"], "policy.columns.purchases: column "
                                                  "'no_such_column' is not in"),
    (["dataset.table.exclude_columns=[n_charges, charged_amount, n_failed, failed_amount]"],
     "policy.columns.purchases: column 'n_buys' of"),
])
def test_bad_cost_columns_are_one_line(tmp_path, extra, needle):
    cfg = load_config(None, [*TABLE, f"dataset.table.path={_credit(tmp_path)}", *COLUMNS,
                             *extra])
    with pytest.raises(NsfError) as info:
        prepare(cfg)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_negative_cost_values_are_one_line(tmp_path):
    path = _credit(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[3, "n_failed"] = -1
    frame.to_csv(path, index=False)
    cfg = load_config(None, [*TABLE, f"dataset.table.path={path}", *COLUMNS])
    with pytest.raises(NsfError, match=r"^policy.columns \(.*\): failed_charges must be"):
        prepare(cfg)


def test_decisions_summary_groups_variants_by_verdict():
    from nsf.study.families.decisions import decisions_summary

    def comp(name, est, lo, hi, verdict, swap):
        return {"variant": name, "diff": {"estimate": est, "lower": lo, "upper": hi},
                "verdict": verdict, "swap": swap}

    content = {
        "unit": "money per 1,000 users per month", "margin": 20_000.0,
        "comparisons": [comp("drop_a", 25_000.0, 21_000.0, 30_000.0, "needed", 0.09),
                        comp("drop_b", 100.0, -900.0, 1_100.0, "not shown needed", 0.03),
                        comp("drop_c", 12_000.0, 4_000.0, 24_000.0, "inconclusive", 0.05)],
        "floor": {"swap": 0.02},
        "flags": [{"variant": "drop_a", "metric": "cost_per_1k", "interval_excludes_zero": True,
                   "attribute": "gender", "group": "female", "change": 3_000.0}],
    }
    answer = decisions_summary(content)["answer"]
    assert "needed (1): drop_a 25,000 [21,000, 30,000]" in answer
    assert "inconclusive (1): drop_c 12,000 [4,000, 24,000]" in answer
    assert "not shown needed (1): drop_b." in answer
    assert "3.0% to 9.0% of users (retraining the baseline alone: 2.0%)" in answer
    assert "drop_a on gender female (3,000)" in answer
    assert decisions_summary(content | {"comparisons": []}) is None
