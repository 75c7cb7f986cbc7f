"""Lending Givens are verified: before a request is sent to prove a reject flag, the
title's items are read, and test data that no longer holds is a broken premise (cannot
tell), with what to fix, and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.calibrated import calibrate_world
from tests.suite_runner import demo_world, institution, record_of, run_live
from tests.test_p2p_scenarios_can_fail import (
    ALL_ON_LOAN,
    NOT_REQUESTABLE,
    profiles,
    quick_lending,
    reported_as,
)

pytestmark = pytest.mark.standin

ATLAS = "Atlas of Local Waters"


def _atlas_item(world: dict[str, Any]) -> dict[str, Any]:
    bib = record_of(institution(world, "01DEMO_LENDER")["bibs"], "title", ATLAS)
    item: dict[str, Any] = bib["holdings"][0]["items"][0]
    return item


def _lending_posts(run: Any) -> list[str]:
    return [r.path for r in run.app.request_log if r.method == "POST" and "lending" in r.path]


def test_a_not_requestable_item_out_on_loan_is_a_broken_premise_and_sends_nothing(tmp_path):
    world = demo_world()
    _atlas_item(world).update(base_status="0", process_type="LOAN")

    run = run_live(world, tmp_path, "--institution", "demo-lender", "-k", "whose and requestable")

    assert run.outcome_of(NOT_REQUESTABLE) == "skipped"
    assert (
        f"item RIV000003 of '{ATLAS}' is LOAN at RIVER, so a reject would prove 'Reject "
        "Request When No Available Items', not 'No Requestable Items'" in run.output
    )
    assert "return it to the shelf, or name another title in profile.yaml" in run.output
    assert _lending_posts(run) == []
    assert reported_as(
        tmp_path,
        "A request for a title whose only available item is not requestable is rejected",
        "cannot tell",
    )


def test_a_not_requestable_item_given_a_lendable_policy_is_a_broken_premise(tmp_path):
    world = demo_world()
    _atlas_item(world).update(policy="LOAN")

    run = run_live(world, tmp_path, "--institution", "demo-lender", "-k", "whose and requestable")

    assert run.outcome_of(NOT_REQUESTABLE) == "skipped"
    assert f"item RIV000003 of '{ATLAS}' has item policy LOAN, not NON_RS" in run.output
    assert _lending_posts(run) == []


def test_an_on_loan_item_missing_from_alma_is_a_broken_premise(tmp_path):
    world = demo_world()
    lender = institution(world, "01DEMO_LENDER")
    almanac = record_of(lender["bibs"], "title", "The Riverbend Almanac")
    almanac["holdings"][0]["items"][1]["barcode"] = "RIV000099"

    run = run_live(world, tmp_path, "--institution", "demo-lender", "-k", "whose and loan")

    assert run.outcome_of(ALL_ON_LOAN) == "skipped"
    assert "item RIV000002 of 'The Riverbend Almanac' is not in Alma at RIVER" in run.output
    assert _lending_posts(run) == []


def test_with_its_premise_intact_a_not_requestable_title_still_proves_its_flag(tmp_path):
    # Calibrated while the lender was right: it rejects at once, so waiting is a fault.
    world = demo_world()
    args = profiles(tmp_path, demo_lender=quick_lending)
    calibrate_world(world, tmp_path / "profiles", "demo-lender")
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["lending"] = {"reject_when_no_requestable": False}

    run = run_live(
        world, tmp_path, "--institution", "demo-lender", *args, "-k", "whose and requestable"
    )

    assert run.outcome_of(NOT_REQUESTABLE) == "failed"
    assert "RIVER located it and left it waiting for staff" in run.output
