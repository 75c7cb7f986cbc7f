"""Steps about the institution's configuration as Alma reports it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pytest_bdd import parsers, then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Job, JobInstance, Library, Location, Partner
from alma_p2p.attestations import Attestations
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import checked_by_person
from alma_p2p.profile import AnalyticsCheck, Profile, RsLibrary
from alma_p2p.profile import Partner as ProfilePartner
from steps.common import fail_with

# From the WRLC guide, "Resource Sharing Library", steps 1-2.
FIX_RS_FLAG = (
    "Configuration > (select the library in 'Configuring') > Fulfillment > Library "
    "Management > Library Details > Resource Sharing Information > tick "
    "'Is Resource Sharing Library'"
)


@when("the institution's libraries are read from Alma", target_fixture="libraries")
def _(alma: AlmaClient) -> dict[str, Library]:
    return {library.code: library for library in alma.libraries()}


@then('every resource sharing library of the profile is flagged "Is Resource Sharing Library"')
def _(libraries: dict[str, Library], alma_institution: Profile) -> None:
    problems = []
    for expected in alma_institution.resource_sharing_libraries:
        library = libraries.get(expected.code)
        if library is None:
            known = ", ".join(sorted(libraries)) or "none"
            problems.append(
                f"{expected.code} ({expected.name}) is not a library in Alma (Alma has: {known}); "
                "correct the code in profile.yaml or create the library"
            )
        elif library.resource_sharing is not True:
            problems.append(
                f"{expected.code} ({library.name or expected.name}) is not flagged as a "
                f"resource sharing library: {FIX_RS_FLAG}"
            )
    fail_with(
        problems,
        f"{alma_institution.name}: resource sharing libraries not set up in Alma:",
    )


# -- temporary locations ------------------------------------------------------------


@dataclass
class TempLocation:
    library: RsLibrary
    role: str  # "borrowing" | "lending"
    code: str
    found: Location | None

    @property
    def name(self) -> str:
        return f"{self.role} location {self.code} of {self.library.code}"


@when(
    "the temporary locations of each resource sharing library are read from Alma",
    target_fixture="temp_locations",
)
def _(alma: AlmaClient, alma_institution: Profile) -> list[TempLocation]:
    out = []
    for library in alma_institution.resource_sharing_libraries:
        existing = {loc.code for loc in alma.locations(library.code)}
        for role, code in (
            ("borrowing", library.borrowing_location),
            ("lending", library.lending_location),
        ):
            found = alma.location(library.code, code) if code in existing else None
            out.append(TempLocation(library, role, code, found))
    return out


def _existing(
    locations: list[TempLocation], institution: str
) -> list[tuple[TempLocation, Location]]:
    """Each temporary location Alma has, with what Alma holds for it."""
    present = [(t, t.found) for t in locations if t.found is not None]
    if not present:
        pytest.fail(
            f"{institution}: none of the temporary locations exists, so this cannot be checked "
            "(see the scenario that checks they exist)",
            pytrace=False,
        )
    return present


@then("every temporary location exists")
def _(temp_locations: list[TempLocation], alma_institution: Profile) -> None:
    fail_with(
        [
            f"{t.name} does not exist: add it ({LOCATIONS_MENU.format(lib=t.library.code)}), "
            "Fulfillment Unit ending in _FU, or correct the code in profile.yaml"
            for t in temp_locations
            if t.found is None
        ],
        f"{alma_institution.name}: temporary resource sharing locations missing:",
    )


LOCATIONS_MENU = "Configuration > (select {lib}) > Fulfillment > Locations > Physical Locations"


@then("every temporary location is in the profile's fulfillment unit")
def _(
    temp_locations: list[TempLocation], alma_institution: Profile, alma_evidence: list[str]
) -> None:
    problems = []
    for t, found in _existing(temp_locations, alma_institution.name):
        unit = found.fulfillment_unit.value
        alma_evidence.append(f"{t.library.code}/{t.code} fulfillment_unit={unit}")
        expected = t.library.fulfillment_unit
        if expected is None:
            problems.append(
                f"{t.library.code}: the profile names no fulfillment_unit, so {t.name} "
                f"(in {unit or 'none'}) cannot be checked; add it to profile.yaml"
            )
        elif unit != expected:
            problems.append(
                f"{t.name} is in fulfillment unit {unit or 'none'}, expected {expected}: edit "
                f"the location ({LOCATIONS_MENU.format(lib=t.library.code)}) and set its "
                "Fulfillment Unit"
            )
    fail_with(problems, f"{alma_institution.name}: temporary locations in the wrong unit:")


@then("every temporary location has the resource sharing desk for check in, check out and reshelve")
def _(
    temp_locations: list[TempLocation], alma_institution: Profile, alma_evidence: list[str]
) -> None:
    problems = []
    for t, found in _existing(temp_locations, alma_institution.name):
        desk_code = t.library.circ_desk
        if desk_code is None:
            problems.append(f"{t.library.code}: the profile names no circ_desk to check")
            continue
        desk = next((d for d in found.circ_desk if d.circ_desk_code == desk_code), None)
        alma_evidence.append(
            f"{t.library.code}/{t.code} desks="
            + ",".join(d.circ_desk_code or "?" for d in found.circ_desk)
        )
        fix = (
            f"{LOCATIONS_MENU.format(lib=t.library.code)} > {t.code} > Physical Location "
            f"Circulation Desk List > Attach Existing Circulation Desk {desk_code} with Check "
            "In, Check Out and Reshelve (field names read from Alma are UNVERIFIED)"
        )
        if desk is None:
            problems.append(f"{t.name} has no circulation desk {desk_code}: {fix}")
        elif not (desk.check_in and desk.check_out and desk.reshelve):
            missing = [
                n
                for n, v in (
                    ("check in", desk.check_in),
                    ("check out", desk.check_out),
                    ("reshelve", desk.reshelve),
                )
                if not v
            ]
            problems.append(f"{t.name}: desk {desk_code} lacks {', '.join(missing)}: {fix}")
    fail_with(problems, f"{alma_institution.name}: temporary locations without the RS desk:")


# -- jobs ---------------------------------------------------------------------------

EXPIRED_JOB = "Expired Resource Sharing Requests"
JOBS_MENU = "Configuration > Fulfillment > General > Fulfillment Jobs Configuration"


@when("the scheduled jobs are read from Alma", target_fixture="jobs")
def _(alma: AlmaClient) -> dict[str, Job]:
    return {job.name or job.id: job for job in alma.jobs("SCHEDULED")}


def _expired_job(jobs: dict[str, Job], institution: str) -> Job:
    job = jobs.get(EXPIRED_JOB)
    if job is None:
        pytest.fail(
            f"{institution}: there is no scheduled job '{EXPIRED_JOB}' (Alma has: "
            f"{', '.join(sorted(jobs)) or 'none'}); {JOBS_MENU}",
            pytrace=False,
        )
    return job


@then('the "Expired Resource Sharing Requests" job is active')
def _(jobs: dict[str, Job], alma_institution: Profile, alma_evidence: list[str]) -> None:
    job = _expired_job(jobs, alma_institution.name)
    alma_evidence.append(f"status={job.status.value} schedule={job.schedule.desc}")
    if job.status.value != "ACTIVE" or job.schedule.value == "NOT_SCHEDULED":
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' is {job.status.value or 'not active'} "
            f"({job.schedule.desc or job.schedule.value}); switch it to Active: {JOBS_MENU}",
            pytrace=False,
        )


@then("it runs every day at the profile's time")
def _(jobs: dict[str, Job], alma_institution: Profile) -> None:
    job = _expired_job(jobs, alma_institution.name)
    wanted = alma_institution.institution.expiry_job_time
    text = job.schedule.desc or ""
    # UNVERIFIED: that the schedule's description reads like "Every day at 02:00".
    if "every day" not in text.lower() or wanted not in text:
        pytest.fail(
            f"{alma_institution.name}: '{EXPIRED_JOB}' runs '{text or job.schedule.value}', "
            f"expected every day at {wanted}: select 'Every Day at {wanted}' in the "
            f"Schedule dropdown ({JOBS_MENU})",
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
            f"and scheduled ({JOBS_MENU})",
            pytrace=False,
        )
    return runs


@then("none of them failed")
def _(job_runs: list[JobInstance], alma_institution: Profile, alma_evidence: list[str]) -> None:
    alma_evidence.extend(f"{r.submit_date} {r.status.value}" for r in job_runs[:3])
    fail_with(
        [
            f"run {r.id} of {r.submit_date} ended {r.status.value}: open it in Alma (Admin > "
            "Monitor Jobs > History) for the report"
            for r in job_runs
            if (r.status.value or "").endswith("FAILED")
        ],
        f"{alma_institution.name}: '{EXPIRED_JOB}' runs that failed:",
    )


# -- partners -----------------------------------------------------------------------

PARTNERS_MENU = "Fulfillment > Resource Sharing > Partners > (partner) > Edit"


@when("the institution's partners are read from Alma", target_fixture="partners")
def _(alma: AlmaClient) -> dict[str, Partner]:
    return {p.code: p for p in alma.partners()}


@then("every partner of the profile exists, is active and supports borrowing and lending")
def _(partners: dict[str, Partner], alma_institution: Profile, alma_evidence: list[str]) -> None:
    problems = []
    if not alma_institution.partners:
        pytest.fail(f"{alma_institution.name}: the profile names no partners", pytrace=False)
    for expected in alma_institution.partners:
        partner = partners.get(expected.code)
        if partner is None:
            problems.append(
                f"{expected.code} is not a partner in Alma: copy it from the Community tab "
                "(Fulfillment > Resource Sharing > Partners > Community)"
            )
            continue
        d = partner.partner_details
        alma_evidence.append(
            f"{d.code} status={d.status} borrowing={d.borrowing_supported} "
            f"lending={d.lending_supported}"
        )
        if d.status != "ACTIVE":
            problems.append(
                f"{d.code} is {d.status or 'not active'}: set it Active ({PARTNERS_MENU})"
            )
        for role, supported in (
            ("borrowing", d.borrowing_supported),
            ("lending", d.lending_supported),
        ):
            if supported is not True:
                problems.append(f"{d.code} does not support {role}: tick it ({PARTNERS_MENU})")
    fail_with(problems, f"{alma_institution.name}: partners not ready:")


def _in_alma(
    profile: Profile, partners: dict[str, Partner]
) -> Iterator[tuple[ProfilePartner, Partner]]:
    """The profile's partners that Alma has (the existence scenario reports the others)."""
    for expected in profile.partners:
        partner = partners.get(expected.code)
        if partner is not None:
            yield expected, partner


