"""The report: pure renderers on a hand-built study, and end to end on a finished smoke study.

The end-to-end fixture runs ``nsf study`` (which writes the report), ``nsf audit`` and
``nsf report`` once per session on a shrunk smoke config in a temporary folder.
"""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from nsf.config import load_config
from nsf.errors import NsfError
from nsf.report import (
    SECTIONS,
    build_document,
    build_report_model,
    load_schema,
    render_figures,
    render_html,
    render_json,
    render_markdown,
)
from nsf.study import StudyResult, feature_inventory
from tests.conftest import _chdir, file_texts, undrawn_figures
from tests.test_features import feed_registry

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"


# --- hand-built study -----------------------------------------------------------------------

def _cmp(estimate, lower, upper, verdict, ref_est=0.80):
    return {"estimate": estimate, "lower": lower, "upper": upper, "standard_error": 0.01,
            "reference_estimate": ref_est, "variant_estimate": ref_est + estimate,
            "reference_per_seed": [ref_est, ref_est], "variant_per_seed": [ref_est + estimate] * 2,
            "margin": 0.005, "higher_is_better": True, "verdict": verdict}


def _variant(name, family, groups, estimate, lower, upper, verdict, *, subject="removed",
             retention=None, population="apple", same=None):
    return {"name": name, "family": family, "description": name, "groups": groups,
            "selection": {"drop_groups": groups if family == "drop_one" else [],
                          "coarsen_groups": groups if family == "coarsen" else [],
                          "retention_days": retention, "sensitive": [], "keep_groups": None,
                          "latents": False},
            "population": population, "label": "nsf_appstore", "reference": "baseline",
            "subject": subject, "features": [], "coarse_features": [], "n_features": 3,
            "seeds": [1, 2], "same_fits_as": same, "run_ids": [f"{name}-r1", f"{name}-r2"],
            "metrics": {"test_auc": {"mean": 0.8 + estimate, "sd": 0.01,
                                     "per_seed": [0.8 + estimate] * 2}},
            "comparisons": {"baseline": {"reference": "baseline", "subject": subject,
                                         "verdict": verdict,
                                         "metrics": {"auc": _cmp(estimate, lower, upper,
                                                                 verdict)}}},
            "verdict": verdict, "verdict_metric": "auc",
            "disparity_changes": {"gender": {"equalized_odds_difference": {
                "baseline": 0.1, "variant": 0.2, "estimate": 0.1, "lower": 0.02,
                "upper": 0.18}}}}


def _arm(name, family, features):
    return {"name": name, "family": family, "description": name, "groups": [],
            "selection": {"drop_groups": [], "coarsen_groups": [], "retention_days": None,
                          "sensitive": [], "keep_groups": None, "latents": False},
            "population": "apple", "label": "nsf_appstore", "features": features,
            "coarse_features": [], "n_features": len(features), "seeds": [1, 2]}


