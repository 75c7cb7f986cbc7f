"""``alma-p2p calibrate`` of a borrowing member with both round-trip members' keys, against
the two-member demo world (St Mary's borrows from Riverbend): the three round-trip facts,
each alternative recorded in the right member's file, the lending member's key missing or
of a production Alma, nothing left active on either side, byte-identical reruns, and no
key or patron in the evidence."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from alma_p2p.calibrate import calibrate
from alma_p2p.calibrate.round_trip_probes import END_OF_ROTA, ROUND_TRIP_FACTS
from alma_p2p.facts import (
    CALIBRATED_FILE,
    CalibratedFact,
    CalibratedFacts,
    Facts,
    FactsError,
    load_calibrated,
    load_register,
)
from alma_p2p.profile import load_profiles
from alma_p2p.standin import StandinApp
from alma_p2p.suite.steps.round_trip import end_of_rota
from tests.calibrated import calibrate_world, calibration_settings
from tests.suite_runner import REPO, SuiteRun, demo_world, institution, run_live, standin_app
from tests.suite_runner import _virtual_time as virtual_time

pytestmark = pytest.mark.standin

BORROWER, LENDER = "demo-university", "demo-lender"
CODES = {BORROWER: "01DEMO_STMARYS", LENDER: "01DEMO_LENDER"}
EXTERNAL_ID = "round_trip.lending_external_id"
CANCEL = "round_trip.cancel_reaches_lender"
REGISTER = load_register()
TRIP_TITLES = {"Bridges of Riverbend", "The Riverbend Almanac"}  # supplied, rejected


def _value(fact_id: str, switch: str) -> str:
    fact = REGISTER.fact(fact_id)
    if switch == fact.switch:
        return fact.assumed
    return next(a.value for a in fact.alternatives if a.switch == switch)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "institutions"
    shutil.copytree(REPO / "fixtures" / "institutions", folder)
    return folder


def last_partner(profiles: Path, world: dict[str, Any]) -> None:
    """Riverbend alone on St Mary's rota, as the profile then says: a reject ends the rota."""
    institution(world, CODES[BORROWER])["rota"] = ["DEMO_LENDER"]
    path = profiles / BORROWER / "profile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["round_trip"]["next_partner"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


class Calibration:
    """One calibration of St Mary's: what it wrote at both members and said."""

    def __init__(self, app: StandinApp, said: list[str], profiles: Path, drift: tuple[str, ...]):
        self.app, self.said, self.drift = app, said, drift
        self.borrower = _load(profiles / BORROWER / CALIBRATED_FILE)
        lender = profiles / LENDER / CALIBRATED_FILE
        self.lender = load_calibrated(lender)
        self.paths = (profiles / BORROWER / CALIBRATED_FILE, lender)

    def calls_at(self, code: str) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.app.request_log if r.institution == code]


def _load(path: Path) -> CalibratedFacts:
    found = load_calibrated(path)
    assert found is not None, f"no {path}"
    return found


def calibrate_trip(
    world: dict[str, Any],
    profiles: Path,
    tmp_path: Path,
    *,
    lender_key: str | None = "",
    today: date = date(2026, 11, 26),
    wrapper: Any = None,
) -> Calibration:
    """Calibrate St Mary's with its key and, unless ``lender_key`` is None, Riverbend's
    (its world key when ``lender_key`` is empty)."""
    app = standin_app(world)
    keys = {BORROWER: str(institution(world, CODES[BORROWER])["api_keys"][0]["key"])}
    if lender_key is not None:
        keys[LENDER] = lender_key or str(institution(world, CODES[LENDER])["api_keys"][0]["key"])
    settings = calibration_settings(BORROWER, profiles, tmp_path / "ledger.jsonl", keys)
    said: list[str] = []
    with virtual_time():
        outcome = calibrate(
            BORROWER,
            settings=settings,
            transport=(wrapper or (lambda inner: inner))(httpx.WSGITransport(app=app)),
            today=today,
            say=said.append,
        )
    return Calibration(app, said, profiles, outcome.drift)


