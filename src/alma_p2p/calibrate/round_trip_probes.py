"""The round-trip probes: three facts only both members of a round trip can show, asked
when the calibrated institution's profile has a ``round_trip`` and the lending member's own
key is set.

Whose fact is whose: how the lending request's external_id carries the borrowing request's
(``round_trip.lending_external_id``) and whether the borrower's cancel ends the lending
request (``round_trip.cancel_reaches_lender``) are the lending member's: they go to its
``alma-facts.yaml``, where the round trip's steps read them (``Lender.facts``). How a
request ends when the rota's last partner rejects it (``round_trip.end_of_rota_status``) is
the borrowing member's (its RS library's setting): it goes to the calibrated institution's
file. The borrower's file says where the lender's facts went.

The lending member gets its own client (its key, its rate limiter, its calls counted at it)
behind the same sandbox guard; refused, nothing is sent to either side for these facts.
Two borrowing requests at most, made through the borrower's write session with the
profile's first test patron and the round trip's titles:

- the supplied title: found in the lender's lending task list (by external id or request
  id), then cancelled at the borrower, and the lender's request read until it ends or the
  round trip's ``settle_seconds`` pass;
- the rejected title, only when the lender is the rota's last partner (no
  ``round_trip.next_partner``): the lender rejects it by its own rules, and the borrowing
  request is read until it ends.

Each lending request found is ledgered in a write session at the lender, which only reads
it (the lender's client stays read-only). The borrower's write session is closed here, so
that every request of the calibration is withdrawn before the lender is read again: then
the lending requests other probes' requests made at the lender are ledgered too, and what
is still active there is reported LEFT IN ALMA (so is a lending request the probe could
not find, by where to look).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

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
    evidence,
    scrubbed,
)
from alma_p2p.cleanup import FINAL_LENDING, Created, Outcome, remove_created
from alma_p2p.connect import base_url_for, client_for
from alma_p2p.facts import UNEXPECTED, Facts, Register, institution_facts
from alma_p2p.ledger import Entry, Ledger
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import (
    HeldTitle,
    Profile,
    ProfileError,
    RoundTrip,
    load_profiles,
    rota_end,
)
from alma_p2p.settings import api_key_variable
from alma_p2p.writes import WriteSession, guarded

EXTERNAL_ID = "round_trip.lending_external_id"  # the lending member's fact
END_OF_ROTA = "round_trip.end_of_rota_status"  # the borrowing member's fact
CANCEL_REACHES = "round_trip.cancel_reaches_lender"  # the lending member's fact
ROUND_TRIP_FACTS = (EXTERNAL_ID, END_OF_ROTA, CANCEL_REACHES)
LENDER_FACTS = (EXTERNAL_ID, CANCEL_REACHES)

ACTIVE_AT_LENDER = frozenset({"REQUEST_CREATED_LEND", "LOCATE_IN_PROCESS"})
# Still active after the borrower's cancel: besides the above, "Waiting for cancel
# response" (alma-rs-workflow.md §1.7), the lending workflow's Cancel reply step, which
# waits for staff (UNVERIFIED(round_trip.cancel_reaches_lender): the "stays" alternative).
STILL_ACTIVE = ACTIVE_AT_LENDER | {"CANCEL_REPLY"}
# UNVERIFIED(lending.final_status_codes): the lending request its borrower cancelled reads
# CANCELLED (cleanup.FINAL_LENDING), or CANCELED (the register's alternative).
CANCELLED_AT_LENDER = frozenset({"CANCELLED", "CANCELED"})
# A borrowing request not yet sent: created, being located, or ready to be sent.
NOT_YET_SENT = frozenset({None, "", "REQUEST_CREATED_BOR", "LOCATE_IN_PROCESS", "READY_TO_SEND"})
# UNVERIFIED(lending.reject_status_code): REJECTED, or REJECT (WRLC's map); the lender's
# calibrated code besides.
REJECTED_AT_LENDER = frozenset({"REJECTED", "REJECT"})
REJECT_CODE = "lending.reject_status_code"
POLL_INTERVAL = 2.0
# What an Alma error's text may carry that names a patron or differs per calibration.

# The refusal of a sandbox guard: raises (an AlmaError) unless Alma is a sandbox of the
# profile's institution (``run._sandbox_guard``).
Guard = Callable[[Probing, str], None]


@dataclass(frozen=True)
class TripAnswers:
    """What the round trip showed: the calibrated institution's answers for all three facts,
    and the lending member's (its name and code) for its own file."""

    borrower: dict[str, Answer]
    lender: str | None = None
    lender_code: str | None = None
    at_lender: dict[str, Answer] = field(default_factory=dict)


