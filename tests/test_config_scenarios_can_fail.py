"""Each automated configuration check fails, alone, in a world broken the way it guards."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.suite_runner import REPO, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

EXIST = "test_the_borrowing_and_lending_locations_exist_in_each_resource_sharing_library"
UNIT = "test_the_temporary_locations_belong_to_the_resource_sharing_fulfillment_unit"
DESK = "test_the_resource_sharing_desk_serves_the_temporary_locations"
JOB = "test_the_job_is_active_and_runs_every_day_at_the_agreed_time"
RUNS = "test_the_jobs_recent_runs_did_not_fail"
ACTIVE = "test_each_partner_is_active_for_borrowing_and_lending"
WORKFLOW = "test_each_partner_uses_the_agreed_workflow_profiles_and_expiry_time"
POLICY = "test_the_item_policy_exists_in_each_resource_sharing_library"
SENT = "test_a_new_request_is_sent_on_its_own_to_a_partner_of_the_peertopeer_rota"
CHECKS = (EXIST, UNIT, DESK, JOB, RUNS, ACTIVE, WORKFLOW, POLICY, SENT)

COLLEGE = "01DEMO_COLLEGE"


def college(world: dict[str, Any]) -> dict[str, Any]:
    return institution(world, COLLEGE)


def main_location(world: dict[str, Any], code: str) -> dict[str, Any]:
    main = record_of(college(world)["libraries"], "code", "MAIN")
    return record_of(main["locations"], "code", code)


def expired_job(world: dict[str, Any]) -> dict[str, Any]:
    return record_of(college(world)["jobs"], "name", "Expired Resource Sharing Requests")


def partner(world: dict[str, Any]) -> dict[str, Any]:
    return record_of(college(world)["partners"], "code", "DEMO_LENDER")


def remove_lending_location(world: dict[str, Any]) -> None:
    main = record_of(college(world)["libraries"], "code", "MAIN")
    main["locations"] = [loc for loc in main["locations"] if loc["code"] != "CLSLEND"]


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "location missing": (
        remove_lending_location,
        EXIST,
        "lending location CLSLEND of MAIN does not exist",
    ),
    "wrong fulfillment unit": (
        lambda w: main_location(w, "CLSBORR").update(fulfillment_unit="MAIN_GEN_FU"),
        UNIT,
        "borrowing location CLSBORR of MAIN is in fulfillment unit MAIN_GEN_FU, expected MAIN_FU",
    ),
    "circ desk detached": (
        lambda w: main_location(w, "CLSBORR").update(circ_desks=[]),
        DESK,
        "borrowing location CLSBORR of MAIN has no circulation desk RS_DESK",
    ),
    "desk without reshelve": (
        lambda w: main_location(w, "CLSLEND").update(
            circ_desks=[{"code": "RS_DESK", "reshelve": False}]
        ),
        DESK,
        "desk RS_DESK lacks reshelve",
    ),
    "job not scheduled": (
        lambda w: expired_job(w).update(
            schedule={"value": "NOT_SCHEDULED", "desc": "Not scheduled"}
        ),
        JOB,
        "'Expired Resource Sharing Requests' is not scheduled (Not scheduled)",
    ),
    "job at another time": (
        lambda w: expired_job(w).update(
            schedule={"value": "DAILY_0400", "desc": "Every day at 04:00"}
        ),
        JOB,
        "runs 'Every day at 04:00', expected every day at 02:00",
    ),
    "job run failed": (
        lambda w: expired_job(w)["runs"][1].update(status="COMPLETED_FAILED"),
        RUNS,
        "run I1000000000002 of 2025-12-31T02:00:00Z ended COMPLETED_FAILED",
    ),
    "partner inactive": (
        lambda w: partner(w).update(status="INACTIVE"),
        ACTIVE,
        "DEMO_LENDER is INACTIVE: set it Active",
    ),
    "partner on the wrong workflow profile": (
        lambda w: partner(w).update(lending_workflow="DEFAULT_LEND_WF"),
        WORKFLOW,
        "DEMO_LENDER uses lending workflow profile DEFAULT_LEND_WF, expected P2P_LEND",
    ),
    "partner expires by interest date": (
        lambda w: partner(w).update(request_expiry_type="INTEREST_DATE", expiry_time=None),
        WORKFLOW,
        "DEMO_LENDER expires requests by INTEREST_DATE, not after a number of days (expected 4)",
    ),
    "partner expiry days": (
        lambda w: partner(w).update(expiry_time=10),
        WORKFLOW,
        "DEMO_LENDER expires requests after 10 days, expected 4",
    ),
    "item policy missing": (
        lambda w: college(w)["code_tables"]["ItemPolicy"]["scopes"].update(
            MAIN=[{"code": "LOAN", "description": "Regular loan"}]
        ),
        POLICY,
        "MAIN has no item policy P2P_LOAN (it has: LOAN)",
    ),
    "request left in ready to be sent": (
        lambda w: college(w).update(sends_automatically=False),
        SENT,
        "was left in 'Ready to be sent' (partner DEMO_LENDER)",
    ),
}


def quick_profiles(tmp_path: Path) -> str:
    """The demo profiles, with the college's request sent on within 1 s or not at all."""
    dest = tmp_path / "profiles"
    shutil.copytree(REPO / "fixtures" / "institutions", dest)
    path = dest / "demo-college" / "profile.yaml"
    data = yaml.safe_load(path.read_text())
    data["borrowing"]["send_seconds"] = 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return f"--profiles-dir={dest}"