def hand_study_dict() -> dict:
    """A hand-built study.json (schema nsf.study/2) as a plain dict, to edit in tests."""
    config = load_config(None, ["world.feed.windows=[7,30]", "study.families=[drop_one,coarsen,"
                                "population,retention]"])
    cfg = config.model_dump(mode="json")
    features = ["email_domain", "pay_money_balance", "auto_topup"]
    s = config.study
    groups = [{"group": g, "n": 100, "n_bad": 5, "bad_rate": 0.05, "auc": 0.8,
               "auc_lower": 0.7, "auc_upper": 0.9, "ece": 0.02, "ece_lower": 0.01,
               "ece_upper": 0.03, "selection_rate": 0.1, "false_positive_rate": 0.05,
               "false_positive_rate_lower": 0.02, "false_positive_rate_upper": 0.08,
               "false_negative_rate": 0.4, "false_negative_rate_lower": 0.2,
               "false_negative_rate_upper": 0.6} for g in ("female", "male")]
    return {
        "schema": "nsf.study/2", "name": "hand",
        "dataset": {"kind": "simulated", "source": "/nonexistent/hand", "digest": "d" * 64,
                    "split": "out of time", "test_rows": 200, "test_nsf_rate": 0.05,
                    "train_rows": 600, "validation_rows": 100, "test_digest": "t" * 64},
        "config": cfg, "seeds": [1, 2],
        "settings": {"primary_metric": "auc", "margins": {"auc": 0.005}, "metrics": ["auc"],
                     "confidence": 0.95, "n_bootstrap": 200, "interval_target": "mean",
                     "fairness_n_bootstrap": 60, "threshold": 20, "n_bins": 10,
                     "min_group_support": 30, "proxy_lift_threshold": s.proxy_lift_threshold,
                     "protected_targets": ["age_band", "gender", "nationality", "region",
                                           "device_os"],
                     "equalized_odds_cut": s.equalized_odds_cut,
                     "reliance_top_k": s.reliance_top_k, "proxy_rows": 1000, "proxy_cv": 3,
                     "proxy_estimator": "logistic_regression", "shap_rows": 100,
                     "permutation_rows": 200, "permutation_repeats": 1,
                     "minimal_set_strategy": "ranked", "crossfit_below": s.crossfit_below,
                     "crossfit_folds": s.crossfit_folds, "model": "lightgbm"},
        "families": ["drop_one", "coarsen", "population", "retention"],
        "skipped_families": [],
        "contested_groups": ["email", "balance"], "covered_groups": ["email", "balance"],
        "inventory": feature_inventory(feed_registry((7, 30)), features, categories=True),
        "assumptions": [],
        "baseline": _arm("baseline", "baseline", features) | {
            "run_ids": ["b-r1", "b-r2"],
            "metrics": {"test_auc": {"mean": 0.8, "sd": 0.01, "per_seed": [0.79, 0.81]}}},
        "variants": [
            _variant("drop_email", "drop_one", ["email"], 0.001, -0.003, 0.004,
                     "not shown needed"),
            _variant("drop_balance", "drop_one", ["balance"], -0.05, -0.08, -0.02, "needed"),
            _variant("coarse_balance", "coarsen", ["balance"], -0.001, -0.004, 0.003,
                     "not shown needed"),
            _variant("train_all", "population", [], 0.01, -0.01, 0.03, "inconclusive",
                     subject="added", population="all"),
            _variant("retention_7d", "retention", [], -0.03, -0.05, -0.01, "needed",
                     retention=7),
            _variant("retention_30d", "retention", [], 0.0, 0.0, 0.0, "not shown needed",
                     retention=30, same="baseline"),
        ],
        "minimal_set": {"strategy": "ranked", "metric": "auc", "margin": 0.005,
                        "order": ["email", "balance"], "removed": ["email"],
                        "kept": ["balance"], "uncontested": ["payment_settings"],
                        "complete": True,
                        "steps": [{"step": 1, "round": 1, "candidate": "email",
                                   "removal_set": ["email"], "estimate": 0.001,
                                   "lower": -0.003, "upper": 0.004,
                                   "verdict": "not shown needed", "accepted": True}],
                        "features": ["pay_money_balance", "auto_topup"],
                        "metrics": {"test_auc": {"mean": 0.801, "sd": 0.01,
                                                 "per_seed": [0.8, 0.802]}},
                        "comparison": {"auc": _cmp(0.001, -0.003, 0.004, "not shown needed")},
                        "disparity_changes": None, "run_ids": ["m-r1", "m-r2"]},
        "fairness": {"threshold": 20, "skipped": [], "attributes": {"gender": {
            "columns": ["gender"], "threshold": 20, "n_groups": 2, "groups": groups,
            "disparities": {"equalized_odds_difference": {"estimate": 0.1, "lower": 0.01,
                                                          "upper": 0.2,
                                                          "per_seed": [0.1, 0.1]}},
            "overall": {"n": 200}}}},
        "proxies": [{"group": "email", "target": "age_band", "metric": "balanced_accuracy",
                     "score": 0.4, "chance": 0.167, "lift": 0.233},
                    {"group": "balance", "target": "gender", "metric": "auc", "score": 0.52,
                     "chance": 0.5, "lift": 0.02}],
        "reliance": [{"group": "balance", "contested": True, "n_features": 1,
                      "shap_mean_abs": 0.3, "shap_share": 0.6, "shap_share_sd": 0.01,
                      "permutation_auc_drop": 0.05, "permutation_auc_drop_sd": 0.01,
                      "necessity": {"variant": "drop_balance", "metric": "auc",
                                    "estimate": -0.05, "lower": -0.08, "upper": -0.02,
                                    "verdict": "needed"},
                      "truth_strength": None, "truth_strengths": None},
                     {"group": "email", "contested": True, "n_features": 1,
                      "shap_mean_abs": 0.1, "shap_share": 0.2, "shap_share_sd": 0.01,
                      "permutation_auc_drop": 0.0, "permutation_auc_drop_sd": 0.0,
                      "necessity": {"variant": "drop_email", "metric": "auc",
                                    "estimate": 0.001, "lower": -0.003, "upper": 0.004,
                                    "verdict": "not shown needed"},
                      "truth_strength": 0.6, "truth_strengths": {"email_domain": 0.6}}],
        "truth": None, "fits": {"trained": 14, "reused": 0, "unique": 14},
        "run_ids": {"parent": "parent-1", "children": {"baseline": {"1": "b-r1", "2": "b-r2"}}},
        "timing": {"total": 1.0},
    }