def _all(why: str) -> TripAnswers:
    return TripAnswers(dict.fromkeys(ROUND_TRIP_FACTS, NotAsked(why)))


def probe_round_trip(
    p: Probing, register: Register, guard: Guard, ledger: Ledger, say: Callable[[str], None]
) -> TripAnswers:
    """Ask the three round-trip facts, through ``p.writes`` at the borrower (open) and a
    client of the lending member; never raises for what Alma answers."""
    trip = p.profile.round_trip
    name = p.profile.name
    if trip is None:
        return _all(
            "asked only when calibrating a borrowing member whose profile has a round_trip, "
            "with the lending member's key set too"
        )
    variable = api_key_variable(trip.lender)
    if trip.lender == name:
        return _all(f"round_trip.lender names {name} itself; name the lending member's profile")
    key = p.settings.api_key_for(trip.lender)
    if not key or key == p.settings.api_key_for(name):
        return _all(
            f"needs the lending member's own key: set {variable} (a sandbox key of "
            f"{trip.lender}) beside {api_key_variable(name)} and calibrate again"
        )
    try:
        lender = load_profiles(p.settings.profiles_dir, [trip.lender])[trip.lender]
    except ProfileError as exc:
        return _all(f"round_trip.lender {trip.lender}: {exc}")
    with client_for(p.settings, lender, transport=p.transport) as client:
        gate = guarded(client)
        lp = Probing(
            client, lender, base_url_for(p.settings, lender), p.transport, p.settings, p.run_token
        )
        client.on_response(lp.heard)
        try:
            guard(lp, trip.lender)
        except AlmaError as exc:
            return _all(f"nothing was sent to either member: {exc}")
        lp.writes = WriteSession(client, gate, trip.lender, ledger=ledger, run_token=p.run_token)
        # The session only ledgers and settles what Alma made at the lender, by reading: the
        # lender's client stays read-only (a write there is refused before it is sent).
        gate.open = False
        run = _Trip(p, lp, trip, lender, ledger)
        try:
            found = run.ask(register)
        finally:
            run.withdraw()  # the borrower first: its cancel may end what the lender holds
            for line in run.unmatched():
                say(line)
            # Everything else this calibration made at the borrower is withdrawn too, so what
            # its requests sent to the lender left there can be read and reported.
            withdrawn = p.writes.close().left if p.writes is not None else []
            for line in withdrawn:
                say(f"{name}: LEFT IN ALMA: {line}")
            try:
                run.others_at_lender()
            except AlmaError as exc:
                say(
                    f"{trip.lender}: could not read {run.library}'s lending task list "
                    f"({scrubbed(str(exc))}): look there for requests from "
                    f"{trip.as_partner} whose external id holds {p.run_token}, and reject "
                    "those still active"
                )
            for line in lp.writes.close().left:
                say(f"{trip.lender}: LEFT IN ALMA: {line}")
            say(
                f"{trip.lender}: {client.stats.calls} call(s) by the round-trip probes, "
                f"counted at {trip.lender}"
            )
    borrower: dict[str, Answer] = {END_OF_ROTA: found[END_OF_ROTA]}
    for fact_id in LENDER_FACTS:
        answer = found[fact_id]
        borrower[fact_id] = NotAsked(
            f"the lending member's fact: recorded in {trip.lender}'s alma-facts.yaml"
            if isinstance(answer, Seen)
            else f"the lending member's fact (kept in {trip.lender}'s alma-facts.yaml), not "
            f"seen this time: {answer.why}"
        )
    return TripAnswers(
        borrower,
        trip.lender,
        lender.institution.code,
        {fact_id: found[fact_id] for fact_id in LENDER_FACTS},
    )


def _reject_code(facts: Facts) -> frozenset[str]:
    """The lender's reject code as its own calibration saw it, if it did."""
    entry = facts.entry(REJECT_CODE)
    if entry is not None and entry.status == "calibrated" and entry.seen:
        return frozenset({entry.seen})
    return frozenset()


class _Skip(Exception):
    """The rest of a leg cannot be asked: each fact it would show is NotAsked, with why."""


