"""The data ledger: every factor from a verdict, scaled to the case, never understating."""

from __future__ import annotations

import pytest
from test_report import _render, hand_study_dict

from nsf.config import load_config
from nsf.study import StudyResult
from nsf.study._ledger import build_ledger

FACTS = load_config(None, []).study.ledger


def _volume(smallest: int, verdicts: list[str], sizes=(1000, 3000, 10000), n_all=15000):
    points = [{"size": n, "variant": f"volume_{n}", "estimate": 0.8, "lower": 0.78,
               "upper": 0.82, "difference": {"estimate": -0.001, "lower": -0.004,
                                             "upper": 0.002, "verdict": v}}
              for n, v in zip(sizes, verdicts, strict=True)]
    points.append({"size": n_all, "variant": "baseline", "estimate": 0.8, "lower": 0.78,
                   "upper": 0.82, "difference": None})
    law = {"fitted": False, "reason": "test", "form": "m(n) = a - b (n/1000)^-c",
           "higher_is_better": True, "a": None, "b": None, "c": None, "asymptote": None,
           "at": 40450000.0, "extrapolated": None, "lower": None, "upper": None,
           "is_extrapolation": True}
    return {"metric": "auc", "margin": 0.005, "n_all": n_all, "points": points, "notes": [],
            "smallest_sufficient": smallest, "smallest_sufficient_fraction": smallest / n_all,
            "monotone_within_intervals": True, "power_law": law}


def _study(*, population="not shown needed", retention7="not shown needed", volume=None,
           kind="simulated"):
    d = hand_study_dict()
    for v in d["variants"]:
        if v["family"] == "population":
            v["verdict"] = population
        if v["name"] == "retention_7d":
            v["verdict"] = retention7
    d["dataset"]["kind"] = kind
    if volume is not None:
        d["sections"] = {"volume": volume}
    return StudyResult.model_validate(d)


def _feed():
    return FACTS.records - FACTS.people * FACTS.training_days


def test_minimal_design_from_the_verdicts_matches_the_hand_computation():
    result = _study(volume=_volume(3000, ["needed", "not shown needed", "not shown needed"]))
    ledger = build_ledger(result, FACTS)
    # 3,000 training subjects (learning curve) x 7 days (retention), plus the daily records of
    # the Apple-registered users after the build (20% of the feed).
    expected = 3000 * 7 + FACTS.apple_share * _feed()
    assert ledger["records_needed"] == pytest.approx(expected)
    assert ledger["fraction_needed"] == pytest.approx(expected / FACTS.records)
    assert ledger["training_subjects_needed"] == 3000
    assert ledger["history_days_needed"] == 7
    # Upper: the next larger size (10,000) and the next longer window (the full 30 days).
    assert ledger["records_needed_upper"] == pytest.approx(10000 * 30 + 0.2 * _feed())
    # The waterfall goes from the records sent to the records needed, step by step.
    steps = ledger["steps"]
    assert steps[0]["delta"] == FACTS.records and steps[-1]["delta"] == ledger["records_needed"]
    assert sum(s["delta"] for s in steps[:-1]) == pytest.approx(ledger["records_needed"])
    # Categories: those of the minimal set's features plus one identifier for the match.
    cats = {f.category for f in result.inventory.features
            if f.name in result.minimal_set.features}
    assert ledger["categories_needed"] == len(cats) + FACTS.linkage_categories
    assert ledger["values_fraction_needed"] == pytest.approx(
        ledger["fraction_needed"] * ledger["categories_needed"] / FACTS.categories)
    # Every row names the verdict and the case fact it comes from.
    assert all(r["source"] and r["case_fact"] for r in ledger["rows"])


def test_only_not_shown_needed_removes_data():
    lean = build_ledger(_study(volume=_volume(
        3000, ["needed", "not shown needed", "not shown needed"])), FACTS)
    # Training on every user inconclusive: the whole user base is the training pool, and
    # retraining reads non-Apple records too.
    wide = build_ledger(_study(population="inconclusive", volume=_volume(
        3000, ["needed", "not shown needed", "not shown needed"])), FACTS)
    # The 7-day window needed: the full history (30 days) stays.
    longer = build_ledger(_study(retention7="needed", volume=_volume(
        3000, ["needed", "not shown needed", "not shown needed"])), FACTS)
    # No smaller training set shown sufficient: every user of the training pool counts.
    no_curve = build_ledger(_study(volume=_volume(15000, ["needed", "inconclusive",
                                                          "needed"])), FACTS)
    not_run = build_ledger(_study(), FACTS)
    for other in (wide, longer, no_curve, not_run):
        assert other["records_needed"] > lean["records_needed"]
    assert longer["history_days_needed"] == 30
    assert no_curve["training_subjects_needed"] == pytest.approx(FACTS.people * 0.2)
    assert not_run["training_subjects_needed"] == pytest.approx(FACTS.people * 0.2)
    assert wide["training_subjects_needed"] == 3000
    # A size smaller than the smallest sufficient one that is 'not shown needed' does not count:
    # the sizes above it must be sufficient too.
    gap = build_ledger(_study(volume=_volume(10000, ["not shown needed", "needed",
                                                     "not shown needed"])), FACTS)
    assert gap["training_subjects_needed"] == 10000


