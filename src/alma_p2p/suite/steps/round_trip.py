"""Steps about a request travelling between two members of the consortium.

The borrower is the running institution; the lender is another profile (``round_trip.lender``)
read through its own key. Alma carries the borrowing request's external_id across:
UNVERIFIED(round_trip.lending_external_id) the lending request's external_id ends with it
(``1//<borrower's external id>``), or with its request id, so the lender's task list, which
cannot be filtered by external id, is searched for it, filtered by library and partner.

Whose facts: how the external id is carried and whether the borrower's cancel reaches the
lender are the lending member's (read from ``Lender.facts``, which ``alma-p2p calibrate`` of
the borrower records with both keys); how a request ends at the end of the rota is the
borrowing member's (``alma_facts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar, cast

import pytest
from pytest_bdd import given, then, when

from alma_p2p.alma import AlmaAPIError, AlmaClient, AlmaError
from alma_p2p.alma.models import RsRequest
from alma_p2p.cleanup import FINAL_LENDING
from alma_p2p.facts import UNEXPECTED, Facts, institution_facts
from alma_p2p.outcomes import cannot_tell
from alma_p2p.payloads import TestData
from alma_p2p.plugin.clients import add_spent, run_client
from alma_p2p.plugin.writes import WRITES, settle
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import Profile, ProfileError, RoundTrip, load_profiles, rota_end
from alma_p2p.settings import Settings
from alma_p2p.suite.steps.borrowing import (
    REQUEST_SENT_CODE,
    Title,
    _first_patron,
    _own_library_request,
    sent_code,
)
from alma_p2p.suite.steps.common import Attempt
from alma_p2p.suite.steps.lending import (
    ENDED,
    MONITOR_JOBS,
    TASK_LIST_COMPLETED,
    reject_code,
    rejects_within_deadline,
)
from alma_p2p.writes import WriteSession, guarded

T = TypeVar("T")
LENDING_REQUESTS = "Fulfillment > Resource Sharing > Lending Requests"
PICK_FROM_SHELF = "Fulfillment > Resource Requests > Pick From Shelf"
WAITING = "REQUEST_CREATED_LEND"
ACTIVE_AT_LENDER = frozenset({WAITING, "LOCATE_IN_PROCESS"})
# A borrowing request on its way to its first partner: located, or ready to be sent.
SENDING_SOON = frozenset({"LOCATE_IN_PROCESS", "READY_TO_SEND"})
ACTIVE_AT_BORROWER = frozenset({"LOCATE_IN_PROCESS", "READY_TO_SEND", "REQUEST_SENT", None})
LENDING_EXTERNAL_ID = "round_trip.lending_external_id"  # the lender's fact
CANCEL_REACHES_LENDER = "round_trip.cancel_reaches_lender"  # the lender's fact
END_OF_ROTA = "round_trip.end_of_rota_status"  # the borrower's fact


@dataclass(frozen=True)
class Lender:
    """The lending member: its profile, a read-only client with its own key, and the RS
    library and desk that handle what it lends."""

    profile: Profile
    alma: AlmaClient
    library: str
    desk: str
    facts: Facts  # its own calibrated facts (the reject code and timing are the lender's)
    arrived: list[str] = field(default_factory=list)  # its lending requests of this scenario


def _trip(profile: Profile) -> RoundTrip:
    assert profile.round_trip is not None, "@round_trip scenarios run only with round_trip"
    return profile.round_trip


@pytest.fixture
def round_trip_lender(
    pytestconfig: pytest.Config,
    alma_institution: Profile,
    alma_settings: Settings,
    alma_writes: WriteSession,
) -> Iterator[Lender]:
    """The lending member, read through its own key (the cassette holds both sides). When
    the scenario ends the borrower withdraws its request first; a lending request still
    active at the lender after that is listed as LEFT IN ALMA (no API removes it)."""
    trip = _trip(alma_institution)
    if trip.lender == alma_institution.name:
        pytest.fail(
            f"{alma_institution.name}: round_trip.lender names this institution itself; name "
            "the profile folder of the lending member",
            pytrace=False,
        )
    try:
        lender = load_profiles(alma_settings.profiles_dir, [trip.lender])[trip.lender]
    except ProfileError as exc:
        pytest.fail(f"round_trip.lender {trip.lender}: {exc}", pytrace=False)
    library = (
        lender.lending.rs_library
        if lender.lending is not None
        else lender.resource_sharing_libraries[0].code
    )
    desk = next(lib.circ_desk for lib in lender.resource_sharing_libraries if lib.code == library)
    if desk is None:
        pytest.fail(
            f"{trip.lender}: resource sharing library {library} names no circ_desk in its "
            "profile, and the pick-from-shelf list is read per desk",
            pytrace=False,
        )
    client = run_client(pytestconfig, alma_settings, lender)
    guarded(client)  # the lender is only read
    try:
        with client:
            code = client.institution_code(lender.institution.code)
            if str(code or "").upper() != lender.institution.code.upper():
                pytest.fail(
                    f"the key of {trip.lender} reaches institution {code or 'unknown'}, not "
                    f"{lender.institution.code}; nothing of the round trip was sent",
                    pytrace=False,
                )
            found = Lender(
                lender,
                client,
                library,
                desk,
                institution_facts(alma_settings.profiles_dir, trip.lender),
            )
            yield found
            if found.arrived:
                settle(alma_writes, pytestconfig)
                _left_at_lender(pytestconfig, trip, found)
    finally:
        # Its calls count at the lending member, in the run's summary.
        add_spent(pytestconfig, trip.lender, client)


def _left_at_lender(config: pytest.Config, trip: RoundTrip, lender: Lender) -> None:
    # UNVERIFIED(round_trip.cancel_reaches_lender): Alma cancels it when the borrower does.
    writes = config.stash[WRITES]
    seen = lender.facts.entry(CANCEL_REACHES_LENDER)
    fact = lender.facts.register.fact(CANCEL_REACHES_LENDER)
    known = ""
    if seen is not None and seen.status == "calibrated":
        if seen.value == fact.assumed:
            known = f" (on {seen.date} calibration saw {trip.lender}'s Alma cancel such a request)"
        elif seen.value == UNEXPECTED:
            known = (
                f" (on {seen.date} calibration saw {trip.lender}'s Alma answer the cancel with "
                f"{seen.seen or 'a status'} the harness does not know)"
            )
        else:
            known = f" (as calibrated on {seen.date}, {trip.lender}'s Alma leaves it for staff)"
    for request_id in lender.arrived:
        where = f"{LENDING_REQUESTS}, {lender.library}"
        try:
            status = lender.alma.lending_request(trip.as_partner, request_id).status.value
        except AlmaError as exc:
            line = f"lending request {request_id} could not be read after the withdrawal: {exc}"
        else:
            if _ended_at_lender(lender, status):
                continue
            line = (
                f"lending request {request_id} from {trip.as_partner} is still {status} after "
                f"the borrower withdrew its request{known}: staff reject it ({where})"
            )
        if writes.ledger is not None:  # on replay nothing real was created
            writes.left_behind.append(f"{trip.lender}: {line}")


def _ended_at_lender(lender: Lender, status: str | None) -> bool:
    """Whether the lender's Alma has finished with a lending request in ``status``: a final
    status (UNVERIFIED(lending.final_status_codes)), its reject code, or the cancel code its
    calibration saw. Any other, "Waiting for cancel response" too, is still active."""
    if status is None:
        return False  # no status read: not known to be finished
    if status in FINAL_LENDING or status == reject_code(lender.facts):
        return True
    seen = lender.facts.entry(CANCEL_REACHES_LENDER)
    fact = lender.facts.register.fact(CANCEL_REACHES_LENDER)
    return (
        seen is not None
        and seen.status == "calibrated"
        and seen.value == fact.assumed
        and status is not None
        and seen.seen == status
    )


@given("a title the lending member has on its shelf", target_fixture="title")
def _(alma_institution: Profile) -> Title:
    held = _trip(alma_institution).supplied_title
    return Title(held.title, isbn=held.isbn, held_by=_trip(alma_institution).partner)


@given("a title whose copies at the lending member are all on loan", target_fixture="title")
def _(alma_institution: Profile) -> Title:
    held = _trip(alma_institution).rejected_title
    if held is None:
        pytest.skip(f"{alma_institution.name}: the profile names no round_trip.rejected_title")
    return Title(held.title, isbn=held.isbn, held_by=_trip(alma_institution).partner)


@when("a test patron requests it from the partners", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    round_trip_lender: Lender,
    title: Title,
) -> Attempt:
    patron = _first_patron(alma_institution)
    attempt = _own_library_request(
        alma, alma_writes, alma_institution, alma_test_data, patron, title
    )
    if attempt.request is None:
        pytest.fail(f"{attempt.who}: the request was not created: {attempt.error}", pytrace=False)
    return attempt


def _read(alma: AlmaClient, attempt: Attempt) -> RsRequest:
    assert attempt.request is not None
    assert attempt.request.request_id
    return alma.borrowing_request(attempt.user_id, attempt.request.request_id)


def _poll(
    read: Callable[[], T], done: Callable[[T], bool], what: str, deadline: float, interval: float
) -> T:
    """What the poll last read, whether or not ``done`` came within the deadline."""
    try:
        return poll(read, done, what=what, deadline=deadline, interval=interval)
    except DeadlineExceeded as exc:
        return cast(T, exc.last)


@then("the lending member receives it as a lending request", target_fixture="lent")
def _(
    alma: AlmaClient,
    alma_institution: Profile,
    attempt: Attempt,
    round_trip_lender: Lender,
    alma_poll_interval: float,
    alma_evidence: list[str],
) -> RsRequest:
    trip = _trip(alma_institution)
    sent = _poll(
        lambda: _read(alma, attempt),
        # UNVERIFIED(borrowing.send_on_after_locate): "Ready to be sent" may come first.
        lambda r: r.partner.value is not None and r.status.value not in SENDING_SOON,
        "the borrowing request being sent",
        trip.settle_seconds,
        alma_poll_interval,
    )
    alma_evidence.append(f"borrowing: status={sent.status.value} partner={sent.partner.value}")
    if sent.partner.value != trip.partner:
        pytest.fail(
            f"{attempt.who}'s request {sent.request_id} went to "
            f"{sent.partner.value or 'no partner'} ({sent.status.value}), not to {trip.partner}: "
            "the rota template must put the lending member first for this title (Fulfillment "
            "> Resource Sharing > Rota Templates), and a sending rule must send it",
            pytrace=False,
        )
    external_id = sent.external_id or attempt.external_id
    lender = round_trip_lender
    carried = _carried(lender.facts, external_id, sent.request_id)

    def find() -> RsRequest | None:
        listed = lender.alma.lending_task_list(lender.library, partner=trip.as_partner)
        return next((r for r in listed if (r.external_id or "").endswith(carried)), None)

    found = _poll(
        find,
        lambda r: r is not None,
        "the lending request",
        trip.settle_seconds,
        alma_poll_interval,
    )
    listed_all = lender.facts.register.fact(TASK_LIST_COMPLETED).assumed
    if found is None and (
        not lender.facts.is_calibrated(TASK_LIST_COMPLETED)
        or lender.facts.value(TASK_LIST_COMPLETED) != listed_all
    ):
        # UNVERIFIED(lending.task_list_includes_completed): if Alma lists only active lending
        # requests, one the lender rejected at once has already left the list.
        cannot_tell(
            f"{trip.lender} shows no lending request from {trip.as_partner} whose external id "
            f"ends with {' or '.join(carried)} in {lender.library}'s task list within "
            f"{trip.settle_seconds} s, and it is not known (or {trip.lender} is calibrated to "
            "show) that the task list omits requests the lender has finished with: look for "
            f"it in {trip.lender}'s Alma ({LENDING_REQUESTS}, all statuses); if it is not "
            f"there, check that partner {trip.partner} here is {trip.lender} (its symbol and "
            "server)"
        )
    if found is None:
        pytest.fail(
            f"{trip.lender} shows no lending request from {trip.as_partner} whose external id "
            f"ends with {' or '.join(carried)} in {lender.library}'s task list "
            f"({LENDING_REQUESTS}) within {trip.settle_seconds} s: check that partner "
            f"{trip.partner} here is {trip.lender} (its symbol and server) and that "
            f"{trip.lender} has {trip.as_partner} as an active lending partner",
            pytrace=False,
        )
    if found.request_id:
        lender.arrived.append(found.request_id)
    alma_evidence.append(f"lending at {trip.lender}: {found.request_id} {found.status.value}")
    return found


def _carried(facts: Facts, external_id: str | None, request_id: str | None) -> tuple[str, ...]:
    """What the lending request's external id ends with: the borrowing request's id that the
    lender's calibration saw carried, else either (UNVERIFIED(round_trip.lending_external_id))."""
    either = tuple(i for i in (external_id, request_id) if i)
    if not facts.is_calibrated(LENDING_EXTERNAL_ID):
        return either
    fact = facts.register.fact(LENDING_EXTERNAL_ID)
    by_request_id = next(a.value for a in fact.alternatives if a.switch == "request_id")
    value = facts.value(LENDING_EXTERNAL_ID)
    if value == fact.assumed and external_id:
        return (external_id,)
    if value == by_request_id and request_id:
        return (request_id,)
    return either


