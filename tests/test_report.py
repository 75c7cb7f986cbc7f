"""Attestations and the readiness report: verdicts, staleness, and what a person sees."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from alma_p2p.attestations import Attestation, Attestations, load_attestations
from alma_p2p.profile import ProfileError, load_profile
from alma_p2p.report import (
    Readiness,
    ScenarioResult,
    render_html,
    render_markdown,
    verdict_of,
    worst,
)

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "institutions"
UNIVERSITY = load_profile(DEMO / "demo-university" / "profile.yaml")


def test_attestation_verdicts():
    entries = [
        Attestation(item="workflow_profiles", checked_by="A", checked_on=date(2026, 9, 15)),
        Attestation(item="rota_template", checked_by="B", checked_on=date(2026, 7, 1)),
        Attestation(item="terms_of_use", checked_by="C", checked_on=date(2024, 9, 1)),
    ]
    judged = Attestations(entries, today=date(2026, 11, 24))
    assert judged.verdict("workflow_profiles", UNIVERSITY).kind == "attested"
    stale = judged.verdict("rota_template", UNIVERSITY)
    assert stale.kind == "stale"
    assert "before the sandbox refresh of 2026-08-01" in stale.text
    assert judged.verdict("terms_of_use", UNIVERSITY).kind == "stale"  # older than 730 days
    assert judged.verdict("fulfillment_policies", UNIVERSITY).kind == "manual"


def test_a_malformed_attestation_file_is_path_precise(tmp_path):
    path = tmp_path / "attestations.yaml"
    path.write_text(
        "attestations:\n"
        "  - item: workflow_profiles\n    checked_by: A\n    checked_on: 2026-09-15\n"
        "  - item: rota_templates\n    checked_by: B\n    checked_on: yesterday\n"
    )
    with pytest.raises(ProfileError) as caught:
        load_attestations(path)
    message = str(caught.value)
    assert "2 problem(s) in the attestation file" in message
    assert "attestations[1].item (line 5): unknown item 'rota_templates'" in message
    assert "attestations[1].checked_on (line 7)" in message


def test_a_missing_attestation_file_means_nothing_attested(tmp_path):
    assert load_attestations(tmp_path / "none.yaml").verdict("rota_template", UNIVERSITY).kind == (
        "manual"
    )


def test_scenario_verdicts_and_the_worst_wins():
    assert verdict_of("passed") == "pass"
    assert verdict_of("failed") == "fail"
    assert verdict_of("skipped", "attested") == "attested"
    assert verdict_of("skipped") == "not run"  # e.g. refused to write
    assert verdict_of("skipped", "cannot tell") == "cannot tell"
    assert verdict_of("failed", "error") == "error"  # Alma unreachable is never a fail
    assert worst(["pass", "manual", "attested"]) == "manual"
    assert worst(["pass", "fail", "stale"]) == "fail"
    assert worst([]) == "not run"


def readiness() -> Readiness:
    return Readiness(
        ["demo-college", "demo-university"],
        [
            ScenarioResult(
                "demo-university",
                "Partners",
                "Each partner is active",
                ("partners",),
                ("api",),
                "fail",
                "DEMO_LENDER is INACTIVE: set it Active",
                ["DEMO_LENDER status=INACTIVE"],
            ),
            ScenarioResult(
                "demo-college",
                "Partners",
                "Each partner is active",
                ("partners",),
                ("api",),
                "pass",
                "",
                ["DEMO_LENDER status=ACTIVE"],
            ),
            ScenarioResult(
                "demo-college",
                "Manual",
                "Rota template",
                ("rota_template",),
                ("manual",),
                "stale",
                "stale: Rota Template: checked by B on 2026-07-01 <b>",
                [],
            ),
        ],
        {("demo-college", "sending_rule")},
    )


def test_markdown_has_a_consortium_view_and_per_institution_rows():
    text = render_markdown(readiness(), "replay")
    assert "| Resource Sharing Partners | pass | fail |" in text
    assert "| Sending Borrowing Request Rule | n/a | not run |" in text
    assert "DEMO_LENDER is INACTIVE: set it Active" in text
    assert "Alma: DEMO_LENDER status=INACTIVE" in text


def test_html_is_self_contained_and_escaped():
    page = render_html(readiness(), "live")
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert "&lt;b&gt;" in page
    assert page.count("<section") == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.subprocess  # headless Chromium renders the page
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_a_person_sees_the_verdicts_in_a_browser(tmp_path):
    page = tmp_path / "readiness.html"
    page.write_text(render_html(readiness(), "replay"))
    proc = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "Peer-to-peer resource sharing readiness" in dom
    assert dom.count('class="v"') >= 6
    assert "DEMO_LENDER is INACTIVE: set it Active" in dom