@dataclass
class _Leg:
    """One borrowing request of the round trip, and its lending request at the lender."""

    what: str
    user_id: str
    made: Created
    request_id: str
    external_id: str
    sent_status: str | None = None
    lent: RsRequest | None = None
    at_lender: Created | None = None
    title: str = ""
    partner: str | None = None  # the partner it was sent to
    lender_status: str | None = None  # the lending request's, as last read
    lender_desc: str | None = None


class _Trip:
    def __init__(
        self, p: Probing, lp: Probing, trip: RoundTrip, lender: Profile, ledger: Ledger
    ) -> None:
        self.p, self.lp, self.trip, self.ledger = p, lp, trip, ledger
        self.library = (
            lender.lending.rs_library
            if lender.lending is not None
            else lender.resource_sharing_libraries[0].code
        )
        self.legs: list[_Leg] = []
        # What the lender's Alma has finished with: nothing to undo there.
        lender_facts = institution_facts(p.settings.profiles_dir, trip.lender)
        self.rejected_at_lender = REJECTED_AT_LENDER | _reject_code(lender_facts)
        self.final_at_lender = FINAL_LENDING | CANCELLED_AT_LENDER | self.rejected_at_lender

    # -- the facts ------------------------------------------------------------------------

    def ask(self, register: Register) -> dict[str, Answer]:
        out: dict[str, Answer] = {}
        try:
            leg, out[EXTERNAL_ID] = self._supplied(register)
        except (_Skip, ProbeFailed, AlmaError) as exc:
            out |= dict.fromkeys(LENDER_FACTS, self._why(exc))
        else:
            try:
                out[CANCEL_REACHES] = self._cancel(register, leg)
            except (_Skip, ProbeFailed, AlmaError) as exc:
                out[CANCEL_REACHES] = self._why(exc)
        try:
            out[END_OF_ROTA] = self._end_of_rota(register)
        except (_Skip, ProbeFailed, AlmaError) as exc:
            out[END_OF_ROTA] = self._why(exc)
        return out

    def _why(self, exc: Exception) -> NotAsked:
        """Why a fact was not asked, scrubbed as evidence is: no patron, no id of this
        calibration, no tracking id (the file must not change while Alma does not)."""
        if isinstance(exc, _Skip):
            return NotAsked(self._scrubbed(str(exc)))
        return NotAsked(self._scrubbed(f"probe could not ask Alma this time: {exc}"))

    def _supplied(self, register: Register) -> tuple[_Leg, Answer]:
        """The supplied title: how its external id arrives, and whether the cancel follows."""
        leg = self._send(self.trip.supplied_title, "supplied")
        lent, response = self._arrived(leg)
        if lent is None or response is None:
            raise _Skip(
                f"{self.trip.lender} shows no lending request from {self.trip.as_partner} "
                f"whose external id ends with the borrowing request's external id or request "
                f"id in {self.library}'s task list within {self.trip.settle_seconds} s; its "
                "Alma may give it an id of its own: compare the two requests by hand"
            )
        fact = register.fact(EXTERNAL_ID)
        by_external_id = (lent.external_id or "").endswith(leg.external_id)
        carried = "external_id" if by_external_id else "request_id"
        shown = {
            "external_id": self._hidden(lent.external_id or "", leg),
            "partner": self.trip.as_partner,
            "ends with": f"the borrowing request's {carried}",
        }
        shows = self._hidden(evidence(response, shown), leg)
        if by_external_id:
            return leg, Seen(fact.assumed, shows)
        return leg, Seen(alternative(fact, 0), shows)

    def _cancel(self, register: Register, leg: _Leg) -> Answer:
        fact = register.fact(CANCEL_REACHES)
        assert leg.lent is not None
        assert leg.lent.request_id
        lent_id = leg.lent.request_id
        before = self.lp.client.lending_request(self.trip.as_partner, lent_id).status.value
        if before not in ACTIVE_AT_LENDER:
            return NotAsked(
                f"{self.trip.lender}'s lending request for the supplied title was already "
                f"{before} before the borrower cancelled: nothing active to cancel"
            )
        self._withdraw(leg)
        if leg.made in self._session(self.p).created:
            raise _Skip("the borrowing request could not be cancelled at the borrower")
        settle = self.trip.settle_seconds
        try:
            ended = poll(
                lambda: self.lp.client.lending_request(self.trip.as_partner, lent_id),
                lambda r: r.status.value not in STILL_ACTIVE,
                what="the lending request after the borrower's cancel",
                deadline=settle,
                interval=POLL_INTERVAL,
            )
        except DeadlineExceeded as exc:
            still = exc.last.status if isinstance(exc.last, RsRequest) else None
            status = still.value if still is not None else None
            self._seen_at_lender(leg, status, ended=False)
            shown = {
                "status": {"value": status, "desc": still.desc if still else None},
                "read": f"{settle} s after the borrower cancelled its request",
            }
            return Seen(alternative(fact, 0), self._last_at_lender(leg, shown))
        status = ended.status.value or ""
        shown = {
            "status": {"value": status, "desc": ended.status.desc},
            "read": "after the borrower cancelled its request",
        }
        # Only a cancelled code is the cancel reaching the lender; any other status is
        # recorded as seen, and only a final one leaves nothing to undo.
        cancelled = status in CANCELLED_AT_LENDER
        self._seen_at_lender(leg, status, ended=cancelled or status in self.final_at_lender)
        shows = self._last_at_lender(leg, shown)
        if cancelled:
            return Seen(fact.assumed, shows, seen=None if status == "CANCELLED" else status)
        return Seen(UNEXPECTED, shows, seen=status)

    def _end_of_rota(self, register: Register) -> Answer:
        """The rejected title, when the lender is the rota's last partner: how it ends."""
        trip = self.trip
        if trip.next_partner is not None:
            return NotAsked(
                f"asked only when {trip.lender} is the rota's last partner: the profile's "
                f"rota goes on to {trip.next_partner} (round_trip.next_partner)"
            )
        if trip.rejected_title is None:
            return NotAsked("needs round_trip.rejected_title, a title the lender rejects")
        fact = register.fact(END_OF_ROTA)
        leg = self._send(trip.rejected_title, "rejected")

        def read() -> RsRequest:
            if leg.lent is None:
                leg.lent = self._find(leg)
                if leg.lent is not None:
                    self._ledger_at_lender(leg)
            if leg.lent is not None and leg.lent.request_id:
                lent = self.lp.client.lending_request(trip.as_partner, leg.lent.request_id)
                leg.lender_status = lent.status.value
                leg.lender_desc = lent.status.desc
                # Out of the active statuses: rejected or ended, nothing left to undo.
                ended = lent.status.value in self.final_at_lender
                self._seen_at_lender(leg, lent.status.value, ended=ended)
            return self._borrowing(leg)

        try:
            moved = poll(
                read,
                lambda r: r.partner.value != trip.partner or r.status.value != leg.sent_status,
                what="the borrowing request after the lender's answer",
                deadline=trip.settle_seconds,
                interval=POLL_INTERVAL,
            )
        except DeadlineExceeded:
            at = leg.at_lender.status if leg.at_lender is not None else None
            return NotAsked(
                f"the request for the rejected title was still {leg.sent_status} at "
                f"{trip.lender} after {trip.settle_seconds} s (its lending request "
                f"{at or 'not found'}): the lender did not reject it in time"
            )
        status = moved.status.value or ""
        partner = moved.partner.value
        if partner != trip.partner:
            return NotAsked(
                f"after {trip.lender} answered, the request went on to {partner or 'no partner'}:"
                " the rota has a partner after the lender, so its end did not show"
            )
        if not self._rejected_at_lender(leg):
            return NotAsked(
                f"the request for the rejected title moved to {status or 'no status'} at the "
                f"borrower, but {trip.lender}'s lending request was "
                f"{leg.lender_status or 'not found'}, not rejected: its end of the rota did "
                "not show"
            )
        shown = {
            "status": {"value": status, "desc": moved.status.desc},
            "partner": partner,
            "read": f"after {trip.lender}, the rota's last partner, rejected it",
        }
        shows = self._hidden(evidence(self._last_response(self.p), shown), leg)
        # The code seen is recorded wherever it differs from the one the value names.
        ended = rota_end(status, moved.status.desc)
        if ended == "rejected":
            return Seen(fact.assumed, shows, seen=None if status == "REJECTED" else status)
        if ended == "cancelled":
            cancelled = alternative(fact, 0)
            return Seen(cancelled, shows, seen=None if status == "CANCELLED" else status)
        return Seen(UNEXPECTED, shows, seen=status or None)

    def _rejected_at_lender(self, leg: _Leg) -> bool:
        """Whether the lender's request was last read rejected (by its code, or its
        description "Rejected the borrower request" when the code is not known)."""
        status = leg.lender_status
        return status in self.rejected_at_lender or (
            status not in self.final_at_lender and "reject" in (leg.lender_desc or "").lower()
        )

    # -- the legs -------------------------------------------------------------------------

    @staticmethod
    def _session(p: Probing) -> WriteSession:
        if p.writes is None:
            raise ProbeFailed("no write session (writes were not cleared)")
        return p.writes

    def _patron(self) -> tuple[str, str]:
        """The first test patron, and the RS library that owns their request (none at a
        single-library institution: Alma chooses, as Primo leaves it)."""
        profile = self.p.profile
        if not profile.test_patrons:
            raise _Skip("the profile names no test patron (test_patrons)")
        user_id = profile.test_patrons[0].primary_id
        try:
            libraries = self.p.client.user(user_id).rs_library_codes
        except AlmaError as exc:
            raise ProbeFailed(f"test patron {user_id} could not be read: {exc}") from exc
        home = libraries[0] if libraries else profile.rs_library_codes[0]
        return user_id, home

    def _send(self, title: HeldTitle, what: str) -> _Leg:
        """A borrowing request for ``title``, read until it is sent to a partner."""
        user_id, home = self._patron()
        session = self._session(self.p)
        data = TestData(self.p.run_token, f"{self.p.profile.name}::calibrate::round_trip::{what}")
        body = payloads.borrowing_request(
            title=title.title,
            isbn=title.isbn,
            external_id=data.external_id(),
            pickup_library=home,
            owner=home if self.p.profile.multi_library else None,
        )
        try:
            created = session.create_borrowing_request(user_id, body)
        except AlmaError as exc:
            raise _Skip(f"the borrowing request for the {what} title was refused: {exc}") from exc
        made = session.created[-1]
        leg = _Leg(
            what,
            user_id,
            made,
            created.request_id or "",
            str(body["external_id"]),
            title=title.title,
        )
        self.legs.append(leg)
        try:
            sent = poll(
                lambda: self._borrowing(leg),
                lambda r: r.partner.value is not None and r.status.value not in NOT_YET_SENT,
                what="the borrowing request being sent",
                deadline=self.trip.settle_seconds,
                interval=POLL_INTERVAL,
            )
        except DeadlineExceeded as exc:
            last = exc.last.status.value if isinstance(exc.last, RsRequest) else None
            raise _Skip(
                f"the request for the {what} title was not sent within "
                f"{self.trip.settle_seconds} s (still {last or 'without status'})"
            ) from exc
        leg.partner = sent.partner.value
        if sent.partner.value != self.trip.partner:
            raise _Skip(
                f"the request for the {what} title went to {sent.partner.value}, not to "
                f"{self.trip.partner}: the rota template must put the lending member first"
            )
        leg.external_id = sent.external_id or leg.external_id
        leg.sent_status = sent.status.value
        return leg

    def _borrowing(self, leg: _Leg) -> RsRequest:
        return self.p.client.borrowing_request(leg.user_id, leg.request_id)

    def _find(self, leg: _Leg) -> RsRequest | None:
        carried = tuple(i for i in (leg.external_id, leg.request_id) if i)
        listed = self.lp.client.lending_task_list(self.library, partner=self.trip.as_partner)
        return next((r for r in listed if (r.external_id or "").endswith(carried)), None)

    def _arrived(self, leg: _Leg) -> tuple[RsRequest | None, httpx.Response | None]:
        """The lending request at the lender that carries ``leg``'s ids, and the task
        list answer that shows it."""
        try:
            lent = poll(
                lambda: self._find(leg),
                lambda r: r is not None,
                what="the lending request",
                deadline=self.trip.settle_seconds,
                interval=POLL_INTERVAL,
            )
        except DeadlineExceeded:
            return None, None
        response = self._last_response(self.lp)
        leg.lent = lent
        self._ledger_at_lender(leg)
        return lent, response

    def _ledger_at_lender(self, leg: _Leg) -> None:
        """The lending request Alma made at the lender for ``leg``: written to the ledger
        and settled when the lender's session closes (it is only read, never written)."""
        assert leg.lent is not None
        leg.at_lender = self._ledgered(leg.lent)

    def _ledgered(self, lent: RsRequest) -> Created:
        session = self._session(self.lp)
        made = Created(
            "lending",
            self.trip.as_partner,
            lent.external_id or "",
            request_id=lent.request_id,
            status=lent.status.value,
            library=self.library,
        )
        session.created.append(made)
        entry = Entry(
            self.trip.lender,
            "lending",
            self.trip.as_partner,
            made.external_id,
            self.p.run_token,
            self.library,
        )
        self.ledger.creating(entry)
        if lent.request_id:
            self.ledger.created(self.trip.lender, made.external_id, lent.request_id)
        return made

    def others_at_lender(self) -> None:
        """The lending requests at the lender that other requests of this calibration made
        (a write probe's request sent to the lender, say), ledgered like the round trip's:
        read once everything at the borrower was withdrawn, what is still active then is
        reported LEFT IN ALMA when the lender's session closes."""
        known = {leg.lent.request_id for leg in self.legs if leg.lent is not None}
        # UNVERIFIED(round_trip.lending_external_id): the lending request carries the
        # borrowing request's external id, so this calibration's run token.
        listed = self.lp.client.lending_task_list(self.library, partner=self.trip.as_partner)
        for lent in listed:
            if self.p.run_token not in (lent.external_id or "") or lent.request_id in known:
                continue
            made = self._ledgered(lent)
            made.ended = lent.status.value in self.final_at_lender

    @staticmethod
    def _seen_at_lender(leg: _Leg, status: str | None, *, ended: bool) -> None:
        if leg.at_lender is not None:
            leg.at_lender.status = status
            leg.at_lender.ended = leg.at_lender.ended or ended

    def _withdraw(self, leg: _Leg) -> None:
        """Cancel and remove ``leg``'s borrowing request, as a scenario's teardown does."""
        session = self._session(self.p)
        if leg.made not in session.created:
            return
        report = remove_created(self.p.client, self.p.profile.name, [leg.made], self.ledger)
        if report.settled and report.settled[0].outcome is not Outcome.LEFT:
            session.created.remove(leg.made)

    def unmatched(self) -> list[str]:
        """LEFT IN ALMA lines for the lending requests a sent leg made that the probe never
        found (so never ledgered): where staff find them. Only test ids, no patron."""
        out = []
        where = "Fulfillment > Resource Sharing > Lending Requests"
        for leg in self.legs:
            if leg.partner is None or (leg.partner == self.trip.partner and leg.lent):
                continue
            if leg.partner == self.trip.partner:
                out.append(
                    f"{self.trip.lender}: LEFT IN ALMA: a lending request from partner "
                    f"{self.trip.as_partner} for '{leg.title}' (the borrowing request's "
                    f"external id {leg.external_id}) was not found in {self.library}'s task "
                    f"list: find it in {self.trip.lender}'s Alma ({where}) and reject it if "
                    "it is still active"
                )
            else:
                out.append(
                    f"{self.p.profile.name}: LEFT IN ALMA: the request for '{leg.title}' "
                    f"(external id {leg.external_id}) was sent to partner {leg.partner}, not "
                    f"to {self.trip.partner}, and withdrawn here: find its lending request at "
                    f"{leg.partner} ({where}) and reject it if it is still active"
                )
        return out

    def withdraw(self) -> None:
        """Every round-trip request still at the borrower is withdrawn; what cannot be is
        left to the borrower's session, which reports it."""
        for leg in self.legs:
            with contextlib.suppress(AlmaError):
                self._withdraw(leg)

    # -- evidence -------------------------------------------------------------------------

    @staticmethod
    def _last_response(p: Probing) -> httpx.Response:
        if not p._last:
            raise ProbeFailed("no answer to show")
        return p._last[-1]

    def _last_at_lender(self, leg: _Leg, shown: Any) -> str:
        return self._hidden(evidence(self._last_response(self.lp), shown), leg)

    def _scrubbed(self, text: str) -> str:
        """``text`` (an Alma error, say) without what names a patron or differs per
        calibration: every leg's ids, the test patrons, request ids and tracking ids."""
        for leg in self.legs:
            text = self._hidden(text, leg)
        return scrubbed(text, (patron.primary_id for patron in self.p.profile.test_patrons))

    def _hidden(self, text: str, leg: _Leg) -> str:
        """``text`` without what differs per calibration (ids) or names a patron."""
        for value, placeholder in (
            (leg.external_id, "<the borrowing request's external_id>"),
            (leg.request_id, "<the borrowing request's request_id>"),
            (leg.lent.request_id if leg.lent else None, "<lending request id>"),
            (leg.user_id, "<test patron>"),
        ):
            if value:
                text = text.replace(value, placeholder)
        return text