def end_of_rota(trip: RoundTrip, facts: Facts) -> tuple[frozenset[str], bool]:
    """How a request rejected by the rota's last partner may end, and whether that is known:
    the profile's statuses when it names them, else the code the borrower's calibration saw,
    else the register's assumption (not known). A calibration that saw a status it could not
    name knows nothing: no status passes."""
    if "end_of_rota_status" in trip.model_fields_set:
        return frozenset(trip.end_of_rota_status), True
    entry = facts.entry(END_OF_ROTA)
    if entry is None or entry.status != "calibrated":
        return frozenset(trip.end_of_rota_status), False
    fact = facts.register.fact(END_OF_ROTA)
    if entry.value == UNEXPECTED:
        return (frozenset({entry.seen}), True) if entry.seen else (frozenset(), False)
    if entry.value == fact.assumed:
        return frozenset({entry.seen or "REJECTED"}), True
    # UNVERIFIED(round_trip.end_of_rota_status): auto-cancelled, CANCELLED unless seen.
    return frozenset({entry.seen or "CANCELLED"}), True


def _lending(lender: Lender, trip: RoundTrip, lent: RsRequest) -> RsRequest:
    assert lent.request_id
    return lender.alma.lending_request(trip.as_partner, lent.request_id)


@then("the lending member's resource sharing library lists it to be picked from the shelf")
def _(
    alma_institution: Profile,
    lent: RsRequest,
    round_trip_lender: Lender,
    alma_poll_interval: float,
    alma_evidence: list[str],
) -> None:
    trip, lender = _trip(alma_institution), round_trip_lender
    located = _poll(
        lambda: _lending(lender, trip, lent),
        lambda r: bool(r.mms_id) or r.status.value not in {WAITING, "LOCATE_IN_PROCESS"},
        "the lending request being located",
        trip.settle_seconds,
        alma_poll_interval,
    )
    status = located.status.value
    alma_evidence.append(f"lending {located.request_id}: {status} mms_id={located.mms_id}")
    if status == "LOCATE_FAILED":
        # UNVERIFIED(lending.locate_by_title): the request carries the title only.
        cannot_tell(
            f"{trip.lender} could not find '{located.title}' (round_trip.supplied_title) in "
            f"its catalogue (lending request {located.request_id}, LOCATE_FAILED): correct the "
            f"title in the profile or catalogue it at {lender.library}; if it is there, "
            f"{trip.lender}'s locate profile may match by ISBN/ISSN or OCLC number only "
            "(Configuration > Resource Sharing > Locate Profiles)"
        )
    if status != WAITING or not located.mms_id:
        pytest.fail(
            f"{trip.lender}'s lending request {located.request_id} ended {status} "
            f"({'located' if located.mms_id else 'not located'}) for '{located.title}', a "
            f"title round_trip.supplied_title says it can lend: check that an item is on the "
            f"shelf and requestable at {lender.library}, and the lending member's own lending "
            "scenarios",
            pytrace=False,
        )
    # UNVERIFIED(round_trip.requested_resources_lending): listed by the title's record.
    listed = _poll(
        lambda: lender.alma.requested_resources(lender.library, lender.desk),
        lambda found: any(r.resource_metadata.mms_id.value == located.mms_id for r in found),
        "the pick-from-shelf list",
        trip.settle_seconds,
        alma_poll_interval,
    )
    if any(r.resource_metadata.mms_id.value == located.mms_id for r in listed):
        return
    missing = (
        f"{trip.lender} accepted lending request {located.request_id} but "
        f"{lender.library}'s pick-from-shelf list at desk {lender.desk} does not show "
        f"'{located.title}' (MMS {located.mms_id})"
    )
    try:
        desks = {d.code for d in lender.alma.circ_desks(lender.library)}
    except AlmaAPIError as exc:
        if not exc.refusal:  # Alma busy or failing: the error verdict, never a finding
            raise
        cannot_tell(f"{missing}, and {lender.library}'s circulation desks could not be read: {exc}")
    if lender.desk not in desks:
        pytest.fail(
            f"{missing}: staff would never fetch it ({PICK_FROM_SHELF}); {lender.desk} is not "
            f"a circulation desk of {lender.library} ({', '.join(sorted(desks)) or 'none'}): "
            "check round_trip's desk in the lender's profile and the Lending Resource Sharing "
            "fulfillment unit rule",
            pytrace=False,
        )
    # UNVERIFIED(round_trip.requested_resources_lending): Alma may list it only once staff
    # print its pick slip, or under the item's own library.
    cannot_tell(
        f"{missing} within {trip.settle_seconds} s; it is not known whether Alma lists a "
        "lending request there before staff print its pick slip, or under the item's own "
        f"library: look at {PICK_FROM_SHELF} at {lender.desk} in {trip.lender}'s Alma, and "
        f"check that {lender.desk} serves the item's location"
    )


