"""Steps and helpers shared by every domain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from pytest_bdd import parsers, then

from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.models import RsRequest
from alma_p2p.outcomes import cannot_tell


def fail_with(problems: Iterable[str], heading: str) -> None:
    """Fail once, listing every problem found (a librarian fixes them all in one pass)."""
    found = list(problems)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        pytest.fail(f"{heading}\n{lines}", pytrace=False)


@dataclass
class Attempt:
    """What came of asking Alma to create a request: the request, or Alma's refusal."""

    who: str  # the requester, as the profile names them
    user_id: str
    external_id: str
    request: RsRequest | None = None
    error: AlmaAPIError | None = None
    # Alma created it as the institution's calibrated facts say it does (not a refusal).
    created_as_calibrated: bool = False
    pickup: str | None = None  # the pickup library the request named
    # Alma refused it picked up at another library than its owner; this is the request
    # picked up at the owner instead (UNVERIFIED(borrowing.pickup_other_library)).
    pickup_refused: AlmaAPIError | None = None

    def describe(self) -> str:
        if self.error is not None:
            return f"refused with {', '.join(self.error.codes) or self.error.status}"
        assert self.request is not None
        status = self.request.status.value or "no status"
        return f"created request {self.request.request_id} ({status}, owner {self.request.owner})"


@then(parsers.parse("Alma refuses it with error {code}"))
def _(attempt: Attempt, code: str) -> None:
    assert_refused(attempt, code)


def assert_refused(attempt: Attempt, code: str, why: str = "") -> None:
    if attempt.error is not None and code in attempt.error.codes:
        return
    because = f" {why}" if why else ""
    pytest.fail(
        f"{attempt.who}: expected Alma to refuse the request with error {code}{because}, "
        f"but it was {attempt.describe()}"
        + (f": {attempt.error}" if attempt.error is not None else ""),
        pytrace=False,
    )


# What Alma answers a lookup of a request that does not exist (alma-api.md §1.5, SW26).
NO_SUCH_REQUEST = frozenset({"40166450"})


@then("no request was created")
def _(attempt: Attempt, alma: AlmaClient) -> None:
    assert_nothing_created(attempt, alma)


def assert_nothing_created(attempt: Attempt, alma: AlmaClient) -> None:
    """Alma must say it has no request with the attempt's external id; any other refusal
    (UNAUTHORIZED, an unknown code) proves nothing either way: *cannot tell*. A request the
    step before found created as the institution's calibrated facts say is no finding (the
    run's cleanup cancels it)."""
    if attempt.created_as_calibrated:
        return
    try:
        found = alma.borrowing_request(attempt.user_id, attempt.external_id, by_external_id=True)
    except AlmaAPIError as exc:
        if not exc.refusal:
            raise  # Alma busy or failing: the harness's error verdict, not cannot tell
        if NO_SUCH_REQUEST & set(exc.codes):
            return
        cannot_tell(
            f"{attempt.who}: Alma answered the look-up of request {attempt.external_id} with "
            f"{', '.join(exc.codes) or exc.status}, not 'no result found' (40166450), so it is "
            "not known whether a request was created. Look in Alma: Fulfillment > Resource "
            f"Sharing > Borrowing Requests, search external identifier {attempt.external_id}; "
            "cancel it if it is there"
        )
    pytest.fail(
        f"{attempt.who}: the refused request exists all the same "
        f"(request {found.request_id}, status {found.status.value}); cancel it in Alma",
        pytrace=False,
    )