def hand_study(**changes) -> StudyResult:
    """The hand-built study, validated as the report reads it."""
    return StudyResult.model_validate(hand_study_dict() | changes)


SOURCE = {"tracking_uri": "sqlite:///x.db", "experiment": "hand", "experiment_id": "1",
          "parent_run_id": "parent-1", "status": "FINISHED",
          "tags": {"nsf.git_commit": "abc"}, "metrics": {"baseline_test_auc": 0.8},
          "missing": [], "config_yaml": "name: hand\n"}
ENV = {"generated_at": "2026-01-01T00:00:00+00:00", "packages": {"numpy": "2.0"}}
AUDIT = {"run_id": "audit-1", "metrics": {"phone_recovered_fraction": 0.5,
                                          "hashes_per_s": 1e6, "link_fraction": 1.0},
         "audit": {"reversal": {}, "linkage": {}, "quasi": {}, "dataset": "/x"}}


class _WellFormed(HTMLParser):
    """Every non-void element closed, in order."""

    VOID: ClassVar[set[str]] = {"meta", "img", "br", "hr", "link", "input", "col", "area",
                                "base", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [v for k, v in attrs if k == "id"]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def check_html(text: str) -> _WellFormed:
    parser = _WellFormed()
    parser.feed(text)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert parser.stack == [], parser.stack
    assert "http://" not in text and "https://" not in text  # nothing fetched from a network
    return parser


def _model(study, audit=AUDIT, summary=None):
    """The report's model of ``study`` (valid against its schema), without figures."""
    model = build_report_model(study, audit, summary, source=SOURCE, environment=ENV)
    jsonschema.validate(model, load_schema())
    return model


def _render(study, audit=AUDIT, summary=None):
    model = _model(study, audit, summary)
    figures = render_figures(model)
    document = build_document(model, figures)
    return model, figures, document


def test_hand_built_study_renders_every_section_and_valid_json():
    model, figures, document = _render(hand_study(), summary={"calibration": {
        "apple_nsf_rate": {"meaning": "m", "target": 0.06, "simulated": 0.063,
                           "relative_error": 0.05}}})
    html = render_html(model, document, figures)
    parser = check_html(html)
    assert {f"s-{sid}" for sid, _ in SECTIONS} <= set(parser.ids)
    md = render_markdown(model, document)
    for _, title in SECTIONS:
        assert title in md
    assert json.loads(render_json(model)) == model
    assert {"attributes", "granularity", "retention", "reliance", "fairness"} <= set(figures)
    assert model["missing"] == []
    # The numbers are carried raw: the same floats as the study.
    drop = model["attributes"]["drop_one"][1]
    assert (drop["variant"], drop["estimate"], drop["lower"]) == ("drop_balance", -0.05, -0.08)
    assert model["method"]["calibration"]["rows"][0]["relative_error"] == 0.05


def test_inventory_covers_the_24_categories_and_follows_the_rule():
    model = _model(hand_study())
    rows = model["inventory"]["rows"]
    assert {r["category"] for r in rows} == set(range(1, 25))
    by_feature = {f: r for r in rows for f in r["features"]}
    # email: not shown needed, but the strongest proxy -> still dropped by step 2
    assert by_feature["email_domain"]["recommendation"] == "drop"
    # balance: needed, coarse version non-inferior -> coarsen (step 3)
    assert by_feature["pay_money_balance"]["recommendation"] == "coarsen"
    assert by_feature["pay_money_balance"]["rule"] == 3
    # uncontested funding setting -> keep
    assert by_feature["auto_topup"]["recommendation"] == "keep"
    # a category whose features the model does not use -> drop (step 0)
    phone = next(r for r in rows if r["name"] == "phone_number")
    assert (phone["used"], phone["recommendation"], phone["rule"]) == (False, "drop", 0)


def test_summary_answers_all_six_questions_with_numbers():
    model = _model(hand_study())
    answers = {a["key"]: a["answer"] for a in model["summary"]}
    assert {"attributes", "granularity", "population", "retention", "fairness",
            "deidentification", "minimal_set"} <= set(answers)
    assert "-0.050 AUC [-0.080, -0.020]" in answers["attributes"]
    assert "30 days equal the full history" in answers["retention"]
    assert "50.0%" in answers["deidentification"]


def test_a_study_missing_parts_says_what_is_missing():
    study = hand_study_dict()
    study["variants"] = [v for v in study["variants"] if v["family"] != "coarsen"]
    study["variants"][0]["comparisons"] = {}  # a failed variant
    study["fairness"] = {"threshold": 20, "skipped": ["region"], "attributes": {}}
    study["minimal_set"] = None
    study["proxies"], study["reliance"] = [], []
    model, figures, document = _render(StudyResult.model_validate(study), audit=None)
    assert any("coarsen" in m for m in model["missing"])
    assert any("drop_email" in m for m in model["missing"])
    assert any("calibration summary" in m for m in model["missing"])
    html = render_html(model, document, figures)
    check_html(html)
    assert "This report is incomplete" in html
    assert "nsf audit CONFIG" in html  # how to add the de-identification section
    answers = {a["key"]: a["answer"] for a in model["summary"]}
    assert answers["granularity"].startswith("Not answered")


def test_a_skipped_family_is_not_applicable_not_missing():
    study = hand_study_dict()
    study["variants"] = [v for v in study["variants"] if v["family"] != "population"]
    reason = "the table has no population column"
    study["skipped_families"] = [{"family": "population", "reason": reason}]
    model, figures, document = _render(StudyResult.model_validate(study),
                                       summary={"calibration": {}})
    assert model["missing"] == []
    assert model["skipped_families"] == [{"family": "population", "reason": reason}]
    answers = {a["key"]: a["answer"] for a in model["summary"]}
    assert answers["population"] == f"Not applicable: {reason}."
    html = render_html(model, document, figures)
    assert "This report is incomplete" not in html
    assert f"not applicable: {reason}" in html
    assert f"not applicable: {reason}" in render_markdown(model, document)


def test_the_inventory_reads_what_the_study_logged():
    """Contested status, features and thresholds come from the logged result: narrowing the
    groups a study covered does not relabel the others, and a logged threshold is applied."""
    study = hand_study_dict()
    study["covered_groups"] = ["balance"]  # study.groups narrowed to one group
    model = _model(StudyResult.model_validate(study))
    rows = {r["group"]: r for r in model["inventory"]["rows"]}
    assert rows["email"]["contested"] is True
    assert rows["email"]["recommendation"] == "drop"  # its drop-one verdict still counts
    # The proxy threshold the study logged decides the proxy flag (email's lift is 0.233).
    assert model["inventory"]["proxy_lift_threshold"] == 0.1
    assert any("proxy" in f for f in rows["email"]["flags"])
    study["settings"]["proxy_lift_threshold"] = 0.5
    model = _model(StudyResult.model_validate(study))
    rows = {r["group"]: r for r in model["inventory"]["rows"]}
    assert model["inventory"]["proxy_lift_threshold"] == 0.5
    assert not any("proxy" in f for f in rows["email"]["flags"])
    # A feature the logged inventory does not list is not shown, whatever the code's registry.
    study["inventory"]["features"] = [f for f in study["inventory"]["features"]
                                      if f["name"] != "email_domain"]
    model = _model(StudyResult.model_validate(study))
    assert "email_domain" not in {f for r in model["inventory"]["rows"] for f in r["features"]}


def test_no_study_result_at_all_still_renders():
    source = dict(SOURCE, missing=["study.json: not logged (status FAILED)"], status="FAILED")
    model = build_report_model(None, None, None, source=source, environment=ENV)
    jsonschema.validate(model, load_schema())
    figures = render_figures(model)
    assert figures == {}
    html = render_html(model, build_document(model, figures), figures)
    check_html(html)
    assert "study.json: not logged" in html


# --- end to end on a finished smoke study (fixture smoke_study in conftest.py) ---------------


def _numbers(node, path=""):
    """(path, value) of every number in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{path}/{i}")
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path, node


def test_nsf_study_writes_the_report_at_the_end(smoke_study):
    first = smoke_study["root"] / "reports" / "smoke" / smoke_study["parent"]
    assert "report:" in smoke_study["study_output"]
    assert {"report.html", "report.md", "report.json"} <= {p.name for p in first.iterdir()}
    model = json.loads((first / "report.json").read_text(encoding="utf-8"))
    # study.audit (default): the study audited its dataset before writing the report.
    assert "audit logged" in smoke_study["study_output"]
    assert model["deidentification"]["available"] is True


def test_regenerated_report_is_complete_and_valid(smoke_report):
    folder = smoke_report
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(model, load_schema())
    assert model["missing"] == []
    assert model["deidentification"]["available"] is True
    assert model["method"]["calibration"]["available"] is True
    assert {r["category"] for r in model["inventory"]["rows"]} == set(range(1, 25))
    check_html((folder / "report.html").read_text(encoding="utf-8"))
    html = (folder / "appendix.html").read_text(encoding="utf-8")
    parser = check_html(html)
    assert {f"s-{sid}" for sid, _ in SECTIONS} <= set(parser.ids)
    assert html.count("data:image/png;base64,") >= 6
    md = (folder / "appendix.md").read_text(encoding="utf-8")
    for _, title in SECTIONS:
        assert title in md
    for name in ("attributes", "retention", "reliance", "fairness", "proxies"):
        assert (folder / "figures" / f"{name}.png").stat().st_size > 1000
    assert (folder / "config.yaml").read_text(encoding="utf-8").startswith("name: smoke")


def test_every_number_equals_what_mlflow_logged(smoke_study, smoke_report, tmp_path):
    """report.json against the parent's study.json, its metrics, the children and the audit."""
    import mlflow

    from nsf.tracking.report import load_audit, load_study, run_metrics

    cfg = load_config(SMOKE, smoke_study["sets"])
    model = json.loads((smoke_report / "report.json").read_text(encoding="utf-8"))
    record = load_study(cfg.tracking, smoke_study["parent"])
    study = record.study
    assert model["source"]["parent_run_id"] == record.run_id

    # Parent run metrics (headline numbers logged by nsf study).
    for key, value in model["baseline"]["metrics"].items():
        assert value["mean"] == record.metrics[f"baseline_{key}"], key
    assert model["reproducibility"]["parent_metrics"] == record.metrics

    # Child runs: each seed's metric is what the child run logged.
    children = run_metrics(cfg.tracking, model["baseline"]["run_ids"])
    for run_id, value in zip(model["baseline"]["run_ids"],
                             model["baseline"]["metrics"]["test_auc"]["per_seed"], strict=True):
        assert value == children[run_id]["auc"]

    # Every comparison number equals study.json's, and the variant arm is the mean of its
    # children's logged metric.
    by_name = {v.name: v for v in study.variants}
    rows = [r for key in ("drop_one", "drop_all", "keep_one", "custom", "sensitive")
            for r in model["attributes"][key]]
    rows += model["granularity"]["rows"] + model["population"]["rows"] + \
        model["retention"]["rows"]
    # The volume variants are shown in their own section, as points of the learning curve.
    curve = model["family_sections"]["volume"]["content"]
    assert len(rows) + len(curve["points"]) - 1 == len(study.variants)
    for point in curve["points"][:-1]:
        logged = by_name[point["variant"]].comparisons["baseline"].metrics["auc"]
        assert point["difference"]["estimate"] == logged.estimate
        assert point["difference"]["lower"] == logged.lower
    # The ledger's headline figures are the parent run's ledger_* metrics.
    ledger = model["family_sections"]["ledger"]["content"]
    for key in ("records_needed", "fraction_needed", "categories_needed"):
        assert ledger[key] == record.metrics[f"ledger_{key}"], key
    for row in rows:
        logged = by_name[row["variant"]].comparisons[row["reference"]].metrics["auc"]
        for key in ("estimate", "lower", "upper", "reference_estimate", "variant_estimate",
                    "margin"):
            assert row[key] == getattr(logged, key), (row["variant"], key)
        if row["reference"] == "baseline":
            seeds = run_metrics(cfg.tracking, row["run_ids"])
            mean = sum(seeds[r]["auc"] for r in row["run_ids"]) / len(row["run_ids"])
            assert math.isclose(row["variant_estimate"], mean, rel_tol=0, abs_tol=1e-12)

    # Fairness, proxies, reliance: the same numbers as study.json.
    for attr, table in model["fairness"]["attributes"].items():
        for d, val in table["disparities"].items():
            logged = study.fairness.attributes[attr].disparities[d]
            assert (val["estimate"], val["lower"], val["upper"]) == \
                (logged.estimate, logged.lower, logged.upper)
    assert [(p["group"], p["target"], p["lift"]) for p in model["fairness"]["proxies"]] == \
        [(p.group, p.target, p.lift) for p in study.proxies]
    for row, logged in zip(model["reliance"]["rows"], study.reliance, strict=True):
        assert (row["shap_share"], row["permutation_auc_drop"]) == \
            (logged.shap_share, logged.permutation_auc_drop)
    # The thresholds the report applied are the ones the study logged.
    assert model["inventory"]["proxy_lift_threshold"] == study.settings.proxy_lift_threshold
    assert model["settings"]["thresholds"] == study.settings.model_dump(mode="json")

    # The audit section is the audit run's logged metrics, number for number.
    audit = load_audit(cfg.tracking, record.experiment_id)
    assert model["deidentification"]["run_id"] == audit.run_id
    assert model["deidentification"]["metrics"] == audit.metrics
    mlflow.set_tracking_uri(cfg.tracking.uri)
    assert mlflow.get_run(audit.run_id).data.metrics == audit.metrics

    # No number in report.json is NaN or infinite.
    assert all(math.isfinite(v) for _, v in _numbers(model))


def test_not_a_study_run_is_a_clear_error(smoke_study, smoke_report):
    from typer.testing import CliRunner

    from nsf.cli import app
    from nsf.tracking.report import find_study_run

    cfg = load_config(SMOKE, smoke_study["sets"])
    model = json.loads((smoke_report / "report.json").read_text(encoding="utf-8"))
    child = model["baseline"]["run_ids"][0]
    with pytest.raises(NsfError, match="is not a study"):
        find_study_run(cfg.tracking, run_id=child)
    with pytest.raises(NsfError, match="not found"):
        find_study_run(cfg.tracking, run_id="0" * 32)
    with pytest.raises(NsfError, match="not found"):
        find_study_run(cfg.tracking, experiment="no-such-experiment")
    args = [a for item in smoke_study["sets"] for a in ("--set", item)]
    result = CliRunner().invoke(app, ["report", "--run", child, *args])
    assert result.exit_code != 0


# --- the typed study result and the generated schemas ---------------------------------------

def test_committed_schemas_equal_the_generated_ones():
    from nsf.report._schema import rendered_schemas

    for name, text in rendered_schemas().items():
        committed = (ROOT / "nsf" / "schemas" / name).read_text(encoding="utf-8")
        assert committed == text, f"nsf/schemas/{name} is stale: run write_schemas()"
    # The generated report schema is a valid JSON schema that rejects a broken model.
    model = _model(hand_study())
    broken = dict(model, summary=model["summary"][:2])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())


