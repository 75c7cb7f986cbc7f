"""The probes that write: test requests made with the profile's test data through a
ledgered :class:`~alma_p2p.writes.WriteSession` (no-RS-library error, owner when omitted,
not held, auto-reject timing, sending on after locate, the excluded user group, …). Each
registers itself in ``PROBES`` on import."""

from __future__ import annotations

import contextlib
import json

from alma_p2p import payloads
from alma_p2p.alma import AlmaAPIError, AlmaError
from alma_p2p.alma.models import RsRequest
from alma_p2p.calibrate.probing import (
    Answer,
    NotAsked,
    ProbeFailed,
    Probing,
    Seen,
    alternative,
    error_codes,
    evidence,
    json_or_none,
    probe,
    status_and_codes,
    unexpected,
)
from alma_p2p.facts import UNEXPECTED, Fact
from alma_p2p.guide import BY_ID
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import PartnerHeldTitle
from alma_p2p.writes import WriteSession

WRITE_FACTS = (
    "borrowing.no_rs_library_error",
    "borrowing.owner_when_omitted",
    "lending.not_held_outcome",
    "lending.auto_reject_timing",
    "lending.task_list_includes_completed",
    "borrowing.no_partner_holds_outcome",
    # after no_partner_holds_outcome: reads back that probe's request for a made-up title
    "borrowing.send_on_after_locate",
    "lending.locate_by_title",
    "lending.owner_not_rs_library_code",
    "borrowing.pickup_other_library",
    "borrowing.owner_without_rs_library",
    "borrowing.requester_form",  # reads back a borrowing request made before it
    # after requester_form: a request it creates is removed at once, not read back
    "borrowing.excluded_group_refused",
)
REJECT_WINDOW = 60.0  # seconds the auto-reject probe follows a request, as the suite does
POLL_INTERVAL = 2.0


def _session(p: Probing) -> WriteSession:
    if p.writes is None:
        raise ProbeFailed("no write session (writes were not cleared)")
    return p.writes


def _test_data(p: Probing, what: str) -> TestData:
    return TestData(p.run_token, f"{p.profile.name}::calibrate::{what}")


@probe("borrowing.no_rs_library_error")
def _no_rs_library_error(p: Probing, fact: Fact) -> Answer:
    borrowing = p.profile.borrowing
    user_id = borrowing.patron_without_rs_library if borrowing else None
    if not p.profile.multi_library or user_id is None:
        return NotAsked("needs a multi-library profile with borrowing.patron_without_rs_library")
    session = _session(p)
    data = _test_data(p, "no_rs_library")
    title, author = data.unheld_title()
    body = payloads.borrowing_request(
        title=title,
        author=author,
        external_id=data.external_id(),
        pickup_library=p.profile.rs_library_codes[0],
    )
    response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))
    if response is None:
        raise ProbeFailed("the borrowing request got no answer")
    codes = error_codes(response)
    if response.is_success:
        payload = json_or_none(response) or {}
        shown = {"owner": payload.get("owner"), "status": payload.get("status")}
        return Seen(alternative(fact, 1), evidence(response, shown))
    if "401768" in codes:
        return Seen(fact.assumed, evidence(response))
    if "401607" in codes:
        return Seen(alternative(fact, 0), evidence(response))
    return unexpected(response, status_and_codes(response))


@probe("borrowing.owner_when_omitted")
def _owner_when_omitted(p: Probing, fact: Fact) -> Answer:
    """A request without owner from test patrons of two different RS libraries: each owned
    by the patron's library is the assumed rule (one library could also be the default)."""
    if not p.profile.test_patrons:
        return NotAsked("the profile names no test patron (test_patrons)")
    homes: dict[str, str] = {}  # RS library → a test patron whose only RS library it is
    for patron in p.profile.test_patrons:
        try:
            libraries = p.client.user(patron.primary_id).rs_library_codes
        except AlmaError as exc:
            raise ProbeFailed(f"test patron {patron.primary_id} could not be read: {exc}") from exc
        if len(libraries) == 1:
            homes.setdefault(libraries[0], patron.primary_id)
    if len(homes) < 2:
        return NotAsked(
            "needs test patrons of two different RS libraries, each with only that one "
            f"(found {len(homes)}): with one, the patron's library and a default RS library "
            "cannot be told apart"
        )
    session = _session(p)
    last = None
    for n, (home, user_id) in enumerate(sorted(homes.items())[:2]):
        data = _test_data(p, f"owner_when_omitted{n}")
        title, author = data.unheld_title()
        body = payloads.borrowing_request(
            title=title, author=author, external_id=data.external_id(), pickup_library=home
        )
        response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))  # noqa: B023
        if response is None:
            raise ProbeFailed("the borrowing request got no answer")
        if not response.is_success:
            if "401607" in error_codes(response):
                return Seen(alternative(fact, 0), evidence(response))
            return unexpected(response, status_and_codes(response))
        payload = json_or_none(response) or {}
        owner = payload.get("owner") if isinstance(payload, dict) else None
        code = owner.get("value") if isinstance(owner, dict) else owner
        shown = {"owner": owner}
        if not code:
            return unexpected(response, f"owner is {json.dumps(owner)}", shown)
        if code != home:
            return Seen(alternative(fact, 1), evidence(response, shown))
        last = (response, shown)
    assert last is not None
    return Seen(fact.assumed, evidence(*last))


