"""The probes that write: test requests made with the profile's test data through a
ledgered :class:`~alma_p2p.writes.WriteSession` (no-RS-library error, owner when omitted,
not held, auto-reject timing). Each registers itself in ``PROBES`` on import."""

from __future__ import annotations

import json

from alma_p2p import payloads
from alma_p2p.alma import AlmaError
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
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.writes import WriteSession

WRITE_FACTS = (
    "borrowing.no_rs_library_error",
    "borrowing.owner_when_omitted",
    "lending.not_held_outcome",
    "lending.auto_reject_timing",
    "lending.task_list_includes_completed",
    "borrowing.no_partner_holds_outcome",
    "lending.locate_by_title",
    "lending.owner_not_rs_library_code",
    "borrowing.pickup_other_library",
    "borrowing.owner_without_rs_library",
    "borrowing.requester_form",  # last: reads back a borrowing request made before it
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
