"""The committed example report (reports/example/) is current: made by this code's report
schema, with the sections this code builds, and holds no identifier of a simulated person.

Regenerate it with the command in the README ("The example report") when a test here fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nsf.report import REPORT_SCHEMA, load_schema
from nsf.report._answer import REPORT_SECTIONS
from nsf.report._document import build_documents

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "reports" / "example"
FILES = ("report.html", "report.md", "appendix.html", "appendix.md", "report.json")
REGENERATE = ("stale: regenerate reports/example with the README's command "
              "(section 'The example report')")

jsonschema = pytest.importorskip("jsonschema")


def _model() -> dict:
    return json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))


def _titles(md: str) -> list[str]:
    return re.findall(r"^## (.+)$", md, flags=re.M)


def test_the_example_report_is_committed_whole():
    for name in FILES:
        assert (EXAMPLE / name).is_file(), name
    config = (ROOT / "experiments" / "example.yaml").read_text(encoding="utf-8")
    assert "name: example" in config


def test_the_example_report_matches_the_code_s_schema_and_sections():
    model = _model()
    assert model["schema"] == REPORT_SCHEMA, REGENERATE
    jsonschema.validate(model, load_schema())
    # The sections this code builds from the example's own numbers are the committed ones.
    documents = build_documents(model, {})
    for kind, name in (("report", "report.md"), ("appendix", "appendix.md")):
        committed = _titles((EXAMPLE / name).read_text(encoding="utf-8"))
        assert committed == [s["title"] for s in documents[kind]], (name, REGENERATE)
    assert [s["id"] for s in documents["report"]] == [sid for sid, _ in REPORT_SECTIONS]
    html = (EXAMPLE / "report.html").read_text(encoding="utf-8")
    for section in documents["report"]:
        assert f'id="s-{section["id"]}"' in html, REGENERATE


def test_the_example_report_holds_no_identifier_of_a_simulated_person():
    model = _model()
    digests = {model["reproducibility"].get("dataset_digest"),
               model["reproducibility"].get("test_digest")}
    for name in FILES:
        text = (EXAMPLE / name).read_text(encoding="utf-8")
        # hashed identifiers (64 hex digits) other than the dataset's own digests
        assert set(re.findall(r"\b[0-9a-f]{64}\b", text)) <= digests, name
        # masked e-mail addresses and phone numbers as the simulator writes them
        assert not re.search(r"\w\*{3}@[\w.]+", text), name
        assert not re.search(r"010-\*{4}-\d{4}", text), name