@probe("lending.not_held_outcome")
def _not_held(p: Probing, fact: Fact) -> Answer:
    lending = p.profile.lending
    if lending is None:
        return NotAsked("the profile has no lending section (no test partner to request from)")
    session = _session(p)
    data = _test_data(p, "not_held")
    title, author = (
        (lending.not_held.title, None) if lending.not_held.title else data.unheld_title()
    )
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=title,
        author=author,
        external_id=data.external_id(),
    )
    response = p.answer_of(lambda: session.create_lending_request(lending.borrower_partner, body))
    if response is None:
        raise ProbeFailed("the lending request got no answer")
    payload = json_or_none(response)
    if not response.is_success or not isinstance(payload, dict):
        raise ProbeFailed(f"the lending request was refused: {status_and_codes(response)}")
    status = (payload.get("status") or {}).get("value")
    shown = {"status": payload.get("status")}
    if status == "LOCATE_FAILED":
        return Seen(fact.assumed, evidence(response, shown))
    if status == "LOCATE_IN_PROCESS":
        return Seen(alternative(fact, 1), evidence(response, shown))
    if _rejected(status):  # REJECTED, or the code lending.reject_status_code records
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"status {status}", shown)


@probe("lending.auto_reject_timing")
def _auto_reject_timing(p: Probing, fact: Fact) -> Answer:
    lending = p.profile.lending
    if lending is None or lending.all_on_loan.title is None:
        return NotAsked("needs the profile's lending.all_on_loan title (all its items on loan)")
    if "REJECTED" not in lending.all_on_loan.expect:
        return NotAsked("the profile does not expect its all-on-loan title to be rejected")
    session = _session(p)
    data = _test_data(p, "all_on_loan")
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=lending.all_on_loan.title,
        external_id=data.external_id(),
    )
    partner = lending.borrower_partner
    response = p.answer_of(lambda: session.create_lending_request(partner, body))
    if response is None:
        raise ProbeFailed("the lending request got no answer")
    payload = json_or_none(response)
    if not response.is_success or not isinstance(payload, dict):
        raise ProbeFailed(f"the lending request was refused: {status_and_codes(response)}")
    shown = {"status": payload.get("status")}
    if _rejected((payload.get("status") or {}).get("value")):
        return Seen(fact.assumed, evidence(response, shown))
    request_id = str(payload.get("request_id") or "")
    try:
        poll(
            lambda: session.lending_request(partner, request_id),
            lambda r: _rejected(r.status.value),
            what="auto-reject",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded as exc:
        still = exc.last.status.value if isinstance(exc.last, RsRequest) else None
        return NotAsked(
            f"not rejected within {REJECT_WINDOW:g} s (still {still or 'without status'}): "
            "later, by a job, or not at all; this probe cannot tell which"
        )
    except AlmaError as exc:
        raise ProbeFailed(f"the lending request could not be read back: {exc}") from exc
    last = p._last[-1] if p._last else response
    shown = {"status": (json_or_none(last) or {}).get("status")}
    return Seen(alternative(fact, 0), evidence(last, shown).replace(request_id, "<request id>"))


def _rejected(status: str | None) -> bool:
    """A status that ends the request other than by locate failing: the reject, whatever
    its code (lending.reject_status_code is probed apart)."""
    return status not in (None, "LOCATE_IN_PROCESS", "REQUEST_CREATED_LEND") and status not in (
        "LOCATE_FAILED",
        "CANCELLED",
        "EXPIRED",
    )


@probe("lending.task_list_includes_completed")
def _task_list_completed(p: Probing, fact: Fact) -> Answer:
    """A request for a made-up title, which the lender finishes with (locate failed, or
    rejected), then the task list filtered by that status: is it there?"""
    lending = p.profile.lending
    if lending is None:
        return NotAsked("the profile has no lending section (no test partner to request from)")
    session = _session(p)
    data = _test_data(p, "task_list")
    title, author = data.unheld_title()
    partner = lending.borrower_partner
    body = payloads.lending_request(
        partner=partner,
        owner=lending.rs_library,
        title=title,
        author=author,
        external_id=data.external_id(),
    )
    try:
        created = session.create_lending_request(partner, body)
        request_id = created.request_id or ""
        ended = poll(
            lambda: session.lending_request(partner, request_id),
            lambda r: r.status.value not in (None, "LOCATE_IN_PROCESS", "REQUEST_CREATED_LEND"),
            what="locate",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded:
        return NotAsked(f"still active after {REJECT_WINDOW:g} s: nothing finished to look for")
    except AlmaError as exc:
        raise ProbeFailed(f"the lending request: {exc}") from exc
    status = ended.status.value or ""
    params = {"library": lending.rs_library, "status": status, "partner": partner}
    response = p.answer_of(
        lambda: p.client.get_json("/task-lists/rs/lending-requests", params, cache=False)
    )
    if response is None or not response.is_success:
        raise ProbeFailed("the lending task list could not be read")
    listed = json_or_none(response) or {}
    records = listed.get("user_resource_sharing_request") or [] if isinstance(listed, dict) else []
    ids = [str(r.get("request_id")) for r in records if isinstance(r, dict)]
    shown = {"status": status, "listed": request_id in ids}
    if request_id in ids:
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown))