def test_the_assumed_world_records_the_three_assumed_values_each_in_its_members_file(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path)

    assert done.lender is not None
    assert done.lender.institution == CODES[LENDER]
    for fact_id, where in ((EXTERNAL_ID, done.lender), (CANCEL, done.lender)):
        entry = where.facts[fact_id]
        assert (entry.status, entry.value) == ("calibrated", REGISTER.fact(fact_id).assumed)
        # The borrower's file says where the lender's fact went.
        mine = done.borrower.facts[fact_id]
        assert mine.status == "assumed"
        assert mine.why == "the lending member's fact: recorded in demo-lender's alma-facts.yaml"
    end = done.borrower.facts[END_OF_ROTA]
    assert (end.status, end.value) == ("calibrated", REGISTER.fact(END_OF_ROTA).assumed)
    assert end.evidence is not None
    assert '"value": "REJECTED"' in end.evidence
    assert "GET https://alma.invalid/almaws/v1/users/<test patron>/resource-sharing-requests/" in (
        end.evidence
    )
    external = done.lender.facts[EXTERNAL_ID].evidence
    assert external is not None
    assert "/task-lists/rs/lending-requests?library=RIVER&partner=DEMO_STMARYS → 200" in external
    assert "1//<the borrowing request's external_id>" in external
    cancel = done.lender.facts[CANCEL].evidence
    assert cancel is not None
    assert "/partners/DEMO_STMARYS/lending-requests/<lending request id> → 200" in cancel
    assert '"value": "CANCELLED"' in cancel
    # The lender's own facts are not touched by the borrower's calibration.
    assert {f for f, e in done.lender.facts.items() if e.status == "calibrated"} == {
        EXTERNAL_ID,
        CANCEL,
    }
    assert "demo-lender: 0 call(s)" not in " ".join(done.said)


def test_the_lenders_calls_are_made_with_its_own_key_and_only_read(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path)

    at_lender = done.calls_at(CODES[LENDER])
    assert at_lender
    assert {method for method, _ in at_lender} == {"GET"}
    counted = [line for line in done.said if line.startswith("demo-lender: ") and "call(s)" in line]
    assert counted == [
        f"demo-lender: {len(at_lender)} call(s) by the round-trip probes, counted at demo-lender"
    ]
    # Two borrowing requests at St Mary's (supplied, rejected), both cancelled and removed.
    posts = [p for m, p in done.calls_at(CODES[BORROWER]) if m == "POST" and "/resource-" in p]
    assert len(posts) >= 2
    assert active_anywhere_after(done) == []
    assert not [line for line in done.said if "LEFT IN ALMA" in line]


def active_anywhere_after(done: Calibration) -> list[str]:
    """What the calibration left active: its borrowing requests, and lending requests."""
    left = []
    for code, live in done.app._live.items():
        for b in live.borrowing.values():
            if b["external_id"].startswith("P2PH-C"):
                left.append(f"{code} borrowing {b['external_id']} {b['status']['value']}")
        for lent in live.lending.values():
            if lent["external_id"].startswith("1//") and lent["status"]["value"] in {
                "REQUEST_CREATED_LEND",
                "LOCATE_IN_PROCESS",
            }:
                left.append(f"{code} lending {lent['external_id']} {lent['status']['value']}")
    return left


