"""The last read probes of ``alma-p2p calibrate``, against the stand-in: the sandbox on the
region host, the per-second threshold, the Analytics XML, and the partner hosts no read can
settle. Each records the assumed value with redacted evidence, Alma's other answer as it
is, and a second calibration of the same Alma changes nothing."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p.calibrate import PROBES, calibrate, read_probes
from alma_p2p.calibrate.probing import NotAsked, Probing
from alma_p2p.calibrate.read_probes import BURST_CALLS, BURST_PATH
from alma_p2p.facts import UNEXPECTED, CalibratedFact, load_register
from alma_p2p.settings import Settings
from alma_p2p.standin import StandinApp, World
from tests.suite_runner import STANDIN_PER_SECOND, demo_world, institution, standin_app
from tests.suite_runner import _virtual_time as virtual_time
from tests.test_calibrate import UNIVERSITY, key_of, profiles, run, settings_for

__all__ = ["profiles"]  # the fixture, shared with tests/test_calibrate.py

SAME_HOST = "gateway.sandbox_same_host"
PER_SECOND = "gateway.sandbox_per_second_threshold"
XML_SHAPE = "analytics.xml_shape"
PARTNER_HOST = "partner.sandbox_host_pattern"
REGION_HOST = "api-na.hosted.exlibrisgroup.com"  # demo-university's region, na
COLLEGE = "01DEMO_COLLEGE"


pytestmark = [pytest.mark.usefixtures("on_virtual_time")]


def settings_of(
    world: dict[str, Any],
    tmp_path: Path,
    profiles: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    region: bool = False,
    **extra: Any,
) -> Settings:
    """demo-university's settings with its key in the world. ``region``: no ALMA_BASE_URL,
    so the client goes to the profile's region host (its requests reach the stand-in through
    the transport, never the network)."""
    monkeypatch.delenv("ALMA_BASE_URL", raising=False)
    monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", key_of(world, UNIVERSITY))
    settings = settings_for(tmp_path, profiles, "demo-university")
    if region:
        settings = settings.model_copy(update={"base_url": None})
    return settings.model_copy(update=extra)


def calibrate_on(
    transport: httpx.BaseTransport, settings: Settings, today: date = date(2026, 11, 26)
) -> dict[str, CalibratedFact]:
    outcome = calibrate(
        "demo-university",
        settings=settings,
        transport=transport,
        today=today,
        say=lambda _line: None,
    )
    return dict(outcome.calibrated.facts)


def assumed(fact_id: str) -> str:
    return load_register().fact(fact_id).assumed


# -- the sandbox on the region host -----------------------------------------------------


def test_the_guards_answer_on_the_region_host_records_the_same_host(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    app = standin_app(world)
    settings = settings_of(world, tmp_path, profiles, monkeypatch, region=True)
    facts = calibrate_on(httpx.WSGITransport(app=app), settings)
    entry = facts[SAME_HOST]
    assert entry.status == "calibrated", entry
    assert entry.value == assumed(SAME_HOST)
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/conf/general → 200")
    assert f'"host": "{REGION_HOST}"' in entry.evidence
    assert '"environment_type": "sandbox"' in entry.evidence
    # The guard's own answer: /conf/general was asked once in the whole calibration.
    assert [r.path for r in app.request_log].count("/almaws/v1/conf/general") == 1


def test_another_host_than_the_region_gateway_is_not_asked(tmp_path, profiles, monkeypatch):
    _, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts[SAME_HOST]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "standin.invalid, not a region gateway" in entry.why
    assert "ALMA_BASE_URL" in entry.why


def test_a_second_calibration_on_the_region_host_changes_nothing_and_shows_no_key(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    settings = settings_of(world, tmp_path, profiles, monkeypatch, region=True)
    calibrate_on(httpx.WSGITransport(app=standin_app(world)), settings)
    path = profiles / "demo-university" / "alma-facts.yaml"
    before = path.read_bytes()
    again = standin_app(world)  # new tracking ids, another day
    calibrate_on(httpx.WSGITransport(app=again), settings, date(2026, 12, 3))
    assert path.read_bytes() == before
    text = before.decode("utf-8")
    assert key_of(world, UNIVERSITY) not in text
    assert "apikey" not in text.lower()
    for fact_id in (SAME_HOST, PER_SECOND, XML_SHAPE):
        assert yaml.safe_load(text)["facts"][fact_id]["status"] == "calibrated", fact_id


# -- the per-second threshold -----------------------------------------------------------


def test_a_burst_at_the_harness_rate_without_429_records_the_assumed_threshold(
    tmp_path, profiles, monkeypatch
):
    app, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts[PER_SECOND]
    assert entry.status == "calibrated", entry
    assert entry.value == assumed(PER_SECOND)
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/conf/test → 200")
    assert f'"calls": {BURST_CALLS}' in entry.evidence
    assert '"paced at": "10 per second"' in entry.evidence
    assert '"answered HTTP 429": 0' in entry.evidence
    assert '"busiest second": "10 calls or more"' in entry.evidence
    burst = [r for r in app.request_log if r.path.endswith(BURST_PATH) and r.institution]
    assert len(burst) == BURST_CALLS
    # The number the register's probe text promises (they count against the daily allowance).
    assert f"{BURST_CALLS} GETs of {BURST_PATH}" in load_register().fact(PER_SECOND).probe


class Burst(httpx.BaseTransport):
    """The stand-in on a clock of the test's own: a second passes before every call but the
    burst's, which fall within one second, as 25 calls at 100 a second do."""

    def __init__(self, world: dict[str, Any]) -> None:
        self.now = 0.0
        self.app = StandinApp(World.model_validate(world), clock=lambda: self.now)
        self._inner = httpx.WSGITransport(app=self.app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(BURST_PATH):
            self.now += 1.0
        return self._inner.handle_request(request)


def test_a_sandbox_that_answers_429_within_the_burst_is_recorded_as_unexpected(
    tmp_path, profiles, monkeypatch
):
    world = copy.deepcopy(demo_world())
    for inst in world["institutions"]:
        inst.setdefault("per_second_threshold", STANDIN_PER_SECOND)
    institution(world, UNIVERSITY)["per_second_threshold"] = 5
    burst = Burst(world)
    # The client retries a 429 at once here (no backoff), so the test waits for nothing.
    settings = settings_of(world, tmp_path, profiles, monkeypatch, retry_backoff=0.0)
    facts = calibrate_on(burst, settings)
    entry = facts[PER_SECOND]
    assert entry.status == "calibrated", entry
    assert entry.value == UNEXPECTED
    # The call before the burst is within its second: four more, then 429 and five retries.
    assert entry.seen == (
        f"HTTP 429 PER_SECOND_THRESHOLD at call 5 of {BURST_CALLS} paced at 10 per second "
        "(6 of 10 answers)"
    )
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/conf/test → 429")
    assert '"PER_SECOND_THRESHOLD"' in entry.evidence
    sent = [r for r in burst.app.request_log if r.path.endswith(BURST_PATH) and r.institution]
    assert len(sent) == 10  # it stopped at the first 429


def test_a_burst_alma_answers_too_slowly_to_reach_ten_a_second_does_not_ask(
    tmp_path, profiles, monkeypatch
):
    # Each call of the burst leaves 0.2 s after the one before (Alma taking that long).
    clock = iter(range(BURST_CALLS))
    monkeypatch.setattr(read_probes, "_now", lambda: next(clock) * 0.2)
    _, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts[PER_SECOND]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "too slowly for the burst to reach 10 calls in any second" in entry.why


def test_a_rate_below_ten_does_not_ask(tmp_path, profiles):
    settings = settings_for(tmp_path, profiles, "demo-university").model_copy(update={"rate": 5.0})
    # Not asked before any call: no client is needed to say so.
    p = Probing(None, None, "", None, settings, "")  # type: ignore[arg-type]
    answer = PROBES[PER_SECOND](p, load_register().fact(PER_SECOND))
    assert isinstance(answer, NotAsked)
    assert "5 calls per second (ALMA_RATE), below the 10" in answer.why
    assert "ALMA_RATE=10" in answer.why


# -- the Analytics XML ------------------------------------------------------------------


def test_the_profiles_report_read_by_the_suites_parser_records_the_xml_shape(
    tmp_path, profiles, monkeypatch
):
    app, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts[XML_SHAPE]
    assert entry.status == "calibrated", entry
    assert entry.value == assumed(XML_SHAPE)
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/analytics/reports?path=")
    assert "col_names=true" in entry.evidence.split("\n", 1)[0]
    assert '"Terms Of Use Type"' in entry.evidence
    assert '"QueryResult"' in entry.evidence
    # One call, shared with the terms-of-use probe, which still records its answer.
    reports = [r for r in app.request_log if r.query.get("col_names") == "true"]
    assert len(reports) == 1
    assert outcome.calibrated.facts["analytics.rs_terms_of_use"].status == "calibrated"


class ReportAs(httpx.BaseTransport):
    """The stand-in, except that the profile's report answers ``body`` as ``kind``."""

    def __init__(self, app: StandinApp, kind: str, body: str) -> None:
        self._inner = httpx.WSGITransport(app=app)
        self._kind = kind
        self._body = body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/analytics/reports") and "col_names" in request.url.params:
            return httpx.Response(
                200, content=self._body.encode(), headers={"Content-Type": self._kind}
            )
        return self._inner.handle_request(request)


@pytest.mark.parametrize(
    ("kind", "body", "seen"),
    [
        (
            "application/json",
            '{"QueryResult": {"IsFinished": true, "ResultXml": {}}}',
            "JSON with keys ['QueryResult'], though XML was asked for",
        ),
        (
            "text/html",
            "<!DOCTYPE html><html><body>Sign in</body></html>",
            "an HTML page (text/html)",
        ),
        ("text/plain", "report unavailable", "a body that is not XML (text/plain)"),
        (
            "application/xml",
            "<report><QueryResult><IsFinished>true</IsFinished></QueryResult></report>",
            "XML <report> without ResultXml, rowset, column headings",
        ),
    ],
    ids=["json", "html", "text", "other-xml"],
)
def test_an_analytics_answer_of_another_form_is_recorded_as_unexpected(
    kind, body, seen, tmp_path, profiles, monkeypatch
):
    world = demo_world()
    transport = ReportAs(standin_app(world), kind, body)
    settings = settings_of(world, tmp_path, profiles, monkeypatch)
    facts = calibrate_on(transport, settings)
    entry = facts[XML_SHAPE]
    assert entry.status == "calibrated", entry
    assert entry.value == UNEXPECTED
    assert entry.seen == seen
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/analytics/reports?")


def test_a_profile_without_an_analytics_report_is_not_asked(tmp_path, profiles, monkeypatch):
    _, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch, "demo-college", COLLEGE)
    entry = outcome.calibrated.facts[XML_SHAPE]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert entry.why.startswith("the profile names no Analytics report (analytics.terms_of_use")