def test_a_result_logged_before_its_settings_carried_them_reads_them_from_its_config():
    """The experiment seed, the configured families and the declared identifier columns travel
    in the result; a result written before they did takes them from its logged config."""
    old = hand_study_dict()
    old["config"] = old["config"] | {"seed": 7, "study": old["config"]["study"] | {
        "families": ["drop_one", "volume"]}}
    old["config"]["dataset"] = old["config"]["dataset"] | {"table": {
        "identifier_columns": ["customer_no"]}}
    for key in ("experiment_seed", "configured_families"):
        old["settings"].pop(key, None)
    old["dataset"].pop("identifier_columns", None)
    study = StudyResult.load(json.dumps(old))
    assert study.settings.experiment_seed == 7
    assert study.settings.configured_families == ["drop_one", "volume"]
    assert study.dataset.identifier_columns == ["customer_no"]
    model = build_report_model(study, AUDIT, None, source=SOURCE, environment=ENV)
    assert model["reproducibility"]["experiment_seed"] == 7
    assert any("variant family 'volume'" in m for m in model["missing"])
    # What the result logged is what it says, whatever its config holds.
    logged = dict(old, settings=old["settings"] | {"experiment_seed": 11,
                                                   "configured_families": None})
    study = StudyResult.load(json.dumps(logged))
    assert (study.settings.experiment_seed, study.settings.configured_families) == (11, None)
    # The primary metric's margin is part of every result.
    no_margin = dict(old, settings=old["settings"] | {"margins": {}})
    with pytest.raises(NsfError, match="margin for the primary metric"):
        StudyResult.load(json.dumps(no_margin))


