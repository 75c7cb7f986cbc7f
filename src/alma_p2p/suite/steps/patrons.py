"""Steps about patrons and their resource sharing library."""

from __future__ import annotations

from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import User
from alma_p2p.guide import BY_ID
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

FIX_PATRON = BY_ID["patron_rs_library"].fix("patron")


@when("the test patrons' records are read from Alma", target_fixture="patrons")
def _(alma: AlmaClient, alma_institution: Profile) -> dict[str, User]:
    wanted = alma_institution.test_patrons
    if not wanted:
        raise AssertionError(
            f"{alma_institution.name}: the profile names no test_patrons, so there is "
            "nothing to check; add the sandbox's test patron accounts to profile.yaml"
        )
    return {p.primary_id: alma.user(p.primary_id) for p in wanted}


@then("each test patron's resource sharing library is the one their campus maps to")
def _(patrons: dict[str, User], alma_institution: Profile) -> None:
    mapping = alma_institution.patron_rs_library
    assert mapping is not None, "a multi-library profile always has patron_rs_library"
    labels = {p.primary_id: p.label or p.primary_id for p in alma_institution.test_patrons}
    problems = []
    for primary_id, user in patrons.items():
        campus, group = user.campus_code.value, user.user_group.value
        key = mapping.key(campus, group)
        who = f"{labels[primary_id]} ({primary_id}, {mapping.by} {key or 'empty'})"
        expected = alma_institution.rs_library_for(campus, group)
        if expected is None:
            allowed = ", ".join(sorted(mapping.map))
            problems.append(
                f"{who}: the {mapping.by} is not in the profile's patron_rs_library map "
                f"({allowed}); set the patron's {mapping.by} in Alma or extend the map"
            )
            continue
        actual = user.rs_library_codes
        if actual != (expected,):
            has = ", ".join(actual) if actual else "no resource sharing library"
            problems.append(f"{who} has {has}; expected {expected}: {FIX_PATRON}")
    fail_with(
        problems,
        f"{alma_institution.name}: test patrons whose resource sharing library is wrong "
        "(their requests would be owned by the wrong library, or refused):",
    )


@then("no test patron carries a resource sharing library other than the institution's own")
def _(patrons: dict[str, User], alma_institution: Profile) -> None:
    own = set(alma_institution.rs_library_codes)
    labels = {p.primary_id: p.label or p.primary_id for p in alma_institution.test_patrons}
    problems = [
        f"{labels[pid]} ({pid}) has {', '.join(user.rs_library_codes)}; expected none or "
        f"{', '.join(sorted(own))}: {FIX_PATRON}"
        for pid, user in patrons.items()
        if set(user.rs_library_codes) - own
    ]
    fail_with(
        problems,
        f"{alma_institution.name}: test patrons with a resource sharing library that is "
        "not this institution's:",
    )