# A borrowing request's statuses once the borrower's locate is done with it.
SENT_ON = frozenset({"REQUEST_SENT", "READY_TO_SEND"})
# Its statuses while it is created and located (the locate is not done with it yet).
LOCATING = frozenset({None, "", "REQUEST_CREATED_BOR", "LOCATE_IN_PROCESS"})


def _sent_on(status: str, desc: str | None) -> bool:
    """Sent, or ready to be: by the assumed codes, or a code whose description says so
    (UNVERIFIED(borrowing.request_sent_code) may be another code)."""
    return status in SENT_ON or "sent" in (desc or "").lower()


def _cancelled(status: str, desc: str | None) -> bool:
    """Cancelled, by CANCELLED or a code described as a cancel
    (UNVERIFIED(borrowing.cancelled_status_code) may be another code)."""
    return "CANCEL" in status or "cancel" in (desc or "").lower()


# Where the no-partner probe leaves (in the memo of answers) the answer that showed its
# request sent on.


@probe("borrowing.no_partner_holds_outcome")
def _no_partner_holds(p: Probing, fact: Fact) -> Answer:
    """A request for a made-up title, owned by the test patron's RS library: sent to a
    partner all the same, locate failed, or cancelled?"""
    if not p.profile.test_patrons or p.profile.borrowing is None:
        return NotAsked("needs a borrowing section and a test patron (test_patrons)")
    user_id = p.profile.test_patrons[0].primary_id
    try:
        libraries = p.client.user(user_id).rs_library_codes
    except AlmaError as exc:
        raise ProbeFailed(f"test patron {user_id} could not be read: {exc}") from exc
    home = libraries[0] if libraries else p.profile.rs_library_codes[0]
    session = _session(p)
    data = _test_data(p, "no_partner_holds")
    title, author = data.unheld_title()
    body = payloads.borrowing_request(
        title=title,
        author=author,
        external_id=data.external_id(),
        pickup_library=home,
        owner=home,
    )
    try:
        created = session.create_borrowing_request(user_id, body)
        request_id = created.request_id or ""
        ended = poll(
            lambda: p.client.borrowing_request(user_id, request_id),
            lambda r: r.status.value not in LOCATING,
            what="locate",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded as exc:
        still = exc.last.status.value if isinstance(exc.last, RsRequest) else None
        return NotAsked(f"still {still or 'without status'} after {REJECT_WINDOW:g} s")
    except AlmaError as exc:
        raise ProbeFailed(f"the borrowing request: {exc}") from exc
    last = p._last[-1] if p._last else None
    status = ended.status.value or ""
    shown = {"status": status}
    if last is None:
        raise ProbeFailed("no answer to show")
    if _sent_on(status, ended.status.desc):
        p.sent_on.add(request_id)  # for the send-on probe's read-back
    # The request id differs on every calibration; the file must not.
    shows = evidence(last, shown).replace(request_id, "<request id>")
    if _sent_on(status, ended.status.desc):
        return Seen(fact.assumed, shows)
    if status == "LOCATE_FAILED":
        return Seen(alternative(fact, 0), shows)
    if _cancelled(status, ended.status.desc):
        return Seen(alternative(fact, 1), shows)
    return NotAsked(f"the request ended {status}, which is none of the register's values")


@probe("lending.locate_by_title")
def _locate_by_title(p: Probing, fact: Fact) -> Answer:
    """A lending request naming only the title of a book the lender holds (the profile's
    all-on-loan title, whose request ends by itself): did locate match a bib (mms_id)?"""
    lending = p.profile.lending
    if lending is None or lending.all_on_loan.title is None:
        return NotAsked("needs the profile's lending.all_on_loan title (a held book)")
    if "REJECTED" not in lending.all_on_loan.expect:
        return NotAsked("the profile does not expect its all-on-loan title to be rejected")
    session = _session(p)
    data = _test_data(p, "locate_by_title")
    partner = lending.borrower_partner
    body = payloads.lending_request(
        partner=partner,
        owner=lending.rs_library,
        title=lending.all_on_loan.title,
        external_id=data.external_id(),
    )
    try:
        created = session.create_lending_request(partner, body)
        request_id = created.request_id or ""
        located = poll(
            lambda: session.lending_request(partner, request_id),
            lambda r: bool(r.mms_id) or r.status.value not in (None, "", "LOCATE_IN_PROCESS"),
            what="locate",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded:
        return NotAsked(f"still locating after {REJECT_WINDOW:g} s: no match to read")
    except AlmaError as exc:
        raise ProbeFailed(f"the lending request: {exc}") from exc
    last = p._last[-1] if p._last else None
    if last is None:
        raise ProbeFailed("no answer to show")
    status = located.status.value or ""
    shown = {"mms_id": located.mms_id or "", "status": status}
    shows = evidence(last, shown).replace(request_id, "<request id>")
    if located.mms_id:
        return Seen(fact.assumed, shows)
    if status == "LOCATE_FAILED":
        return Seen(alternative(fact, 0), shows)
    return NotAsked(f"the request is {status} without a matched bib: this probe cannot tell")


@probe("lending.owner_not_rs_library_code")
def _owner_not_rs_library(p: Probing, fact: Fact) -> Answer:
    """A lending request for a made-up title (locate ends it by itself if Alma takes it)
    whose owner is a library of the institution that is not an RS library."""
    try:
        libraries = p.client.libraries()
    except AlmaError as exc:
        raise ProbeFailed(f"the libraries could not be read: {exc}") from exc
    others = sorted(
        lib.code
        for lib in libraries
        if lib.resource_sharing is False and lib.code not in p.profile.rs_library_codes
    )
    if not others:
        return NotAsked("the institution has no library that is not an RS library")
    lending = p.profile.lending
    partner = lending.borrower_partner if lending else None
    if partner is None and p.profile.partners:
        partner = p.profile.partners[0].code
    if partner is None:
        return NotAsked("the profile names no partner to send a lending request from")
    session = _session(p)
    data = _test_data(p, "owner_not_rs_library")
    title, author = data.unheld_title()
    body = payloads.lending_request(
        partner=partner,
        owner=others[0],
        title=title,
        author=author,
        external_id=data.external_id(),
    )
    response = p.answer_of(lambda: session.create_lending_request(partner, body))
    if response is None:
        raise ProbeFailed("the lending request got no answer")
    if response.is_success:
        payload = json_or_none(response) or {}
        shown = {"owner": payload.get("owner"), "status": payload.get("status")}
        request_id = str(payload.get("request_id") or "")
        shows = evidence(response, shown)
        return Seen(
            alternative(fact, 1), shows.replace(request_id, "<request id>") if request_id else shows
        )
    codes = error_codes(response)
    if "40166411" in codes:
        return Seen(fact.assumed, evidence(response))
    if "401608" in codes:
        return Seen(alternative(fact, 0), evidence(response))
    return unexpected(response, status_and_codes(response))


def _one_library_patron(p: Probing) -> tuple[str, str] | None:
    """A test patron whose only RS library is one of the profile's, and that library."""
    for patron in p.profile.test_patrons:
        try:
            libraries = p.client.user(patron.primary_id).rs_library_codes
        except AlmaError as exc:
            raise ProbeFailed(f"test patron {patron.primary_id} could not be read: {exc}") from exc
        if len(libraries) == 1 and libraries[0] in p.profile.rs_library_codes:
            return patron.primary_id, libraries[0]
    return None


def _owner_code(payload: object) -> str | None:
    owner = payload.get("owner") if isinstance(payload, dict) else None
    code = owner.get("value") if isinstance(owner, dict) else owner
    return str(code) if code else None


@probe("borrowing.pickup_other_library")
def _pickup_other_library(p: Probing, fact: Fact) -> Answer:
    """A request for a made-up title owned by the test patron's RS library and picked up at
    another RS library of the institution: accepted as named, owner moved, or refused?"""
    if not p.profile.multi_library:
        return NotAsked("needs a profile with two RS libraries")
    found = _one_library_patron(p)
    if found is None:
        return NotAsked("needs a test patron (test_patrons) with exactly one RS library")
    user_id, home = found
    other = next(code for code in p.profile.rs_library_codes if code != home)
    session = _session(p)
    data = _test_data(p, "pickup_other_library")
    title, author = data.unheld_title()
    body = payloads.borrowing_request(
        title=title,
        author=author,
        external_id=data.external_id(),
        pickup_library=other,
        owner=home,
    )
    response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))
    if response is None:
        raise ProbeFailed("the borrowing request got no answer")
    if not response.is_success:
        if "40166411" in error_codes(response):
            return Seen(alternative(fact, 1), evidence(response))
        return unexpected(response, status_and_codes(response))
    payload = json_or_none(response) or {}
    owner = _owner_code(payload)
    shown = {
        "owner": owner,
        "pickup_location": payload.get("pickup_location"),
        "asked": {"owner": home, "pickup_location": other},
    }
    if owner == home:
        return Seen(fact.assumed, evidence(response, shown))
    if owner == other:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"owner is {json.dumps(owner)}", shown)