@then("every partner uses the profile's borrowing and lending workflow profiles")
def _(partners: dict[str, Partner], alma_institution: Profile, alma_evidence: list[str]) -> None:
    problems = []
    for expected, partner in _in_alma(alma_institution, partners):
        d = partner.partner_details
        alma_evidence.append(f"{d.code} workflows={d.borrowing_workflow}/{d.lending_workflow}")
        for role, actual, wanted in (
            ("Borrowing", d.borrowing_workflow, expected.borrowing_workflow),
            ("Lending", d.lending_workflow, expected.lending_workflow),
        ):
            if wanted is not None and actual != wanted:
                problems.append(
                    f"{d.code} uses {role.lower()} workflow profile {actual or 'none'}, expected "
                    f"{wanted}: select it in the {role} Workflow dropdown ({PARTNERS_MENU})"
                )
    fail_with(problems, f"{alma_institution.name}: partners on the wrong workflow profile:")


@then("every partner's requests expire after the profile's number of days")
def _(partners: dict[str, Partner], alma_institution: Profile, alma_evidence: list[str]) -> None:
    problems = []
    for expected, partner in _in_alma(alma_institution, partners):
        if expected.expiry_days is None:
            continue
        protocol = partner.partner_details.profile_details.protocol
        days = protocol.expiry_time if protocol is not None else None
        alma_evidence.append(f"{expected.code} expiry_time={days}")
        if days != expected.expiry_days:
            problems.append(
                f"{expected.code} expires requests after {days if days is not None else 'no'} "
                f"days, expected {expected.expiry_days}: Parameters tab > Expiry Time (Days) "
                f"({PARTNERS_MENU})"
            )
    fail_with(problems, f"{alma_institution.name}: partners with the wrong expiry time:")