def test_the_report_names_every_disparity_the_study_measures():
    from nsf.fairness import DISPARITIES
    from nsf.report._schema import Disparities

    assert tuple(Disparities.model_fields) == DISPARITIES


def test_study_json_round_trips_and_an_old_schema_asks_for_a_rerun():
    study = hand_study()
    assert StudyResult.load(study.to_json()) == study
    old = hand_study_dict() | {"schema": "nsf.study/1"}
    with pytest.raises(NsfError, match=r"nsf.study/1.*re-run the study"):
        StudyResult.load(json.dumps(old))
    bad = hand_study_dict()
    bad["variants"][0]["verdict"] = "maybe"
    with pytest.raises(NsfError, match=r"variants/0/verdict"):
        StudyResult.load(json.dumps(bad))


def test_a_family_section_is_reported_through_its_registered_view():
    """The extension point: a family's typed section and its registered view, no core edit."""
    from nsf.report._families import register_family_section, unregister_family_section
    from nsf.study import FamilySection, FamilySections

    class ExampleSection(FamilySection):
        bundled_share: float

    class Sections(FamilySections):
        example: ExampleSection | None = None

    study = hand_study().model_copy(
        update={"sections": Sections(example=ExampleSection(bundled_share=0.25))})
    # Without a view the section is listed as missing, not dropped silently.
    model = _model(study)
    assert any("'example'" in m for m in model["missing"])
    register_family_section(
        "example", title="Example", model=lambda section, result: {
            "bundled_share": section.bundled_share, "n_variants": len(result.variants)},
        blocks=lambda content: [{"type": "p", "text": f"bundled {content['bundled_share']:.0%}"}])
    try:
        model, figures, document = _render(study)
    finally:
        unregister_family_section("example")
    assert not any("example" in m for m in model["missing"])
    assert model["family_sections"] == {"example": {"title": "Example", "content": {
        "bundled_share": 0.25, "n_variants": len(study.variants)}}}
    # the families come after the core sections, before the reproducibility record and glossary
    assert document[-3]["title"] == f"A{len(SECTIONS) - 1}. Example"
    html = render_html(model, document, figures)
    check_html(html)
    assert "bundled 25%" in html and "bundled 25%" in render_markdown(model, document)


