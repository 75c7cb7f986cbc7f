"""Steps about the "Expired Resource Sharing Requests" job and its runs."""

from __future__ import annotations

import pytest
from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Job, JobInstance
from alma_p2p.guide import BY_ID
from alma_p2p.profile import Profile
from steps.common import fail_with

EXPIRED_JOB = "Expired Resource Sharing Requests"  # UNVERIFIED(jobs.name_not_localized)
JOBS = BY_ID["jobs"]


@when("the scheduled jobs are read from Alma", target_fixture="jobs")
def _(alma: AlmaClient) -> dict[str, Job]:
    return {job.name or job.id: job for job in alma.jobs("SCHEDULED")}


def _expired_job(jobs: dict[str, Job], institution: str) -> Job:
    job = jobs.get(EXPIRED_JOB)
    if job is None:
        pytest.fail(
            f"{institution}: there is no scheduled job '{EXPIRED_JOB}' (Alma has: "
            f"{', '.join(sorted(jobs)) or 'none'}); {JOBS.menu}",
            pytrace=False,
        )
    return job


@then('the "Expired Resource Sharing Requests" job is active')
def _(jobs: dict[str, Job], alma_institution: Profile, alma_evidence: list[str]) -> None:
    job = _expired_job(jobs, alma_institution.name)
    alma_evidence.append(f"status={job.status.value} schedule={job.schedule.desc}")
    # UNVERIFIED(jobs.status_field)
    if job.status.value != "ACTIVE" or job.schedule.value == "NOT_SCHEDULED":
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' is {job.status.value or 'not active'} "
            f"({job.schedule.desc or job.schedule.value}); switch it to Active: {JOBS.menu}",
            pytrace=False,
        )


@then("it runs every day at the profile's time")
def _(jobs: dict[str, Job], alma_institution: Profile) -> None:
    job = _expired_job(jobs, alma_institution.name)
    wanted = alma_institution.institution.expiry_job_time
    text = job.schedule.desc or ""
    # UNVERIFIED(jobs.schedule_desc_time): the description reads like "Every day at 02:00".
    if "every day" not in text.lower() or wanted not in text:
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' runs '{text or job.schedule.value}', "
            f"expected every day at {wanted}: select 'Every Day at {wanted}' in the "
            f"Schedule dropdown ({JOBS.menu})",
            pytrace=False,
        )


@when(
    'the recent runs of the "Expired Resource Sharing Requests" job are read from Alma',
    target_fixture="job_runs",
)
def _(alma: AlmaClient, alma_institution: Profile) -> list[JobInstance]:
    jobs = {job.name or job.id: job for job in alma.jobs("SCHEDULED")}
    job = _expired_job(jobs, alma_institution.name)
    runs = list(alma.job_instances(job.id))
    if not runs:
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' has never run; check it is active "
            f"and scheduled ({JOBS.menu})",
            pytrace=False,
        )
    return runs


@then("none of them failed")
def _(job_runs: list[JobInstance], alma_institution: Profile, alma_evidence: list[str]) -> None:
    alma_evidence.extend(f"{r.submit_date} {r.status.value}" for r in job_runs[:3])
    fail_with(
        [
            f"run {r.id} of {r.submit_date} ended {r.status.value}: open it in Alma "
            f"({JOBS.fix('failed_run')}) for the report"
            for r in job_runs
            if (r.status.value or "").endswith("FAILED")  # UNVERIFIED(jobs.failed_run_status)
        ],
        f"{alma_institution.name}: '{EXPIRED_JOB}' runs that failed:",
    )