# -- item policy ----------------------------------------------------------------------


@when(
    "the item policies of each resource sharing library are read from Alma",
    target_fixture="item_policies",
)
def _(alma: AlmaClient, alma_institution: Profile) -> dict[str, tuple[str, ...]]:
    return {
        lib.code: alma.code_table("ItemPolicy", scope=lib.code).codes()
        for lib in alma_institution.resource_sharing_libraries
    }


@then("the profile's item policy is among them")
def _(
    item_policies: dict[str, tuple[str, ...]],
    alma_institution: Profile,
    alma_evidence: list[str],
) -> None:
    problems = []
    for lib in alma_institution.resource_sharing_libraries:
        codes = item_policies[lib.code]
        alma_evidence.append(f"{lib.code} ItemPolicy={','.join(codes)}")
        if lib.item_policy is None:
            problems.append(f"{lib.code}: the profile names no item_policy to look for")
        elif lib.item_policy not in codes:
            problems.append(
                f"{lib.code} has no item policy {lib.item_policy} (it has: "
                f"{', '.join(codes) or 'none'}): Configuration > (select {lib.code}) > "
                "Fulfillment > Physical Fulfillment > Item Policy > Add Row"
            )
    fail_with(problems, f"{alma_institution.name}: RS item policy missing:")


