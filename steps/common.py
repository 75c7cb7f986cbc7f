"""Steps and helpers shared by every domain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from pytest_bdd import parsers, then

from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.models import RsRequest


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


@then("no request was created")
def _(attempt: Attempt, alma: AlmaClient) -> None:
    try:
        found = alma.borrowing_request(attempt.user_id, attempt.external_id, by_external_id=True)
    except AlmaAPIError as exc:
        if exc.status == 400:
            return  # Alma's "no result found" (40166450) and friends
        raise
    pytest.fail(
        f"{attempt.who}: the refused request exists all the same "
        f"(request {found.request_id}, status {found.status.value}); cancel it in Alma",
        pytrace=False,
    )
