"""Steps about the items Alma's REST API cannot read: a person's check, or Analytics."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_bdd import parsers, then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.attestations import Attestations
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import checked_by_person
from alma_p2p.profile import AnalyticsCheck, Profile
from alma_p2p.suite.steps.common import fail_with


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
            f"{guide.title}: {verdict.text} (or name an Analytics report for it in the profile) "
            f"— {guide.manual} ({guide.menu})",
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
