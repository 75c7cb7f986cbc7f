"""The round trip between two members: it passes in the demo consortium, fails with the
librarian's message when a leg is broken, leaves nothing active at either member, and is
left out, with the reason, without the lending member's own key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from alma_p2p.plugin.applicability import not_applicable
from alma_p2p.profile import load_profiles
from tests.calibrated import calibrate_world
from tests.suite_runner import REPO, SuiteRun, demo_world, institution, record_of, run_live
from tests.test_p2p_scenarios_can_fail import profiles

pytestmark = pytest.mark.standin

SUPPLIED = "test_a_request_the_lender_can_supply_reaches_the_lenders_pickfromshelf_list"
REJECTED = "test_a_request_the_lender_rejects_moves_on_along_the_borrowers_rota"
AT = "[demo-university]"
SELECT = ("--institution", "demo-university", "-k", "lending_member or rota or shelf")


def _run(world: dict[str, Any], tmp_path: Any, *extra: str) -> SuiteRun:
    return run_live(world, tmp_path, *SELECT, *extra)


def active_anywhere(run: SuiteRun) -> list[str]:
    """What the run left active: borrowing requests it created at St Mary's, and lending
    requests at the other members that came from them."""
    left = []
    for code, live in run.app._live.items():  # the stand-in's state as the run left it
        for b in live.borrowing.values():
            if b["external_id"].startswith("P2PH"):
                left.append(f"{code} borrowing {b['external_id']} {b['status']['value']}")
        for lent in live.lending.values():
            if lent["external_id"].startswith("1//P2PH") and lent["status"]["value"] in {
                "REQUEST_CREATED_LEND",
                "LOCATE_IN_PROCESS",
            }:
                left.append(f"{code} lending {lent['external_id']} {lent['status']['value']}")
    return left


def test_the_demo_round_trip_passes_and_leaves_nothing_active_at_either_member(tmp_path):
    run = _run(demo_world(), tmp_path)

    assert run.outcome_of(SUPPLIED + AT) == "passed"
    assert run.outcome_of(REJECTED + AT) == "passed"
    lender = run.app._live["01DEMO_LENDER"]
    arrived = [r for r in lender.lending.values() if r["external_id"].startswith("1//P2PH")]
    assert {r["status"]["value"] for r in arrived} == {"CANCELLED", "REJECTED"}
    assert active_anywhere(run) == []
    lender_calls = [r for r in run.app.request_log if r.institution == "01DEMO_LENDER"]
    assert {r.method for r in lender_calls} == {"GET"}  # the lender is only read


def test_a_lender_that_keeps_an_all_on_loan_request_waiting_fails_the_reject_leg(tmp_path):
    # Calibrated while the lender was right: it rejects at once, so waiting is a fault.
    world = demo_world()
    args = profiles(tmp_path, demo_university=_quick)
    calibrate_world(world, tmp_path / "profiles", "demo-lender")
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["lending"] = {"reject_when_no_available": False}

    run = _run(world, tmp_path, *args)

    assert run.outcome_of(REJECTED + AT) == "failed"
    assert run.outcome_of(SUPPLIED + AT) == "passed"
    assert "demo-lender's lending request" in run.output
    assert "is REQUEST_CREATED_LEND after 1 s, expected it rejected" in run.output
    assert active_anywhere(run) == []


def test_uncalibrated_a_lender_still_waiting_is_cannot_tell_naming_the_jobs_to_look_at(tmp_path):
    world = demo_world()
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["lending"] = {"reject_when_no_available": False}

    run = _run(world, tmp_path, *profiles(tmp_path, demo_university=_quick))

    assert run.outcome_of(REJECTED + AT) == "skipped"
    assert "cannot tell: demo-lender's lending request" in run.output
    assert "Monitor Jobs" in run.output
    assert active_anywhere(run) == []


def test_a_rota_without_the_next_partner_fails_the_move_on(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_STMARYS")["rota"] = ["DEMO_LENDER"]

    run = _run(world, tmp_path)

    assert run.outcome_of(REJECTED + AT) == "failed"
    assert "is REJECTED with partner DEMO_LENDER, expected it sent on to DEMO_COLLEGE" in (
        run.output
    )


def test_at_the_end_of_the_rota_the_request_ends_as_the_profile_says(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_STMARYS")["rota"] = ["DEMO_LENDER"]

    def last(profile: dict[str, Any]) -> None:
        del profile["round_trip"]["next_partner"]

    run = _run(world, tmp_path, *profiles(tmp_path, demo_university=last))

    assert run.outcome_of(REJECTED + AT) == "passed"


def test_a_rota_that_starts_elsewhere_fails_both_legs_naming_the_rota_template(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_STMARYS")["rota"] = ["DEMO_COLLEGE", "DEMO_LENDER"]

    run = _run(world, tmp_path)

    assert run.outcome_of(SUPPLIED + AT) == "failed"
    assert run.outcome_of(REJECTED + AT) == "failed"
    assert "went to DEMO_COLLEGE (REQUEST_SENT), not to DEMO_LENDER" in run.output
    assert "Rota Templates" in run.output
    assert active_anywhere(run) == []


def test_a_desk_that_does_not_pick_for_the_library_fails_the_pick_from_shelf_leg(tmp_path):
    world = demo_world()
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["circ_desks"] = [{"code": "MAIN_DESK", "name": "Main Circulation Desk"}]

    run = _run(world, tmp_path, "-k", "shelf")

    assert run.outcome_of(SUPPLIED + AT) == "failed"
    assert "RIVER's pick-from-shelf list at desk RS_DESK does not show 'Bridges of Riverbend'" in (
        run.output
    )
    assert active_anywhere(run) == []


def _quick(profile: dict[str, Any]) -> None:
    profile["round_trip"]["settle_seconds"] = 1


@pytest.mark.parametrize(
    ("keys", "mode", "left_out"),
    [
        ({"demo-university": "a", "demo-lender": "b"}, "live", False),
        ({"demo-university": "a"}, "live", True),
        ({"demo-university": "a", "demo-lender": "a"}, "record", True),
        ({}, "replay", False),
    ],
)
def test_without_the_lending_members_own_key_the_round_trip_is_left_out(keys, mode, left_out):
    profile = load_profiles(REPO / "fixtures" / "institutions", ["demo-university"])[
        "demo-university"
    ]
    settings = SimpleNamespace(mode=mode, api_key_for=keys.get)
    item = SimpleNamespace(get_closest_marker=lambda name: name == "round_trip" or None)

    reason = not_applicable(item, profile, settings)  # type: ignore[arg-type]

    if left_out:
        assert reason is not None
        assert "ALMA_API_KEY_DEMO_LENDER beside ALMA_API_KEY_DEMO_UNIVERSITY" in reason
    else:
        assert reason is None


def test_a_lending_request_the_withdrawal_does_not_cancel_is_left_in_alma_by_name(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_LENDER")["facts"] = {"round_trip.cancel_reaches_lender": "stays"}

    run = _run(world, tmp_path, "-k", "shelf")

    assert run.outcome_of(SUPPLIED + AT) == "passed"
    assert "LEFT IN ALMA: demo-lender: lending request" in run.output
    # Waiting for cancel response: still active at the lender, for staff.
    assert "from DEMO_STMARYS is still CANCEL_REPLY after the borrower withdrew" in (run.output)
    assert "Fulfillment > Resource Sharing > Lending Requests, RIVER" in run.output


def test_a_round_trip_to_itself_is_refused_before_anything_is_written(tmp_path):
    def itself(profile: dict[str, Any]) -> None:
        profile["round_trip"]["lender"] = "demo-university"

    run = _run(demo_world(), tmp_path, *profiles(tmp_path, demo_university=itself))

    # Its own key is not the lending member's: left out at collection, nothing sent.
    assert SUPPLIED + AT not in run.outcomes
    assert "left out: 2 scenario(s) at demo-university: no API key of demo-university" in (
        run.output
    )
    assert active_anywhere(run) == []


def test_a_lending_request_read_without_status_is_not_taken_as_finished():
    # A lender whose calibration saw a reject code it could not name has no reject code
    # (None): a lending request read without a status must not match it and pass as ended.
    from alma_p2p.facts import CalibratedFact, CalibratedFacts, Facts, load_register
    from alma_p2p.suite.steps.lending import reject_code
    from alma_p2p.suite.steps.round_trip import Lender, _ended_at_lender

    register = load_register()
    calibrated = CalibratedFacts(
        institution="01DEMO_LENDER",
        facts={
            "lending.reject_status_code": CalibratedFact(
                status="calibrated", value="unexpected", date="2026-12-04", evidence="…"
            )
        },
    )
    facts = Facts(register, calibrated)
    assert reject_code(facts) is None
    lender = Lender(None, None, "RIVER", "DESK", facts)  # type: ignore[arg-type]
    assert _ended_at_lender(lender, None) is False
    assert _ended_at_lender(lender, "REQUEST_CREATED_LEND") is False
