"""Staff roles in worlds that play their open facts otherwise: an account that lacks a role
still fails (no false pass); one Alma merely shows otherwise is cannot tell, naming the role.

The facts: staff.role_scope_library, staff.fulfillment_operator_role,
staff.circ_desk_parameter (src/alma_p2p/facts.yaml).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.suite_runner import SuiteRun, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

STAFF = "test_each_resource_sharing_staff_account_holds_its_roles_at_its_library[demo-university]"


def playing(fact: str, word: str) -> dict[str, Any]:
    world = demo_world()
    world["facts"] = {f"staff.{fact}": word}
    return world


def roles(world: dict[str, Any], user: str) -> list[dict[str, Any]]:
    users = institution(world, "01DEMO_STMARYS")["users"]
    found: list[dict[str, Any]] = record_of(users, "primary_id", user)["roles"]
    return found


def run(world: dict[str, Any], tmp_path: Any) -> SuiteRun:
    return run_live(world, tmp_path, "--institution", "demo-university", "-k", "staff")


def test_a_localised_operator_is_cannot_tell_naming_the_role(tmp_path):
    found = run(playing("fulfillment_operator_role", "localized"), tmp_path)

    assert found.outcome_of(STAFF) == "skipped", found.output[-3000:]
    assert "but holds 299 'Ausleihdienste-Operator' @TC, which may be one" in found.output


def test_without_any_fulfillment_role_a_localised_world_still_fails(tmp_path):
    world = playing("fulfillment_operator_role", "localized")
    staff = roles(world, "P2P-STAFF-TC")
    staff[:] = [r for r in staff if r["code"] != "299"]

    found = run(world, tmp_path)

    assert found.outcome_of(STAFF) == "failed", found.output[-3000:]
    assert "(P2P-STAFF-TC) has no active Fulfillment Services Operator or Manager" in found.output


def test_roles_scoped_to_the_institution_are_cannot_tell(tmp_path):
    found = run(playing("role_scope_library", "institution"), tmp_path)

    assert found.outcome_of(STAFF) == "skipped", found.output[-3000:]
    assert "circulation desk role is scoped to the institution, not to WIN" in found.output


def test_a_missing_desk_role_fails_whatever_the_scope_form(tmp_path):
    world = playing("role_scope_library", "institution")
    staff = roles(world, "P2P-STAFF-WIN")
    staff[:] = [r for r in staff if r["code"] != "32"]

    found = run(world, tmp_path)

    assert found.outcome_of(STAFF) == "failed", found.output[-3000:]
    assert "(P2P-STAFF-WIN) has no active Circulation Desk Operator or Manager" in found.output


def test_desk_roles_without_parameters_are_cannot_tell(tmp_path):
    found = run(playing("circ_desk_parameter", "none"), tmp_path)

    assert found.outcome_of(STAFF) == "skipped", found.output[-3000:]
    assert "names no desk in Alma's answer" in found.output
