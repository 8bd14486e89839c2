"""The two documents of a report (the report and the technical appendix): one recommendation
per category that every section reads, plain words, links from every answer to its evidence.

On the hand-built study of test_report (fast) and on the session's finished smoke study.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import ClassVar

import pytest

from nsf.report import (
    ReportModel,
    build_report_model,
    render_figures,
    render_html,
    render_markdown,
)
from nsf.report._answer import REPORT_SECTIONS, category_words, reconcile
from nsf.report._document import build_documents
from nsf.report._rules import category_recommendations
from nsf.report._words import GLOSSARY, number_with_interval, variant_words
from tests.test_report import AUDIT, ENV, SOURCE, hand_study

#: Internal identifiers a reader must never see in the report.
IDENTIFIER = re.compile(r"\b(core\+\w+|drop_\w+|coarse_\w+|retention_\d+d|volume_\d+|"
                        r"train_all_users_\w+|add_sensitive)\b")


class _Links(HTMLParser):
    ids: ClassVar[set]

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def _docs(model):
    figures = render_figures(model)
    docs = build_documents(model, figures)
    return figures, docs


@pytest.fixture(scope="module")
def hand():
    model = reconcile(build_report_model(hand_study(), AUDIT, None, source=SOURCE,
                                         environment=ENV))
    figures, docs = _docs(model)
    return model, figures, docs


def _check_links(model, figures, docs):
    """Every link of the report lands on an anchor of the appendix."""
    report = _Links()
    report.feed(render_html(model, docs["report"], figures, kind="report"))
    appendix = _Links()
    appendix.feed(render_html(model, docs["appendix"], figures, kind="appendix"))
    into = [h.split("#", 1)[1] for h in report.hrefs if h.startswith("appendix.html#")]
    assert into, "the report links no evidence"
    assert set(into) <= appendix.ids, set(into) - appendix.ids
    return report, appendix


def test_the_report_answers_every_question_with_a_link_to_its_evidence(hand):
    model, figures, docs = hand
    assert [s["id"] for s in docs["report"]] == [sid for sid, _ in REPORT_SECTIONS]
    answers = docs["report"][0]["blocks"]
    table = next(b for b in answers if b.type == "table")
    questions = [r[0] for r in table.rows]
    for q in ("Which contested data was needed?", "In what form?", "How much history?",
              "From whom?", "How many people's data?", "At what cost in money, and to whom?",
              "Were the identifiers anonymous?"):
        assert q in questions
    for row in table.rows:
        assert row[2] and all(link.doc == "appendix" for link in row[2]), row
    _check_links(model, figures, docs)


def test_one_recommendation_per_category_and_no_section_disagrees(hand):
    model, _, docs = hand
    recs = model.recommendations
    keys = [r.key for r in recs]
    assert len(keys) == len(set(keys))  # one per category
    action = {r.key: r.action for r in recs}
    # The appendix's inventory: every row of a category carries that category's one action.
    inv = next(s for s in docs["appendix"] if s["id"] == "inventory")
    table = next(b for b in inv["blocks"] if b.type == "table"
                 and "recommendation" in b.headers)
    col = table.headers.index("recommendation")
    for row in table.rows:
        key = row[0].split(".", 1)[0]
        assert row[col] == action[key].upper(), row
    # The report's category table says the same.
    cats = next(s for s in docs["report"] if s["id"] == "categories")
    rows = next(b for b in cats["blocks"] if b.type == "table").rows
    words = {"drop": "drop", "coarsen": "share coarse", "keep": "keep raw"}
    for r, row in zip(recs, rows, strict=True):
        assert row[0] == category_words(r) and row[2].startswith(words[r.action])
    # The summary's inventory answer counts the same.
    answer = next(a.answer for a in model.summary if a.key == "inventory")
    assert f"drop {sum(a == 'drop' for a in action.values())}," in answer
    # The minimal set: a used contested category is dropped if and only if the search removed
    # every group of it the model uses.
    removed = set(model.minimal_set.removed)
    for r in recs:
        if r.contested and r.action != "drop":
            assert not set(r.needed_groups) & removed
        elif r.contested and r.reason != "not used by the model":
            assert set(r.groups) & removed


def test_a_category_feeding_two_groups_gets_one_recommendation():
    def row(group, rec, rule, used=True):
        return SimpleNamespace(category=14, name="signup_history", group=group, contested=True,
                               used=used, recommendation=rec, rule=rule, reason="r", flags=[],
                               necessity=SimpleNamespace(verdict="inconclusive"))

    def search(kept, removed):
        return SimpleNamespace(kept=kept, removed=removed)

    inv = [row("phone", "coarsen", 3), row("signup", "drop", 2)]
    # Without a search: every used group is kept (not needed alone is not shown unneeded
    # together), raw unless every group of it may be coarse, provisionally.
    (only,) = category_recommendations(inv, None)
    assert (only.action, only.needed_groups) == ("keep", ["phone", "signup"])
    assert only.provisional
    # With a search that removed both groups together: dropped.
    (only,) = category_recommendations(inv, search(["balance"], ["phone", "signup"]))
    assert only.action == "drop" and only.basis == "minimal set"
    # With a search that keeps the signup group: kept raw (needed with the others gone).
    (only,) = category_recommendations(inv, search(["signup"], ["phone"]))
    assert (only.action, only.needed_groups) == ("keep", ["signup"])
    # A group the search did not study is kept (no evidence that it is not needed).
    (only,) = category_recommendations(inv, search(["balance"], ["signup"]))
    assert (only.action, only.needed_groups) == ("coarsen", ["phone"])
    assert "not in the minimal-set search" in only.reason


def test_plain_words_not_identifiers(hand):
    model, _figures, docs = hand
    for kind in ("report", "appendix"):
        md = render_markdown(model, docs[kind], kind=kind)
        text = "\n".join(line for line in md.splitlines()
                         if not line.startswith(("    ", "```")))
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        found = set(IDENTIFIER.findall(prose)) - {"drop_one", "drop_all", "drop_uncontested"}
        # the figure file names and config field names are not prose
        found = {f for f in found if not f.startswith(("drop_groups", "coarse_features"))}
        assert not found, (kind, sorted(found)[:10])
    assert variant_words("core+email") == "e-mail added to the core"
    assert variant_words("drop_email") == "without e-mail"
    assert variant_words("train_all_users_nsf_any") == \
        "trained on every user (label: any failed payment)"
    report_md = render_markdown(model, docs["report"], kind="report")
    assert "null" not in report_md and "0.333" not in report_md
    # every metric the report names is explained once, in the appendix's glossary
    glossary = next(s for s in docs["appendix"] if s["id"] == "glossary")
    terms = {row[0] for b in glossary["blocks"] if b.type == "table" for row in b.rows}
    assert terms == {t for t, _ in GLOSSARY}
    assert {"AUC", "equalized-odds difference", "ECE (calibration error)",
            "PSI (population stability index)", "proxy lift", "log-odds"} <= terms


def test_numbers_are_rounded_to_what_their_interval_supports():
    assert number_with_interval(0.40370786, 0.2403358, 0.4718100) == "0.40 [0.24, 0.47]"
    assert number_with_interval(-0.0004, -0.0031, 0.0029, signed=True) == \
        "-0.000 [-0.003, +0.003]"
    assert number_with_interval(0.0123, 0.0101, 0.0145) == "0.012 [0.010, 0.015]"
    assert number_with_interval(0.123, 0.101, 0.9, pct=True) == "12% [10%, 90%]"
    assert number_with_interval(0.11, -0.18, 0.4) == "0.11 [-0.18, 0.40]"


@pytest.mark.slow
def test_smoke_documents_are_consistent_and_link_their_evidence(smoke_study, smoke_report):
    folder = smoke_report
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    for name in ("report.html", "report.md", "appendix.html", "appendix.md"):
        assert (folder / name).is_file(), name
    report = (folder / "report.md").read_text(encoding="utf-8")
    # Page one names the needed categories, and the ledger counts the same ones.
    model = ReportModel.model_validate(model)
    kept = [r for r in model.recommendations if r.action != "drop"]
    first = report.split("## 2.", 1)[0]
    for r in kept:
        assert category_words(r) in first
    ledger = model.family_sections["ledger"].content if "ledger" in model.family_sections \
        else None
    if ledger:
        row = next(r for r in ledger["rows"] if r["item"] == "categories per record")
        named = re.search(r"categories ([\d, ]+) plus", row["source"])
        if named:
            assert {int(x) for x in named.group(1).split(", ")} == {
                r.category for r in kept}
    prose = re.sub(r"```.*?```", "", report, flags=re.S)
    assert not IDENTIFIER.findall(prose)


def test_a_history_length_within_the_margin_is_named_in_the_answer():
    """A retention variant that is not shown needed (and not the baseline's own fits) is the
    answer to "how much history?": its days are read from the typed comparison."""
    from tests.test_report import hand_study_dict

    study = hand_study_dict()
    for v in study["variants"]:
        if v["name"] == "retention_30d":
            v["same_fits_as"] = None
    model = reconcile(build_report_model(hand_study(**study), AUDIT, None, source=SOURCE,
                                         environment=ENV))
    _, docs = _docs(model)
    text = json.dumps(docs, default=lambda block: block.model_dump(mode="json"))
    assert "The last 30 days of each person's history are enough" in text