def test_a_plain_table_study_gives_a_complete_report_in_its_own_words(table_study):
    """A default study on a user's table (no id, text target, protected columns under their
    own names): the report is complete, inapplicable families say why, wording from the
    table's description. The session's table study (conftest ``table_study``)."""
    folder = table_study["folder"]
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(model, load_schema())
    assert model["missing"] == []
    skipped = {f["family"]: f["reason"] for f in model["skipped_families"]}
    assert {"population", "retention"} <= set(skipped)
    answers = {a["key"]: a["answer"] for a in model["summary"]}
    assert answers["population"] == f"Not applicable: {skipped['population']}."
    assert answers["retention"] == f"Not applicable: {skipped['retention']}."
    assert model["settings"]["outcome"] == "the applicant's credit turned out bad"
    html = (folder / "appendix.html").read_text(encoding="utf-8")
    for case_wording in ("App Store", "Apple-registered", "Kakao Pay user"):
        assert case_wording not in html, case_wording
    # No word of the simulated case anywhere in the table's report or appendix.
    from test_table_reading import simulator_words

    for name in ("report.md", "report.html", "appendix.md", "appendix.html"):
        found = simulator_words((folder / name).read_text(encoding="utf-8"))
        assert not found, (name, found)
    assert model["data"]["missing_share"] and model["power"] is not None
    assert "The data as read" in html and "derived from the data" in html
    assert "This report is incomplete" not in html
    assert "24 shared categories" not in html and "Every shared category" not in html
    assert f"not applicable: {skipped['population']}" in html
    assert answers["deidentification"].startswith("Not applicable: ")
    # The inventory is by attribute group, each a column of the table, as the study logged.
    assert model["inventory"]["unit"] == "group"
    assert {r["group"] for r in model["inventory"]["rows"]} >= {"checking_account",
                                                                "credit_amount"}
    assert {"age_in_years", "sex"} <= set(model["fairness"]["attributes"])


