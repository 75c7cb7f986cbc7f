"""Undoing what a scenario created, reporting only what Alma confirms.

Each thing created ends in one of four outcomes, each from an answer of Alma:

* **removed**: Alma answered the cancel-and-remove of a borrowing request
  (``DELETE …?remove_request=true``), or, its answer lost, no longer finds it;
* **already gone**: Alma does not find it (never created, or removed before);
* **ended**: a lending request in a final status: nothing to undo;
* **still there** (LEFT IN ALMA): Alma has it and the API cannot remove it (an active lending
  request: Alma offers no way to cancel or reject one, alma-api.md §4.3), or Alma could not
  be asked; the line names the request id and what staff must do.

A request whose create answer never came back (``request_id`` unknown) is found by its
external id: a borrowing request under its user, a lending request in its owner library's
lending task list (Alma has no lookup of lending requests by external id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from alma_p2p.alma import AlmaAPIError, AlmaClient, AlmaError
from alma_p2p.alma.errors import AlmaTransportError
from alma_p2p.ledger import Ledger

# Codes meaning "no such request": nothing left to remove.
GONE = frozenset({"401694", "40166450"})
# UNVERIFIED(lending.final_status_codes)
FINAL_LENDING = frozenset({"LOCATE_FAILED", "REJECTED", "CANCELLED", "EXPIRED"})
REJECT_IN_ALMA = "reject it in Alma: Fulfillment > Resource Sharing > Lending Requests"
# The request went out whole and only its answer is missing: Alma may have processed it.
ANSWER_LOST = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


def answer_lost(exc: BaseException) -> bool:
    """True when a call reached Alma but its answer did not come back (timeout, reset)."""
    return isinstance(exc, AlmaTransportError) and isinstance(exc.__cause__, ANSWER_LOST)


class Outcome(StrEnum):
    REMOVED = "removed"
    GONE = "already gone"
    ENDED = "ended"
    LEFT = "still there"


@dataclass
class Created:
    """Something a write created (or may have created): what cleanup must undo."""

    kind: str  # "borrowing" (under a user) or "lending" (under a partner)
    owner: str  # the user id or the partner code
    external_id: str
    request_id: str | None = None
    status: str | None = None  # the last status the scenario saw
    library: str | None = None  # lending: the RS library that owns it
    refused: bool = False  # Alma answered the create with an error: nothing was created
    # The scenario read a status that the institution's facts give as final (its own
    # reject code, say): nothing to undo, whatever FINAL_LENDING lists.
    ended: bool = False


@dataclass(frozen=True)
class Settled:
    """One thing's outcome, and the line that tells a librarian about it."""

    item: Created
    outcome: Outcome
    line: str


@dataclass
class CleanupReport:
    settled: list[Settled] = field(default_factory=list)
    lost_answers: int = 0  # removals that reached Alma but whose answer was lost

    def of(self, outcome: Outcome) -> list[Settled]:
        return [s for s in self.settled if s.outcome is outcome]

    @property
    def removed(self) -> list[str]:
        return [s.item.external_id for s in self.of(Outcome.REMOVED)]

    @property
    def left(self) -> list[str]:
        return [s.line for s in self.of(Outcome.LEFT)]


def remove_created(
    client: AlmaClient, institution: str, created: list[Created], ledger: Ledger | None
) -> CleanupReport:
    """Settle everything in ``created`` (newest first); never raises for one failure."""
    report = CleanupReport()
    for item in reversed(created):
        try:
            outcome, line = _settle(client, item, report)
        except AlmaError as exc:
            outcome = Outcome.LEFT
            line = (
                f"{_what(item)}: could not ask Alma whether it is still there ({exc}); "
                "run `alma-p2p sweep` when Alma answers"
            )
        report.settled.append(Settled(item, outcome, line))
        if outcome is not Outcome.LEFT and ledger is not None:
            ledger.removed(institution, item.external_id, outcome.value)
    return report


