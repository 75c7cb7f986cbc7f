"""Alma's resource-sharing rules, as pure functions over the typed world.

No HTTP here: a rule returns a typed result or raises ``AlmaFault`` with Alma's code, and
the routes turn that into an answer. Sources are named on each rule; a behaviour no source
settles is marked with the id of its fact in the register of Alma facts (``facts.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alma_p2p.standin.world import CodeRow, Institution, Library, Partner, User

if TYPE_CHECKING:
    from alma_p2p.standin.render import BorrowingRecord


class AlmaFault(Exception):
    """An Alma business error to answer with (HTTP 400 unless said otherwise)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code} {message}")


def same_title(a: str, b: str) -> bool:
    """Titles compared as Alma's duplicate and locate checks do: case and spacing aside."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


# -- borrowing ---------------------------------------------------------------------


def resolve_owner(inst: Institution, user: User, owner: str | None) -> str:
    """Owner rules: alma-api.md §3.2 and alma-rs-workflow.md §1.6.

    The patron's own RS library wins (UNVERIFIED(borrowing.owner_when_omitted) when the
    request names no owner, or as the institution plays that fact: 401607, or the
    institution's first RS library); an owner outside the patron's RS libraries is 401608;
    several RS libraries and no owner is 401607. UNVERIFIED(borrowing.owner_without_rs_library):
    a patron with no RS library gets the institution's only RS library at a single-library
    institution (the PALS single-library case), and
    UNVERIFIED(borrowing.no_rs_library_error) the error (or default owner) the institution
    plays elsewhere.
    """
    mine = list(user.rs_libraries)
    institution_rs = [lib.code for lib in inst.rs_libraries]
    if owner is not None:
        if mine and owner not in mine:
            raise AlmaFault(
                "401608",
                "The given resource sharing library (owner) is not defined in the patron record",
            )
        if not mine and not (len(institution_rs) == 1 and owner in institution_rs):
            return _no_rs_library(inst)
        if not mine and inst.plays(OWNER_WITHOUT_RS_LIBRARY) == "owner_refused":
            raise AlmaFault(
                "401608",
                "The given resource sharing library (owner) is not defined in the patron record",
            )
        return owner
    if len(mine) == 1:
        omitted = inst.plays("borrowing.owner_when_omitted")
        if omitted == "401607":
            raise AlmaFault("401607", "Resource sharing library (owner) is missing")
        if omitted == "default_rs_library":
            return institution_rs[0]
        return mine[0]
    if len(mine) > 1:
        raise AlmaFault("401607", "Resource sharing library (owner) is missing")
    if len(institution_rs) == 1:
        if inst.plays(OWNER_WITHOUT_RS_LIBRARY) == "refused":
            raise AlmaFault("401768", "Patron is not affiliated with a resource sharing library")
        return institution_rs[0]
    return _no_rs_library(inst)


# UNVERIFIED(borrowing.owner_without_rs_library): at a single-library institution a patron
# without RS library gets the one library (only_library); or Alma refuses a request without
# owner with 401768 (refused), or one naming the library as owner with 401608 (owner_refused).
OWNER_WITHOUT_RS_LIBRARY = "borrowing.owner_without_rs_library"


def owner_by_pickup(inst: Institution, owner: str, pickup: str | None) -> str:
    """The owner a request names, picked up at ``pickup``.

    UNVERIFIED(borrowing.pickup_other_library): the owner stays as named (accepted),
    becomes the pickup library when that is another RS library (owner_is_pickup), or such a
    request is refused as an invalid pickup_location (refused)."""
    played = inst.plays("borrowing.pickup_other_library")
    library = inst.library(pickup) if pickup else None
    if played == "accepted" or pickup == owner or library is None or not library.resource_sharing:
        return owner
    if played == "refused":
        raise AlmaFault("40166411", f"Invalid parameter: pickup_location {pickup}")
    return str(pickup)


def _no_rs_library(inst: Institution) -> str:
    """The owner Alma gives a patron without an RS library, or its refusal."""
    played = inst.plays("borrowing.no_rs_library_error")
    if played == "default_rs_library" and inst.rs_libraries:
        return inst.rs_libraries[0].code
    if played == "401607":
        raise AlmaFault("401607", "Resource sharing library (owner) is missing")
    raise AlmaFault("401768", "Patron is not affiliated with a resource sharing library")


def held(inst: Institution, title: str, isbn: str) -> bool:
    """Whether the institution has physical or electronic services for a title (or ISBN)."""
    for bib in inst.bibs:
        if not (bib.holdings or bib.electronic):
            continue
        if same_title(bib.title, title) or (isbn and bib.isbn == isbn):
            return True
    return False


def check_not_held(inst: Institution, title: str, isbn: str) -> None:
    """A patron may not borrow what the institution holds: 401604."""
    if held(inst, title, isbn):
        raise AlmaFault(
            "401604",
            "Warning: The institutional inventory has services for the requested title",
        )


def check_may_borrow(inst: Institution, user: User) -> None:
    """A patron whose user group the Borrowing Resource Sharing rules exclude is refused.

    UNVERIFIED(borrowing.excluded_group_refused): that the API applies those rules at all
    (the institution may play ``created``), and with which code (the world's guess).
    """
    if user.user_group not in inst.borrowing_excluded_groups:
        return
    if inst.plays("borrowing.excluded_group_refused") == "refused":
        raise AlmaFault(
            inst.excluded_group_error,
            "General Error - An error has occurred while processing the request.",
        )


def check_no_duplicate(user: User, title: str, existing: Iterable[BorrowingRecord]) -> None:
    """A patron's second request for the same title is 402362."""
    for record in existing:
        if record["_user"] == user.primary_id.lower() and same_title(record["title"], title):
            raise AlmaFault("402362", "Failed to save the request: Patron has duplicate request")


def borrowing_library(inst: Institution, owner: str) -> Library:
    """The owning RS library, which needs a borrowing Default Location (else 402039)."""
    library = inst.library(owner)
    if library is None or not library.borrowing_default_location:
        raise AlmaFault(
            "402039",
            "Could not create request, default item location is not defined for the "
            "resource sharing library",
        )
    return library


@dataclass(frozen=True)
class SendOn:
    """Where a borrowing request stands after locate, and the partner it went to."""

    status: str
    desc: str
    partner: Partner | None = None


def send_on(
    inst: Institution, title: str = "", peers: Mapping[str, Institution] | None = None
) -> SendOn:
    """After locate: the rota's first active partner, sent if a sending rule applies.

    Modelled on the Tel Aviv capture (LOCATE_IN_PROCESS, then READY_TO_SEND with a
    partner about 2 s later; alma-rs-workflow.md §1.1) and PALS/CSU on "Ready to be
    sent" and locate failure (§1.2). UNVERIFIED(borrowing.send_on_after_locate): the exact
    order of these steps. UNVERIFIED(borrowing.no_partner_holds_outcome): partners' holdings
    play no part unless the institution plays locate_failed or cancelled, when a partner
    whose institution (``peers``, by the partner's institution_code) holds nothing of the
    title is left out. UNVERIFIED(borrowing.request_sent_code): the code ``REQUEST_SENT``
    (``sent_code``).
    """
    partners = [p for p in (inst.partner(c) for c in inst.rota) if p is not None]
    active = [p for p in partners if p.status == "ACTIVE" and p.lending_supported]
    outcome = inst.plays("borrowing.no_partner_holds_outcome")
    if outcome != "sent":
        active = [p for p in active if _partner_holds(p, title, peers or {})]
        if not active and outcome == "cancelled":
            return SendOn(staff_cancel_code(inst), STAFF_CANCEL_DESC)
    if not active:
        if inst.plays(SEND_ON) == "cancelled_on_locate_failure":
            return SendOn(staff_cancel_code(inst), STAFF_CANCEL_DESC)
        return SendOn("LOCATE_FAILED", "Locate failed")
    if inst.sends_automatically:
        return SendOn(sent_code(inst), SENT_DESC, active[0])
    return SendOn("READY_TO_SEND", "Ready to be sent", active[0])


# UNVERIFIED(borrowing.request_sent_code): REQUEST_SENT; another code is played as
# SENT_TO_PARTNER (the code table of the borrowing steps lists the code played).
SENT_CODES = {"REQUEST_SENT": "REQUEST_SENT", "other": "SENT_TO_PARTNER"}
SENT_DESC = "Request sent to partner"
BORROWING_STEP_TABLES = frozenset({"MandatoryBorrowingWorkflowSteps"})


def sent_code(inst: Institution) -> str:
    """The code of "Request sent to partner" as the institution plays it."""
    return SENT_CODES[inst.plays("borrowing.request_sent_code")]


# UNVERIFIED(borrowing.received_status_code): RECEIVED_PHYSICALLY; another code is played
# as RECEIVED_BY_LIBRARY.
RECEIVED_CODES = {"RECEIVED_PHYSICALLY": "RECEIVED_PHYSICALLY", "other": "RECEIVED_BY_LIBRARY"}
# UNVERIFIED(borrowing.cancelled_status_code): a staff cancel is CANCELLED; or CANCELLED is
# the partner's cancel and a staff cancel is played as CANCELLED_BY_STAFF.
STAFF_CANCEL_CODES = {"CANCELLED": "CANCELLED", "other": "CANCELLED_BY_STAFF"}
STAFF_CANCEL_DESC = "Canceled by staff"


def received_code(inst: Institution) -> str:
    """The code of "Physically received by library" as the institution plays it."""
    return RECEIVED_CODES[inst.plays("borrowing.received_status_code")]


def staff_cancel_code(inst: Institution) -> str:
    """The status of a borrowing request staff (or the API's DELETE) cancelled."""
    return STAFF_CANCEL_CODES[inst.plays("borrowing.cancelled_status_code")]


def played_borrowing_steps(inst: Institution, rows: list[CodeRow]) -> list[CodeRow]:
    """A borrowing workflow-step table's rows with the sent, received and cancel codes as
    played (a world file lists the assumed codes)."""
    played = {
        **dict.fromkeys(SENT_CODES.values(), sent_code(inst)),
        **dict.fromkeys(RECEIVED_CODES.values(), received_code(inst)),
    }
    out = [r.model_copy(update={"code": played[r.code]}) if r.code in played else r for r in rows]
    staff = staff_cancel_code(inst)
    if staff == "CANCELLED":
        return out
    by_partner = CodeRow(code="CANCELLED", description="Cancelled by partner")
    by_staff = CodeRow(code=staff, description=STAFF_CANCEL_DESC)
    return [x for r in out for x in ((by_partner, by_staff) if r.code == "CANCELLED" else (r,))]


# UNVERIFIED(lending.final_status_codes): a lending request the borrower cancelled reads
# CANCELLED; or CANCELED, as played.
LENDING_CANCEL_CODES = {"CANCELLED": "CANCELLED", "CANCELED": "CANCELED"}


def lending_cancel_code(inst: Institution) -> str:
    """The status of a lending request its borrower cancelled, as the lender plays it."""
    return LENDING_CANCEL_CODES[inst.plays("lending.final_status_codes")]


# UNVERIFIED(borrowing.send_on_after_locate): after locate, sent at once (at_once); shown
# "Ready to be sent" on one read and sent on the next (ready_first); or, with no partner
# left, cancelled by staff (Cancel Request on Locate Failure) rather than locate failed.
SEND_ON = "borrowing.send_on_after_locate"


def _partner_holds(partner: Partner, title: str, peers: Mapping[str, Institution]) -> bool:
    """Whether the partner's institution holds the title; one outside the world holds nothing."""
    peer = peers.get(partner.institution_code or "")
    return peer is not None and held(peer, title, "")


# -- lending -----------------------------------------------------------------------

LENDING_DESC = {
    "REQUEST_CREATED_LEND": "Created lending request",
    "LOCATE_IN_PROCESS": "Locate in process",
    "LOCATE_FAILED": "Locate failed",
}
REJECTED_DESC = "Rejected the borrower request"
# UNVERIFIED(lending.reject_status_code): REJECTED; REJECT (WRLC's map); or some other code,
# played as LENDER_REJECTED.
REJECT_CODES = {"REJECTED": "REJECTED", "REJECT": "REJECT", "other": "LENDER_REJECTED"}


# The statuses of a lending request Alma has finished with (its activity is Completed).
ENDED_LENDING = frozenset(
    {"LOCATE_FAILED", "EXPIRED", *REJECT_CODES.values(), *LENDING_CANCEL_CODES.values()}
)
# The code tables of the lending workflow steps: they list the reject code played.
LENDING_STEP_TABLES = frozenset({"MandatoryLendingWorkflowSteps", "OptionalLendingWorkflowSteps"})


def played_lending_steps(inst: Institution, rows: list[CodeRow]) -> list[CodeRow]:
    """A lending workflow-step table's rows with the reject row's code as the institution
    plays it (a world file lists REJECTED)."""
    code = REJECT_CODES[inst.plays("lending.reject_status_code")]
    reject = set(REJECT_CODES.values())
    cancel = lending_cancel_code(inst)
    return [
        r.model_copy(update={"code": code})
        if r.code in reject
        else r.model_copy(update={"code": cancel})
        if r.code in LENDING_CANCEL_CODES.values()
        else r
        for r in rows
    ]


def lending_library(inst: Institution, owner: str) -> Library:
    """The lending request's owner, which must be an RS library."""
    library = inst.library(owner)
    if library is None:
        raise AlmaFault("40166411", f"Invalid parameter: owner {owner}")
    if not library.resource_sharing:
        # UNVERIFIED(lending.owner_not_rs_library_code): the code for an owner that is not
        # an RS library: 40166411, 401608, or none (Alma creates the request).
        played = inst.plays("lending.owner_not_rs_library_code")
        if played == "40166411":
            raise AlmaFault("40166411", f"Invalid parameter: owner {owner}")
        if played == "401608":
            raise AlmaFault("401608", f"The owner {owner} is not a resource sharing library.")
    return library


@dataclass(frozen=True)
class Located:
    """A new lending request's status after locate, the title it matched, and, when locate
    settles later, the status it shows until then and how many reads that lasts (None:
    until a job runs, which is after any run)."""

    status: str
    mms_id: str
    interim: str | None = None
    reads: int | None = 0

    @property
    def desc(self) -> str:
        return REJECTED_DESC if self.status in REJECT_CODES.values() else LENDING_DESC[self.status]


def locate(inst: Institution, library: Library, title: str) -> Located:
    """Lender locate and auto-reject (alma-rs-workflow.md §1.3, April 2016 release notes).

    No match → LOCATE_FAILED (the AlmaAPITK sandbox capture; UNVERIFIED(lending.not_held_outcome)
    whatever the flags, unless the institution plays rejected, or later: after the first
    read). A match with no physical item but electronic services, no available item, or no
    requestable available item is rejected when the RS library's matching flag is on,
    UNVERIFIED(lending.auto_reject_timing) at once (or as the institution plays it: after
    the first read, or by a job); otherwise the request is created.
    UNVERIFIED(lending.locate_by_title): locate matches by title.
    """
    flags = library.lending
    if not flags.automatically_locate:
        return _located("REQUEST_CREATED_LEND", "")
    bib = next((b for b in inst.bibs if same_title(b.title, title)), None)
    if inst.plays("lending.locate_by_title") == "identifier":
        bib = None  # a locate profile by ISBN/OCLC only: a request by title matches nothing
    if bib is None:
        not_held = inst.plays("lending.not_held_outcome")
        if not_held == "rejected":
            return _rejected(inst, "")
        if not_held == "later":
            return Located("LOCATE_FAILED", "", "LOCATE_IN_PROCESS", 1)
        return _located("LOCATE_FAILED", "")
    items = [item for holding in bib.holdings for item in holding.items]
    available = [i for i in items if i.base_status == "1" and not i.process_type]
    requestable = [i for i in available if i.requestable_for_rs]
    if not items and bib.electronic:
        rejected = flags.reject_when_only_electronic
    elif not available:
        rejected = flags.reject_when_no_available
    elif not requestable:
        rejected = flags.reject_when_no_requestable
    else:
        rejected = False
    if not rejected:
        return _located("REQUEST_CREATED_LEND", bib.mms_id)
    outcome = _rejected(inst, bib.mms_id)
    timing = inst.plays("lending.auto_reject_timing")
    if timing == "after_first_read":
        return Located(outcome.status, bib.mms_id, "LOCATE_IN_PROCESS", 1)
    if timing == "by_job":
        return Located(outcome.status, bib.mms_id, "REQUEST_CREATED_LEND", None)
    return outcome


def _located(status: str, mms_id: str) -> Located:
    return Located(status, mms_id)


def _rejected(inst: Institution, mms_id: str) -> Located:
    code = REJECT_CODES[inst.plays("lending.reject_status_code")]
    return Located(code, mms_id)
