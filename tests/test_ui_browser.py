"""`nsf ui` in a real browser (headless Chromium, a fresh profile) on a finished smoke study:
it lands on the runs table with one row per variant showing the difference, its interval and
the verdict, and the compare view of two variants shows their metrics without NaN or null.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package (the dev
extras); Playwright drives the system browser, no browser is downloaded. The screenshots are
kept in the test's temporary folder (pytest's ``--basetemp`` to choose it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium; "
    ".ci/run installs it)")


def _header(page, col_id: str):
    return page.locator(f'.ag-header-cell[col-id="{col_id}"]')


def _cell(page, row_id: str, col_id: str) -> str:
    return page.locator(f'.ag-row[row-id="{row_id}"] .ag-cell[col-id="{col_id}"]').inner_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(smoke_study, tmp_path_factory):
    """``nsf ui`` on the smoke study's store: (runs view URL, the study's variant runs). When
    the tests are done it gets SIGTERM, as from ``kill``: the server, its uvicorn process and
    the watchdog stop with it, the port is freed and it says so in its own words (the other
    signals: ``tests/test_concurrency.py``, slow)."""
    import signal

    import psutil
    from mlflow.tracking import MlflowClient

    port = _free_port()
    args = [a for item in smoke_study["sets"] for a in ("--set", item)]
    # Its messages (and the server's) go to a file: a pipe nobody reads could fill up.
    log = tmp_path_factory.mktemp("ui") / "stderr.txt"
    with open(log, "w", encoding="utf-8") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "nsf", "ui", str(SMOKE), *args,
                                 "--port", str(port)], cwd=smoke_study["root"],
                                stdout=subprocess.PIPE, stderr=err_file, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    children: list = []
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "nsf ui ended early"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        # The server, its uvicorn process and the watchdog.
        assert len(children) >= 3, [c.cmdline()[:4] for c in children]
        client = MlflowClient(f"sqlite:///{smoke_study['root'] / 'mlflow.db'}")
        parent = smoke_study["parent"]
        exp = client.get_run(parent).info.experiment_id
        variants = client.search_runs([exp], filter_string=f"tags.`nsf.study_run` = '{parent}' "
                                      "and tags.`nsf.role` = 'variant'")
        yield url, variants
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=30)
        for p in alive:  # not left running after a failure
            p.kill()
    assert not alive, f"left running: {[p.pid for p in alive]}"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the port any more
    err = log.read_text(encoding="utf-8")
    assert "nsf ui:" in err and "is stopped" in err and "resumes" not in err, err[-2000:]
    assert proc.returncode == 128 + signal.SIGTERM


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # A fresh profile: a new context has never seen MLflow (no local storage).
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        yield context.new_page()
        browser.close()


def test_fresh_browser_lands_on_the_variant_rows_and_compares_two_without_nan(
        ui, page, tmp_path_factory):
    """One visit (one server, one browser: each costs seconds to start): the landing view,
    then the compare view of two of its rows."""
    url, variants = ui
    assert "#/experiments/" in url and "/runs" in url
    page.goto(url)
    _header(page, "tags.`nsf.verdict`").wait_for(timeout=90_000)
    shots = tmp_path_factory.mktemp("ui_screenshots")
    page.screenshot(path=shots / "runs.png")
    # The runs table, not the GenAI overview.
    assert "/runs" in page.url and "overview" not in page.url
    # One row per variant (the reference too) and the minimal-set search, without a click.
    assert page.get_by_text(f"{len(variants) + 1} matching runs").is_visible()
    for name in ("auc_diff", "auc_diff_lo", "auc_diff_hi"):
        assert _header(page, f"metrics.`{name}`").is_visible(), name
    # The first rows (needed first) show their verdict and their difference as logged.
    shown = 0
    for run in variants:
        row_id = run.info.run_id
        if not page.locator(f'.ag-row[row-id="{row_id}"]').count():
            continue  # below the fold (the grid renders the rows in view)
        verdict = _cell(page, row_id, "tags.`nsf.verdict`")
        assert verdict == run.data.tags["nsf.verdict"], run.info.run_name
        if verdict != "reference":
            diff = _cell(page, row_id, "metrics.`auc_diff`")
            assert float(diff.rstrip(".…")) == pytest.approx(run.data.metrics["auc_diff"],
                                                             abs=1e-6), diff
            shown += 1
    assert shown >= 5

    # Then, as a user compares two variants: their metrics side by side, none undefined.
    boxes = page.locator(".ag-row input.ag-checkbox-input")
    boxes.nth(0).check(force=True)
    boxes.nth(1).check(force=True)
    page.get_by_role("button", name="Compare").first.click()
    page.get_by_text("Comparing 2 Runs").wait_for(timeout=60_000)
    page.get_by_text("auc_diff", exact=True).first.wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=shots / "compare.png", full_page=True)
    body = page.inner_text("body")
    assert "auc_diff" in body and "swap_rate" in body and "nsf.verdict" in body
    assert not re.search(r"\bNaN\b|\bnull\b", body), body
