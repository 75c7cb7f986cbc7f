"""Who may borrow, and what the institution's own inventory blocks: each scenario fails (or
says cannot tell) against a broken world, and nothing is left in the stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.suite_runner import SuiteRun, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

EXCLUDED = "test_a_patron_of_a_user_group_that_may_not_borrow_is_refused[demo-university]"
REFUSED = (
    "test_a_title_held_only_electronically_cannot_be_requested_from_a_partner[demo-university]"
)
OVERRIDE = (
    "test_with_the_block_overridden_a_title_held_only_electronically_can_be_requested"
    "[demo-university]"
)
SMU = "01DEMO_STMARYS"


def _run(world: dict[str, Any], tmp_path: Any, select: str) -> SuiteRun:
    return run_live(world, tmp_path, "--institution", "demo-university", "-k", select)


def left_in_standin(run: SuiteRun) -> list[str]:
    """Borrowing requests the run created that the stand-in still holds."""
    live = run.app._live[SMU]  # the stand-in's state as the run left it
    return [
        r["external_id"] for r in live.borrowing.values() if r["external_id"].startswith("P2PH")
    ]


def test_the_demo_world_refuses_the_excluded_group_and_the_electronic_title(tmp_path):
    run = _run(demo_world(), tmp_path, "borrow or electronically")

    assert run.outcome_of(EXCLUDED) == "passed"
    assert run.outcome_of(REFUSED) == "passed"
    assert run.outcome_of(OVERRIDE) == "passed"
    overridden = [r for r in run.app.request_log if r.query.get("override_blocks") == "true"]
    assert [r.status for r in overridden] == [200]
    assert left_in_standin(run) == []


def test_a_group_refused_with_another_code_fails_naming_the_profile_setting(tmp_path):
    world = demo_world()
    institution(world, SMU)["excluded_group_error"] = "401699"

    run = _run(world, tmp_path, "borrow")

    assert run.outcome_of(EXCLUDED) == "failed"
    assert "expected Alma to refuse the request with error 401652" in run.output
    assert "set borrowing.excluded_patron.error in profile.yaml" in run.output


def test_a_group_the_rules_let_borrow_is_cannot_tell_and_its_request_is_removed(tmp_path):
    world = demo_world()
    institution(world, SMU)["borrowing_excluded_groups"] = []

    run = _run(world, tmp_path, "borrow")

    assert run.outcome_of(EXCLUDED) == "skipped"
    assert "whose group ALUMNI the profile says may not borrow" in run.output
    assert "place the same request in Primo as this patron to tell" in run.output
    assert left_in_standin(run) == []


def test_an_api_that_ignores_the_rules_is_played_and_not_failed(tmp_path):
    world = demo_world()
    institution(world, SMU)["facts"] = {"borrowing.excluded_group_refused": "created"}

    run = _run(world, tmp_path, "borrow")

    assert run.outcome_of(EXCLUDED) == "skipped"


def test_an_excluded_patron_moved_to_another_group_is_a_broken_premise(tmp_path):
    world = demo_world()
    users = institution(world, SMU)["users"]
    record_of(users, "primary_id", "P2P-TEST-ALUM-01")["user_group"] = "UNDERGRAD"

    run = _run(world, tmp_path, "borrow")

    assert run.outcome_of(EXCLUDED) == "skipped"
    assert "P2P-TEST-ALUM-01 is in user group UNDERGRAD, not ALUMNI" in run.output
    assert not [r for r in run.app.request_log if "ALUM" in r.path and r.method == "POST"]


def test_an_electronic_title_alma_does_not_hold_fails_the_401604_scenario(tmp_path):
    world = demo_world()
    bib = record_of(institution(world, SMU)["bibs"], "title", "Winona Review of Letters")
    bib["electronic"] = False

    run = _run(world, tmp_path, "electronically")

    assert run.outcome_of(REFUSED) == "failed"
    assert "expected Alma to refuse the request with error 401604" in run.output
    assert left_in_standin(run) == []


def test_a_block_that_override_does_not_lift_fails_the_override_scenario(tmp_path):
    world = demo_world()
    institution(world, SMU)["borrowing_excluded_groups"] = ["UNDERGRAD"]

    run = _run(world, tmp_path, "overridden")

    assert run.outcome_of(OVERRIDE) == "failed"
    assert "with override_blocks=true Alma still refused with 401652" in run.output
