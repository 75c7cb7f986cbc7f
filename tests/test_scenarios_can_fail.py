"""Every scenario can fail: broken stand-in worlds make exactly the guarded scenario fail.

Each test runs the real acceptance suite live against a demo world with one thing broken,
and expects the scenario that guards it to fail with the message a librarian needs (what,
where, how to fix), while the other scenarios still pass.
"""

from __future__ import annotations

import pytest

from tests.suite_runner import demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

CAMPUS = "test_each_test_patron_carries_the_resource_sharing_library_of_their_campus"
SINGLE = "test_a_patron_of_a_singlelibrary_institution_needs_no_resource_sharing_library"
FLAG = "test_every_resource_sharing_library_of_the_profile_is_flagged_as_one_in_alma"


def test_the_demo_world_passes_live(tmp_path):
    run = run_live(demo_world(), tmp_path)
    assert run.returncode == 0, run.output
    assert run.outcome_of(f"{CAMPUS}[demo-university]") == "passed"
    assert run.outcome_of(f"{SINGLE}[demo-college]") == "passed"
    assert run.outcome_of(f"{FLAG}[demo-lender]") == "passed"


def test_a_campus_patron_without_or_with_the_wrong_rs_library_fails_the_campus_scenario(tmp_path):
    world = demo_world()
    users = institution(world, "01DEMO_STMARYS")["users"]
    record_of(users, "primary_id", "P2P-TEST-WIN-01")["rs_libraries"] = []
    record_of(users, "primary_id", "P2P-TEST-TC-01")["rs_libraries"] = ["WIN"]

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(f"{CAMPUS}[demo-university]") == "failed"
    assert run.outcome_of(f"{FLAG}[demo-university]") == "passed"
    assert (
        "Winona test patron (P2P-TEST-WIN-01, campus_code WINONA) has no resource sharing "
        "library; expected WIN" in run.output
    )
    assert (
        "Twin Cities test patron (P2P-TEST-TC-01, campus_code TWINCITIES) has WIN; expected TC"
        in run.output
    )
    assert "Resource Sharing Library field" in run.output


def test_a_college_patron_with_a_stray_rs_library_fails_the_single_library_scenario(tmp_path):
    world = demo_world()
    college = institution(world, "01DEMO_COLLEGE")
    # A second library once set up for resource sharing, left behind on a patron record.
    college["libraries"].append({"code": "ANNEX", "name": "Old Annex", "resource_sharing": True})
    record_of(college["users"], "primary_id", "P2P-TEST-COL-01")["rs_libraries"] = ["ANNEX"]

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{SINGLE}[demo-college]") == "failed"
    assert "College test patron (P2P-TEST-COL-01) has ANNEX; expected none or MAIN" in run.output
    # The flag check names the flagged library the profile does not know.
    assert run.outcome_of(f"{FLAG}[demo-college]") == "failed"
    assert (
        "ANNEX (Old Annex) is flagged as a resource sharing library in Alma, but the profile "
        "does not name it" in run.output
    )


def test_an_rs_library_without_the_flag_fails_the_flag_scenario(tmp_path):
    world = demo_world()
    libraries = institution(world, "01DEMO_STMARYS")["libraries"]
    record_of(libraries, "code", "TC")["resource_sharing"] = False

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(f"{FLAG}[demo-university]") == "failed"
    assert run.outcome_of(f"{CAMPUS}[demo-university]") == "passed"
    assert "TC (Twin Cities Campus Library) is not flagged as a resource sharing library" in (
        run.output
    )
    assert "Library Details > Resource Sharing Information" in run.output


def test_a_library_missing_from_alma_is_named_with_what_alma_has(tmp_path):
    world = demo_world()
    inst = institution(world, "01DEMO_COLLEGE")
    record_of(inst["libraries"], "code", "MAIN")["code"] = "MAIN2"

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{FLAG}[demo-college]") == "failed"
    assert "MAIN (Demo Valley College Library) is not a library in Alma (Alma has: MAIN2)" in (
        run.output
    )
