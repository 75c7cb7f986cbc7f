"""Steps about borrowing requests: who owns them, what is refused, where items land."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from pytest_bdd import given, then, when

from alma_p2p import payloads
from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.models import Item, RsRequest
from alma_p2p.facts import UNEXPECTED, Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import broken_premise, cannot_tell
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import Borrowing, Profile, ReceivedRequest, RsLibrary
from alma_p2p.suite.steps.common import Attempt, assert_refused, fail_with
from alma_p2p.writes import WriteSession

RS_LIBRARY = BY_ID["rs_library"]
FIX_PATRON = BY_ID["patron_rs_library"].fix("patron")
# Alma's refusals of a request without owner for a patron without RS library.
NO_LIBRARY_REFUSALS = frozenset({"401768", "401607"})
# Alma's refusals of the owner or its setup, not of the pickup library.
OWNER_REFUSALS = frozenset({"401608", "402039", "401604", "402362", *NO_LIBRARY_REFUSALS})
BORROWING_REQUESTS = "Fulfillment > Resource Sharing > Borrowing Requests"
# Whether Alma sets the owner of a request that names none from the patron's one RS library
# is a guess until a sandbox run calibrates it: checks prove ownership with an explicit owner
# (which Alma must refuse with 401608 unless it is one of the patron's RS libraries).
OWNER_WHEN_OMITTED = "borrowing.owner_when_omitted"
NO_RS_LIBRARY = "borrowing.no_rs_library_error"
# Whether Alma keeps the owner a request names when it is picked up at another RS library,
# owns it by its pickup library, or refuses it: calibrated, it decides where the campus
# scenario picks its requests up and what an owner equal to the pickup library means.
PICKUP_OTHER = "borrowing.pickup_other_library"
FIX_TEMP_ITEM = BY_ID["temp_item_creation_rule"].fix("temporary_item")
ITEM_POLICY = BY_ID["item_policy"]
SENDING = BY_ID["sending_rule"].fix("sending")


@dataclass(frozen=True)
class Title:
    title: str
    author: str | None = None
    isbn: str | None = None
    held_by: str | None = None  # the rota partner the profile says holds it


def _borrowing(profile: Profile) -> Borrowing:
    assert profile.borrowing is not None, "@borrowing scenarios run only with a borrowing section"
    return profile.borrowing


def _home_library(alma: AlmaClient, profile: Profile, user_id: str) -> str:
    """The RS library a test patron should belong to, from their campus or user group."""
    if not profile.multi_library:
        return profile.rs_library_codes[0]  # one library: no need to read the patron
    mapping = profile.patron_rs_library
    assert mapping is not None
    try:
        user = alma.user(user_id)
    except AlmaAPIError as exc:
        if not exc.refusal or "401861" not in exc.codes:  # "User with identifier X was not found"
            raise
        broken_premise(
            f"test patron {user_id} does not exist in Alma: create the patron in the sandbox, "
            "or correct test_patrons in profile.yaml"
        )
    campus, group = user.campus_code.value, user.user_group.value
    home = profile.rs_library_for(campus, group)
    if home is None:
        pytest.fail(
            f"{user_id}: {mapping.by} {mapping.key(campus, group) or 'empty'} is not in the "
            "profile's patron_rs_library map; the patron scenario explains how to fix it",
            pytrace=False,
        )
    return home


def _request(
    writes: WriteSession,
    test_data: TestData,
    who: str,
    user_id: str,
    title: Title,
    pickup: str,
    owner: str | None = None,
    *,
    override_blocks: bool = False,
) -> Attempt:
    """The patron's request as created (``override_blocks``: as staff placing it over the
    patron's blocks would), or Alma's refusal."""
    attempt = Attempt(who, user_id, test_data.external_id(), pickup=pickup)
    body = payloads.borrowing_request(
        title=title.title,
        author=title.author,
        isbn=title.isbn,
        external_id=attempt.external_id,
        pickup_library=pickup,
        owner=owner,
    )
    try:
        attempt.request = writes.create_borrowing_request(
            user_id, body, override_blocks=override_blocks
        )
    except AlmaAPIError as exc:
        if not exc.refusal:
            raise  # Alma busy or failing: the harness's error verdict, not a refusal
        attempt.error = exc
    return attempt


def _pickup_elsewhere(profile: Profile, home: str) -> str:
    """A pickup library other than the owner, where the institution has one, so that a
    request owned by the patron's library cannot be owned by its pickup library instead.
    UNVERIFIED(borrowing.pickup_other_library): Alma accepts such a pickup."""
    others = [code for code in profile.rs_library_codes if code != home]
    return others[0] if others else home


def _own_library_request(
    alma: AlmaClient,
    writes: WriteSession,
    profile: Profile,
    test_data: TestData,
    patron: tuple[str, str],
    title: Title,
    *,
    pickup: str | None = None,
) -> Attempt:
    """The patron's request naming their own RS library as owner, picked up at ``pickup``
    (by default elsewhere: ``_pickup_elsewhere``).

    A single-library institution's patrons carry no RS library, and naming the one library
    may be refused (UNVERIFIED(borrowing.owner_without_rs_library)): there Alma chooses.
    """
    who, user_id = patron
    home = _home_library(alma, profile, user_id)
    pickup = pickup or _pickup_elsewhere(profile, home)
    owner = home if profile.multi_library else None
    attempt = _request(writes, test_data, who, user_id, title, pickup=pickup, owner=owner)
    refused = attempt.error.codes if attempt.error is not None else ()
    if owner is None and NO_LIBRARY_REFUSALS & set(refused):
        # UNVERIFIED(borrowing.owner_without_rs_library): Alma may refuse a request without
        # owner here; naming the one library is what such an institution's requests must do
        # (the single-library scenario reports the refusal itself).
        attempt = _request(writes, test_data, who, user_id, title, pickup=pickup, owner=home)
    refused = attempt.error.codes if attempt.error is not None else ()
    if pickup != home and attempt.error is not None and not OWNER_REFUSALS & set(refused):
        # UNVERIFIED(borrowing.pickup_other_library): Alma may refuse a pickup at another
        # library than the owner; picked up at the owner, the request still proves sending
        # (ownership then says less: _check_owners cannot tell).
        again = _request(writes, test_data, who, user_id, title, pickup=home, owner=owner)
        if again.request is not None:
            again.pickup_refused = attempt.error
        return again  # refused again: that refusal is about the request itself
    return attempt


def pickup_rule(facts: Facts) -> str | None:
    """What this institution's sandbox did with a request picked up at another RS library
    than the owner it names, when ``alma-p2p calibrate`` recorded it: the register's word
    for it (accepted, owner_is_pickup, refused); None when not calibrated or unexpected.
    UNVERIFIED(borrowing.pickup_other_library) until then."""
    if not facts.is_calibrated(PICKUP_OTHER):
        return None
    fact = facts.register.fact(PICKUP_OTHER)
    words = {fact.assumed: fact.switch} | {a.value: a.switch for a in fact.alternatives}
    return words.get(facts.value(PICKUP_OTHER))


def _pickup_calibration(facts: Facts, institution: str) -> str:
    """What is known of ``borrowing.pickup_other_library`` here, for a cannot-tell line."""
    entry = facts.entry(PICKUP_OTHER)
    if entry is None or entry.status != "calibrated":
        return f"not calibrated: run alma-p2p calibrate --institution {institution}"
    seen = f" ({entry.seen})" if entry.seen else ""
    return (
        f"when calibrated on {entry.date} this sandbox answered: {entry.value}{seen}; if Alma "
        f"changed, run alma-p2p calibrate --institution {institution} again"
    )


def _first_patron(profile: Profile) -> tuple[str, str]:
    if not profile.test_patrons:
        pytest.fail(f"{profile.name}: the profile names no test_patrons", pytrace=False)
    patron = profile.test_patrons[0]
    return patron.label or patron.primary_id, patron.primary_id


@given("a title the institution does not hold", target_fixture="title")
def _(alma_test_data: TestData) -> Title:
    title, author = alma_test_data.unheld_title()
    return Title(title, author)


@given("a title a partner of the rota holds", target_fixture="title")
def _(alma_institution: Profile) -> Title:
    held = _borrowing(alma_institution).partner_held_title
    if held is None:
        broken_premise(
            f"{alma_institution.name}: the profile names no title a partner holds, and a "
            "title nobody holds proves nothing about sending; add borrowing.partner_held_title "
            "(title, isbn, partner) to profile.yaml"
        )
    if held.partner not in {p.code for p in alma_institution.partners}:
        broken_premise(
            f"{alma_institution.name}: borrowing.partner_held_title names partner "
            f"{held.partner}, which is not among the profile's partners; correct profile.yaml"
        )
    return Title(held.title, isbn=held.isbn, held_by=held.partner)


@given("a title the institution holds", target_fixture="title")
def _(alma_institution: Profile) -> Title:
    held = _borrowing(alma_institution).held_title
    return Title(held.title, isbn=held.isbn)


@when(
    "each test patron requests it for their own library, to be picked up at another",
    target_fixture="attempts",
)
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    alma_facts: Facts,
    title: Title,
) -> dict[str, Attempt]:
    attempts = {}
    # Only when this institution's sandbox showed (alma-p2p calibrate) that a request without
    # owner goes to the patron's one RS library, as the register assumes.
    owner_less = (
        alma_facts.is_calibrated(OWNER_WHEN_OMITTED)
        and alma_facts.value(OWNER_WHEN_OMITTED)
        == alma_facts.register.fact(OWNER_WHEN_OMITTED).assumed
    )
    refuses_elsewhere = pickup_rule(alma_facts) == "refused"
    for patron in alma_institution.test_patrons:
        who = patron.label or patron.primary_id
        home = _home_library(alma, alma_institution, patron.primary_id)
        # A sandbox that refuses a pickup at another library than the owner (calibrated) is
        # asked for one at the owner: Alma then cannot move the owner to the pickup library,
        # and accepts the patron's library as owner only if the patron's record has it
        # (401608 otherwise, alma-api.md §3.2).
        pickup = home if refuses_elsewhere else _pickup_elsewhere(alma_institution, home)
        attempts[home + ":" + patron.primary_id] = _own_library_request(
            alma,
            alma_writes,
            alma_institution,
            alma_test_data,
            (who, patron.primary_id),
            title,
            pickup=pickup,
        )
        if owner_less:
            # UNVERIFIED(borrowing.owner_when_omitted): used only once a sandbox run has
            # calibrated it; Primo's requests name no owner.
            # Another made-up title: the same one again would be the patron's duplicate.
            other = Title(*alma_test_data.unheld_title())
            attempts[home + ":" + patron.primary_id + ":no owner"] = _request(
                alma_writes, alma_test_data, who, patron.primary_id, other, pickup=pickup
            )
    return attempts


@when("each test patron requests it without choosing a library", target_fixture="attempts")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> dict[str, Attempt]:
    # The single-library case: UNVERIFIED(borrowing.owner_without_rs_library).
    attempts = {}
    for patron in alma_institution.test_patrons:
        home = _home_library(alma, alma_institution, patron.primary_id)
        who = patron.label or patron.primary_id
        attempts[home + ":" + patron.primary_id] = _request(
            alma_writes, alma_test_data, who, patron.primary_id, title, pickup=home
        )
    return attempts


@when("a test patron requests it for their own library", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    patron = _first_patron(alma_institution)
    return _own_library_request(alma, alma_writes, alma_institution, alma_test_data, patron, title)


@when("a test patron requests it for another campus's library", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    who, user_id = _first_patron(alma_institution)
    home = _home_library(alma, alma_institution, user_id)
    other = next(code for code in alma_institution.rs_library_codes if code != home)
    return _request(alma_writes, alma_test_data, who, user_id, title, pickup=other, owner=other)


@when("the patron without a resource sharing library requests it", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    user_id = _borrowing(alma_institution).patron_without_rs_library
    if user_id is None:
        pytest.fail(
            f"{alma_institution.name}: set borrowing.patron_without_rs_library in the profile "
            "to a sandbox patron who has no resource sharing library",
            pytrace=False,
        )
    pickup = alma_institution.rs_library_codes[0]
    return _request(
        alma_writes, alma_test_data, "the patron without RS library", user_id, title, pickup
    )


@when("a test patron requests it twice", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    patron = _first_patron(alma_institution)
    first = _own_library_request(alma, alma_writes, alma_institution, alma_test_data, patron, title)
    if first.request is None:
        pytest.fail(f"{patron[0]}: the first request was not created: {first.error}", pytrace=False)
    return _own_library_request(alma, alma_writes, alma_institution, alma_test_data, patron, title)


@then("Alma refuses the second request with error 402362")
def _(attempt: Attempt) -> None:
    assert_refused(attempt, "402362", "(the patron already has this request)")


def no_rs_library_refusals(facts: Facts) -> tuple[str, ...]:
    """The error codes that refuse a patron without an RS library at this institution: the
    one its sandbox gave when calibrated, else every code the register names for it; empty
    when calibration showed Alma creates the request for a default RS library instead."""
    fact = facts.register.fact(NO_RS_LIBRARY)
    values = (fact.assumed, *(a.value for a in fact.alternatives))
    codes = tuple(v.split()[0] for v in values if v.split()[0].isdigit())
    if facts.is_calibrated(NO_RS_LIBRARY):
        value = facts.value(NO_RS_LIBRARY)
        if value.split()[0].isdigit():
            return (value.split()[0],)
        if value != UNEXPECTED:
            return ()  # created, owned by the default RS library
    return codes


@then("Alma refuses it with the error the profile expects for a patron without a library")
def _(attempt: Attempt, alma: AlmaClient, alma_institution: Profile, alma_facts: Facts) -> None:
    refusals = no_rs_library_refusals(alma_facts)
    why = "(a patron with no RS library at a multi-library institution)"
    calibrate = f"alma-p2p calibrate --institution {alma_institution.name}"
    entry = alma_facts.entry(NO_RS_LIBRARY)
    when = f" on {entry.date}" if entry is not None and entry.date else ""
    request = attempt.request
    if request is None:
        if attempt.error is not None and set(refusals) & set(attempt.error.codes):
            return
        if not refusals:
            pytest.fail(
                f"{attempt.who}: Alma {attempt.describe()}, but when calibrated{when} this "
                "sandbox created such a request for its default RS library; if Alma changed, "
                f"run {calibrate} again",
                pytrace=False,
            )
        assert_refused(attempt, " or ".join(refusals), why)
        return
    libraries = alma.user(attempt.user_id).rs_library_codes
    if libraries:
        broken_premise(
            f"{attempt.who} ({attempt.user_id}) has resource sharing library "
            f"{', '.join(libraries)} in Alma, so request {request.request_id} was created for "
            f"{request.owner}: remove it from the patron's record, or name a patron without "
            "one in profile.yaml (borrowing.patron_without_rs_library)"
        )
    if not refusals:
        # UNVERIFIED(borrowing.no_rs_library_error): as calibrated, the default RS library.
        if request.owner in alma_institution.rs_library_codes:
            attempt.created_as_calibrated = True
            return
        ours = ", ".join(alma_institution.rs_library_codes)
        pytest.fail(
            f"{attempt.who}: request {request.request_id} is owned by {request.owner}, not "
            f"a resource sharing library of the profile ({ours}): {RS_LIBRARY.fix('owner')}",
            pytrace=False,
        )
    if alma_facts.is_calibrated(NO_RS_LIBRARY):
        pytest.fail(
            f"{attempt.who}: Alma {attempt.describe()}, but when calibrated{when} this sandbox "
            f"refused such a request with {refusals[0]}; if Alma changed, run {calibrate} "
            "again; the run's cleanup cancels the request",
            pytrace=False,
        )
    cannot_tell(
        f"{attempt.who} has no resource sharing library, and Alma {attempt.describe()} "
        f"instead of refusing it with {' or '.join(refusals)}. Alma may give such a request "
        "to a default RS library (not calibrated: it is not known whether this sandbox does). "
        f"Run {calibrate}, or check by hand in Alma ({BORROWING_REQUESTS}, external "
        f"identifier {attempt.external_id}) which library owns it and whether a patron "
        "without an RS library should be able to borrow; the run's cleanup cancels it"
    )


@then("each request is owned by the resource sharing library of the patron's campus")
def _(attempts: dict[str, Attempt], alma_institution: Profile, alma_facts: Facts) -> None:
    _check_owners(
        attempts,
        "the resource sharing library of the patron's campus",
        alma_facts,
        alma_institution.name,
    )


@then("each request is owned by the institution's resource sharing library")
def _(attempts: dict[str, Attempt], alma_institution: Profile, alma_facts: Facts) -> None:
    # UNVERIFIED(borrowing.owner_without_rs_library): that Alma gives such a patron the one
    # library; a refusal may be Alma's rule rather than the institution's setup.
    refused = {
        key: a
        for key, a in attempts.items()
        if a.request is None and a.error is not None and NO_LIBRARY_REFUSALS & set(a.error.codes)
    }
    _check_owners(
        {k: a for k, a in attempts.items() if k not in refused},
        "the institution's one resource sharing library",
        alma_facts,
        alma_institution.name,
    )
    if refused:
        cannot_tell(
            "Alma refused the requests without a library of "
            + ", ".join(f"{a.who} ({a.user_id}): {a.error}" for a in refused.values())
            + ". It is not known whether Alma gives a patron without a resource sharing library "
            "the institution's one library, or needs it in the patron record: place the same "
            f"request in Primo as this patron, and look at the patron's resource sharing "
            f"library in Alma; {FIX_PATRON}"
        )


def _check_owners(
    attempts: dict[str, Attempt], expectation: str, facts: Facts, institution: str
) -> None:
    problems, unread, by_pickup = [], [], []
    refused_elsewhere = False
    for key, attempt in attempts.items():
        if attempt.pickup_refused is not None and attempt.request is not None:
            refused_elsewhere = True
            by_pickup.append(
                f"Alma refused {attempt.who}'s request picked up at another library than "
                f"{key.split(':', 2)[0]} ({attempt.pickup_refused}), so it was picked up there "
                "and its owner cannot be told from its pickup library"
            )
        expected = key.split(":", 2)[0]
        named = not key.endswith(":no owner") and expectation.endswith("campus")
        if attempt.request is None:
            refused = f"Alma refused it: {attempt.error}"
            codes = attempt.error.codes if attempt.error is not None else ()
            if "402039" in codes:
                refused += (
                    f"; {expected} has no default borrowing location "
                    f"({RS_LIBRARY.fix('default_location')})"
                )
            elif "401608" in codes and named:
                refused = (
                    f"Alma refused {expected} as the request's library (401608): {expected} is "
                    f"not a resource sharing library of the patron's record; {FIX_PATRON}"
                )
            problems.append(f"{attempt.who} ({attempt.user_id}): {refused}")
        elif attempt.request.owner is None:
            unread.append(f"{attempt.who} ({attempt.request.request_id})")
        elif attempt.request.owner != expected and attempt.request.owner == attempt.pickup:
            # UNVERIFIED(borrowing.pickup_other_library): Alma may own a request by its
            # pickup library, whatever library it names as owner.
            by_pickup.append(
                f"{attempt.who}'s request {attempt.request.request_id} is owned by its pickup "
                f"library {attempt.pickup}, not by {expected}"
            )
        elif attempt.request.owner != expected:
            problems.append(
                f"{attempt.who} ({attempt.user_id}): request {attempt.request.request_id} is "
                f"owned by {attempt.request.owner}, expected {expected} "
                f"({expectation}): {RS_LIBRARY.fix('owner')}"
            )
    fail_with(problems, "Borrowing requests that would be handled by the wrong library:")
    if by_pickup:
        advice = _owner_by_pickup_advice(facts, institution, refused=refused_elsewhere)
        cannot_tell("; ".join(by_pickup) + ": " + advice)
    if unread:
        cannot_tell(
            f"Alma's answer names no owner for the requests of {', '.join(unread)}; open them in "
            f"Alma ({BORROWING_REQUESTS}) and check each is owned by {expectation}"
        )


def _owner_by_pickup_advice(facts: Facts, institution: str, *, refused: bool) -> str:
    """Why an owner that is the pickup library (or, ``refused``, a request picked up at its
    owner after Alma refused a pickup elsewhere) proves nothing about the patron's library,
    and what to check by hand."""
    record = (
        f"check that each test patron's record names their campus's library; if not, {FIX_PATRON}"
    )
    by_hand = (
        f"place such a request in Primo and open it in Alma ({BORROWING_REQUESTS}) to see its "
        f"owner, and {record}"
    )
    if pickup_rule(facts) == "owner_is_pickup" and not refused:
        # Calibrated: Alma owns a request by its pickup library, so the owner it shows says
        # where the request is picked up, not whose patron placed it; a request picked up at
        # the patron's own library would be owned there either way.
        return (
            "this sandbox gives a request picked up at another resource sharing library to "
            f"that library ({_pickup_calibration(facts, institution)}), so a request's owner "
            "follows where it is picked up and the API cannot show that a patron's request "
            f"goes to their campus's library; {record}"
        )
    if facts.is_calibrated(PICKUP_OTHER):
        return (
            "that is not what this sandbox did with a request picked up at another library "
            f"({_pickup_calibration(facts, institution)}); {by_hand}"
        )
    return (
        "it is not known whether Alma accepts a request picked up at another resource sharing "
        "library than the one it names as owner, or owns it by its pickup library "
        f"({_pickup_calibration(facts, institution)}); {by_hand}"
    )


# -- temporary items ----------------------------------------------------------------


TEMP_ITEM_PLACE = "borrowing.temp_item_place"
# Where an item answer shows a place (alma-api.md §7.3).
TEMP_FIELDS = "its holding's temporary fields"
ITEM_DATA = "its item data"


@dataclass(frozen=True)
class Place:
    """Where an item shows it is: library, location and item policy."""

    library: str | None
    location: str | None
    policy: str | None

    def __str__(self) -> str:
        where = f"{self.library or 'no library'}/{self.location or 'no location'}"
        return f"{where} (policy {self.policy or 'none'})"


def temp_item_places(item: Item) -> tuple[tuple[str, Place], ...]:
    """The places a received request's temporary item may be in, each with where its
    answer shows it: one place, or two when the answer leaves which is real open.

    Alma shows the place in ``holding_data``'s temp fields or in ``item_data`` (alma-api.md
    §7.3): the temp fields when the holding says it is in its temporary location,
    ``item_data`` when they are empty, and either when both name the same place. Temp fields
    filled while ``in_temp_location`` is not true are how a real lending item in transit
    showed (§7.3, where ``item_data`` was its real place, and the flag reads "not in its
    temporary location"); for a temporary item such an answer names two places and says
    nothing of which is real (UNVERIFIED(borrowing.temp_item_place)), so both are given,
    the temp fields first. Calibration records whether this sandbox shows its received items
    so: that shape does not tell which of the two places is real either.
    """
    holding, data = item.holding_data, item.item_data
    home = Place(data.library.value, data.location.value, data.policy.value)
    if not holding.temp_location.value:
        return ((ITEM_DATA, home),)
    temp = Place(
        holding.temp_library.value,
        holding.temp_location.value,
        holding.temp_policy.value or data.policy.value,
    )
    if holding.in_temp_location is True or temp == home:
        return ((TEMP_FIELDS, temp),)
    return ((TEMP_FIELDS, temp), (ITEM_DATA, home))


@dataclass
class Received:
    expected: ReceivedRequest
    request: RsRequest
    item: Item
    places: tuple[tuple[str, Place], ...]  # where the item may be (temp_item_places)

    @property
    def name(self) -> str:
        return (
            f"received request {self.expected.external_id} (temporary item "
            f"{self.expected.item_barcode})"
        )

    def shown(self, attribute: str) -> str:
        """The item's library, location or policy as its answer shows it: one value, or
        each place's with where the answer shows it."""
        values = [(where, getattr(place, attribute) or "none") for where, place in self.places]
        if len(values) == 1:
            return str(values[0][1])
        return " or ".join(f"{value} ({where})" for where, value in values)

    def wrong_everywhere(self, attribute: str, expected: str) -> bool:
        """Whether every place the item may be in has another ``attribute`` than expected."""
        return all(getattr(place, attribute) != expected for _, place in self.places)

    def right_places(self, library: RsLibrary) -> list[tuple[str, Place]]:
        """The places that are where the temporary item rule puts the item (the item policy
        only when the profile names it)."""
        return [
            (where, place)
            for where, place in self.places
            if place.library == library.code
            and place.location == library.borrowing_location
            and library.item_policy in (None, place.policy)
        ]

    def two_places(self) -> str:
        """What the answer says of an item it shows in two places."""
        (_, temp), (_, home) = self.places
        says = "says" if self.item.holding_data.in_temp_location is False else "does not say"
        not_ = " not" if says == "says" else ""
        return (
            f"its holding names temporary place {temp} but {says} it is{not_} in its temporary "
            f"location, and its item data names {home}"
        )


def _rule_place(library: RsLibrary) -> str:
    policy = f" (policy {library.item_policy})" if library.item_policy else ""
    return f"{library.code}/{library.borrowing_location}{policy}"


def _calibrated_shape(facts: Facts) -> str:
    """What calibration recorded of how this sandbox shows a received item, if anything."""
    entry = facts.entry(TEMP_ITEM_PLACE)
    if entry is None or entry.status != "calibrated":
        return ""
    fact = facts.register.fact(TEMP_ITEM_PLACE)
    unflagged = next(a.value for a in fact.alternatives if a.switch == "temp_not_in_temp")
    if entry.value == unflagged:
        return (
            f" (calibrated on {entry.date}: this sandbox shows its received items so, a shape "
            "that does not tell which place is real)"
        )
    seen = f"{entry.value} ({entry.seen})" if entry.seen else entry.value
    return (
        f" (when calibrated on {entry.date} this sandbox showed its received item otherwise: "
        f"{seen})"
    )


def places_left_open(received: list[Received], profile: Profile, facts: Facts) -> list[str]:
    """A line to check by hand for each item shown in two places of which only one is where
    the temporary item rule puts it: which place to look at in Alma."""
    lines = []
    for r in received:
        library = profile.rs_library(r.expected.rs_library)
        assert library is not None
        right = r.right_places(library)
        if len(r.places) < 2 or len(right) != 1:
            continue
        where = right[0][0]
        wrong = next(place for w, place in r.places if w != where)
        verb = "names" if where == ITEM_DATA else "name"
        lines.append(
            f"{r.name}: {r.two_places()}; only {where} {verb} where the temporary item rule "
            f"puts it ({_rule_place(library)}), and the answer does not tell which of the two "
            f"is the item's place{_calibrated_shape(facts)}; open the item in Alma (Resources "
            f"> Search, Physical Items by barcode {r.expected.item_barcode}) and see which "
            f"location and item policy it has: if {wrong}, {FIX_TEMP_ITEM}"
        )
    return lines


@when(
    "the temporary items of the received borrowing requests are read from Alma",
    target_fixture="received",
)
def _(alma: AlmaClient, alma_institution: Profile) -> list[Received]:
    expected = _borrowing(alma_institution).received_requests
    if not expected:
        pytest.skip(
            f"not run: {alma_institution.name}'s profile lists no borrowing.received_requests; "
            "receive one P2P borrowing request by hand in the sandbox and list it"
        )
    out = []
    for wanted in expected:
        request = alma.borrowing_request(wanted.patron, wanted.external_id, by_external_id=True)
        item = alma.item_by_barcode(wanted.item_barcode)
        out.append(Received(wanted, request, item, temp_item_places(item)))
    return out


# Each place check fails an item only when every place its answer may mean is wrong; an
# item shown in two places is judged as a whole after the last of them.


@then("each temporary item is owned by its request's resource sharing library")
def _(received: list[Received]) -> None:
    problems = []
    for r in received:
        if r.request.owner != r.expected.rs_library:
            problems.append(
                f"{r.name}: the request is owned by {r.request.owner}, the profile expects "
                f"{r.expected.rs_library}"
            )
        elif r.wrong_everywhere("library", r.expected.rs_library):
            problems.append(
                f"{r.name}: the item belongs to library {r.shown('library')}, not to the "
                f"request's RS library {r.expected.rs_library}: {FIX_TEMP_ITEM}"
            )
    fail_with(problems, "Temporary items owned by the wrong library:")


@then("each temporary item sits in that library's borrowing location")
def _(received: list[Received], alma_institution: Profile) -> None:
    problems = []
    for r in received:
        library = alma_institution.rs_library(r.expected.rs_library)
        assert library is not None
        if r.wrong_everywhere("location", library.borrowing_location):
            problems.append(
                f"{r.name}: it sits in location {r.shown('location')}, expected "
                f"{library.borrowing_location} of {library.code}: {FIX_TEMP_ITEM}"
            )
    fail_with(problems, "Temporary items outside the borrowing location:")


@then("each temporary item carries the resource sharing item policy")
def _(received: list[Received], alma_institution: Profile) -> None:
    problems = []
    for r in received:
        library = alma_institution.rs_library(r.expected.rs_library)
        assert library is not None
        if library.item_policy is None:
            problems.append(
                f"{library.code}: the profile names no item_policy, so the temporary item's "
                f"policy ({r.shown('policy')}) cannot be checked; add it to profile.yaml"
            )
        elif r.wrong_everywhere("policy", library.item_policy):
            problems.append(
                f"{r.name}: item policy {r.shown('policy')}, expected {library.item_policy} "
                f"(the RS item policy, {ITEM_POLICY.menu}, applied by the temporary item "
                f"rule): {FIX_TEMP_ITEM}"
            )
        elif len(r.places) > 1 and not r.right_places(library):
            problems.append(
                f"{r.name}: {r.two_places()}; neither place it shows is where the temporary "
                f"item rule puts it ({_rule_place(library)}): {FIX_TEMP_ITEM}"
            )
    fail_with(problems, "Temporary items not where the temporary item rule puts them:")
    # An item shown in two places of which one is right is a line to check by hand: it is
    # told at the scenario's last step (places_left_open), so the discovery check still runs.


# Where staff see whether a bib is hidden from discovery.
SUPPRESS_BY_HAND = (
    "look at the bib in Alma (Resources > Search, the record's 'Suppress from Discovery')"
)


@then("each temporary item's title is suppressed from discovery")
def _(received: list[Received], alma_institution: Profile, alma_facts: Facts) -> None:
    # The place checks' lines to check by hand come first: this is the scenario's last step.
    lines = places_left_open(received, alma_institution, alma_facts)
    # UNVERIFIED(item.bib_suppress_field): an item answer may carry no suppress flag at all.
    unread = [r for r in received if r.item.bib_data.suppress_from_publishing is None]
    if unread:
        lines.append(
            "; ".join(
                f"{r.name}: the item answer does not say whether bib "
                f"{r.item.bib_data.mms_id} is suppressed from discovery"
                for r in unread
            )
            + f"; {SUPPRESS_BY_HAND}"
        )
    # UNVERIFIED(borrowing.temp_bib_suppressed): whether Alma suppresses temporary bibs by
    # itself is not known, so a visible one is not a fault the harness can name.
    visible = [r for r in received if r.item.bib_data.suppress_from_publishing is False]
    if visible:
        lines.append(
            "; ".join(
                f"{r.name}: its bib {r.item.bib_data.mms_id} is not suppressed from discovery, "
                "so patrons may see the borrowed copy in Primo"
                for r in visible
            )
            + "; it is not known whether Alma suppresses temporary bibs by itself or only a "
            f"rule of the institution does; {SUPPRESS_BY_HAND}"
        )
    if lines:
        cannot_tell("; ".join(lines))


# -- sending ------------------------------------------------------------------------


# Borrowing statuses Alma moves on from by itself (alma-rs-workflow.md §1.1): locate, and
# "Ready to be sent" while a sending rule has yet to send it.
# UNVERIFIED(borrowing.send_on_after_locate)
MOVING = frozenset({"REQUEST_CREATED_BOR", "LOCATE_IN_PROCESS", "READY_TO_SEND", None})
REQUEST_SENT_CODE = "borrowing.request_sent_code"
ENDED = frozenset({"LOCATE_FAILED", "CANCELLED", "EXPIRED"})


def sent_code(facts: Facts) -> str | None:
    """The code of "Request sent to partner" at this institution: what its sandbox's
    workflow-step table showed (``alma-p2p calibrate``), else the register's assumption
    (UNVERIFIED(borrowing.request_sent_code) REQUEST_SENT); None when calibration found
    another code without being able to tell which."""
    entry = facts.entry(REQUEST_SENT_CODE)
    if entry is not None and facts.is_calibrated(REQUEST_SENT_CODE) and entry.seen:
        return entry.seen
    value = facts.value(REQUEST_SENT_CODE)
    return value if value.replace("_", "").isalpha() and value.isupper() else None


@then("the request is sent on its own to one of the profile's partners")
def _(
    attempt: Attempt,
    title: Title,
    alma: AlmaClient,
    alma_institution: Profile,
    alma_poll_interval: float,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    sent = sent_code(alma_facts)
    if attempt.error is not None and "401604" in attempt.error.codes:
        broken_premise(
            f"{alma_institution.institution.name} itself holds '{title.title}', so Alma will "
            "not send it to "
            "a partner (401604); name a title only a partner holds in profile.yaml "
            "(borrowing.partner_held_title)"
        )
    if attempt.request is None or attempt.request.request_id is None:
        pytest.fail(f"{attempt.who}: the request was not created: {attempt.error}", pytrace=False)
    request_id = attempt.request.request_id
    deadline = _borrowing(alma_institution).send_seconds
    try:
        final = poll(
            lambda: alma.borrowing_request(attempt.user_id, request_id),
            lambda r: r.status.value not in MOVING,
            what=f"borrowing request {request_id} being sent",
            deadline=deadline,
            interval=alma_poll_interval,
        )
    except DeadlineExceeded as exc:
        final = cast(RsRequest, exc.last)  # what the poll last read
    status, partner = final.status.value, final.partner.value
    alma_evidence.append(
        f"request {request_id}: status={status} partner={partner} (the profile says "
        f"{title.held_by} holds the title)"
    )
    partners = {p.code for p in alma_institution.partners}
    look = f"look at request {request_id} in Alma ({BORROWING_REQUESTS})"
    if status == "READY_TO_SEND":
        pytest.fail(
            f"Borrowing request {request_id} was left in 'Ready to be sent' (partner {partner}) "
            f"for {deadline} s: no Sending Borrowing Request Rule sends it to the P2P rota; "
            f"{SENDING}",
            pytrace=False,
        )
    if status not in ENDED and (sent is None or status != sent):
        cannot_tell(
            f"Borrowing request {request_id} was {status or 'without status'} after {deadline} s, "
            f"a status that does not tell whether it was sent; {look}"
        )
    if status != sent:
        pytest.fail(
            f"Borrowing request {request_id} for '{title.title}', which {title.held_by} holds, "
            f"ended {status}, not 'Request sent to partner': Alma could not build a rota from "
            f"the P2P partners; {SENDING}",
            pytrace=False,
        )
    if partner is None:
        cannot_tell(
            f"Borrowing request {request_id} was sent, but Alma's answer names no partner; {look}"
        )
    if partner not in partners:
        pytest.fail(
            f"Borrowing request {request_id} was sent to {partner}, which is not a P2P partner "
            f"of the profile ({', '.join(sorted(partners))}); {SENDING}",
            pytrace=False,
        )