@then("the lending member rejects it")
def _(
    alma_institution: Profile,
    lent: RsRequest,
    round_trip_lender: Lender,
    alma_poll_interval: float,
) -> None:
    trip, lender = _trip(alma_institution), round_trip_lender
    # The lender's reject code is the lender's own fact (calibrated, else the register's).
    rejected = reject_code(lender.facts)
    rejects = {rejected} if rejected else set()
    ended = _poll(
        lambda: _lending(lender, trip, lent),
        lambda r: r.status.value in rejects or r.status.value in ENDED,
        "the lending request being rejected",
        trip.settle_seconds,
        alma_poll_interval,
    )
    status = ended.status.value
    if status in rejects:
        return
    look = f"{trip.lender}'s Alma ({LENDING_REQUESTS}, {lender.library})"
    if status not in ENDED | {WAITING, "LOCATE_IN_PROCESS"}:
        cannot_tell(
            f"{trip.lender}'s lending request {ended.request_id} ended {status}, a status the "
            f"harness does not know as a reject until the lender is calibrated (alma-p2p "
            f"calibrate --institution {trip.lender}); look at it in {look}"
        )
    if status == "LOCATE_FAILED":
        # UNVERIFIED(lending.locate_by_title): the request carries the title only.
        cannot_tell(
            f"{trip.lender} could not find '{ended.title}' (round_trip.rejected_title) in its "
            f"catalogue (lending request {ended.request_id}, LOCATE_FAILED), so no reject rule "
            "could apply: correct the title in the profile or catalogue it; if it is there, "
            f"{trip.lender}'s locate profile may match by ISBN/ISSN or OCLC number only "
            "(Configuration > Resource Sharing > Locate Profiles)"
        )
    if status == WAITING and not rejects_within_deadline(lender.facts):
        # UNVERIFIED(lending.auto_reject_timing): the reject may come later, from a job.
        cannot_tell(
            f"{trip.lender}'s lending request {ended.request_id} was still {WAITING} after "
            f"{trip.settle_seconds} s, and it is not known whether {trip.lender} rejects at "
            f"once or when a scheduled job runs (not calibrated: alma-p2p calibrate "
            f"--institution {trip.lender}); look in {MONITOR_JOBS}, then in {look}"
        )
    pytest.fail(
        f"{trip.lender}'s lending request {ended.request_id} for '{ended.title}' is "
        f"{status} after {trip.settle_seconds} s, expected it rejected: the lending member "
        "must reject a title whose copies are all on loan (its 'Reject Request When No "
        "Available Items' flag; its own lending scenarios say more)",
        pytrace=False,
    )