def reported_as(tmp_path: Path, scenario: str, verdict: str) -> bool:
    """Whether the run's readiness.md gives ``scenario``'s guide item ``verdict``."""
    text = (tmp_path / "reports" / "readiness.md").read_text()
    return any(f"{scenario}: " in line and f"**{verdict}**" in line for line in text.splitlines())


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_each_check_fails_alone_with_an_actionable_message(case, tmp_path):
    break_it, guarded, message = BROKEN[case]
    world = demo_world()
    break_it(world)

    run = run_live(world, tmp_path, "--institution", "demo-college", quick_profiles(tmp_path))

    for check in CHECKS:
        expected = "failed" if check == guarded else "passed"
        assert run.outcome_of(f"{check}[demo-college]") == expected, (check, run.output[-3000:])
    assert message in run.output


ANALYTICS_TOU = "test_the_loan_borrowing_and_lending_resource_sharing_terms_of_use_exist"


def test_a_missing_terms_of_use_row_fails_the_analytics_check(tmp_path):
    world = demo_world()
    univ = institution(world, "01DEMO_STMARYS")
    report = next(iter(univ["analytics_reports"].values()))
    report["rows"] = [r for r in report["rows"] if r[1] != "P2P Borrowing"]

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(f"{ANALYTICS_TOU}[demo-university]") == "failed"
    assert run.outcome_of(f"{POLICY}[demo-university]") == "passed"
    assert (
        "no row with Terms Of Use Type = Borrowing Resource Sharing, Terms Of Use Name = "
        "P2P Borrowing, Is Active = Y: configure it in Alma (Configuration > Fulfillment > "
        "Physical Fulfillment > Terms of Use and Policies)" in run.output
    )


def test_without_a_report_the_analytics_item_is_a_checklist_line(tmp_path):
    run = run_live(demo_world(), tmp_path, "--institution", "demo-college")
    assert run.outcome_of(f"{ANALYTICS_TOU}[demo-college]") == "skipped"
    assert "manual: Loan, Borrowing RS and Lending RS Terms of Use" in run.output


# -- evidence Alma does not give: cannot tell, never pass or fail ------------------------

JOB_SCENARIO = "The job is active and runs every day at the agreed time"
RUNS_SCENARIO = "The job's recent runs did not fail"