@probe("borrowing.owner_without_rs_library")
def _owner_without_rs_library(p: Probing, fact: Fact) -> Answer:
    """At a single-library institution, requests for made-up titles by a test patron with
    no RS library, without and then with the one library as owner: owned by it, or
    refused (401768/401607 without owner, 401608 with)? Owned by the one library cannot be
    told from owned by the default RS library: both are that library here."""
    if p.profile.multi_library:
        return NotAsked("asked at single-library institutions only")
    user_id = None
    for patron in p.profile.test_patrons:
        try:
            libraries = p.client.user(patron.primary_id).rs_library_codes
        except AlmaError as exc:
            raise ProbeFailed(f"test patron {patron.primary_id} could not be read: {exc}") from exc
        if not libraries:
            user_id = patron.primary_id
            break
    if user_id is None:
        return NotAsked("needs a test patron (test_patrons) with no RS library")
    only = p.profile.rs_library_codes[0]
    session = _session(p)
    last = None
    for n, owner in enumerate((None, only)):
        data = _test_data(p, f"owner_without_rs_library{n}")
        title, author = data.unheld_title()
        body = payloads.borrowing_request(
            title=title,
            author=author,
            external_id=data.external_id(),
            pickup_library=only,
            owner=owner,
        )
        response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))  # noqa: B023
        if response is None:
            raise ProbeFailed("the borrowing request got no answer")
        codes = error_codes(response)
        if not response.is_success:
            if owner is None and ("401768" in codes or "401607" in codes):
                return Seen(alternative(fact, 1), evidence(response))
            if owner is not None and "401608" in codes:
                return Seen(alternative(fact, 2), evidence(response))
            return unexpected(response, status_and_codes(response))
        got = _owner_code(json_or_none(response))
        shown = {"owner": got, "asked_owner": owner}
        if got != only:
            return unexpected(response, f"owner is {json.dumps(got)}", shown)
        last = (response, shown)
    assert last is not None
    return Seen(fact.assumed, evidence(*last))


