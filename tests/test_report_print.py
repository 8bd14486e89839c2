"""The two documents printed by a real browser (headless Chromium, A4): the report fits in 12
pages, and no element of either document is wider than the page (no table cut at the edge).

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package (the dev
extras); Playwright drives the system browser, no browser is downloaded. The PDFs are kept in
the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from nsf.report import build_report_model, render_figures, render_html
from nsf.report._answer import reconcile
from nsf.report._document import build_documents
from tests.test_report import AUDIT, ENV, SOURCE, hand_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The report's page budget on A4.
MAX_REPORT_PAGES = 12
#: A4's printable width at the stylesheet's margins (210 mm - 2 x 12 mm), in CSS pixels.
PRINT_WIDTH_PX = round((210 - 24) / 25.4 * 96)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium; "
    ".ci/run installs it)")


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF Chromium wrote: its page objects (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


#: Elements whose right edge passes the page's printable width (print media, A4 width).
_OVERFLOW_JS = """(width) => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1) {
      out.push(el.tagName + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.right) + ': '
               + (el.textContent || '').slice(0, 60));
    }
  }
  return out.slice(0, 10);
}"""


def print_documents(paths: dict[str, Path], out: Path) -> dict[str, dict]:
    """Each HTML file printed to A4 PDF: ``{kind: {"pages", "overflow", "pdf"}}``."""
    from playwright.sync_api import sync_playwright

    result = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
            for kind, path in paths.items():
                page.goto(path.resolve().as_uri())
                page.emulate_media(media="print")
                overflow = page.evaluate(_OVERFLOW_JS, PRINT_WIDTH_PX)
                pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=False)
                target = out / f"{kind}.pdf"
                target.write_bytes(pdf)
                result[kind] = {"pages": pdf_pages(pdf), "overflow": overflow, "pdf": target}
        finally:
            browser.close()
    return result


def test_both_documents_print_on_a4_without_overflow(tmp_path):
    model = reconcile(build_report_model(hand_study(), AUDIT, None, source=SOURCE,
                                         environment=ENV))
    figures = render_figures(model)
    paths = {}
    for kind, document in build_documents(model, figures).items():
        paths[kind] = tmp_path / f"{kind}.html"
        paths[kind].write_text(render_html(model, document, figures, kind=kind),
                               encoding="utf-8")
    # The check sees an overflow when there is one: a table that cannot wrap.
    paths["wide"] = tmp_path / "wide.html"
    paths["wide"].write_text("<html><body><table><tr>" + "<td style='white-space:nowrap'>"
                             + "x" * 400 + "</td></tr></table></body></html>", encoding="utf-8")
    printed = print_documents(paths, tmp_path)
    assert printed.pop("wide")["overflow"]
    assert 1 <= printed["report"]["pages"] <= MAX_REPORT_PAGES, printed["report"]
    assert printed["appendix"]["pages"] > printed["report"]["pages"]
    for kind, got in printed.items():
        assert got["overflow"] == [], (kind, got["overflow"])


@pytest.mark.slow
def test_the_smoke_study_report_prints_within_its_page_budget(smoke_study, smoke_report, tmp_path):
    folder = smoke_report
    printed = print_documents({"report": folder / "report.html",
                               "appendix": folder / "appendix.html"}, tmp_path)
    assert printed["report"]["pages"] <= MAX_REPORT_PAGES, printed["report"]["pages"]
    for kind, got in printed.items():
        assert got["overflow"] == [], (kind, got["overflow"])
