"""The write probes of ``alma-p2p calibrate`` for sending on after locate
(``borrowing.send_on_after_locate``) and for the user group that may not borrow
(``borrowing.excluded_group_refused``), against the stand-in playing each alternative.

Each calibration runs on a virtual clock (tests/suite_runner), so a probe that follows a
request for its minute costs no wall time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p.calibrate import calibrate
from alma_p2p.facts import CALIBRATED_FILE, UNEXPECTED, CalibratedFact, load_register
from alma_p2p.ledger import Ledger
from alma_p2p.payloads import EXTERNAL_ID_PREFIX
from alma_p2p.standin import StandinApp
from alma_p2p.standin.rules import ENDED_LENDING
from tests.calibrated import CODES, calibration_settings, demo_profiles
from tests.suite_runner import TransportWrapper, demo_world, institution, record_of, standin_app
from tests.suite_runner import _virtual_time as virtual_time
from tests.test_alternatives import Renaming
from tests.test_canary import CANARIES, canary_world

pytestmark = [pytest.mark.standin]

SEND_ON = "borrowing.send_on_after_locate"
EXCLUDED = "borrowing.excluded_group_refused"
NO_PARTNER = "borrowing.no_partner_holds_outcome"
UNIVERSITY, COLLEGE, LENDER = "01DEMO_STMARYS", "01DEMO_COLLEGE", "01DEMO_LENDER"
ALUMNUS = "P2P-TEST-ALUM-01"  # demo-university's borrowing.excluded_patron
REQUESTS = "/resource-sharing-requests"


@dataclass
class Calibration:
    app: StandinApp
    facts: dict[str, CalibratedFact]
    said: list[str]
    path: Path
    ledger: Ledger
    lent_before: set[str]


def calibrate_in(
    world: dict[str, Any],
    tmp_path: Path,
    name: str = "demo-university",
    wrapper: TransportWrapper | None = None,
) -> Calibration:
    """Calibrate ``name`` against a fresh stand-in of ``world``; the profiles (and so the
    facts file) and the ledger are kept in ``tmp_path`` from one call to the next."""
    profiles = demo_profiles(tmp_path / "institutions")
    app = standin_app(world)
    key = str(institution(world, CODES[name])["api_keys"][0]["key"])
    settings = calibration_settings(name, profiles, tmp_path / "ledger.jsonl", {name: key})
    lent_before = set(app._live[LENDER].lending)
    said: list[str] = []
    transport = (wrapper or (lambda t: t))(httpx.WSGITransport(app=app))
    with virtual_time():
        outcome = calibrate(name, settings=settings, transport=transport, say=said.append)
    return Calibration(
        app,
        dict(outcome.calibrated.facts),
        said,
        outcome.path,
        Ledger(tmp_path / "ledger.jsonl"),
        lent_before,
    )


def playing(**facts: str) -> dict[str, Any]:
    world = demo_world()
    world["facts"] = {k.replace("__", "."): v for k, v in facts.items()}
    return world


def value(fact_id: str, switch: str) -> str:
    fact = load_register().fact(fact_id)
    if switch == fact.switch:
        return fact.assumed
    return next(a.value for a in fact.alternatives if a.switch == switch)


def assert_nothing_left(run: Calibration) -> None:
    """Nothing the calibration created is left in Alma, and the ledger owes nothing."""
    assert not [line for line in run.said if "LEFT IN ALMA" in line], run.said
    assert run.ledger.outstanding() == []
    for live in run.app._live.values():
        made = [
            r for r in live.borrowing.values() if r["external_id"].startswith(EXTERNAL_ID_PREFIX)
        ]
        assert made == [], f"{live.institution.code} still holds {made}"
    # What a sent request opened at the lender was cancelled with it.
    lender = run.app._live[LENDER].lending
    opened = {rid: r["status"]["value"] for rid, r in lender.items() if rid not in run.lent_before}
    assert {rid: s for rid, s in opened.items() if s not in ENDED_LENDING} == {}


def evidence_of(run: Calibration, fact_id: str) -> str:
    entry = run.facts[fact_id]
    assert entry.status == "calibrated", entry
    assert entry.evidence is not None
    return entry.evidence


# -- borrowing.send_on_after_locate -----------------------------------------------------


@pytest.mark.parametrize(("name", "patron"), [("demo-university", "WIN"), ("demo-college", "COL")])
def test_the_assumed_world_leaves_a_request_sent_at_once_assumed(name, patron, tmp_path):
    # Sent with no "Ready to be sent" read: at once, or ready between two reads. A poll
    # cannot tell them apart, so the assumption stands, saying what was seen.
    run = calibrate_in(demo_world(), tmp_path, name)
    entry = run.facts[SEND_ON]
    assert entry.status == "assumed", entry
    assert entry.why == (
        "sent with no 'Ready to be sent' between reads 2 s apart (it ended REQUEST_SENT "
        "(DEMO_LENDER)): sent at once, or ready for less than 2 s; this probe cannot tell "
        "which, so only a 'Ready to be sent' it has seen is recorded"
    )
    # The title the profile names as held by a partner, as the "sent on its own" scenario.
    posts = [r for r in run.app.request_log if r.method == "POST" and r.path.endswith(REQUESTS)]
    assert f"/almaws/v1/users/P2P-TEST-{patron}-01{REQUESTS}" in {r.path for r in posts}
    assert_nothing_left(run)


def test_ready_to_be_sent_then_sent_is_the_first_alternative(tmp_path):
    run = calibrate_in(playing(borrowing__send_on_after_locate="ready_first"), tmp_path)
    assert run.facts[SEND_ON].value == value(SEND_ON, "ready_first")
    shows = evidence_of(run, SEND_ON)
    assert '"READY_TO_SEND (DEMO_LENDER)",\n    "REQUEST_SENT (DEMO_LENDER)"' in shows
    assert_nothing_left(run)


@pytest.mark.parametrize("order", [("ready_first", "at_once"), ("at_once", "ready_first")])
def test_a_poll_that_catches_ready_to_be_sent_once_and_not_the_next_time_is_no_drift(
    order, tmp_path
):
    # One unchanged Alma, whose "Ready to be sent" a 2 s poll catches on one calibration and
    # misses on the other (the stand-in plays the miss as a request sent at once).
    runs = [calibrate_in(playing(borrowing__send_on_after_locate=w), tmp_path) for w in order]
    assert not [line for run in runs for line in run.said if "DRIFT" in line]
    # Once seen, "Ready to be sent" stands; a miss alone is not recorded (the fact stays
    # assumed, saying why).
    assert runs[-1].facts[SEND_ON].value == value(SEND_ON, "ready_first")
    if order[0] == "ready_first":
        assert runs[1].facts[SEND_ON] == runs[0].facts[SEND_ON]  # the sighting stands
    else:
        missed = runs[0].facts[SEND_ON]
        assert missed.status == "assumed"
        assert missed.why is not None
        assert "cannot tell which" in missed.why


@pytest.mark.parametrize(
    "facts",
    [
        # The request for a made-up title (borrowing.no_partner_holds_outcome's) loses its
        # partners in locate and is cancelled rather than left LOCATE_FAILED.
        {SEND_ON: "cancelled_on_locate_failure", NO_PARTNER: "locate_failed"},
        # The same setting, as the no-partner fact plays it: one request shows both.
        {NO_PARTNER: "cancelled"},
    ],
    ids=["send_on", "no_partner_holds"],
)
def test_a_request_no_partner_can_supply_cancelled_is_the_second_alternative(facts, tmp_path):
    world = demo_world()
    world["facts"] = facts
    run = calibrate_in(world, tmp_path)
    assert run.facts[SEND_ON].value == value(SEND_ON, "cancelled_on_locate_failure")
    shows = evidence_of(run, SEND_ON)
    # Both requests show: the held title sent at once, the made-up one cancelled.
    assert '"REQUEST_SENT (DEMO_LENDER)"' in shows
    assert '"a made-up title, which no partner holds"' in shows
    assert '"value": "CANCELLED"' in shows
    # No second request for a made-up title: the no-partner probe's is read back. The
    # patron's four are for the owner left to Alma, the made-up title, the held title and
    # the pickup at another library.
    posts = [r.path for r in run.app.request_log if r.method == "POST"]
    assert posts.count(f"/almaws/v1/users/P2P-TEST-WIN-01{REQUESTS}") == 4
    assert_nothing_left(run)


def test_a_request_for_a_made_up_title_that_fails_locate_shows_the_sending_order(tmp_path):
    run = calibrate_in(playing(borrowing__no_partner_holds_outcome="locate_failed"), tmp_path)
    entry = run.facts[SEND_ON]
    assert entry.status == "assumed", entry
    assert entry.why is not None
    assert "; the made-up title's request ended locate failed)" in entry.why


def test_where_every_request_goes_to_a_partner_a_cancel_on_locate_failure_cannot_show(
    tmp_path,
):
    # The sandbox cancels a request that locate leaves without partner, but sends even a
    # made-up title to a partner: no request of the calibration ends without one, so what
    # it records is the sending order (the probe's text in facts.yaml says so).
    run = calibrate_in(
        playing(borrowing__send_on_after_locate="cancelled_on_locate_failure"), tmp_path
    )
    assert run.facts[NO_PARTNER].value == value(NO_PARTNER, "sent")
    assert run.facts[SEND_ON].status == "assumed"
    assert "made-up title" not in str(run.facts[SEND_ON].why)
    assert "cannot show the third alternative" in load_register().fact(SEND_ON).probe


class CancelledAfterSending(httpx.BaseTransport):
    """The made-up title's request, seen sent to a partner by its own probe, reads back
    cancelled once the held title has been asked for (a lender's reject at the end of the
    rota, or staff): cancelled, but not for want of a rota. ``keep_partner`` False: the
    cancelled request no longer names its partner."""

    HELD = b"Ferries of the Upper Mississippi"  # demo-university's partner_held_title

    def __init__(self, inner: httpx.BaseTransport, *, keep_partner: bool) -> None:
        self._inner, self._keep, self._later = inner, keep_partner, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.HELD in request.read():
            self._later = True
        response = self._inner.handle_request(request)
        body = response.read()
        if not (self._later and request.method == "GET" and b'"P2P harness test: ' in body):
            return response
        data = json.loads(body)
        if data.get("status", {}).get("value") == "REQUEST_SENT":
            data["status"] = {"value": "CANCELLED", "desc": "Cancelled"}
            if not self._keep:
                data.pop("partner", None)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, json=data)


@pytest.mark.parametrize("keep_partner", [True, False], ids=["names_partner", "no_partner"])
def test_a_made_up_title_cancelled_after_it_went_to_a_partner_shows_the_sending_order(
    keep_partner, tmp_path
):
    def cancelled_later(inner: httpx.BaseTransport) -> httpx.BaseTransport:
        return CancelledAfterSending(inner, keep_partner=keep_partner)

    run = calibrate_in(demo_world(), tmp_path, wrapper=cancelled_later)
    assert run.facts[NO_PARTNER].value == value(NO_PARTNER, "sent")
    # Not the third alternative: the sending order, which (sent with no "Ready to be sent"
    # read) leaves the fact assumed.
    assert run.facts[SEND_ON].status == "assumed"
    assert "REQUEST_SENT (DEMO_LENDER)" in str(run.facts[SEND_ON].why)
    assert "made-up title" not in str(run.facts[SEND_ON].why)


def test_the_held_title_cancelled_for_want_of_a_rota_is_the_second_alternative(tmp_path):
    world = playing(borrowing__send_on_after_locate="cancelled_on_locate_failure")
    institution(world, UNIVERSITY)["rota"] = []
    run = calibrate_in(world, tmp_path)
    assert run.facts[SEND_ON].value == value(SEND_ON, "cancelled_on_locate_failure")
    assert '"LOCATE_IN_PROCESS",\n    "CANCELLED"' in evidence_of(run, SEND_ON)
    assert_nothing_left(run)


def test_the_held_title_failing_locate_is_a_premise_not_an_answer(tmp_path):
    world = demo_world()
    institution(world, UNIVERSITY)["rota"] = []
    run = calibrate_in(world, tmp_path)
    entry = run.facts[SEND_ON]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "which the profile says DEMO_LENDER holds, ended LOCATE_FAILED" in entry.why
    assert "check borrowing.partner_held_title and the rota" in entry.why


def test_ready_to_be_sent_for_the_whole_minute_is_not_asked(tmp_path):
    world = demo_world()
    institution(world, UNIVERSITY)["sends_automatically"] = False
    run = calibrate_in(world, tmp_path)
    entry = run.facts[SEND_ON]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "'Ready to be sent' for 60 s (LOCATE_IN_PROCESS → READY_TO_SEND (DEMO_LENDER))" in (
        entry.why
    )
    assert "this probe cannot tell which" in entry.why
    assert_nothing_left(run)


def test_a_status_none_of_the_alternatives_names_is_unexpected_with_the_sequence(tmp_path):
    def expiring(inner: httpx.BaseTransport) -> httpx.BaseTransport:
        renamed = Renaming(inner, "REQUEST_SENT", "EXPIRED")
        return Renaming(renamed, "Request sent to partner", "Expired")

    run = calibrate_in(demo_world(), tmp_path, wrapper=expiring)
    entry = run.facts[SEND_ON]
    assert entry.value == UNEXPECTED
    assert entry.seen == "LOCATE_IN_PROCESS → EXPIRED (DEMO_LENDER)"


def test_a_title_the_institution_holds_itself_is_not_asked(tmp_path):
    profiles = demo_profiles(tmp_path / "institutions")
    path = profiles / "demo-university" / "profile.yaml"
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile["borrowing"]["partner_held_title"]["title"] = "A History of Winona"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    run = calibrate_in(demo_world(), tmp_path)
    entry = run.facts[SEND_ON]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "the institution itself holds 'A History of Winona' (401604)" in entry.why
    assert_nothing_left(run)


def test_a_profile_without_a_partner_held_title_says_what_to_set(tmp_path):
    profiles = demo_profiles(tmp_path / "institutions")
    path = profiles / "demo-university" / "profile.yaml"
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    del profile["borrowing"]["partner_held_title"]
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    run = calibrate_in(demo_world(), tmp_path)
    assert run.facts[SEND_ON].why == (
        "needs borrowing.partner_held_title (a title a rota partner holds) and a test "
        "patron (test_patrons)"
    )


# -- borrowing.excluded_group_refused ---------------------------------------------------


def test_the_assumed_world_records_the_refusal_and_its_code(tmp_path):
    run = calibrate_in(demo_world(), tmp_path)
    entry = run.facts[EXCLUDED]
    assert entry.value == value(EXCLUDED, "refused")
    assert entry.seen == "401652"
    shows = evidence_of(run, EXCLUDED)
    assert shows.startswith(
        "POST https://alma.invalid/almaws/v1/users/<excluded test patron>" + REQUESTS
    )
    assert '"errorCode": "401652"' in shows
    assert ALUMNUS not in shows
    assert_nothing_left(run)


def test_another_refusal_code_is_recorded_as_seen(tmp_path):
    world = demo_world()
    institution(world, UNIVERSITY)["excluded_group_error"] = "401999"
    run = calibrate_in(world, tmp_path)
    assert (run.facts[EXCLUDED].value, run.facts[EXCLUDED].seen) == (
        value(EXCLUDED, "refused"),
        "401999",
    )


def test_a_created_request_is_removed_at_once_and_not_recorded(tmp_path):
    run = calibrate_in(playing(borrowing__excluded_group_refused="created"), tmp_path)
    entry = run.facts[EXCLUDED]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert entry.why.startswith("Alma created the request of the ALUMNI test patron (removed at")
    assert "a created request cannot tell which" in entry.why
    assert "Fulfillment Units" in entry.why
    assert "Terms of Use and Policies" in entry.why
    assert ALUMNUS not in entry.why
    # Removed right after it was created, not when the write session closes.
    log = [(r.method, r.path) for r in run.app.request_log]
    made = log.index(("POST", f"/almaws/v1/users/{ALUMNUS}{REQUESTS}"))
    assert log[made + 1][0] == "DELETE"
    assert log[made + 1][1].startswith(f"/almaws/v1/users/{ALUMNUS}{REQUESTS}/")
    assert_nothing_left(run)


def test_a_refusal_for_another_reason_says_nothing_about_the_group(tmp_path):
    world = demo_world()
    record_of(institution(world, UNIVERSITY)["users"], "primary_id", ALUMNUS)["rs_libraries"] = []
    run = calibrate_in(world, tmp_path)
    entry = run.facts[EXCLUDED]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert entry.why.startswith("refused for another reason than the user group (401768: ")


def test_an_excluded_patron_in_another_group_is_not_asked(tmp_path):
    world = demo_world()
    record_of(institution(world, UNIVERSITY)["users"], "primary_id", ALUMNUS)["user_group"] = "UG"
    run = calibrate_in(world, tmp_path)
    entry = run.facts[EXCLUDED]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "is in user group UG, not ALUMNI" in entry.why
    assert not [r for r in run.app.request_log if ALUMNUS in r.path and r.method == "POST"]


def test_a_profile_without_an_excluded_patron_says_what_to_set(tmp_path):
    run = calibrate_in(demo_world(), tmp_path, "demo-college")
    entry = run.facts[EXCLUDED]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert entry.why.startswith(
        "set borrowing.excluded_patron (patron, user_group, error) in profile.yaml"
    )


# -- both -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "facts",
    [{}, {SEND_ON: "ready_first"}, {NO_PARTNER: "cancelled"}, {EXCLUDED: "created"}],
    ids=["assumed", "ready_first", "cancelled", "created"],
)
def test_a_second_calibration_writes_the_same_bytes(facts, tmp_path):
    world = demo_world()
    world["facts"] = facts
    first = calibrate_in(world, tmp_path).path.read_bytes()
    again = calibrate_in(world, tmp_path)
    assert again.path.read_bytes() == first
    assert not [line for line in again.said if "DRIFT" in line]


@pytest.mark.parametrize("facts", [{}, {EXCLUDED: "created"}], ids=["refused", "created"])
def test_no_key_and_no_patron_value_in_what_the_probes_write(facts, tmp_path):
    world = canary_world()
    world["facts"] = facts
    run = calibrate_in(world, tmp_path)
    key = str(institution(world, UNIVERSITY)["api_keys"][0]["key"])
    text = run.path.read_text(encoding="utf-8")
    for fact_id in (SEND_ON, EXCLUDED):
        entry = run.facts[fact_id]
        shown = (entry.evidence or "") + (entry.why or "") + (entry.seen or "")
        assert shown
        assert [c for c in (*CANARIES, key, ALUMNUS) if c in shown] == []
    assert [c for c in (*CANARIES, key) if c in text] == []
    assert run.path.name == CALIBRATED_FILE


def test_a_partner_that_may_reach_production_holds_back_every_test_request(tmp_path):
    # A refreshed sandbox whose partner still points at a production server: the suite
    # refuses every write (tests/test_lifecycle_targets.py), and so does calibration.
    world = demo_world()
    partner = record_of(institution(world, UNIVERSITY)["partners"], "code", "DEMO_LENDER")
    partner["ill_server"] = "riverbend.alma.example.edu"
    cal = calibrate_in(world, tmp_path)
    written = [
        r
        for r in cal.app.request_log
        if r.method in {"POST", "PUT", "DELETE"} and not r.path.endswith("/operation/test")
    ]
    assert written == []  # (an API area's self-test creates nothing)
    for fact_id in (SEND_ON, EXCLUDED, NO_PARTNER, "round_trip.lending_external_id"):
        entry = cal.facts[fact_id]
        assert entry.status == "assumed", (fact_id, entry)
        assert entry.why is not None
        assert entry.why.startswith("no test request was sent: partner DEMO_LENDER sends to ")
        assert "riverbend.alma.example.edu" in entry.why
    assert any("no test request sent: partner DEMO_LENDER" in line for line in cal.said)
    # The reads are still asked.
    assert cal.facts["gateway.environment_type_form"].status == "calibrated"


class _PartnersRefused(httpx.BaseTransport):
    """GET /partners answered with an Alma error whose tracking id differs on every call, as
    a key without the Resource Sharing area gets it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.calls = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/partners"):
            self.calls += 1
            error = {
                "errorCode": "UNAUTHORIZED",
                "errorMessage": f"API-key not defined or not configured to allow this API. "
                f"/users/{ALUMNUS}",
                "trackingId": f"E01-0412{self.calls:04d}-XYZ",
            }
            body = {"errorsExist": True, "errorList": {"error": [error]}}
            return httpx.Response(400, json=body)
        return self.inner.handle_request(request)


def test_a_why_built_from_an_alma_error_names_no_patron_and_keeps_the_file_unchanged(tmp_path):
    # Partners that cannot be read hold back every test request; the why carries Alma's
    # error, whose tracking id changes per call: the file must not change while Alma does not.
    first = calibrate_in(demo_world(), tmp_path, wrapper=_PartnersRefused)
    text = first.path.read_text()
    why = first.facts[SEND_ON].why
    assert why is not None
    assert why.startswith("no test request was sent: the partners could not be read")
    assert "tracking id E01-…" in why
    assert ALUMNUS not in text
    second = calibrate_in(demo_world(), tmp_path, wrapper=_PartnersRefused)
    assert second.path.read_text() == text