# -- where a partner's requests go ------------------------------------------------------


def test_where_a_partner_sends_stays_assumed_with_what_a_person_checks(
    tmp_path, profiles, monkeypatch
):
    _, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts[PARTNER_HOST]
    assert entry.status == "assumed"
    assert entry.why == load_register().fact(PARTNER_HOST).probe
    assert entry.why.startswith("cannot be probed: a read shows the host name")
    assert "Fulfillment > Resource Sharing > Partners" in entry.why
    assert PARTNER_HOST not in PROBES


def test_the_burst_keeps_to_ten_a_second_whatever_the_harness_rate(tmp_path, profiles, monkeypatch):
    # An Alma that takes 15 calls a second accepts the fact's 10: the burst, at the harness's
    # rate of 100, must not claim otherwise. The stand-in keeps the harness's (virtual) time.
    from alma_p2p import polling

    world = copy.deepcopy(demo_world())
    for inst in world["institutions"]:
        inst["per_second_threshold"] = STANDIN_PER_SECOND
    institution(world, UNIVERSITY)["per_second_threshold"] = 15
    settings = settings_of(world, tmp_path, profiles, monkeypatch, retry_backoff=0.0)
    assert settings.rate == 100
    with virtual_time():
        app = StandinApp(World.model_validate(world), clock=polling.CLOCK.monotonic)
        facts = calibrate_on(httpx.WSGITransport(app=app), settings)
    entry = facts[PER_SECOND]
    assert (entry.status, entry.value) == ("calibrated", assumed(PER_SECOND)), entry
    assert entry.evidence is not None
    assert '"paced at": "10 per second"' in entry.evidence
