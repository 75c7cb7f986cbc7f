"""The whole live suite against the demo world through Alma-like trouble (``tests/faults.py``):
transient faults change no verdict, and an unreachable Alma is an error, never a fail."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alma_p2p.plugin.results import ALLURE_CATEGORIES
from tests import faults
from tests.suite_runner import SuiteRun, demo_world, run_live

pytestmark = pytest.mark.standin

VERDICT = re.compile(r"\| \*\*(?P<verdict>[a-z/ ]+)\*\* \|")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    run = run_live(demo_world(), tmp_path_factory.mktemp("clean"))
    assert run.returncode == 0, run.output[-3000:]
    return run


def _posts(run: SuiteRun) -> int:
    return sum(1 for e in run.app.request_log if e.method == "POST")


def test_per_second_429s_on_every_method_change_no_verdict(clean, tmp_path):
    mix = faults.per_second_429s(rate=0.2)

    run = run_live(demo_world(), tmp_path, transport=mix)

    assert run.outcomes == clean.outcomes, run.output[-3000:]
    assert mix.by_method["429", "GET"] > 0
    assert mix.by_method["429", "POST"] > 0  # the writes were answered 429 too, and retried
    # Nothing was created twice: the stand-in saw exactly the clean run's writes.
    assert _posts(run) == _posts(clean)


def test_5xx_and_resets_on_reads_change_no_verdict(clean, tmp_path):
    mix = faults.flaky_reads(rate_5xx=0.1, rate_reset=0.05)

    run = run_live(demo_world(), tmp_path, transport=mix)

    assert run.outcomes == clean.outcomes, run.output[-3000:]
    assert mix.injected["500"] > 0
    assert mix.injected["html-502"] + mix.injected["html-503"] > 0
    assert mix.injected["reset"] > 0
    assert _posts(run) == _posts(clean)


def _readiness(run_dir: Path) -> str:
    return (run_dir / "reports" / "readiness.md").read_text(encoding="utf-8")


def test_an_unreachable_alma_is_an_error_never_a_configuration_fault(clean, tmp_path):
    allure = tmp_path / "allure"
    mix = faults.unreachable()

    run = run_live(demo_world(), tmp_path, f"--alluredir={allure}", transport=mix)

    assert run.returncode == 1
    # What passed when Alma answered now fails in pytest's terms; what was skipped (a
    # person's check, a verdict on file) still is: it never needed Alma.
    assert set(run.outcomes) == set(clean.outcomes)
    for test_id, outcome in clean.outcomes.items():
        assert run.outcomes[test_id] == ("failed" if outcome == "passed" else outcome), test_id
    readiness = _readiness(tmp_path)
    verdicts = {m["verdict"] for m in VERDICT.finditer(readiness)}
    assert "error" in verdicts
    assert "fail" not in verdicts
    assert "pass" not in verdicts
    assert "Traceback" not in readiness
    assert "Alma unreachable: not asked, as Alma did not answer demo-college's preflight (GET " in (
        readiness
    )
    for name in ("demo-college", "demo-lender", "demo-university"):
        assert re.search(
            rf"^{name}: \d+ scenario\(s\) error \(Alma unreachable\): it did not answer "
            r"preflight \(GET /almaws/v1/conf/general → no answer: ConnectError",
            run.output,
            re.MULTILINE,
        ), run.output[-3000:]
    # JUnit (and the terminal) say error, with the call, never a configuration failure.
    messages = [
        f.get("message", "") for f in ET.parse(tmp_path / "junit.xml").getroot().iter("failure")
    ]
    assert messages
    assert all(m.startswith("error — Alma unreachable: ") for m in messages), messages[:3]
    # Preflight retried like any read; then nothing more was sent.
    assert mix.sent == 3 * faults_attempts()
    _assert_no_configuration_category(allure)


def faults_attempts() -> int:
    from alma_p2p.alma.http import MAX_ATTEMPTS

    return MAX_ATTEMPTS


def _assert_no_configuration_category(allure: Path) -> None:
    """Allure files a result under every category whose status and message it matches (a
    Java full match, which Python's ``re.fullmatch`` follows for these patterns)."""
    config, *_, environment = ALLURE_CATEGORIES
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    not_passed = [r for r in results if r["status"] in ("failed", "broken")]
    assert not_passed
    for result in not_passed:
        message = result.get("statusDetails", {}).get("message", "")
        assert "Alma unreachable" in message
        assert not (
            result["status"] in config["matchedStatuses"]
            and re.fullmatch(config["messageRegex"], message)
        ), message
        assert result["status"] in environment["matchedStatuses"]


def test_the_configuration_category_still_takes_a_configuration_fault():
    config = ALLURE_CATEGORIES[0]
    fault = (
        "AssertionError: demo-college: location CLSBORR is not a resource sharing location; "
        "fix it in Alma (Configuration > Fulfillment > Locations)"
    )
    assert re.fullmatch(config["messageRegex"], fault)
    for transient in (
        "alma_p2p.alma.errors.AlmaTransportError: GET /almaws/v1/conf/libraries → no answer: "
        "ReadError: [Errno 104] Connection reset by peer",
        "AlmaServerError: GET /almaws/v1/conf/libraries → 503 (an HTML page from a proxy) "
        "expected JSON",
    ):
        assert not re.fullmatch(config["messageRegex"], transient), transient


def test_alma_going_down_mid_run_gives_errors_not_fails(clean, tmp_path):
    # Preflight (and a first few scenarios) pass; then every connection is refused.
    mix = faults.Faults(refuse_after=40)

    run = run_live(demo_world(), tmp_path, transport=mix)

    readiness = _readiness(tmp_path)
    verdicts = [m["verdict"] for m in VERDICT.finditer(readiness)]
    assert "error" in verdicts
    assert "fail" not in verdicts
    assert "Alma unreachable: GET /almaws/v1/" in readiness
    assert "→ no answer: ConnectError: [Errno 111] Connection refused" in readiness
    assert re.search(
        r"^demo-\w+: \d+ scenario\(s\) error \(Alma unreachable\): it did not answer, or kept "
        r"refusing for load, after the client's retries",
        run.output,
        re.MULTILINE,
    ), run.output[-3000:]
