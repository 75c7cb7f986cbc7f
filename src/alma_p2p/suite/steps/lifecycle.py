"""Steps about who may borrow and what the institution's own inventory blocks."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import broken_premise, cannot_tell
from alma_p2p.payloads import TestData
from alma_p2p.profile import Borrowing, ExcludedPatron, Profile
from alma_p2p.suite.steps.borrowing import (
    OWNER_REFUSALS,
    Title,
    _first_patron,
    _home_library,
    _pickup_elsewhere,
    _request,
)
from alma_p2p.suite.steps.common import Attempt, assert_refused
from alma_p2p.writes import WriteSession

FU_RULES = BY_ID["fulfillment_unit_rules"]
TERMS = BY_ID["terms_of_use"]
EXCLUDED_GROUP = "borrowing.excluded_group_refused"


def _borrowing(profile: Profile) -> Borrowing:
    assert profile.borrowing is not None, "@borrowing scenarios run only with a borrowing section"
    return profile.borrowing


def _excluded(profile: Profile) -> ExcludedPatron:
    excluded = _borrowing(profile).excluded_patron
    assert excluded is not None, "@excluded_group scenarios run only with excluded_patron"
    return excluded


@given("a title the institution holds only electronically", target_fixture="title")
def _(alma_institution: Profile) -> Title:
    held = _borrowing(alma_institution).electronic_title
    assert held is not None, "@electronic_title scenarios run only with electronic_title"
    return Title(held.title, isbn=held.isbn)


@when("the test patron of a user group that may not borrow requests it", target_fixture="attempt")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    excluded = _excluded(alma_institution)
    where = "profile.yaml (borrowing.excluded_patron)"
    try:
        user = alma.user(excluded.patron)
    except AlmaAPIError as exc:
        if not exc.refusal or "401861" not in exc.codes:
            raise
        broken_premise(
            f"test patron {excluded.patron} does not exist in Alma: create the patron in the "
            f"sandbox with user group {excluded.user_group}, or correct {where}"
        )
    if user.user_group.value != excluded.user_group:
        broken_premise(
            f"test patron {excluded.patron} is in user group {user.user_group.value or 'none'}, "
            f"not {excluded.user_group}, so the request proves nothing about who may borrow: "
            f"put the patron back in {excluded.user_group}, or correct {where}"
        )
    pickup = alma_institution.rs_library_codes[0]
    owner = (user.rs_library_codes or (None,))[0] if alma_institution.multi_library else None
    who = f"the {excluded.user_group} test patron"
    return _request(alma_writes, alma_test_data, who, excluded.patron, title, pickup, owner)


@then("Alma refuses it with the error the profile expects for that user group")
def _(attempt: Attempt, alma_institution: Profile) -> None:
    excluded = _excluded(alma_institution)
    if attempt.request is not None:
        # UNVERIFIED(borrowing.excluded_group_refused): a request Alma creates through the API
        # may mean the rules let the group borrow, or that the API does not apply them.
        cannot_tell(
            f"Alma created request {attempt.request.request_id} for {attempt.who} "
            f"({excluded.patron}), whose group {excluded.user_group} the profile says may not "
            "borrow from partners (it is removed again). Either the Borrowing Resource Sharing "
            f"rules let {excluded.user_group} borrow ({FU_RULES.menu}; {TERMS.menu}), or "
            "Alma's API does not apply those rules (an assumption of the harness, "
            f"{EXCLUDED_GROUP}): place the same request in Primo as this patron to tell"
        )
    assert_refused(
        attempt,
        excluded.error,
        f"(user group {excluded.user_group} may not borrow; if Alma's code for this refusal "
        "is another, set borrowing.excluded_patron.error in profile.yaml to it)",
    )


@when(
    "a test patron requests it for their own library, overriding blocks",
    target_fixture="attempt",
)
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    title: Title,
) -> Attempt:
    who, user_id = _first_patron(alma_institution)
    home = _home_library(alma, alma_institution, user_id)
    owner = home if alma_institution.multi_library else None
    elsewhere = _pickup_elsewhere(alma_institution, home)
    attempt = _request(
        alma_writes, alma_test_data, who, user_id, title, elsewhere, owner, override_blocks=True
    )
    codes = set(attempt.error.codes) if attempt.error is not None else set()
    if elsewhere != home and attempt.error is not None and not OWNER_REFUSALS & codes:
        # UNVERIFIED(borrowing.pickup_other_library): Alma may refuse a pickup at another
        # library than the owner; the blocks are what this scenario is about.
        attempt = _request(
            alma_writes, alma_test_data, who, user_id, title, home, owner, override_blocks=True
        )
    return attempt


@then("Alma creates the request")
def _(attempt: Attempt) -> None:
    if attempt.request is not None:
        return
    pytest.fail(
        f"{attempt.who}: with override_blocks=true Alma still {attempt.describe()}: "
        f"{attempt.error}. Staff could not place this request either; if the code is "
        "401604, the block is not one staff may override in this Alma",
        pytrace=False,
    )
