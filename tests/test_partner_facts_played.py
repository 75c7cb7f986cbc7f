"""Partner records in worlds that play their open facts otherwise: no expiry time in the
record is cannot tell, never a pass of a wrong setup nor a fail of a right one.

The facts: partner.expiry_time_field, partner.institution_code_field (src/alma_p2p/facts.yaml).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.suite_runner import demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

WORKFLOW = "test_each_partner_uses_the_agreed_workflow_profiles_and_expiry_time[demo-college]"


def playing(**facts: str) -> dict[str, Any]:
    world = demo_world()
    world["facts"] = {f"partner.{k}": v for k, v in facts.items()}
    return world


@pytest.mark.parametrize("word", ["absent", "iso_18626"])
def test_without_expiry_time_in_the_record_the_days_are_cannot_tell(word, tmp_path):
    run = run_live(playing(expiry_time_field=word), tmp_path, "--institution", "demo-college")

    assert run.outcome_of(WORKFLOW) == "skipped", run.output[-3000:]
    assert "Alma's answer gives no expiry time for DEMO_STMARYS, DEMO_LENDER" in run.output


def test_without_expiry_time_a_wrong_workflow_still_fails(tmp_path):
    world = playing(expiry_time_field="absent")
    partner = record_of(institution(world, "01DEMO_COLLEGE")["partners"], "code", "DEMO_LENDER")
    partner["lending_workflow"] = "OTHER_LEND"

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(WORKFLOW) == "failed", run.output[-3000:]
    assert "DEMO_LENDER uses lending workflow profile OTHER_LEND" in run.output


def test_partners_without_institution_code_change_no_verdict(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "played").mkdir()
    plain = run_live(demo_world(), tmp_path / "plain", "--institution", "demo-college")
    played = run_live(
        playing(institution_code_field="absent"),
        tmp_path / "played",
        "--institution",
        "demo-college",
    )

    assert played.outcomes == plain.outcomes