def test_a_study_json_of_the_old_schema_is_one_line_asking_for_a_rerun(tmp_path, capsys,
                                                                     tracking_store):
    """nsf report on a parent run whose study.json predates the typed result: exit 2, one
    line naming the schema and what to do, nothing written."""
    import mlflow

    from nsf.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("old")
    with mlflow.start_run(tags={"nsf.role": "study"}) as run:
        mlflow.log_text(json.dumps({"schema": "nsf.study/1", "name": "old", "variants": []}),
                        "study.json")
    out = tmp_path / "out"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--run", run.info.run_id, "--set", f"tracking.uri={uri}",
              "--out", str(out)])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("nsf: error:")]
    assert len(lines) == 1 and "nsf.study/1" in lines[0] and "re-run the study" in lines[0]
    assert not out.exists()


# --- nothing identifying in MLflow, reports inside their root -------------------------------

_TOKENS = (
    r"(?i)(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])",           # SHA-256 / HMAC digests
    r"(?<![\d.])010-?[\d*]{4}-?\d{4}(?![\d.])",              # phone numbers, plain or masked
    r"(?<![\d.])\d{9}(?![\d.])",                              # customer numbers
    r"[A-Za-z0-9._%+*-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",  # e-mails, plain or masked
)


def _identifiers(dataset: Path) -> set[str]:
    """Every identifier of every simulated person in the dataset, as the tokens look."""
    import pyarrow.parquet as pq

    from data_gen.dataset import read_manifest

    manifest = read_manifest(dataset)
    values: set[str] = set()
    wanted = {"users": ("customer_number_hash", "kakao_account_hash", "phone_hash",
                        "email_hash", "masked_email", "masked_phone"),
              "truth_users": ("phone_plain", "email_plain", "customer_number",
                              "kakao_account_id")}
    for table, columns in wanted.items():
        for f in manifest["tables"][table]["files"]:
            frame = pq.read_table(dataset / f, columns=list(columns)).to_pandas()
            for c in columns:
                values.update(frame[c].dropna().astype(str))
    values.update(v.replace("-", "") for v in list(values) if v.startswith("010-"))
    return {v.lower() for v in values}


