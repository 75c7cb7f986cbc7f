"""Steps about the institution's libraries and their resource sharing flag."""

from __future__ import annotations

from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Library
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

RS_LIBRARY = BY_ID["rs_library"]


@when("the institution's libraries are read from Alma", target_fixture="libraries")
def _(alma: AlmaClient) -> dict[str, Library]:
    return {library.code: library for library in alma.libraries()}


@then('every resource sharing library of the profile is flagged "Is Resource Sharing Library"')
def _(libraries: dict[str, Library], alma_institution: Profile) -> None:
    problems, unknown = [], []
    named = {expected.code for expected in alma_institution.resource_sharing_libraries}
    for expected in alma_institution.resource_sharing_libraries:
        library = libraries.get(expected.code)
        if library is None:
            known = ", ".join(sorted(libraries)) or "none"
            problems.append(
                f"{expected.code} ({expected.name}) is not a library in Alma (Alma has: {known}); "
                "correct the code in profile.yaml or create the library"
            )
        elif library.resource_sharing is None:
            unknown.append(expected.code)
        elif library.resource_sharing is not True:
            problems.append(
                f"{expected.code} ({library.name or expected.name}) is not flagged as a "
                f"resource sharing library: {RS_LIBRARY.fix('flag')}"
            )
    # A library flagged in Alma that the profile does not name can own requests and
    # patrons' records unnoticed (a campus added later, an old annex left flagged).
    problems += [
        f"{code} ({library.name or 'no name'}) is flagged as a resource sharing library in "
        "Alma, but the profile does not name it: add it to resource_sharing_libraries in "
        f"profile.yaml, or untick the flag ({RS_LIBRARY.fix('flag')})"
        for code, library in sorted(libraries.items())
        if library.resource_sharing is True and code not in named
    ]
    fail_with(
        problems,
        f"{alma_institution.name}: resource sharing libraries not set up in Alma:",
    )
    if unknown:
        cannot_tell(
            f"Alma's answer does not say whether {', '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} flagged as resource sharing libraries; "
            f"look by hand: {RS_LIBRARY.fix('flag')}"
        )
