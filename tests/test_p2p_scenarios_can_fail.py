"""The P2P behaviours can fail: broken worlds fail exactly the guarded scenarios.

Also proves the write safety: nothing is written to a production Alma, and nothing a
run created is left behind when a scenario fails midway.
"""

from __future__ import annotations

import pytest

from tests.suite_runner import demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

OWNED_BY_CAMPUS = "test_a_request_from_a_patron_of_each_campus_is_owned_by_that_campuss_library"
# The lending Scenario Outline's examples at demo-lender: "<title>-<ends>" in the test id.
LENDING = "test_a_request_for_title_ends[demo-lender-{}]"
ALL_ON_LOAN = LENDING.format("a title whose items are all on loan-is rejected")
NOT_REQUESTABLE = LENDING.format("a title whose only available item is not requestable-is rejected")
ELECTRONIC = LENDING.format("a title held only electronically-is rejected")
AVAILABLE = LENDING.format("an available, requestable title-is accepted")
TEMP_ITEM = "test_each_received_requests_temporary_item_is_where_the_temporary_item_rule_puts_it"
CAMPUS_PATRON = "test_each_test_patron_carries_the_resource_sharing_library_of_their_campus"
FLAG = "test_every_resource_sharing_library_of_the_profile_is_flagged_as_one_in_alma"


def temp_item(world, code, barcode):
    bibs = institution(world, code)["bibs"]
    for bib in bibs:
        for holding in bib.get("holdings", []):
            for item in holding["items"]:
                if item["barcode"] == barcode:
                    return bib, holding, item
    raise AssertionError(barcode)


def test_lending_flag_off_fails_only_its_reject_scenario(tmp_path):
    world = demo_world()
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["lending"] = {"reject_when_no_available": False}

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.outcome_of(ALL_ON_LOAN) == "failed"
    for other in (NOT_REQUESTABLE, ELECTRONIC, AVAILABLE):
        assert run.outcome_of(other) == "passed"
    assert "(all on loan) ended REQUEST_CREATED_LEND, expected REJECTED" in run.output
    assert (
        "Configuration > (select RIVER) > Fulfillment > Library Management > Library Details > "
        "Lending Information > tick 'Reject Request When No Available Items'" in run.output
    )


def test_patron_with_the_other_campus_library_fails_routing_and_leaves_nothing(tmp_path):
    world = demo_world()
    users = institution(world, "01DEMO_STMARYS")["users"]
    record_of(users, "primary_id", "P2P-TEST-WIN-01")["rs_libraries"] = ["TC"]

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(f"{OWNED_BY_CAMPUS}[demo-university]") == "failed"
    assert run.outcome_of(f"{CAMPUS_PATRON}[demo-university]") == "failed"
    assert run.outcome_of(f"{FLAG}[demo-university]") == "passed"
    assert "is owned by TC, expected WIN (the resource sharing library of the patron's campus)" in (
        run.output
    )
    # The failing scenario created two requests before its Then failed; teardown removed them.
    live = run.app._live["01DEMO_STMARYS"]
    assert {r["external_id"] for r in live.borrowing.values()} == {"DEMO-RECEIVED-WIN-01"}
    posts = [
        e
        for e in run.app.request_log
        if e.method == "POST" and e.path.endswith("/resource-sharing-requests")
    ]
    deletes = [e for e in run.app.request_log if e.method == "DELETE"]
    assert posts
    assert len(deletes) == len([e for e in posts if e.status == 200])


def test_temporary_item_outside_the_borrowing_location_names_the_creation_rule(tmp_path):
    world = demo_world()
    _, holding, _ = temp_item(world, "01DEMO_STMARYS", "RSTEMP-WIN-0001")
    holding["location"] = "STACKS"

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(f"{TEMP_ITEM}[demo-university]") == "failed"
    assert "sits in location STACKS, expected CLSBORR of WIN" in run.output
    assert "Temporary Item Creation Rules" in run.output


def test_temporary_item_without_the_rs_item_policy_fails(tmp_path):
    world = demo_world()
    _, _, item = temp_item(world, "01DEMO_COLLEGE", "RSTEMP-MAIN-0001")
    item["policy"] = "LOAN"

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{TEMP_ITEM}[demo-college]") == "failed"
    assert "item policy LOAN, expected P2P_LOAN" in run.output


def test_production_gets_no_write_and_read_only_scenarios_still_run(tmp_path):
    world = demo_world()
    for code in ("01DEMO_STMARYS", "01DEMO_COLLEGE", "01DEMO_LENDER"):
        institution(world, code)["environment_type"] = "production"

    run = run_live(world, tmp_path)

    assert not [e for e in run.app.request_log if e.method != "GET"]
    assert run.outcome_of(f"{FLAG}[demo-university]") == "passed"
    assert run.outcome_of(f"{TEMP_ITEM}[demo-university]") == "passed"
    assert run.outcome_of(f"{OWNED_BY_CAMPUS}[demo-university]") == "skipped"
    assert run.outcome_of(AVAILABLE) == "skipped"
    assert "refused to write: Alma reports environment_type='production'" in run.output