# -- what a person checks --------------------------------------------------------


@then(parsers.parse('a person has checked "{item}"'))
def _(item: str, alma_institution: Profile, alma_attestations: Attestations) -> None:
    guide = BY_ID[item]
    verdict = alma_attestations.verdict(item, alma_institution)
    checked_by_person(
        verdict.kind, f"{guide.title}: {verdict.text} — {guide.manual} ({guide.menu})"
    )


# -- Analytics ----------------------------------------------------------------------


@dataclass
class AnalyticsRead:
    item: str
    check: AnalyticsCheck
    rows: tuple[dict[str, str], ...]


@when(parsers.parse('the Analytics report for "{item}" is read'), target_fixture="analytics_read")
def _(
    item: str, alma: AlmaClient, alma_institution: Profile, alma_attestations: Attestations
) -> AnalyticsRead:
    check = alma_institution.analytics.get(item)  # type: ignore[call-overload]
    if check is None:
        guide = BY_ID[item]
        verdict = alma_attestations.verdict(item, alma_institution)
        checked_by_person(
            verdict.kind,
            f"{guide.title}: {verdict.text} (or name an Analytics report for it "
            f"in the profile) — {guide.manual} ({guide.menu})",
        )
    return AnalyticsRead(item, check, alma.analytics_report(check.report))


@then("it holds every row the profile expects")
def _(analytics_read: AnalyticsRead, alma_institution: Profile, alma_evidence: list[str]) -> None:
    check, rows = analytics_read.check, analytics_read.rows
    columns = set(rows[0]) if rows else set()
    alma_evidence.append(f"{check.report}: {len(rows)} rows")
    guide = BY_ID[analytics_read.item]
    problems = []
    for wanted in check.expect:
        unknown = set(wanted) - columns
        if rows and unknown:
            problems.append(
                f"the report has no column {', '.join(sorted(unknown))} (it has: "
                f"{', '.join(sorted(columns))}); correct the profile or the report"
            )
        elif not any(all(row.get(k) == v for k, v in wanted.items()) for row in rows):
            shown = ", ".join(f"{k} = {v}" for k, v in wanted.items())
            problems.append(f"no row with {shown}: configure it in Alma ({guide.menu})")
    fail_with(
        problems,
        f"{alma_institution.name}: {guide.title}, as Analytics report {check.report} shows them:",
    )
