"""The consortium between the stand-in's institutions: a borrowing request sent to a partner
that is another institution of the world arrives there as a lending request, and the
lender's answer comes back.

- Sent: the lender locates the title under its own rules (``rules.locate``: the RS library's
  reject flags) in its first resource sharing library, from the partner that stands for the
  borrower there. UNVERIFIED(round_trip.lending_external_id): the lending request's
  external_id is ``1//`` and the borrowing request's external_id.
- Rejected: on the borrower's next read the request moves to the next active partner of
  its rota (alma-rs-workflow.md §1.4), one read later, as Alma's messages take a while;
  at the end of the rota it ends as UNVERIFIED(round_trip.end_of_rota_status) REJECTED
  ("Rejected by partner"), or auto-cancelled.
- Cancelled or removed at the borrower: the lender's request still active is cancelled
  (UNVERIFIED(round_trip.cancel_reaches_lender)), or, when it stays for staff, waits for
  their answer to the cancel ("Waiting for cancel response", CANCEL_REPLY: the lending
  workflow's Cancel reply step; alma-rs-workflow.md §1.7).
- Accepted (located, waiting): the lender lists it in its requested resources at the RS
  library, by the title's record (UNVERIFIED(round_trip.requested_resources_lending)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alma_p2p.standin import render, rules
from alma_p2p.standin.render import BorrowingRecord, Json, LendingRecord, value_of
from alma_p2p.standin.world import Partner

if TYPE_CHECKING:
    from alma_p2p.standin.routes import Live

ACTIVE_AT_LENDER = frozenset({"REQUEST_CREATED_LEND", "LOCATE_IN_PROCESS"})
# The lender's request the borrower's cancel did not end (alma-rs-workflow.md §1.7).
WAITING_FOR_CANCEL = ("CANCEL_REPLY", "Waiting for cancel response")
# UNVERIFIED(round_trip.end_of_rota_status): "Rejected by partner", kept active (its code
# guessed REJECTED), or auto-cancelled when the RS library does not keep rejected requests
# active (alma-rs-workflow.md §1.4), played as a staff cancel (borrowing.cancelled_status_code).
END_OF_ROTA: dict[str, tuple[str, str] | None] = {
    "REJECTED": ("REJECTED", "Rejected by partner"),
    "cancelled": None,
}


def _peer(live: Live, partner: Partner) -> Live | None:
    if not partner.institution_code:
        return None
    return live.network.get(partner.institution_code)


def deliver(live: Live, record: BorrowingRecord, partner: Partner, base: str) -> None:
    """The borrowing request arrives at ``partner`` as a lending request, if the partner is
    an institution of the world (one outside it answers nothing)."""
    peer = _peer(live, partner)
    if peer is None:
        return
    code = live.institution.code
    as_partner = next((p for p in peer.institution.partners if p.institution_code == code), None)
    library = next(iter(peer.institution.rs_libraries), None)
    if as_partner is None or library is None:
        return
    title = str(record["title"])
    located = rules.locate(peer.institution, library, title)
    by_request_id = peer.institution.plays("round_trip.lending_external_id") == "request_id"
    # UNVERIFIED(round_trip.lending_external_id): the id carried after "1//".
    external_id = f"1//{record['request_id'] if by_request_id else record['external_id']}"
    request_id = render.digits(f"{peer.institution.code}:lend:{external_id}")
    body: Json = {
        "external_id": external_id,
        "format": record["format"],
        "citation_type": record["citation_type"],
        "author": record.get("author"),
    }
    status, desc = located.status, located.desc
    if located.interim is not None:
        status, desc = located.interim, rules.LENDING_DESC[located.interim]
        peer.settling[request_id] = (located, located.reads)
    peer.lending[request_id] = render.new_lending(
        peer.institution,
        as_partner,
        library,
        request_id=request_id,
        status=status,
        desc=desc,
        title=title,
        mms_id=located.mms_id,
        body=body,
        base=base,
    )
    record["_lent"] = (peer.institution.code, request_id)


def _lent(live: Live, record: BorrowingRecord) -> tuple[Live, LendingRecord] | None:
    where = record.get("_lent")
    if not where:
        return None
    peer = live.network.get(where[0])
    lent = peer.lending.get(where[1]) if peer is not None else None
    return (peer, lent) if peer is not None and lent is not None else None


def answered(live: Live, record: BorrowingRecord, base: str) -> None:
    """On a read of a sent request: a rejection moves it to the next partner of its rota,
    or ends it at the end of the rota."""
    found = _lent(live, record)
    if found is None:
        return
    _, lent = found
    if lent["status"]["value"] not in rules.REJECT_CODES.values():
        return
    tried: list[str] = record.setdefault("_tried", [])
    current = value_of(record["partner"])
    if current and current not in tried:
        tried.append(current)
    inst = live.institution
    rota = [inst.partner(c) for c in inst.rota]
    left = [
        p
        for p in rota
        if p is not None and p.status == "ACTIVE" and p.lending_supported and p.code not in tried
    ]
    record["_lent"] = None
    if not left:
        end = END_OF_ROTA[inst.plays("round_trip.end_of_rota_status")]
        if end is None:
            end = (rules.staff_cancel_code(inst), rules.STAFF_CANCEL_DESC)
        record["status"] = render.code(*end)
        return
    record["partner"] = render.code(left[0].code, left[0].name)
    record["status"] = render.code(rules.sent_code(inst), rules.SENT_DESC)
    deliver(live, record, left[0], base)


def withdrawn(live: Live, record: BorrowingRecord) -> None:
    """The borrower cancelled or removed its request: the lender's active one is cancelled,
    or waits for staff to answer the cancel."""
    found = _lent(live, record)
    if found is None:
        return
    peer, lent = found
    if lent["status"]["value"] not in ACTIVE_AT_LENDER:
        return
    if peer.institution.plays("round_trip.cancel_reaches_lender") != "cancelled":
        # UNVERIFIED(round_trip.cancel_reaches_lender): still active, for staff to answer.
        lent["status"] = render.code(*WAITING_FOR_CANCEL)
    else:
        # UNVERIFIED(lending.final_status_codes)
        code = rules.lending_cancel_code(peer.institution)
        lent["status"] = render.code(code, "Cancelled by partner")


def requested_resources(live: Live, library: str, desk: str, base: str) -> list[Json]:
    """The accepted lending requests of ``library`` as pick-from-shelf entries, in the
    shape of captures/requested_resources_list.json; none at a desk the library lacks."""
    out: list[Json] = []
    lib = live.institution.library(library)
    if lib is None or desk not in {d.code for d in lib.circ_desks}:
        return out
    # UNVERIFIED(round_trip.requested_resources_lending): listed by the title's record, or
    # not listed (until staff print the pick slip, which no API does).
    if live.institution.plays("round_trip.requested_resources_lending") == "not_listed":
        return out
    for lent in live.lending.values():
        if lent["owner"] != library or lent["status"]["value"] != "REQUEST_CREATED_LEND":
            continue
        if not lent["mms_id"]:
            continue
        out.append(_resource(live, lent, base))
    return out


def _resource(live: Live, lent: LendingRecord, base: str) -> Json:
    mms = str(lent["mms_id"])
    bib = next((b for b in live.institution.bibs if b.mms_id == mms), None)
    lib = live.institution.library(str(lent["owner"]))
    items: list[Any] = []
    holding_id = ""
    if bib is not None:
        for holding in bib.holdings:
            for item in holding.items:
                if item.base_status == "1" and not item.process_type and not holding_id:
                    holding_id = holding.holding_id
                    items.append(
                        {
                            "barcode": item.barcode,
                            "base_status": render.code("1", "Item in place"),
                            "pid": item.pid,
                            "link": f"{base}/bibs/{mms}/holdings/{holding.holding_id}/items/"
                            f"{item.pid}",
                        }
                    )
    return {
        "location": {
            "copy": items,
            "holding_id": {"value": holding_id, "link": f"{base}/bibs/{mms}/holdings/{holding_id}"},
            "library": render.code(str(lent["owner"]), lib.name if lib else None),
            "shelving_location": "STACKS",
        },
        "request": [
            {
                "id": lent["request_id"],
                "request_type": "RESOURCE_SHARING",
                "request_sub_type": render.code(
                    "RESOURCE_SHARING_LENDING", "Resource sharing lending request"
                ),
                "destination": render.code(str(lent["owner"]), lib.name if lib else None),
                "printed": False,
                "reported": False,
            }
        ],
        "resource_metadata": {
            "title": lent["title"],
            "mms_id": {"value": mms, "link": f"{base}/bibs/{mms}"},
        },
    }


def link(lives: Mapping[str, Live]) -> None:
    """Let every institution's state reach the others'."""
    for live in lives.values():
        live.network = dict(lives)
