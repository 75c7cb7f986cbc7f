"""Steps about the "Expired Resource Sharing Requests" job and its runs.

Whether the job runs is judged from what Alma's documented answers carry: its schedule, its
``next_run`` and its recent runs (within the profile's ``expiry_job_recent_days`` before the
next run; a failed or aborted run counts against it). The job's ``status`` field, which no
capture shows (UNVERIFIED(jobs.status_field)), is shown as evidence and never decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Job, JobInstance
from alma_p2p.facts import Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

EXPIRED_JOB = "Expired Resource Sharing Requests"  # UNVERIFIED(jobs.name_not_localized)
NAME_FACT = "jobs.name_not_localized"
CODES_FACT = "jobs.run_status_codes"
SCHEDULE_FACT = "jobs.schedule_desc_time"
SHAPE_FACT = "jobs.instance_shape"
# The codes of runs that completed (UNVERIFIED(jobs.run_status_codes)): any other code that
# does not read as failed is a status the harness does not know, so cannot tell.
SUCCEEDED = frozenset({"COMPLETED_SUCCESS", "COMPLETED_WARNING"})
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

    UNVERIFIED(jobs.run_status_codes): COMPLETED_SUCCESS or COMPLETED_WARNING; another
    COMPLETED_ code (COMPLETED_WITH_ERRORS, UNVERIFIED(jobs.failed_run_status)) is unknown.
    """
    return (run.status.value or "") in SUCCEEDED


def newest_first(runs: tuple[JobInstance, ...]) -> tuple[JobInstance, ...]:
    """Runs by submit date, newest first, whatever order Alma lists them in
    (UNVERIFIED(jobs.instances_newest_first)); runs without a date last, as listed."""
    dated = sorted(
        (r for r in runs if _when(r.submit_date) is not None),
        key=lambda r: _when(r.submit_date) or datetime.min,
        reverse=True,
    )
    return (*dated, *(r for r in runs if _when(r.submit_date) is None))


# "Every day at 02:00", "Daily at 2:00 AM": a daily schedule and its time of day.
_DAILY = re.compile(r"\b(every\s*day|daily)\b", re.IGNORECASE)
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)(?:\s*([ap])\.?m\.?)?", re.IGNORECASE)


def schedule_time(desc: str) -> str | None:
    """The time of day (HH:MM, 24-hour) a schedule description names, else None.

    UNVERIFIED(jobs.schedule_desc_time): read from "Every day at 02:00" and from a 12-hour
    "Daily at 2:00 AM" alike.
    """
    found = _TIME.search(desc)
    if found is None:
        return None
    hour, minute, half = int(found[1]), found[2], (found[3] or "").lower()
    if half and not 1 <= hour <= 12:
        return None
    if half:
        hour = hour % 12 + (12 if half == "p" else 0)
    return f"{hour:02d}:{minute}"


def is_daily(desc: str) -> bool:
    return _DAILY.search(desc) is not None


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


def _expired_job(jobs: dict[str, Job], institution: str, facts: Facts) -> Job:
    job = jobs.get(EXPIRED_JOB)
    if job is None:
        # Alma lists its system jobs, scheduled or not (captures/job_doc_sample.json shows a
        # NOT_SCHEDULED one), so a missing name is more likely a localised one than a
        # missing job: UNVERIFIED(jobs.name_not_localized). Not a verdict either way.
        entry = facts.entry(NAME_FACT)
        calibration = (
            f" (calibration: {entry.why or entry.status})"
            if entry is not None and entry.status != "calibrated"
            else ""
        )
        cannot_tell(
            f"{institution}: Alma lists no scheduled job named '{EXPIRED_JOB}' (it has: "
            f"{', '.join(sorted(jobs)) or 'none'}); its name may be in the institution's "
            f"language{calibration}. Find the job by hand and check that it is Active, "
            f"scheduled every day and that its recent runs did not fail: {JOBS.menu}"
        )
    return job


@when(
    'the "Expired Resource Sharing Requests" job and its recent runs are read from Alma',
    target_fixture="expiry_job",
)
def _(
    alma: AlmaClient, alma_institution: Profile, alma_evidence: list[str], alma_facts: Facts
) -> ExpiryJob:
    jobs = {job.name or job.id: job for job in alma.jobs("SCHEDULED")}
    job = _expired_job(jobs, alma_institution.name, alma_facts)
    found = ExpiryJob(
        alma_institution.name,
        job,
        newest_first(tuple(alma.job_instances(job.id))),
        alma_institution.institution.expiry_job_recent_days,
    )
    alma_evidence.extend(found.evidence())
    return found


def _seen(facts: Facts, fact_id: str) -> str:
    """What the calibration saw of a fact, when it is not the assumed value."""
    entry = facts.entry(fact_id)
    if entry is None or entry.status != "calibrated":
        return ""
    if entry.value == facts.register.fact(fact_id).assumed:
        return ""
    return f" (calibration found: {entry.seen or entry.value})"


def _known_codes(facts: Facts) -> str:
    """What the calibration saw of the run status codes, when they are not the assumed ones."""
    entry = facts.entry(CODES_FACT)
    if (
        entry is None
        or entry.status != "calibrated"
        or entry.value == facts.register.fact(CODES_FACT).assumed
    ):
        return ""
    return f" (calibration found the status codes {entry.seen or entry.value})"


@then('the "Expired Resource Sharing Requests" job is active')
def _(expiry_job: ExpiryJob, alma_facts: Facts) -> None:
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
    if all(_when(r.submit_date) is None for r in ej.runs):
        # UNVERIFIED(jobs.instance_shape): runs are dated by submit_date.
        cannot_tell(
            f"{name}: Alma gives no date for any run of the job"
            f"{_seen(alma_facts, SHAPE_FACT)}; {by_hand}"
        )
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
        f"({', '.join(sorted({r.status.value or 'none' for r in recent}))})"
        f"{_known_codes(alma_facts)}; {by_hand}"
    )


@then("it runs every day at the profile's time")
def _(expiry_job: ExpiryJob, alma_institution: Profile, alma_facts: Facts) -> None:
    job = expiry_job.job
    wanted = alma_institution.institution.expiry_job_time
    text = job.schedule.desc or ""
    # UNVERIFIED(jobs.schedule_desc_time): the description reads like "Every day at 02:00"
    # (or "Daily at 2:00 AM"); one without a time cannot be judged from the API.
    at = schedule_time(text)
    if at is None:
        entry = alma_facts.entry(SCHEDULE_FACT)
        known = (
            " (calibration found the same: Alma's schedule description gives no time)"
            if entry is not None
            and entry.status == "calibrated"
            and entry.value != alma_facts.register.fact(SCHEDULE_FACT).assumed
            else ""
        )
        cannot_tell(
            f"{alma_institution.name}: Alma describes the schedule of '{EXPIRED_JOB}' as "
            f"'{text or job.schedule.value}' (value {job.schedule.value}), without a time of "
            f"day{known}; look by hand that it runs every day at {wanted}: {SCHEDULED_TAB}"
        )
    if not is_daily(text) or at != wanted:
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' runs '{text or job.schedule.value}', "
            f"expected every day at {wanted}: select 'Every Day at {wanted}' in the "
            f"Schedule dropdown ({JOBS.menu})",
            pytrace=False,
        )


@then("none of them failed")
def _(expiry_job: ExpiryJob, alma_facts: Facts) -> None:
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
            f"({', '.join(unknown)}){_known_codes(alma_facts)}; open them in {HISTORY}"
        )
