"""Steps about the items Alma's REST API cannot read: a person's check, or Analytics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_bdd import parsers, then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.attestations import Attestations
from alma_p2p.facts import Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell, checked_by_person
from alma_p2p.profile import AnalyticsCheck, Profile
from alma_p2p.suite.steps.common import fail_with

RS_FACT = "analytics.rs_terms_of_use"


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


def _resource_sharing(values: Iterable[str]) -> bool:
    return any("resource sharing" in v.lower() for v in values)


@then("it holds every row the profile expects")
def _(
    analytics_read: AnalyticsRead,
    alma_institution: Profile,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    check, rows = analytics_read.check, analytics_read.rows
    columns = set(rows[0]) if rows else set()
    alma_evidence.append(f"{check.report}: {len(rows)} rows")
    guide = BY_ID[analytics_read.item]
    problems, missing = [], []
    for wanted in check.expect:
        unknown = set(wanted) - columns
        if rows and unknown:
            problems.append(
                f"the report has no column {', '.join(sorted(unknown))} (it has: "
                f"{', '.join(sorted(columns))}); correct the profile or the report"
            )
        elif not any(all(row.get(k) == v for k, v in wanted.items()) for row in rows):
            missing.append(wanted)
    # UNVERIFIED(analytics.rs_terms_of_use): the subject area may show no resource sharing
    # row at all; then a missing resource sharing row is not evidence of a missing setting.
    unseen = (
        not problems
        and missing
        and all(_resource_sharing(w.values()) for w in missing)
        and not any(_resource_sharing(row.values()) for row in rows)
    )
    if unseen:
        entry = alma_facts.entry(RS_FACT)
        calibration = f" (calibration: {entry.value})" if entry and entry.value else ""
        cannot_tell(
            f"{alma_institution.name}: Analytics report {check.report} shows no resource "
            "sharing row at all, so the Configurations (Limited) subject area may not include "
            f"them{calibration}; look by hand for "
            + "; ".join(", ".join(f"{k} = {v}" for k, v in w.items()) for w in missing)
            + f": {guide.manual} ({guide.menu})"
        )
    for wanted in missing:
        shown = ", ".join(f"{k} = {v}" for k, v in wanted.items())
        problems.append(f"no row with {shown}: configure it in Alma ({guide.menu})")
    fail_with(
        problems,
        f"{alma_institution.name}: {guide.title}, as Analytics report {check.report} shows them:",
    )
