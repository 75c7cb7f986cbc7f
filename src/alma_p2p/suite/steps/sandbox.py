"""Steps about the sandbox as a whole: where its partners' requests go."""

from __future__ import annotations

from pytest_bdd import then

from alma_p2p.alma.models import Partner
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with
from alma_p2p.targets import refusals, targets


@then("every partner's server is among the profile's allowed targets")
def _(partners: dict[str, Partner], alma_institution: Profile, alma_evidence: list[str]) -> None:
    found = targets(alma_institution, partners)
    alma_evidence.extend(t.describe() for t in found)
    wrong = [t for t in found if not t.allowed and t.host is not None]
    heading = (
        f"{alma_institution.name}: partners may send test requests out of the sandbox; "
        "the suite writes nothing here until they are fixed:"
    )
    fail_with(refusals(alma_institution, wrong), heading)
    unknown = refusals(alma_institution, [t for t in found if not t.allowed])
    if unknown:
        cannot_tell("; ".join(unknown))