@pytest.mark.parametrize(
    ("fact_id", "switch", "where"),
    [
        (EXTERNAL_ID, "request_id", "lender"),
        (CANCEL, "stays", "lender"),
        (END_OF_ROTA, "cancelled", "world"),
    ],
)
def test_each_alternative_is_recorded_in_its_members_file(
    fact_id: str, switch: str, where: str, tmp_path: Path, profiles: Path
):
    world = demo_world()
    last_partner(profiles, world)
    if where == "lender":
        institution(world, CODES[LENDER])["facts"] = {fact_id: switch}
    else:
        world["facts"] = {fact_id: switch}

    done = calibrate_trip(world, profiles, tmp_path)

    facts = done.borrower if fact_id == END_OF_ROTA else done.lender
    assert facts is not None
    entry = facts.facts[fact_id]
    assert (entry.status, entry.value) == ("calibrated", _value(fact_id, switch))
    others = {f: e.value for f, e in done.borrower.facts.items() if f in ROUND_TRIP_FACTS}
    if done.lender is not None:
        others |= {f: e.value for f, e in done.lender.facts.items() if e.status == "calibrated"}
    for other in set(ROUND_TRIP_FACTS) - {fact_id}:
        assert others[other] == REGISTER.fact(other).assumed or others[other] is None
    if switch == "stays":
        # The lending request the cancel did not end is left for staff, by name.
        left = [line for line in done.said if "LEFT IN ALMA" in line and "7afff05e" in line]
        assert len(left) == 1, done.said
        assert left[0].startswith("demo-lender: LEFT IN ALMA: lending request ")
        # Waiting for cancel response is the lender's request still active, not cancelled.
        assert "from partner DEMO_STMARYS is still active (CANCEL_REPLY)" in left[0]
        assert "Fulfillment > Resource Sharing > Lending Requests" in left[0]
        evidence = entry.evidence or ""
        assert "120 s after the borrower cancelled its request" in evidence
        assert '"value": "CANCEL_REPLY"' in evidence
    else:
        assert active_anywhere_after(done) == []


def test_a_write_probes_request_the_cancel_left_at_the_lender_is_left_in_alma_by_name(
    tmp_path, profiles
):
    world = demo_world()
    institution(world, CODES[LENDER])["facts"] = {CANCEL: "stays"}

    done = calibrate_trip(world, profiles, tmp_path)

    # The "sent on its own" probe's request went to Riverbend too; withdrawn at St Mary's,
    # its lending request waits there for staff: named, like the round trip's own.
    still = [
        (lent["title"], lent["external_id"])
        for lent in done.app._live[CODES[LENDER]].lending.values()
        if lent["status"]["value"] == "CANCEL_REPLY"
    ]
    assert {title for title, _ in still} == {
        "Bridges of Riverbend",
        "Ferries of the Upper Mississippi",
    }
    left = [line for line in done.said if "LEFT IN ALMA" in line]
    for _title, external_id in still:
        named = [line for line in left if f"(external id {external_id})" in line]
        assert len(named) == 1, left
        assert named[0].startswith("demo-lender: LEFT IN ALMA: lending request ")
        assert "is still active (CANCEL_REPLY)" in named[0]
    assert len(left) == 2, left


def test_a_rota_that_goes_on_after_the_lender_leaves_the_end_of_rota_assumed_with_why(
    tmp_path, profiles
):
    Posts.bodies = []
    done = calibrate_trip(demo_world(), profiles, tmp_path, wrapper=Posts)

    end = done.borrower.facts[END_OF_ROTA]
    assert end.status == "assumed"
    assert end.why == (
        "asked only when demo-lender is the rota's last partner: the profile's rota goes on "
        "to DEMO_COLLEGE (round_trip.next_partner)"
    )
    assert done.lender is not None
    assert done.lender.facts[EXTERNAL_ID].status == "calibrated"
    # One borrowing request: the supplied title's, which showed both lender facts.
    made = [b["title"] for b in Posts.bodies if b.get("title") in TRIP_TITLES]
    assert made == ["Bridges of Riverbend"]
    assert active_anywhere_after(done) == []


class Posts(httpx.BaseTransport):
    """The stand-in, keeping the body of every request created by POST."""

    bodies: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/resource-sharing-requests"):
            Posts.bodies.append(json.loads(request.read()))
        return self._inner.handle_request(request)