@probe("borrowing.requester_form")
def _requester_form(p: Probing, fact: Fact) -> Answer:
    """A borrowing request an earlier probe of this calibration created, read back before
    its cancellation: the requester as {"value": primary id}, or null?"""
    session = _session(p)
    made = next(
        (c for c in session.created if c.kind == "borrowing" and c.request_id and not c.refused),
        None,
    )
    if made is None or made.request_id is None:
        return NotAsked("no borrowing request was created by this calibration to read back")
    user_id, request_id = made.owner, made.request_id
    response = p.answer_of(lambda: p.client.borrowing_request(user_id, request_id))
    if response is None or not response.is_success:
        raise ProbeFailed("the borrowing request could not be read back")
    payload = json_or_none(response)
    if not isinstance(payload, dict):
        return unexpected(response, "not a JSON object")
    requester = payload.get("requester")
    shown = {"requester": requester}
    shows = evidence(response, shown).replace(request_id, "<request id>")
    shows = shows.replace(user_id, "<test patron>")
    if requester is None or requester == {}:
        return Seen(alternative(fact, 0), shows)
    if isinstance(requester, dict) and requester.get("value") == user_id:
        return Seen(fact.assumed, shows)
    seen = "requester of another form" if isinstance(requester, dict) else type(requester).__name__
    return Seen(UNEXPECTED, shows, seen=seen)


