"""The expiry job's checks in worlds that play its open facts otherwise: a broken job still
fails (no false pass), a sound one never fails (cannot tell at worst).

The facts: jobs.schedule_desc_time, jobs.name_not_localized, jobs.instances_newest_first,
jobs.failed_run_status, jobs.run_status_codes (src/alma_p2p/facts.yaml).
"""

from __future__ import annotations

from typing import Any

import pytest

from alma_p2p.alma.models import JobInstance
from alma_p2p.suite.steps.jobs import newest_first, run_failed, run_succeeded, schedule_time
from tests.suite_runner import demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

JOB = "test_the_job_is_active_and_runs_every_day_at_the_agreed_time[demo-college]"
RUNS = "test_the_jobs_recent_runs_did_not_fail[demo-college]"


def expired_job(world: dict[str, Any]) -> dict[str, Any]:
    college = institution(world, "01DEMO_COLLEGE")
    return record_of(college["jobs"], "name", "Expired Resource Sharing Requests")


def playing(**facts: str) -> dict[str, Any]:
    world = demo_world()
    world["facts"] = {f"jobs.{k}": v for k, v in facts.items()}
    return world


@pytest.mark.parametrize(
    ("desc", "time"),
    [
        ("Every day at 02:00", "02:00"),
        ("Daily at 2:00 AM", "02:00"),
        ("Daily at 12:30 PM", "12:30"),
        ("Daily at 12:05 am", "00:05"),
        ("Every day at 23:59", "23:59"),
        ("Daily", None),
        ("Not scheduled", None),
        ("Daily at 13:00 PM", None),
    ],
)
def test_a_schedule_description_gives_its_time_in_either_clock(desc, time):
    assert schedule_time(desc) == time


def test_runs_are_judged_newest_first_whatever_order_alma_lists_them_in():
    runs = tuple(
        JobInstance.model_validate({"id": i, "submit_date": d})
        for i, d in [("a", "2025-12-30T02:00:00Z"), ("b", None), ("c", "2026-01-01T02:00:00Z")]
    )
    assert [r.id for r in newest_first(runs)] == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("code", "failed", "succeeded"),
    [
        ("COMPLETED_WITH_ERRORS", False, False),  # jobs.failed_run_status=with_errors
        ("FAILED", True, False),
        ("SUCCESS", False, False),  # jobs.run_status_codes=other
        ("FINISHED_WITH_WARNINGS", False, False),
    ],
)
def test_codes_the_harness_does_not_know_are_neither_failed_nor_succeeded(code, failed, succeeded):
    run_ = JobInstance.model_validate({"id": "I1", "status": {"value": code}})
    assert (run_failed(run_), run_succeeded(run_)) == (failed, succeeded)


def test_a_job_at_another_time_fails_in_twelve_hour_wording_too(tmp_path):
    world = playing(schedule_desc_time="twelve_hour")
    expired_job(world).update(schedule={"value": "DAILY_0400", "desc": "Every day at 04:00"})

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(JOB) == "failed", run.output[-3000:]
    assert "runs 'Daily at 4:00 AM', expected every day at 02:00" in run.output


def test_a_schedule_without_a_time_is_cannot_tell_with_where_to_look(tmp_path):
    run = run_live(playing(schedule_desc_time="coded"), tmp_path, "--institution", "demo-college")

    assert run.outcome_of(JOB) == "skipped", run.output[-3000:]
    assert "as 'Daily' (value DAILY_0200), without a time of day" in run.output
    assert "look by hand that it runs every day at 02:00" in run.output


def test_a_localised_job_name_is_cannot_tell_not_a_missing_job(tmp_path):
    run = run_live(
        playing(name_not_localized="localized"), tmp_path, "--institution", "demo-college"
    )

    assert run.outcome_of(JOB) == "skipped", run.output[-3000:]
    assert run.outcome_of(RUNS) == "skipped"
    assert "Alma lists no scheduled job named 'Expired Resource Sharing Requests'" in run.output
    assert "Abgelaufene Fernleihbestellungen" in run.output


def test_oldest_first_the_latest_runs_on_the_last_page_are_still_judged(tmp_path):
    # Twelve daily runs: Alma listing the oldest first puts the two newest on page two.
    world = playing(instances_newest_first="oldest_first")
    runs = [
        {"id": f"I20000000000{day:02d}", "submit_date": f"2025-12-{day + 19:02d}T02:00:00Z"}
        for day in range(12, 0, -1)
    ]
    runs[0]["status"] = "COMPLETED_FAILED"  # the newest run, 2025-12-31
    expired_job(world).update(runs=runs, next_run="2026-01-01T02:00:00Z")

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(RUNS) == "failed", run.output[-3000:]
    assert "run I2000000000012 of 2025-12-31T02:00:00Z ended COMPLETED_FAILED" in run.output


def test_a_failed_run_coded_otherwise_is_never_a_pass(tmp_path):
    world = playing(failed_run_status="with_errors")
    expired_job(world)["runs"][0]["status"] = "COMPLETED_FAILED"

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.outcome_of(RUNS) == "skipped", run.output[-3000:]
    assert "I1000000000003 COMPLETED_WITH_ERRORS" in run.output


def test_run_codes_the_harness_does_not_know_are_cannot_tell(tmp_path):
    run = run_live(playing(run_status_codes="other"), tmp_path, "--institution", "demo-college")

    assert run.outcome_of(JOB) == "skipped", run.output[-3000:]
    assert run.outcome_of(RUNS) == "skipped"
    assert "statuses the harness does not know (SUCCESS)" in run.output


def test_runs_without_dates_are_cannot_tell_not_a_job_that_stopped(tmp_path):
    run = run_live(
        playing(instance_shape="no_submit_date"), tmp_path, "--institution", "demo-college"
    )

    assert run.outcome_of(JOB) == "skipped", run.output[-3000:]
    assert run.outcome_of(RUNS) == "skipped"
    assert "Alma gives no date for any run of the job" in run.output
