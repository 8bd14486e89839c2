"""A user's own table (examples/credit.csv, German-Credit style) gets the sharing designs that
apply to it: its columns as given under a row key, the groups its variants drop, the minimal
set and the recommended design; no digest, no case scale, no simulator wording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "own_table.yaml"
#: Words that belong to the simulated case, never to a user's table.
SIMULATOR = re.compile(r"SHA-256|digest|phone|numbering plan|Apple|simulat|case scale|"
                       r"\(the case\)|registered|Kakao", re.IGNORECASE)


@pytest.fixture(scope="module")
def table_designs():
    """The designs section of a small study of the table (about 15 s on two idle cores)."""
    from nsf.config import load_config
    from nsf.pipeline import prepare
    from nsf.study import run_study

    cfg = load_config(CONFIG, [
        f"dataset.table.path={ROOT / 'examples' / 'credit.csv'}",
        "study.families=[drop_one]", "study.groups=[credit_amount,duration_months]",
        "study.minimal_set.enabled=true", "study.seeds=2", "study.n_bootstrap=100",
        "study.fairness_n_bootstrap=60", "study.permutation_repeats=1",
        "study.shap_rows=50", "study.permutation_rows=100", "study.workers=1",
        "study.crossfit_folds=3",
        "study.designs=[in_use, drop_credit_amount, drop_duration_months, minimal_set, "
        "recommended]"])
    result = run_study(cfg, prepare(cfg), workers=1)
    return json.loads(result.sections.designs.model_dump_json())


@pytest.mark.slow
def test_a_users_table_gets_the_frontier_of_the_designs_that_apply(table_designs):
    from nsf.report._designs import MAX_COLUMNS, designs_blocks, designs_figures

    content = table_designs
    designs = {d["name"]: d for d in content["designs"]}
    # The minimal-set search may or may not remove a group; either way it is said.
    assert {"in_use", "drop_credit_amount", "drop_duration_months", "recommended"} <= \
        set(designs)
    assert set(designs) | set(content["not_evaluated"]) == {
        "in_use", "drop_credit_amount", "drop_duration_months", "minimal_set", "recommended"}
    assert designs["in_use"]["role"] == "case" and designs["recommended"]["role"] == "recommended"
    for d in designs.values():
        # A row key: nothing reversed, no time; no case to scale to.
        assert d["identifier"] == "random" and d["reversal"]["estimate"] == 0.0
        assert d["seconds_to_reverse"] is None
        assert d["exposure"]["case_people"] is None and d["exposure"]["study_people"] == 1000
        for key in ("singled_out", "at_risk"):
            assert d[key]["lower"] <= d[key]["estimate"] <= d[key]["upper"]
        assert set(d["inference"]) == {"age_in_years", "sex"}
        assert d["auc_diff"] is not None  # every design here has a trained arm
    # Dropping a column shares fewer columns and singles out no more people.
    base = designs["in_use"]
    for name in ("drop_credit_amount", "drop_duration_months"):
        assert designs[name]["columns"] < base["columns"]
        assert designs[name]["singled_out"]["estimate"] <= base["singled_out"]["estimate"]
    assert any(d["efficient_auc"] for d in designs.values())
    assert content["seconds_per_hash"] is None and content["case_records_needed"] is None
    blocks = designs_blocks(content)
    text = " ".join([b.get("text", "") + b.get("caption", "") for b in blocks]
                    + [c for b in blocks if b["type"] == "table"
                       for row in [b["headers"], *b["rows"]] for c in row])
    assert not SIMULATOR.search(text), SIMULATOR.search(text)
    assert all(len(b["headers"]) <= MAX_COLUMNS for b in blocks if b["type"] == "table")
    assert "Data in use (the table)" in text and "Without credit amount" in text
    assert text.count("Answer: ") == 1
    assert "designs" in designs_figures(content)