class OwnIds(httpx.BaseTransport):
    """A lender's Alma that gives lending requests external ids of its own."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read().replace(b'"1//P2PH-', b'"1//LENDER-OWN-')
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_a_lending_request_the_borrowers_ids_do_not_find_leaves_the_lenders_facts_assumed(
    tmp_path, profiles
):
    done = calibrate_trip(demo_world(), profiles, tmp_path, wrapper=OwnIds)

    assert done.lender is None  # nothing seen: the lender's file is not made
    for fact_id in (EXTERNAL_ID, CANCEL):
        why = done.borrower.facts[fact_id].why or ""
        assert why.startswith("the lending member's fact (kept in demo-lender's alma-facts.yaml)")
        assert (
            "demo-lender shows no lending request from DEMO_STMARYS whose external id ends" in why
        )
        assert "its Alma may give it an id of its own: compare the two requests by hand" in why
    # Withdrawn at St Mary's, the request the lender held was cancelled with it.
    assert active_anywhere_after(done) == []
    # What the probe could not find is not known to be cancelled: staff are told where.
    left = [line for line in done.said if "LEFT IN ALMA" in line]
    assert len(left) == 1, done.said
    assert left[0].startswith(
        "demo-lender: LEFT IN ALMA: a lending request from partner DEMO_STMARYS for "
        "'Bridges of Riverbend' (the borrowing request's external id P2PH-C"
    ), left[0]
    assert "was not found in RIVER's task list: find it in demo-lender's Alma" in left[0]
    assert "and reject it if it is still active" in left[0]


def test_a_rota_that_starts_elsewhere_leaves_the_three_facts_assumed_naming_the_template(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)
    institution(world, CODES[BORROWER])["rota"] = ["DEMO_COLLEGE", "DEMO_LENDER"]

    done = calibrate_trip(world, profiles, tmp_path)

    for fact_id in ROUND_TRIP_FACTS:
        entry = done.borrower.facts[fact_id]
        assert entry.status == "assumed"
        assert "went to DEMO_COLLEGE, not to DEMO_LENDER: the rota template must put the " in (
            entry.why or ""
        )
    assert active_anywhere_after(done) == []
    # Sent to another partner: its lending request there is named for staff.
    left = [line for line in done.said if "LEFT IN ALMA" in line]
    assert len(left) == 2, done.said
    assert left[0].startswith(
        "demo-university: LEFT IN ALMA: the request for 'Bridges of Riverbend' (external id P2PH-C"
    ), left[0]
    assert "was sent to partner DEMO_COLLEGE, not to DEMO_LENDER" in left[0]
    assert "reject it if it is still active" in left[0]


def test_without_the_lenders_key_the_three_facts_name_the_variable_to_set(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path, lender_key=None)

    for fact_id in ROUND_TRIP_FACTS:
        entry = done.borrower.facts[fact_id]
        assert entry.status == "assumed"
        assert entry.why is not None
        assert "set ALMA_API_KEY_DEMO_LENDER" in entry.why, entry.why
        assert "beside ALMA_API_KEY_DEMO_UNIVERSITY" in entry.why
    assert done.lender is None  # nothing written at the lender
    assert done.calls_at(CODES[LENDER]) == []


def test_a_lender_key_of_a_production_alma_is_refused_with_nothing_written_at_either_side(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)
    institution(world, CODES[LENDER])["environment_type"] = "production"

    done = calibrate_trip(world, profiles, tmp_path)

    for fact_id in ROUND_TRIP_FACTS:
        entry = done.borrower.facts[fact_id]
        assert entry.status == "assumed"
        assert entry.why is not None
        assert entry.why.startswith("nothing was sent to either member: demo-lender: refused")
        assert "environment_type='production', not sandbox" in entry.why
    assert done.lender is None
    # At the lender only /conf/general was read; at St Mary's no more was written than a
    # calibration without the lender's key writes.
    assert done.calls_at(CODES[LENDER]) == [("GET", "/almaws/v1/conf/general")]
    (tmp_path / "alone").mkdir()
    alone = calibrate_trip(world, profiles, tmp_path / "alone", lender_key=None)
    assert writes(done) == writes(alone)


def writes(done: Calibration) -> list[tuple[str, str]]:
    """The writes at St Mary's, request ids left out (they change with the run token)."""
    return [
        (m, p.rsplit("/", 1)[0] if m == "DELETE" else p)
        for m, p in done.calls_at(CODES[BORROWER])
        if m in {"POST", "DELETE"}
    ]