def test_a_users_table_has_no_case_ledger():
    assert build_ledger(_study(kind="table"), FACTS) is None
    off = load_config(None, ["study.ledger.enabled=false"]).study.ledger
    assert build_ledger(_study(), off) is None


@pytest.mark.parametrize("item", ["study.ledger.apple_share=0", "study.ledger.apple_share=1.5",
                                  "study.ledger.training_days=0", "study.ledger.records=-1"])
def test_bad_case_facts_name_the_field(item):
    with pytest.raises(Exception, match=item.split("=")[0].split(".")[-1]):
        load_config(None, [item])


def test_the_report_opens_on_the_ledger_with_its_waterfall():
    result = _study(volume=_volume(3000, ["needed", "not shown needed", "not shown needed"]))
    from nsf.study._quantity import LedgerSection

    ledger = LedgerSection.model_validate(build_ledger(result, FACTS))
    result = result.model_copy(update={"sections": result.sections.model_copy(
        update={"ledger": ledger})})
    model, figures, document = _render(result)   # report.json valid against its schema
    assert {"ledger", "volume"} <= set(figures)
    assert model["family_sections"]["ledger"]["content"]["records_needed"] == \
        ledger.records_needed
    first = document[0]["blocks"][0]
    assert document[0]["id"] == "summary" and "data ledger" in first.text
    assert f"{100 * ledger.fraction_needed:.1f}%" in first.text
    titles = [s["title"] for s in document]
    assert any("data ledger" in t for t in titles) and any("Volume" in t for t in titles)


def _freshness(needed, sufficient=None, days=None, upper=None):
    return {"metric": "auc", "margin": 0.005, "build_date": "2020-01-06", "horizon_days": 30,
            "train_dates": 2, "evaluation_dates": ["2020-01-06", "2020-02-05"],
            "windows": [], "schedules": [], "notes": [], "confidence": 0.95,
            "comparisons": 1, "retraining_needed": needed, "sufficient_schedule": sufficient,
            "retrain_days": days, "retrain_days_upper": upper, "answer": "", "fits": 2,
            "seconds": 0.0}


def test_retraining_frequency_comes_from_the_freshness_verdict_and_never_exceeds_the_feed():
    curve = _volume(3000, ["needed", "not shown needed", "not shown needed"])

    def ledger(fresh, population="inconclusive"):
        d = _study(population=population, volume=curve).model_dump(by_alias=True)
        d["sections"]["freshness"] = fresh
        return build_ledger(StudyResult.model_validate(d), FACTS)

    def retraining(led):
        return next(s for s in led["steps"] if s["label"] == "after the build: retraining data")

    # Training on every user (population inconclusive): retraining reads non-Apple records.
    none = ledger(_freshness(False))
    quarterly = ledger(_freshness(True, "quarterly", 90, 30))
    assert retraining(none)["delta"] == 0
    assert "not shown needed" in retraining(none)["source"]
    # 3,000 subjects, 80% of them not Apple-registered, 7 days of history (retention) at
    # each of the quarterly retrainings.
    assert retraining(quarterly)["delta"] == pytest.approx(3000 * 0.8 * 7 * (FACTS.feed_days
                                                                               // 90))
    assert quarterly["records_needed"] > none["records_needed"]
    # Retraining every user monthly: never more than the feed carried for them.
    every = _volume(15000, ["needed", "inconclusive", "needed"])
    d = _study(population="inconclusive", retention7="needed", volume=every).model_dump(
        by_alias=True)
    d["sections"]["freshness"] = _freshness(True, "monthly", 30, 30)
    heavy = build_ledger(StudyResult.model_validate(d), FACTS)
    assert retraining(heavy)["delta"] == pytest.approx(0.8 * _feed())
    assert heavy["fraction_needed"] <= 1.0
    row = next(r for r in quarterly["rows"] if r["item"] == "retraining after the build")
    assert (row["needed"], row["needed_upper"]) == (FACTS.feed_days // 90,
                                                    FACTS.feed_days // 30)
    # Apple-registered training subjects: their records are in the scoring feed already.
    apple = ledger(_freshness(True, "monthly", 30, 30), population="not shown needed")
    assert retraining(apple)["delta"] == 0
    assert apple["fraction_needed_upper"] <= 1.0