@then("the borrowing request moves on to the next partner of its rota, or ends as set")
def _(
    alma: AlmaClient,
    alma_institution: Profile,
    attempt: Attempt,
    alma_poll_interval: float,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    trip = _trip(alma_institution)
    # UNVERIFIED(borrowing.request_sent_code): the sent code as calibrated, else assumed.
    active = ACTIVE_AT_BORROWER | {sent_code(alma_facts)}
    moved = _poll(
        lambda: _read(alma, attempt),
        lambda r: r.partner.value != trip.partner or r.status.value not in active,
        "the borrowing request moving on",
        trip.settle_seconds,
        alma_poll_interval,
    )
    status, partner = moved.status.value, moved.partner.value
    alma_evidence.append(f"borrowing after the reject: status={status} partner={partner}")
    if trip.next_partner is not None:
        if partner == trip.next_partner and status in active:
            return
        if partner == trip.next_partner and not alma_facts.is_calibrated(REQUEST_SENT_CODE):
            cannot_tell(
                f"after {trip.partner} rejected it, {attempt.who}'s request "
                f"{moved.request_id} went to {partner} with status {status}, which the harness "
                "does not know as 'Request sent to partner' until calibrated (alma-p2p "
                f"calibrate --institution {alma_institution.name}); look at it in Fulfillment "
                "> Resource Sharing > Borrowing Requests"
            )
        pytest.fail(
            f"after {trip.partner} rejected it, {attempt.who}'s request {moved.request_id} is "
            f"{status} with partner {partner or 'none'}, expected it sent on to "
            f"{trip.next_partner}, the next partner of the rota: check the rota template "
            "(Fulfillment > Resource Sharing > Rota Templates) and that the borrowing "
            "workflow profile has the Reject step",
            pytrace=False,
        )
    # UNVERIFIED(round_trip.end_of_rota_status)
    ends, known = end_of_rota(trip, alma_facts)
    if status in ends:
        return
    after = (
        f"after {trip.partner}, the last partner of the rota, rejected it, {attempt.who}'s "
        f"request {moved.request_id} is {status} ({moved.status.desc or 'no description'})"
    )
    calibrate = (
        f"alma-p2p calibrate --institution {alma_institution.name}, with {trip.lender}'s key; "
        "or name the status in round_trip.end_of_rota_status in profile.yaml"
    )
    look = "look at the request in Fulfillment > Resource Sharing > Borrowing Requests"
    if not known and not ends:
        cannot_tell(
            f"{after}, and the borrower's calibration saw a status it could not name: "
            f"calibrate again ({calibrate}); {look}"
        )
    ended = rota_end(status, moved.status.desc)
    if not known and ended == "cancelled":
        cannot_tell(
            f"{after}: the resource sharing library may cancel rejected requests at the end "
            "of the rota (its setting for rejected requests; a valid choice), and it is not "
            f"known which this Alma does (not calibrated: {calibrate}); {look}"
        )
    if not known and ended == "rejected":
        cannot_tell(
            f"{after}: Rejected by partner under a code the harness does not know until "
            f"calibrated ({calibrate}); {look}"
        )
    said = (
        "as round_trip.end_of_rota_status in profile.yaml says"
        if "end_of_rota_status" in trip.model_fields_set
        else "as the borrower's calibration saw"
        if known
        else "as the register assumes (round_trip.end_of_rota_status in profile.yaml)"
    )
    pytest.fail(
        f"after {trip.partner}, the last partner of the rota, rejected it, {attempt.who}'s "
        f"request {moved.request_id} is {status} (partner {partner or 'none'}), expected "
        f"{' or '.join(sorted(ends))} {said}: check the resource sharing library's setting "
        "for rejected requests",
        pytrace=False,
    )
