"""Steps about the "Expired Resource Sharing Requests" job and its runs.

Whether the job runs is judged from what Alma's documented answers carry: its schedule, its
``next_run`` and its recent runs (within the profile's ``expiry_job_recent_days`` before the
next run; a failed or aborted run counts against it). The job's ``status`` field, which no
capture shows (UNVERIFIED(jobs.status_field)), is shown as evidence and never decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Job, JobInstance
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

EXPIRED_JOB = "Expired Resource Sharing Requests"  # UNVERIFIED(jobs.name_not_localized)
JOBS = BY_ID["jobs"]
SCHEDULED_TAB = JOBS.fix("scheduled")
HISTORY = JOBS.fix("failed_run")


def run_failed(run: JobInstance) -> bool:
    """A run that failed or was aborted.

    UNVERIFIED(jobs.failed_run_status), UNVERIFIED(jobs.run_status_codes).
    """
    code = run.status.value or ""
    return code.endswith("FAILED") or "ABORT" in code


def run_succeeded(run: JobInstance) -> bool:
    """A run that completed without failing (with or without warnings).

    UNVERIFIED(jobs.run_status_codes): completed runs have codes starting COMPLETED_.
    """
    code = run.status.value or ""
    return code.startswith("COMPLETED_") and not run_failed(run)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ExpiryJob:
    """The job as Alma lists it, its runs (newest first) and the profile's window."""

    institution: str
    job: Job
    runs: tuple[JobInstance, ...]
    window_days: int

    @property
    def next_run(self) -> datetime | None:
        return _when(self.job.next_run)

    @property
    def reference(self) -> datetime | None:
        """The moment the window ends: the next run, else the newest run Alma lists."""
        if self.next_run is not None:
            return self.next_run
        dates = [d for d in (_when(r.submit_date) for r in self.runs) if d is not None]
        return max(dates) if dates else None

    @property
    def recent(self) -> tuple[JobInstance, ...]:
        """Runs submitted within the window before the reference moment."""
        end = self.reference
        if end is None:
            return ()
        start = end - timedelta(days=self.window_days)
        return tuple(
            r for r in self.runs if (d := _when(r.submit_date)) is not None and start <= d <= end
        )

    def evidence(self) -> list[str]:
        j = self.job
        lines = [
            f"schedule={j.schedule.value} ({j.schedule.desc}) next_run={j.next_run} "
            f"status={j.status.value or 'absent'}"
        ]
        lines += [f"run {r.id} {r.submit_date} {r.status.value}" for r in self.runs[:3]]
        return lines


def _expired_job(jobs: dict[str, Job], institution: str) -> Job:
    job = jobs.get(EXPIRED_JOB)
    if job is None:
        pytest.fail(
            f"{institution}: there is no scheduled job '{EXPIRED_JOB}' (Alma has: "
            f"{', '.join(sorted(jobs)) or 'none'}); {JOBS.menu}",
            pytrace=False,
        )
    return job


@when(
    'the "Expired Resource Sharing Requests" job and its recent runs are read from Alma',
    target_fixture="expiry_job",
)
def _(alma: AlmaClient, alma_institution: Profile, alma_evidence: list[str]) -> ExpiryJob:
    jobs = {job.name or job.id: job for job in alma.jobs("SCHEDULED")}
    job = _expired_job(jobs, alma_institution.name)
    found = ExpiryJob(
        alma_institution.name,
        job,
        # UNVERIFIED(jobs.instances_newest_first): one page holds the latest runs.
        tuple(alma.job_instances(job.id)),
        alma_institution.institution.expiry_job_recent_days,
    )
    alma_evidence.extend(found.evidence())
    return found


@then('the "Expired Resource Sharing Requests" job is active')
def _(expiry_job: ExpiryJob) -> None:
    ej, name = expiry_job, expiry_job.institution
    if ej.job.schedule.value == "NOT_SCHEDULED":
        pytest.fail(
            f"{name}: '{EXPIRED_JOB}' is not scheduled ({ej.job.schedule.desc}), so expired "
            "requests are never moved on: schedule it every day and "
            f"make it Active ({SCHEDULED_TAB}; {JOBS.menu})",
            pytrace=False,
        )
    by_hand = (
        f"look by hand whether '{EXPIRED_JOB}' is Active and ran in the last "
        f"{ej.window_days} days: {SCHEDULED_TAB}, and {HISTORY}"
    )
    if ej.next_run is None:
        cannot_tell(f"{name}: Alma gives the job no next run time; {by_hand}")
    if not ej.runs:
        cannot_tell(f"{name}: Alma lists no run of the job; {by_hand}")
    recent = ej.recent
    if not recent:
        newest = ej.runs[0]
        pytest.fail(
            f"{name}: '{EXPIRED_JOB}' has not run in the {ej.window_days} days before its next "
            f"run ({ej.job.next_run}); the newest run Alma lists is {newest.id} of "
            f"{newest.submit_date}. Make it Active and scheduled every day ({SCHEDULED_TAB})",
            pytrace=False,
        )
    if any(run_succeeded(r) for r in recent):
        return
    if all(run_failed(r) for r in recent):
        pytest.fail(
            f"{name}: every run of '{EXPIRED_JOB}' in the {ej.window_days} days before "
            f"{ej.job.next_run} failed or was aborted "
            f"({', '.join(f'{r.id} {r.status.value}' for r in recent)}): open them in "
            f"{HISTORY} for the report",
            pytrace=False,
        )
    cannot_tell(
        f"{name}: the recent runs of the job ended with statuses the harness does not know "
        f"({', '.join(sorted({r.status.value or 'none' for r in recent}))}); {by_hand}"
    )


@then("it runs every day at the profile's time")
def _(expiry_job: ExpiryJob, alma_institution: Profile) -> None:
    job = expiry_job.job
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


@then("none of them failed")
def _(expiry_job: ExpiryJob) -> None:
    ej, name = expiry_job, expiry_job.institution
    recent = ej.recent
    if not recent:
        cannot_tell(
            f"{name}: Alma lists no run of '{EXPIRED_JOB}' in the {ej.window_days} days before "
            f"{ej.job.next_run or 'its next run'}, so there is no recent run to judge; look "
            f"at the job's history by hand: {HISTORY}"
        )
    fail_with(
        [
            f"run {r.id} of {r.submit_date} ended {r.status.value}: open it in Alma "
            f"({HISTORY}) for the report"
            for r in recent
            if run_failed(r)
        ],
        f"{name}: '{EXPIRED_JOB}' runs that failed:",
    )
    unknown = [f"{r.id} {r.status.value or 'none'}" for r in recent if not run_succeeded(r)]
    if unknown:
        cannot_tell(
            f"{name}: runs of '{EXPIRED_JOB}' with a status the harness does not know "
            f"({', '.join(unknown)}); open them in {HISTORY}"
        )
