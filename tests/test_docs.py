"""The README as a front door: short, its two commands intact, and every document it (or a page
of docs/) links exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Markdown links and images: [text](target) and ![alt](target).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)
            and not t.startswith("#")]


def test_readme_is_a_front_door_of_at_most_150_lines():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    # The two commands, exactly: command 2 is what .ci/run runs.
    assert ("python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/nsf study "
            "experiments/default.yaml") in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest" \
        in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pip install -q -e '.[dev]' && .venv/bin/mypy && .venv/bin/pytest" in ci
    # Where the report lands, and the example report, on the first screen.
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "reports/example/report.html" in first_screen
    assert "reports/default/<run id>/" in readme


def test_every_document_the_readme_and_docs_link_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    linked = _relative_links(ROOT / "README.md")
    for doc in ("docs/case.md", "docs/method.md", "docs/simulator.md", "docs/own-table.md",
                "docs/scale-out.md", "docs/benchmarks.md", "docs/results.md"):
        assert doc in linked, doc
    missing = []
    for page in pages:
        for target in _relative_links(page):
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert missing == []


def test_the_code_cites_the_case_in_the_repository():
    cited = [p for p in (ROOT / "nsf").rglob("*.py")
             if "CASE.md" in p.read_text(encoding="utf-8")]
    assert cited == []
    assert (ROOT / "docs" / "case.md").is_file()
