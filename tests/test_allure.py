"""Allure results of a run: Gherkin steps with redacted Alma exchanges, environment, categories."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from alma_p2p.suite import FEATURES
from tests.suite_runner import run_pytest

REPO = Path(__file__).resolve().parent.parent
ALLURE = REPO / "tools" / "allure" / "node_modules" / ".bin" / "allure"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("allure") / "results"
    proc = run_pytest(
        [str(FEATURES), "-q", "-p", "no:cacheprovider",
         "--institution", "demo-college", f"--alluredir={folder}",
         f"--alma-report-dir={folder.parent / 'reports'}"],
        cwd=folder.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    return folder


def test_scenarios_are_results_with_steps_and_redacted_exchanges(results):
    found = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    by_name = {r["name"]: r for r in found}
    partners = by_name["Each partner is active for borrowing and lending"]
    assert partners["status"] == "passed"
    when = partners["steps"][0]
    assert when["name"] == "When the institution's partners are read from Alma"
    attachment = results / when["attachments"][0]["source"]
    text = attachment.read_text()
    assert text.startswith("GET https://alma.invalid/almaws/v1/partners?limit=100&offset=0 → 200")
    assert "apikey" not in text.lower()
    manual = by_name["The workflow profiles have the steps the guide lists"]
    assert manual["status"] == "skipped"


def test_environment_and_categories_are_written(results):
    environment = (results / "environment.properties").read_text()
    assert "mode=replay" in environment
    assert "demo-college.cassettes.recorded_on=" in environment
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "Institution configuration fault",
        "Alma contract change",
        "Harness or environment error",
    ]


@pytest.mark.subprocess  # the Allure 3 renderer (node) and headless Chromium
@pytest.mark.socket  # Chromium reads the report from a local HTTP server
@pytest.mark.skipif(
    CHROMIUM is None or not ALLURE.exists(),
    reason="needs headless Chromium and tools/allure (make report installs it)",
)
def test_the_rendered_allure_report_shows_the_run(results, tmp_path):
    report = tmp_path / "allure-report"
    subprocess.run(
        [str(ALLURE), "generate", str(results), "--output", str(report)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=20000", "--dump-dom",
             f"http://127.0.0.1:{server.server_port}/index.html"],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert "harness.version" in proc.stdout
    assert "replay" in proc.stdout