def test_a_job_without_next_run_is_cannot_tell_whatever_its_status(tmp_path):
    world = demo_world()
    expired_job(world).update(active=False)  # the stand-in then gives no next_run

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{JOB}[demo-college]") == "skipped"
    assert run.outcome_of(f"{RUNS}[demo-college]") == "passed"
    assert reported_as(tmp_path, JOB_SCENARIO, "cannot tell")
    assert "Alma gives the job no next run time; look by hand whether" in run.output


def test_a_job_without_runs_is_cannot_tell_for_both_scenarios(tmp_path):
    world = demo_world()
    expired_job(world)["runs"] = []

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{JOB}[demo-college]") == "skipped"
    assert run.outcome_of(f"{RUNS}[demo-college]") == "skipped"
    assert reported_as(tmp_path, RUNS_SCENARIO, "cannot tell")
    assert "Alma lists no run of the job" in run.output


def test_every_recent_run_failed_means_the_job_is_not_running(tmp_path):
    world = demo_world()
    for run_ in expired_job(world)["runs"][:2]:
        run_["status"] = "COMPLETED_FAILED"

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{JOB}[demo-college]") == "failed"
    assert run.outcome_of(f"{RUNS}[demo-college]") == "failed"
    assert "every run of 'Expired Resource Sharing Requests' in the 2 days before" in run.output


def test_a_partner_missing_from_alma_fails_every_partner_check(tmp_path):
    world = demo_world()
    college(world)["partners"] = [
        p for p in college(world)["partners"] if p["code"] != "DEMO_LENDER"
    ]
    college(world)["rota"] = ["DEMO_STMARYS"]

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{ACTIVE}[demo-college]") == "failed"
    assert run.outcome_of(f"{WORKFLOW}[demo-college]") == "failed"
    assert "DEMO_LENDER is not a partner in Alma, so its setup cannot be checked" in run.output


def test_a_partner_without_expiry_time_is_cannot_tell(tmp_path):
    world = demo_world()
    partner(world)["expiry_time"] = None

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{WORKFLOW}[demo-college]") == "skipped"
    assert run.outcome_of(f"{ACTIVE}[demo-college]") == "passed"
    assert reported_as(
        tmp_path, "Each partner uses the agreed workflow profiles and expiry time", "cannot tell"
    )
    assert "Alma's answer gives no expiry time for DEMO_LENDER" in run.output


def test_a_job_that_stopped_running_fails_and_its_runs_cannot_be_judged(tmp_path):
    world = demo_world()
    expired_job(world).update(next_run="2026-01-09T02:00:00Z")  # a week after its last run

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(f"{JOB}[demo-college]") == "failed"
    assert (
        "has not run in the 2 days before its next run (2026-01-09T02:00:00Z); the newest run "
        "Alma lists is I1000000000003 of 2026-01-01T02:00:00Z" in run.output
    )
    # No run in the window: nothing to call failed or fine.
    assert run.outcome_of(f"{RUNS}[demo-college]") == "skipped"
    assert reported_as(tmp_path, RUNS_SCENARIO, "cannot tell")


@pytest.mark.parametrize(
    ("code", "failed", "succeeded"),
    [
        ("COMPLETED_SUCCESS", False, True),
        ("COMPLETED_WARNING", False, True),
        ("COMPLETED_FAILED", True, False),
        ("ABORTED", True, False),  # the stand-in cannot play an aborted run
        ("COMPLETED_ABORTED", True, False),
        ("RUNNING", False, False),
        (None, False, False),
    ],
)
def test_aborted_runs_count_as_failures_and_unknown_ones_as_neither(code, failed, succeeded):
    from alma_p2p.alma.models import JobInstance
    from alma_p2p.suite.steps.jobs import run_failed, run_succeeded

    run_ = JobInstance.model_validate({"id": "I1", "status": {"value": code}})
    assert (run_failed(run_), run_succeeded(run_)) == (failed, succeeded)
