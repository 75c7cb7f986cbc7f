"""Undoing what a scenario created: cancel and remove borrowing requests, account for the rest.

Alma lets an API client cancel and remove a borrowing request (``DELETE …?remove_request=true``)
but offers no way to cancel or reject a lending request (alma-api.md §4.3). A lending request
that ended in a final state needs nothing; one still active is reported for staff to reject.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alma_p2p.alma import AlmaAPIError, AlmaClient, AlmaError
from alma_p2p.ledger import Ledger

# Codes meaning "no such request": nothing left to remove.
GONE = frozenset({"401694", "40166450"})
# UNVERIFIED(lending.final_status_codes)
FINAL_LENDING = frozenset({"LOCATE_FAILED", "REJECTED", "CANCELLED", "EXPIRED"})
REJECT_IN_ALMA = "reject it in Alma: Fulfillment > Resource Sharing > Lending Requests"


@dataclass
class Created:
    """Something a write created (or may have created): what cleanup must undo."""

    kind: str  # "borrowing" (under a user) or "lending" (under a partner)
    owner: str  # the user id or the partner code
    external_id: str
    request_id: str | None = None
    status: str | None = None  # the last status the scenario saw


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def remove_created(
    client: AlmaClient, institution: str, created: list[Created], ledger: Ledger | None
) -> CleanupReport:
    """Remove everything in ``created`` (newest first); never raises for one failure."""
    report = CleanupReport()
    for item in reversed(created):
        try:
            how = _remove(client, item)
        except AlmaError as exc:
            report.left.append(f"{item.kind} request {item.external_id}: {exc}")
            continue
        if how is None:
            report.left.append(
                f"lending request {item.external_id} from {item.owner} is still active; "
                + REJECT_IN_ALMA
            )
            continue
        report.removed.append(item.external_id)
        if ledger is not None:
            ledger.removed(institution, item.external_id, how)
    return report


def _remove(client: AlmaClient, item: Created) -> str | None:
    if item.kind == "lending":
        if not item.request_id:
            return "never created"
        status = item.status  # what the scenario last read; ask Alma only if not final
        if status not in FINAL_LENDING:
            status = client.lending_request(item.owner, item.request_id).status.value
        return f"ended {status}" if status in FINAL_LENDING else None
    try:
        request_id = item.request_id
        if request_id is None:
            found = client.borrowing_request(item.owner, item.external_id, by_external_id=True)
            request_id = found.request_id
        if request_id is None:
            return "never created"
        client.cancel_borrowing_request(item.owner, request_id)
    except AlmaAPIError as exc:
        if set(exc.codes) & GONE:
            return "not found"
        raise
    return "cancelled and removed"
