"""Staff roles: the check reads each RS staff account's roles and fails, naming the person,
the role and where to add it, when one is missing, inactive or scoped elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from tests.suite_runner import SuiteRun, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

STAFF = "test_each_resource_sharing_staff_account_holds_its_roles_at_its_library"
SMU = "01DEMO_STMARYS"


def _roles(world: dict[str, Any], user: str) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = record_of(institution(world, SMU)["users"], "primary_id", user)[
        "roles"
    ]
    return roles


def _run(world: dict[str, Any], tmp_path: Any) -> SuiteRun:
    return run_live(world, tmp_path, "--institution", "demo-university", "-k", "staff")


def test_the_demo_staff_hold_their_roles_and_nothing_is_written(tmp_path):
    run = _run(demo_world(), tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "passed"
    assert {r.method for r in run.app.request_log} == {"GET"}


def test_a_fulfillment_role_scoped_to_another_library_fails_naming_where_to_add_it(tmp_path):
    world = demo_world()
    _roles(world, "P2P-STAFF-WIN")[0]["scope"] = "TC"

    run = _run(world, tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "failed"
    assert (
        "Winona RS staff (P2P-STAFF-WIN) has no active Fulfillment Services Operator or "
        "Manager role scoped to WIN" in run.output
    )
    assert "User Management > Manage Users > (find P2P-STAFF-WIN) > Edit > User Roles" in run.output
    assert "Twin Cities RS staff" not in run.output


def test_an_inactive_desk_role_fails(tmp_path):
    world = demo_world()
    _roles(world, "P2P-STAFF-TC")[1]["status"] = "INACTIVE"

    run = _run(world, tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "failed"
    assert (
        "Twin Cities RS staff (P2P-STAFF-TC) has no active Circulation Desk Operator or "
        "Manager role scoped to TC" in run.output
    )


def test_a_desk_role_at_another_desk_fails(tmp_path):
    world = demo_world()
    _roles(world, "P2P-STAFF-WIN")[1]["desks"] = ["MAIN_DESK"]

    run = _run(world, tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "failed"
    assert "covers MAIN_DESK, not the resource sharing desk RS_DESK" in run.output


def test_a_desk_role_naming_no_desk_is_cannot_tell(tmp_path):
    world = demo_world()
    _roles(world, "P2P-STAFF-WIN")[1]["desks"] = []

    run = _run(world, tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "skipped"
    assert "names no desk in Alma's answer" in run.output


def test_a_staff_account_missing_from_alma_is_a_broken_premise(tmp_path):
    world = demo_world()
    users = institution(world, SMU)["users"]
    record_of(users, "primary_id", "P2P-STAFF-TC")["primary_id"] = "P2P-STAFF-XX"

    run = _run(world, tmp_path)

    assert run.outcome_of(f"{STAFF}[demo-university]") == "skipped"
    assert "staff account P2P-STAFF-TC does not exist in Alma" in run.output