# -- sending on after locate --------------------------------------------------------------

READY = "READY_TO_SEND"
# Refusals of a borrowing request that name the patron's library or the request itself,
# not who may borrow: such a refusal shows nothing about the Borrowing RS rules.
NOT_ABOUT_THE_GROUP = {
    "401768": "the patron has no resource sharing library",
    "401607": "the resource sharing library (owner) is missing",
    "401608": "the owner is not one of the patron's resource sharing libraries",
    "402039": "the RS library has no borrowing Default Location",
    "401664": "a mandatory field is missing",
    "40166411": "a field is invalid",
    "402362": "the patron already has this request",
    "401604": "the institution holds the title",
}


def _step(request: RsRequest) -> str:
    """One status of a request as the sequence shows it: the code, and the partner."""
    status = request.status.value or "no status"
    return f"{status} ({request.partner.value})" if request.partner.value else status


def _no_partner_request(p: Probing, session: WriteSession) -> tuple[str, str] | None:
    """The (user, request id) of the request for a made-up title that the
    borrowing.no_partner_holds_outcome probe of this calibration created, if it did."""
    external_id = _test_data(p, "no_partner_holds").external_id()  # that probe's first id
    made = next(
        (
            c
            for c in session.created
            if c.kind == "borrowing" and c.external_id == external_id and not c.refused
        ),
        None,
    )
    if made is None or made.request_id is None:
        return None
    return made.owner, made.request_id


def _no_partner_outcome(p: Probing, session: WriteSession) -> tuple[str, str] | None:
    """How the request for a title no partner holds ended, read back: ("cancelled" or
    "locate_failed", its evidence); None when it went out to a partner, or there is none.

    A request cancelled after it went to a partner (its own probe saw it sent, or it names
    a partner) was cancelled for another reason than a rota that could not be built (a
    lender's reject at the end of the rota, staff): it is not counted."""
    found = _no_partner_request(p, session)
    if found is None:
        return None
    user_id, request_id = found
    response = p.answer_of(lambda: p.client.borrowing_request(user_id, request_id))
    payload = json_or_none(response) if response is not None else None
    if response is None or not response.is_success or not isinstance(payload, dict):
        return None
    status = payload.get("status") or {}
    value, desc = str(status.get("value") or ""), status.get("desc")
    shown = {"a made-up title, which no partner holds": {"status": status}}
    shows = evidence(response, shown).replace(request_id, "<request id>")
    partner = payload.get("partner")
    named = partner.get("value") if isinstance(partner, dict) else partner
    if _cancelled(value, desc):
        if named or request_id in p.sent_on:
            return None
        return "cancelled", shows
    if value == "LOCATE_FAILED":
        return "locate_failed", shows
    return None


def _request_held_title(
    p: Probing, session: WriteSession, user_id: str, held: PartnerHeldTitle
) -> RsRequest | NotAsked:
    """The first test patron's request for the partner-held title, for their own library
    (a single library's patron without an RS library may have to name it:
    UNVERIFIED(borrowing.owner_without_rs_library)); or why there is none."""
    try:
        libraries = p.client.user(user_id).rs_library_codes
    except AlmaError as exc:
        raise ProbeFailed(f"test patron {user_id} could not be read: {exc}") from exc
    home = libraries[0] if libraries else p.profile.rs_library_codes[0]
    data = _test_data(p, "send_on_after_locate")
    refused = ""
    for owner in (home,) if libraries else (None, home):
        body = payloads.borrowing_request(
            title=held.title,
            isbn=held.isbn,
            external_id=data.external_id(),
            pickup_library=home,
            owner=owner,
        )
        try:
            return session.create_borrowing_request(user_id, body)
        except AlmaAPIError as exc:
            if not exc.refusal:
                raise ProbeFailed(f"the borrowing request: {exc}") from exc
            if "401604" in exc.codes:
                return NotAsked(
                    f"the institution itself holds '{held.title}' (401604), so Alma sends it "
                    "to no partner: name a title only a partner holds in "
                    "borrowing.partner_held_title"
                )
            refused = status_and_codes(p._last[-1]) if p._last else str(exc)
            if owner is None and {"401768", "401607"} & set(exc.codes):
                continue  # refused without owner: name the one library
        except AlmaError as exc:
            raise ProbeFailed(f"the borrowing request: {exc}") from exc
        break
    return NotAsked(f"the request was refused ({refused}): nothing was sent on to watch")