def _tokens(text: str) -> set[str]:
    import re

    found = set()
    for pattern in _TOKENS:
        found.update(m.replace("-", "") if m.startswith("010") else m
                     for m in re.findall(pattern, text))
    return {t.lower() for t in found}




def test_no_identifier_in_any_artifact_param_tag_or_metric(smoke_study, smoke_report):
    """Train, study and audit runs on the smoke world: no artifact (models, examples, tables,
    JSON), param, tag, metric or report holds a person's identifier, phone number or hash."""
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from nsf.cli import app

    root = smoke_study["root"]
    args = [a for item in smoke_study["sets"] for a in ("--set", item)]
    with _chdir(root):
        train = CliRunner().invoke(app, ["train", str(SMOKE), "-q", *args],
                                   catch_exceptions=False)
    assert train.exit_code == 0, train.output
    secrets = _identifiers(smoke_study["data"])
    assert len(secrets) > 5 * 3000  # the scan looks for real values

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    roles = set()
    for exp in client.search_experiments():
        if exp.name != "Default":  # MLflow's own; every other one is the project's
            assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
        for run in client.search_runs([exp.experiment_id], max_results=5000):
            roles.add(run.data.tags.get("nsf.role"))
            text = json.dumps([run.data.params, run.data.tags, run.data.metrics])
            leaked = _tokens(text) & secrets
            assert not leaked, (run.info.run_id, sorted(leaked)[:3])
    assert {"train", "study", "variant", "audit"} <= roles
    files = [p for p in (root / "mlartifacts").rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"input_example.json", "serving_input_example.json", "study.json",
            "audit.json", "python_model.pkl"} <= names
    # The reports written by `nsf study` and `nsf report` too.
    reports = [p for folder in (root / "reports", root / "out") for p in folder.rglob("*")
               if p.is_file()]
    assert {"report.html", "report.md", "report.json"} <= {p.name for p in reports}
    for path in files + reports:
        if path.suffix == ".png":
            continue  # figures of aggregates
        for text in file_texts(path):
            leaked = _tokens(text) & secrets
            assert not leaked, (str(path.relative_to(root)), sorted(leaked)[:3])


def test_input_example_keeps_what_the_features_need(smoke_prepared):
    """The redacted example scores like rows with the same derived features would."""
    from nsf.features import build_features
    from nsf.pipeline import FeatureSelection, fit_variant
    from nsf.tracking._train import example_rows

    cfg = load_config(SMOKE)
    fitted = fit_variant(smoke_prepared, FeatureSelection.from_config(cfg.features), cfg.model,
                         cfg.seed)
    rows = smoke_prepared.frame.iloc[smoke_prepared.test_index[:5]].reset_index(drop=True)
    example = example_rows(rows, fitted)
    assert list(example.columns) == fitted.input_columns
    real = build_features(rows, fitted.features)
    fake = build_features(example, fitted.features)
    # The same multiset of derived values per feature (rows are rotated, not copied).
    for name in ("account_id_kind", "email_domain"):
        assert sorted(map(str, fake[name])) == sorted(map(str, real[name])), name
    for column in ("phone_hash", "email_hash", "kakao_account_hash"):
        assert not set(example[column]) & set(rows[column])
    assert len(example.merge(rows[fitted.input_columns], how="inner")) == 0


def test_report_folder_stays_under_its_root(smoke_study, smoke_report, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from nsf.report import write_report
    from nsf.report._write import report_folder

    root = tmp_path / "reports"
    assert report_folder(root, "../../x", "run").resolve().is_relative_to(root.resolve())
    assert report_folder(root, "..", "..").parent.name == "_"
    cfg = load_config(SMOKE, smoke_study["sets"])
    client = MlflowClient(cfg.tracking.uri)
    exp = client.get_experiment_by_name("smoke")
    client.rename_experiment(exp.experiment_id, "../../../x")
    undrawn_figures(monkeypatch)  # where files go and what is logged
    try:
        folder = write_report(smoke_study["parent"], cfg, out_dir=root)
    finally:
        client.rename_experiment(exp.experiment_id, "smoke")
    assert folder.resolve().is_relative_to(root.resolve())
    assert (folder / "report.html").is_file()
    assert not (tmp_path.parent / "x").exists() and not (tmp_path / "x").exists()