def _what(item: Created) -> str:
    rid = f" {item.request_id}" if item.request_id else ""
    if item.kind == "lending":
        return f"lending request{rid} (external id {item.external_id}) from partner {item.owner}"
    return f"borrowing request{rid} (external id {item.external_id}) of user {item.owner}"


def _settle(client: AlmaClient, item: Created, report: CleanupReport) -> tuple[Outcome, str]:
    if item.kind == "lending":
        return _settle_lending(client, item)
    return _settle_borrowing(client, item, report)


def _settle_borrowing(
    client: AlmaClient, item: Created, report: CleanupReport
) -> tuple[Outcome, str]:
    if item.request_id is None:
        try:
            found = client.borrowing_request(item.owner, item.external_id, by_external_id=True)
        except AlmaAPIError as exc:
            if set(exc.codes) & GONE:
                return (
                    Outcome.GONE,
                    _not_found(item),
                )
            raise
        item.request_id = found.request_id
        if item.request_id is None:
            return (
                Outcome.GONE,
                _not_found(item),
            )
    try:
        client.cancel_borrowing_request(item.owner, item.request_id)
    except AlmaAPIError as exc:
        if set(exc.codes) & GONE:
            return Outcome.GONE, f"{_what(item)}: Alma no longer has it"
        raise
    except AlmaTransportError as exc:
        if not answer_lost(exc):
            raise
        report.lost_answers += 1
        try:  # the cancel reached Alma but its answer did not come back: ask again
            client.borrowing_request(item.owner, item.request_id)
        except AlmaAPIError as again:
            if set(again.codes) & GONE:
                return Outcome.REMOVED, f"{_what(item)}: removed (Alma no longer finds it)"
            raise
        return Outcome.LEFT, (
            f"{_what(item)}: still in Alma after a cancel whose answer was lost; run "
            "`alma-p2p sweep`, or cancel it in Alma: Fulfillment > Resource Sharing > "
            "Borrowing Requests"
        )
    return Outcome.REMOVED, f"{_what(item)}: cancelled and removed"


def _not_found(item: Created) -> str:
    return f"{_what(item)}: Alma does not find it (never created, or removed before)"


def _settle_lending(client: AlmaClient, item: Created) -> tuple[Outcome, str]:
    if item.refused:
        return Outcome.GONE, f"{_what(item)}: Alma refused to create it"
    if item.request_id is None and not item.library:
        return Outcome.LEFT, (
            f"{_what(item)}: its answer never came back and the ledger does not say which RS "
            f"library owns it; look for external id {item.external_id} in Alma: Fulfillment > "
            "Resource Sharing > Lending Requests, and reject it if it is active"
        )
    if item.request_id is None:
        found = _in_task_list(client, item)
        if found is None:
            # UNVERIFIED(lending.task_list_includes_completed): if ended requests drop off the
            # list, "not listed" still means nothing active is left.
            return Outcome.GONE, (
                f"{_what(item)}: not in the lending task list of {item.library}: "
                "nothing active in Alma"
            )
        item.request_id, item.status = found
    status = item.status
    if item.ended:
        return Outcome.ENDED, f"{_what(item)}: ended {status}, nothing to undo"
    if status not in FINAL_LENDING:  # what the scenario last read; ask Alma only if not final
        try:
            status = client.lending_request(item.owner, item.request_id).status.value
        except AlmaAPIError as exc:
            if set(exc.codes) & GONE:
                return Outcome.GONE, f"{_what(item)}: Alma no longer has it"
            raise
    if status in FINAL_LENDING:
        return Outcome.ENDED, f"{_what(item)}: ended {status}, nothing to undo"
    return Outcome.LEFT, (
        f"{_what(item)} is still active ({status or 'no status'}); the API cannot cancel it: "
        + REJECT_IN_ALMA
    )


def _in_task_list(client: AlmaClient, item: Created) -> tuple[str, str | None] | None:
    """The request id and status of the lending request with this external id, if listed."""
    assert item.library
    for request in client.lending_task_list(item.library, partner=item.owner):
        if request.external_id == item.external_id and request.request_id:
            return request.request_id, request.status.value
    return None