def test_a_lender_key_of_another_institution_is_refused(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    college_key = institution(world, "01DEMO_COLLEGE")["api_keys"][0]["key"]

    done = calibrate_trip(world, profiles, tmp_path, lender_key=college_key)

    why = done.borrower.facts[EXTERNAL_ID].why or ""
    assert "the key reaches institution '01DEMO_COLLEGE', but the profile says '01DEMO_LENDER'" in (
        why
    )
    assert done.lender is None


def test_a_second_calibration_of_both_members_changes_no_byte(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    first = calibrate_trip(world, profiles, tmp_path)
    before = [path.read_bytes() for path in first.paths]

    second = calibrate_trip(world, profiles, tmp_path, today=date(2026, 12, 3))

    assert [path.read_bytes() for path in second.paths] == before
    assert second.drift == ()


def test_a_lender_fact_that_changes_is_drift_named_by_the_lender(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    calibrate_trip(world, profiles, tmp_path)
    institution(world, CODES[LENDER])["facts"] = {EXTERNAL_ID: "request_id"}

    second = calibrate_trip(world, profiles, tmp_path, today=date(2026, 12, 3))

    assert len(second.drift) == 1
    assert second.drift[0].startswith(f"demo-lender: {EXTERNAL_ID}: was ")
    assert [line for line in second.said if "DRIFT" in line] == [
        f"demo-lender: DRIFT {second.drift[0].removeprefix('demo-lender: ')}"
    ]


def test_the_lenders_own_facts_survive_the_borrowers_calibration_and_its_own(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    lender_file = profiles / LENDER / CALIBRATED_FILE
    # The lender calibrated first, on its own.
    keys = {LENDER: str(institution(world, CODES[LENDER])["api_keys"][0]["key"])}
    settings = calibration_settings(LENDER, profiles, tmp_path / "ledger.jsonl", keys)

    def own() -> CalibratedFacts:
        with virtual_time():
            calibrate(
                LENDER,
                settings=settings,
                transport=httpx.WSGITransport(app=standin_app(world)),
                today=date(2026, 11, 26),
                say=lambda _line: None,
            )
        return _load(lender_file)

    alone = own()
    assert alone.facts[EXTERNAL_ID].status == "assumed"

    calibrate_trip(world, profiles, tmp_path)
    both = _load(lender_file)
    for fact_id, entry in alone.facts.items():
        if fact_id not in (EXTERNAL_ID, CANCEL):
            assert both.facts[fact_id] == entry, fact_id
    assert both.facts[EXTERNAL_ID].status == "calibrated"

    again = own()  # the lender's own calibration keeps what the round trip recorded
    assert again == both


def test_no_key_or_patron_reaches_either_file(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path)

    keys = [str(k["key"]) for i in world["institutions"] for k in i.get("api_keys", [])]
    patrons = [p.primary_id for p in _profile_patrons(profiles)]
    for path in done.paths:
        text = path.read_text(encoding="utf-8")
        assert not [k for k in keys if k in text], path
    assert done.lender is not None
    shown = [
        done.borrower.facts[END_OF_ROTA].evidence or "",
        done.lender.facts[EXTERNAL_ID].evidence or "",
        done.lender.facts[CANCEL].evidence or "",
    ]
    assert all(shown)
    for text in shown:
        assert not [p for p in patrons if p in text]
        assert "P2PH-C" not in text  # no per-run external id: the file would change each time
        assert "apikey" not in text.lower()


def _profile_patrons(profiles: Path) -> list[Any]:
    loaded = load_profiles(profiles, [BORROWER, LENDER])
    return [p for profile in loaded.values() for p in profile.test_patrons]


# -- the round trip's steps read what calibration recorded -------------------------------

REJECTED_TRIP = "test_a_request_the_lender_rejects_moves_on_along_the_borrowers_rota"
SUPPLIED_TRIP = "test_a_request_the_lender_can_supply_reaches_the_lenders_pickfromshelf_list"
AT = "[demo-university]"
SELECT = ("--institution", "demo-university", "-k", "lending_member or rota or shelf")


def _suite(world: dict[str, Any], tmp_path: Path, profiles: Path) -> SuiteRun:
    (tmp_path / "run").mkdir()
    return run_live(world, tmp_path / "run", *SELECT, f"--profiles-dir={profiles}")


def _quick(profiles: Path) -> None:
    path = profiles / BORROWER / "profile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["round_trip"]["settle_seconds"] = 5
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_until_calibrated_an_auto_cancelled_end_of_the_rota_is_cannot_tell(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    _quick(profiles)
    world["facts"] = {END_OF_ROTA: "cancelled"}

    run = _suite(world, tmp_path, profiles)

    # A valid setting of the RS library: never a fail until the borrower is calibrated.
    assert run.outcome_of(REJECTED_TRIP + AT) == "skipped", run.output[-3000:]
    assert "cannot tell: after DEMO_LENDER, the last partner of the rota, rejected it" in (
        run.output
    )
    assert "is CANCELLED (Canceled by staff): the resource sharing library may cancel " in (
        run.output
    )
    assert "alma-p2p calibrate --institution demo-university, with demo-lender's key" in (
        run.output
    )


def test_once_calibrated_as_auto_cancelled_the_end_of_the_rota_passes(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    _quick(profiles)
    world["facts"] = {END_OF_ROTA: "cancelled"}
    calibrate_trip(world, profiles, tmp_path)

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(REJECTED_TRIP + AT) == "passed", run.output[-3000:]


def test_once_calibrated_as_rejected_an_auto_cancelled_end_fails_naming_the_setting(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)
    _quick(profiles)
    calibrate_trip(world, profiles, tmp_path)
    world["facts"] = {END_OF_ROTA: "cancelled"}  # the setting changed since the calibration

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(REJECTED_TRIP + AT) == "failed", run.output[-3000:]
    assert "is CANCELLED (partner DEMO_LENDER), expected REJECTED as the borrower's " in (
        run.output
    )
    assert "calibration saw: check the resource sharing library's setting for rejected" in (
        run.output
    )


class Rewritten(httpx.BaseTransport):
    """The stand-in with ``old`` answered as ``new`` in the answers to paths containing
    ``where``."""

    where, old, new = "", b"", b""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if self.where not in request.url.path:
            return response
        body = response.read().replace(self.old, self.new)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


class RejectedByPartner(Rewritten):
    """A borrower's Alma whose "Rejected by partner" has the code REJECTED_BY_PARTNER."""

    where, old, new = "/resource-sharing-requests/", b'"REJECTED"', b'"REJECTED_BY_PARTNER"'


def test_rejected_by_partner_under_another_code_is_recorded_with_the_code_seen(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path, wrapper=RejectedByPartner)

    end = done.borrower.facts[END_OF_ROTA]
    assert (end.status, end.value, end.seen) == (
        "calibrated",
        REGISTER.fact(END_OF_ROTA).assumed,
        "REJECTED_BY_PARTNER",
    )
    # The step expects what calibration saw.
    facts = Facts(REGISTER, done.borrower)
    trip = load_profiles(profiles, [BORROWER])[BORROWER].round_trip
    assert trip is not None
    assert end_of_rota(trip, facts) == (frozenset({"REJECTED_BY_PARTNER"}), True)


class LenderSupplies(Rewritten):
    """A lender's Alma whose request reads Will supply where the stand-in rejected it."""

    where = "/partners/"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.where not in request.url.path:
            return response
        body = (
            response.read()
            .replace(b'"REJECTED"', b'"WILL_SUPPLY"')
            .replace(b"Rejected the borrower request", b"Will supply")
        )
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_an_end_of_rota_the_lender_did_not_reject_is_not_recorded(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path, wrapper=LenderSupplies)

    end = done.borrower.facts[END_OF_ROTA]
    assert end.status == "assumed"
    assert (end.why or "").startswith(
        "the request for the rejected title moved to REJECTED at the borrower, but "
        "demo-lender's lending request was WILL_SUPPLY, not rejected"
    ), end.why


def test_an_unexpected_end_of_rota_without_the_code_seen_is_not_known():
    facts = Facts(
        REGISTER,
        CalibratedFacts(
            institution=CODES[BORROWER],
            facts={
                END_OF_ROTA: CalibratedFact(
                    status="calibrated",
                    value="unexpected",
                    date=date(2026, 11, 26),
                    evidence="GET … → 200",
                )
            },
        ),
    )
    trip = load_profiles(REPO / "fixtures" / "institutions", [BORROWER])[BORROWER].round_trip
    assert trip is not None

    assert end_of_rota(trip, facts) == (frozenset(), False)


def test_once_calibrated_as_carried_by_request_id_the_lending_request_is_found_that_way(
    tmp_path, profiles
):
    world = demo_world()
    institution(world, CODES[LENDER])["facts"] = {EXTERNAL_ID: "request_id"}
    calibrate_trip(world, profiles, tmp_path)

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(SUPPLIED_TRIP + AT) == "passed", run.output[-3000:]
    assert run.outcome_of(REJECTED_TRIP + AT) == "passed", run.output[-3000:]


def test_once_calibrated_as_carried_by_external_id_another_id_is_not_taken_for_it(
    tmp_path, profiles
):
    world = demo_world()
    _quick(profiles)
    # Both members calibrated: the lender's task list is known to show finished requests.
    calibrate_world(world, profiles, BORROWER, LENDER, ledger=tmp_path / "ledger.jsonl")
    # The lender's Alma now carries the request id instead (drift the calibration would show).
    institution(world, CODES[LENDER])["facts"] = {EXTERNAL_ID: "request_id"}

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(SUPPLIED_TRIP + AT) == "failed", run.output[-3000:]
    assert "demo-lender shows no lending request from DEMO_STMARYS whose external id ends with" in (
        run.output
    )


def test_a_lending_request_left_after_a_cancel_names_what_calibration_saw(tmp_path, profiles):
    world = demo_world()
    institution(world, CODES[LENDER])["facts"] = {CANCEL: "stays"}
    calibrate_trip(world, profiles, tmp_path)

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(SUPPLIED_TRIP + AT) == "passed", run.output[-3000:]
    assert "after the borrower withdrew its request (as calibrated on " in run.output
    assert "demo-lender's Alma leaves it for staff): staff reject it" in run.output


class AfterTheCancel(httpx.BaseTransport):
    """A lender's Alma whose request the borrower cancelled reads ``code`` (its description
    still says cancelled)."""

    code = "WILL_SUPPLY"

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if "/lending-requests/" not in request.url.path:
            return response
        body = response.read().replace(b'"CANCELLED"', f'"{self.code}"'.encode())
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_a_lender_status_after_the_cancel_that_is_no_cancel_is_unexpected_and_left(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)

    done = calibrate_trip(world, profiles, tmp_path, wrapper=AfterTheCancel)

    assert done.lender is not None
    entry = done.lender.facts[CANCEL]
    assert (entry.status, entry.value, entry.seen) == ("calibrated", "unexpected", "WILL_SUPPLY")
    # Not final at the lender: left for staff, by name.
    left = [line for line in done.said if "LEFT IN ALMA" in line]
    assert len(left) == 1, done.said
    assert "is still active (WILL_SUPPLY)" in left[0]


class LenderFails(httpx.BaseTransport):
    """A lender's Alma that refuses every read of a lending request, with an error naming
    the path, the test patron and a tracking id that differs per call."""

    calls = 0

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method != "GET" or "/partners/DEMO_STMARYS/lending-requests/" not in path:
            return self._inner.handle_request(request)
        LenderFails.calls += 1
        patron = _profile_patrons(REPO / "fixtures" / "institutions")[0].primary_id
        error = {
            "errorCode": "401652",
            "errorMessage": f"General Error at {path} for /users/{patron}/requests",
            "trackingId": f"E01-0412{LenderFails.calls:05d}",
        }
        return httpx.Response(
            400, json={"errorsExist": True, "errorList": {"error": [error]}, "result": None}
        )


def test_a_why_with_alma_errors_names_no_patron_or_id_and_a_second_run_changes_no_byte(
    tmp_path, profiles
):
    world = demo_world()
    last_partner(profiles, world)
    first = calibrate_trip(world, profiles, tmp_path, wrapper=LenderFails)
    before = first.paths[0].read_bytes()

    second = calibrate_trip(world, profiles, tmp_path, wrapper=LenderFails)

    whys = [second.borrower.facts[f].why or "" for f in (CANCEL, END_OF_ROTA)]
    assert all("probe could not ask Alma this time: GET " in why for why in whys), whys
    patrons = [p.primary_id for p in _profile_patrons(profiles)]
    for why in whys:
        assert not [p for p in patrons if p in why], why
        assert "/lending-requests/<lending request id>" in why, why
        assert "E01-0412" not in why
    assert second.paths[0].read_bytes() == before


def test_a_write_at_the_lender_is_refused_during_calibration(tmp_path, profiles, monkeypatch):
    from alma_p2p.alma.errors import AlmaWriteRefused
    from alma_p2p.calibrate import round_trip_probes

    world = demo_world()
    last_partner(profiles, world)
    tried: list[str] = []
    ask = round_trip_probes._Trip.ask

    def writing_first(self: Any, register: Any) -> Any:
        try:
            self.lp.client.create_lending_request("DEMO_STMARYS", {"external_id": "x"})
        except AlmaWriteRefused:
            tried.append("refused")
        else:
            tried.append("sent")
        return ask(self, register)

    monkeypatch.setattr(round_trip_probes._Trip, "ask", writing_first)

    done = calibrate_trip(world, profiles, tmp_path)

    assert tried == ["refused"]
    assert {method for method, _ in done.calls_at(CODES[LENDER])} == {"GET"}
    assert done.lender is not None  # the round trip went on, only reading at the lender
    assert done.lender.facts[CANCEL].status == "calibrated"


def test_a_broken_lender_facts_file_stops_the_command_before_anything_is_sent(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    (profiles / LENDER / CALIBRATED_FILE).write_text("institution: [broken\n", encoding="utf-8")
    app = standin_app(world)
    keys = {
        name: str(institution(world, CODES[name])["api_keys"][0]["key"])
        for name in (BORROWER, LENDER)
    }
    settings = calibration_settings(BORROWER, profiles, tmp_path / "ledger.jsonl", keys)

    with pytest.raises(FactsError) as raised, virtual_time():
        calibrate(
            BORROWER,
            settings=settings,
            transport=httpx.WSGITransport(app=app),
            today=date(2026, 11, 26),
            say=lambda _line: None,
        )

    assert str(profiles / LENDER / CALIBRATED_FILE) in str(raised.value)
    assert app.request_log == []
    assert not (profiles / BORROWER / CALIBRATED_FILE).exists()


def test_a_lending_request_left_after_an_unexpected_calibration_says_what_was_seen(
    tmp_path, profiles
):
    world = demo_world()
    calibrate_trip(world, profiles, tmp_path, wrapper=AfterTheCancel)
    institution(world, CODES[LENDER])["facts"] = {CANCEL: "stays"}

    run = _suite(world, tmp_path, profiles)

    assert run.outcome_of(SUPPLIED_TRIP + AT) == "passed", run.output[-3000:]
    assert "calibration saw demo-lender's Alma answer the cancel with WILL_SUPPLY" in run.output
    assert "leaves it for staff" not in run.output


class _TaskListFailsAfterWithdrawal(httpx.BaseTransport):
    """Once the borrower has withdrawn a request, the lender's lending task list answers an
    Alma error (the read that looks for this calibration's other requests at the lender)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.withdrawn = inner, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "DELETE" and "/resource-sharing-requests/" in path:
            self.withdrawn = True
        if self.withdrawn and request.method == "GET" and path.endswith("/lending-requests"):
            error = {"errorCode": "402119", "errorMessage": "General error.", "trackingId": "E01"}
            return httpx.Response(400, json={"errorsExist": True, "errorList": {"error": [error]}})
        return self.inner.handle_request(request)


def test_a_lender_task_list_that_cannot_be_read_at_the_end_says_where_to_look(tmp_path, profiles):
    world = demo_world()
    last_partner(profiles, world)
    done = calibrate_trip(world, profiles, tmp_path, wrapper=_TaskListFailsAfterWithdrawal)
    lines = [line for line in done.said if "could not read" in line]
    assert len(lines) == 1, done.said
    assert lines[0].startswith(f"{LENDER}: could not read ")
    assert "lending task list" in lines[0]
    assert "whose external id holds C" in lines[0]  # the run token
    assert "reject those still active" in lines[0]
