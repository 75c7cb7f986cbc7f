"""Steps about the institution's peer-to-peer partners as Alma holds them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Partner
from alma_p2p.facts import Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Partner as ProfilePartner
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

PARTNERS = BY_ID["partners"]
EDIT_PARTNER = PARTNERS.fix("partner")
EXPIRY_FACT = "partner.expiry_time_field"


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
                f"({PARTNERS.fix('missing')})"
            )
            continue
        d = partner.partner_details
        alma_evidence.append(
            f"{d.code} status={d.status} borrowing={d.borrowing_supported} "
            f"lending={d.lending_supported}"
        )
        if d.status != "ACTIVE":
            problems.append(
                f"{d.code} is {d.status or 'not active'}: set it Active ({EDIT_PARTNER})"
            )
        for role, supported in (
            ("borrowing", d.borrowing_supported),
            ("lending", d.lending_supported),
        ):
            if supported is not True:
                problems.append(f"{d.code} does not support {role}: tick it ({EDIT_PARTNER})")
    fail_with(problems, f"{alma_institution.name}: partners not ready:")


def _in_alma(
    profile: Profile, partners: dict[str, Partner], problems: list[str]
) -> Iterator[tuple[ProfilePartner, Partner]]:
    """The profile's partners that Alma has; each one it lacks is a problem, so a check
    over no partner at all cannot pass."""
    if not profile.partners:
        problems.append(
            f"the profile names no partners: list them in profile.yaml ({profile.name})"
        )
    for expected in profile.partners:
        partner = partners.get(expected.code)
        if partner is None:
            problems.append(
                f"{expected.code} is not a partner in Alma, so its setup cannot be checked: "
                f"copy it from the Community tab ({PARTNERS.fix('missing')})"
            )
            continue
        yield expected, partner


@then("every partner uses the profile's borrowing and lending workflow profiles")
def _(partners: dict[str, Partner], alma_institution: Profile, alma_evidence: list[str]) -> None:
    problems: list[str] = []
    for expected, partner in _in_alma(alma_institution, partners, problems):
        d = partner.partner_details
        alma_evidence.append(f"{d.code} workflows={d.borrowing_workflow}/{d.lending_workflow}")
        for role, actual, wanted in (
            ("Borrowing", d.borrowing_workflow, expected.borrowing_workflow),
            ("Lending", d.lending_workflow, expected.lending_workflow),
        ):
            if wanted is not None and actual != wanted:
                problems.append(
                    f"{d.code} uses {role.lower()} workflow profile {actual or 'none'}, expected "
                    f"{wanted}: select it in the {role} Workflow dropdown ({EDIT_PARTNER})"
                )
    fail_with(problems, f"{alma_institution.name}: partners on the wrong workflow profile:")


@then("every partner's requests expire after the profile's number of days")
def _(
    partners: dict[str, Partner],
    alma_institution: Profile,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    problems: list[str] = []
    unread = []
    for expected, partner in _in_alma(alma_institution, partners, problems):
        if expected.expiry_days is None:
            continue
        protocol = partner.partner_details.profile_details.protocol
        days = protocol.expiry_time if protocol is not None else None
        kind = protocol.request_expiry_type.value if protocol is not None else None
        alma_evidence.append(f"{expected.code} expiry_type={kind} expiry_time={days}")
        if kind not in (None, "EXPIRY_TIME"):
            problems.append(
                f"{expected.code} expires requests by {kind}, not after a number of days "
                f"(expected {expected.expiry_days}): Parameters tab > Request Expiry Type "
                f"'Expire by time' ({EDIT_PARTNER})"
            )
        elif days is None:
            # UNVERIFIED(partner.expiry_time_field): Alma may not give expiry_time at all.
            unread.append(expected.code)
        elif days != expected.expiry_days:
            problems.append(
                f"{expected.code} expires requests after {days} days, expected "
                f"{expected.expiry_days}: Parameters tab > Expiry Time (Days) ({EDIT_PARTNER})"
            )
    fail_with(problems, f"{alma_institution.name}: partners with the wrong expiry time:")
    if unread:
        entry = alma_facts.entry(EXPIRY_FACT)
        seen = (
            " (calibration found the same: Alma does not give it)"
            if entry is not None
            and entry.status == "calibrated"
            and entry.value != alma_facts.register.fact(EXPIRY_FACT).assumed
            else ""
        )
        cannot_tell(
            f"Alma's answer gives no expiry time for {', '.join(unread)}{seen}; check by hand that "
            f"each expires requests after the profile's number of days: {EDIT_PARTNER} > "
            "Parameters tab > Expiry Time (Days)"
        )