@probe("borrowing.send_on_after_locate")
def _send_on_after_locate(p: Probing, fact: Fact) -> Answer:
    """The "sent on its own" scenario's request (its title a rota partner holds, by the
    first test patron for their own library), followed for a minute: each status and
    partner. "Ready to be sent" then sent, or cancelled. Sent with no "Ready to be sent"
    read is not recorded: a short one falls between two reads, so an unchanged Alma would
    flip between the first two alternatives from one calibration to the next; a sighting
    stands. The way a request no partner can supply ends is read from
    borrowing.no_partner_holds_outcome's request (a made-up title), read back, not asked
    again: cancelled there is the third alternative; where Alma sent that one too, it
    cannot be seen."""
    borrowing = p.profile.borrowing
    held = borrowing.partner_held_title if borrowing else None
    if held is None or not p.profile.test_patrons:
        return NotAsked(
            "needs borrowing.partner_held_title (a title a rota partner holds) and a test "
            "patron (test_patrons)"
        )
    user_id = p.profile.test_patrons[0].primary_id
    session = _session(p)
    created = _request_held_title(p, session, user_id, held)
    if isinstance(created, NotAsked):
        return created
    request_id = created.request_id or ""
    steps = [_step(created)]

    def read() -> RsRequest:
        request = p.client.borrowing_request(user_id, request_id)
        if steps[-1] != _step(request):
            steps.append(_step(request))
        return request

    try:
        ended = poll(
            read,
            lambda r: r.status.value not in LOCATING and r.status.value != READY,
            what="sending on",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded as exc:
        still = exc.last.status.value if isinstance(exc.last, RsRequest) else None
        if still == READY:
            return NotAsked(
                f"'Ready to be sent' for {REJECT_WINDOW:g} s ({' → '.join(steps)}): no "
                "Sending Borrowing Request Rule sends it, or Alma sends it later than the "
                "probe waits; this probe cannot tell which"
            )
        return NotAsked(f"still {still or 'without status'} after {REJECT_WINDOW:g} s")
    except AlmaError as exc:
        raise ProbeFailed(f"the borrowing request could not be read back: {exc}") from exc
    last = p._last[-1] if p._last else None
    if last is None:
        raise ProbeFailed("no answer to show")
    shown = {"held by (profile)": held.partner, "statuses": steps}
    # The request id differs on every calibration; the file must not.
    shows = evidence(last, shown).replace(request_id, "<request id>")
    return _sending_order(p, session, fact, ended, held, steps, shows)


def _sending_order(
    p: Probing,
    session: WriteSession,
    fact: Fact,
    ended: RsRequest,
    held: PartnerHeldTitle,
    steps: list[str],
    shows: str,
) -> Answer:
    """The alternative the held title's statuses (``steps``, shown by ``shows``) match,
    and, when it was sent, how the no-partner probe's request ended."""
    status, desc, sequence = ended.status.value or "", ended.status.desc, " → ".join(steps)
    if _cancelled(status, desc):
        return Seen(alternative(fact, 1), shows)
    if status == "LOCATE_FAILED":
        return NotAsked(
            f"the request for '{held.title}', which the profile says {held.partner} holds, "
            f"ended LOCATE_FAILED ({sequence}): Alma built no rota, so how a request is sent "
            "on cannot be seen; check borrowing.partner_held_title and the rota"
        )
    if not _sent_on(status, desc):
        return Seen(UNEXPECTED, shows, seen=sequence)
    no_partner = _no_partner_outcome(p, session)
    made_up = ""
    if no_partner is not None:
        how, more = no_partner
        if how == "cancelled":
            return Seen(alternative(fact, 1), f"{shows}\n\n{more}")
        shows, made_up = f"{shows}\n\n{more}", "; the made-up title's request ended locate failed"
    if any(step.split(" ")[0] == READY for step in steps):
        return Seen(alternative(fact, 0), shows)
    # Sent with no "Ready to be sent" read: at once, or ready for less time than the poll
    # waits. Which one a poll catches can differ between calibrations of one Alma, so only
    # a sighting is recorded; a miss leaves what was recorded before (or the assumption).
    return NotAsked(
        f"sent with no 'Ready to be sent' between reads {POLL_INTERVAL:g} s apart "
        f"(it ended {steps[-1] if steps else status}{made_up}): sent at once, or ready for "
        f"less than {POLL_INTERVAL:g} s; "
        "this probe cannot tell which, so only a 'Ready to be sent' it has seen is recorded"
    )


# -- who may borrow -----------------------------------------------------------------------

FU_RULES = BY_ID["fulfillment_unit_rules"]
TERMS = BY_ID["terms_of_use"]


@probe("borrowing.excluded_group_refused")
def _excluded_group_refused(p: Probing, fact: Fact) -> Answer:
    """The who-may-borrow scenario's request: the profile's excluded patron asks for a
    made-up title. Refused: the code is recorded. Created: removed at once, and not
    recorded, since a created request cannot tell an API that ignores the Borrowing RS
    rules from rules that let the group borrow."""
    borrowing = p.profile.borrowing
    excluded = borrowing.excluded_patron if borrowing else None
    where = "borrowing.excluded_patron in profile.yaml"
    if excluded is None:
        return NotAsked(
            "set borrowing.excluded_patron (patron, user_group, error) in profile.yaml to a "
            "test patron of a user group the Borrowing Resource Sharing rules do not let borrow"
        )
    try:
        user = p.client.user(excluded.patron)
    except AlmaAPIError as exc:
        if exc.refusal and "401861" in exc.codes:  # "User with identifier X was not found"
            return NotAsked(
                f"the excluded test patron does not exist in Alma: create them with user "
                f"group {excluded.user_group}, or correct {where}"
            )
        raise ProbeFailed(f"the excluded test patron could not be read: {exc}") from exc
    except AlmaError as exc:
        raise ProbeFailed(f"the excluded test patron could not be read: {exc}") from exc
    group = user.user_group.value
    if group != excluded.user_group:
        return NotAsked(
            f"the excluded test patron is in user group {group or 'none'}, not "
            f"{excluded.user_group}: put them back in it, or correct {where}"
        )
    session = _session(p)
    data = _test_data(p, "excluded_group")
    title, author = data.unheld_title()
    # As the scenario asks: picked up at the first RS library, owned by the patron's own.
    owner = (user.rs_library_codes or (None,))[0] if p.profile.multi_library else None
    body = payloads.borrowing_request(
        title=title,
        author=author,
        external_id=data.external_id(),
        pickup_library=p.profile.rs_library_codes[0],
        owner=owner,
    )
    patron = excluded.patron
    response = p.answer_of(lambda: session.create_borrowing_request(patron, body))
    if response is None:
        raise ProbeFailed("the borrowing request got no answer")
    if response.is_success:
        request_id = str((json_or_none(response) or {}).get("request_id") or "")
        if request_id:
            # At once, not when the session closes: it must not go out to a partner. The
            # session's cleanup then finds it gone.
            # (Failing, the session's cleanup tries again, and reports it if it stays.)
            with contextlib.suppress(AlmaError):
                p.client.cancel_borrowing_request(patron, request_id)
        return NotAsked(
            f"Alma created the request of the {excluded.user_group} test patron (removed at "
            "once): either the Borrowing Resource Sharing rules let "
            f"{excluded.user_group} borrow, or the API does not apply them, and a created "
            f"request cannot tell which. Check in Alma: {FU_RULES.menu} (the RS fulfillment "
            f"unit's Borrowing Resource Sharing rule) and {TERMS.menu} (its terms of use); "
            "or place the same request in Primo as this patron"
        )
    codes = error_codes(response)
    other = [f"{c}: {NOT_ABOUT_THE_GROUP[c]}" for c in codes if c in NOT_ABOUT_THE_GROUP]
    if other:
        return NotAsked(
            f"refused for another reason than the user group ({'; '.join(other)}): that "
            "says nothing about who may borrow"
        )
    if not codes:
        return unexpected(response, status_and_codes(response))
    # The patron's id is test data, but not the file's to show: the request's path names it.
    shows = evidence(response).replace(patron, "<excluded test patron>")
    return Seen(fact.assumed, shows, seen=", ".join(codes))
