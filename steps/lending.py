"""Steps about lending requests arriving at the institution from a P2P partner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_bdd import parsers, then, when

from alma_p2p import payloads
from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import RsRequest
from alma_p2p.guide import BY_ID
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import Lending, LendingCase, Profile
from alma_p2p.writes import WriteSession

RS_LIBRARY = BY_ID["rs_library"]

# Statuses Alma shows while it is still locating (alma-api.md §4.4); an auto-reject ends
# within the poll's deadline: UNVERIFIED(lending.auto_reject_timing).
IN_PROGRESS = frozenset({"LOCATE_IN_PROCESS", None})

# The titles of the feature's Examples, and the profile's lending case for each.
CASES = {
    "a title the lender does not hold": "not_held",
    "a title whose items are all on loan": "all_on_loan",
    "a title whose only available item is not requestable": "not_requestable",
    "a title held only electronically": "electronic_only",
    "an available, requestable title": "available",
}
# Lending Information flags of the RS library (WRLC guide, "Resource Sharing Library" step 4).
LENDING_FLAGS = {
    "not_held": "Automatically Locate Resource",
    "all_on_loan": "Reject Request When No Available Items",
    "not_requestable": "Reject Request When No Requestable Items",
    "electronic_only": "Reject Request When Only Electronic Available",
    "available": "Automatically Locate Resource",
}


@dataclass(frozen=True)
class Sent:
    """A lending request as the borrowing partner sent it (Alma's answer to the create)."""

    case: str
    expect: tuple[str, ...]
    request: RsRequest
    partner: str
    library: str


def _lending(profile: Profile) -> Lending:
    assert profile.lending is not None, "@lending scenarios run only with a lending section"
    return profile.lending


def _flag_path(library: str, flag: str) -> str:
    return RS_LIBRARY.fix("lending_flag", library=library, flag=flag)


@when(parsers.parse("the borrowing partner requests {what}"), target_fixture="sent")
def _(
    alma_writes: WriteSession, alma_institution: Profile, alma_test_data: TestData, what: str
) -> Sent:
    lending = _lending(alma_institution)
    case_name = CASES[what]
    case: LendingCase = getattr(lending, case_name)
    if case.title is None:
        title, author = alma_test_data.unheld_title()
    else:
        title, author = case.title, None
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=title,
        author=author,
        external_id=alma_test_data.external_id(),
    )
    request = alma_writes.create_lending_request(lending.borrower_partner, body)
    return Sent(
        case_name, tuple(case.expect), request, lending.borrower_partner, lending.rs_library
    )


# Gives the request as it ended to the steps after it; the When's answer stays Alma's answer.
@then(
    "the lending request ends as the profile expects for that title",
    target_fixture="ended",
)
def _(sent: Sent, alma_writes: WriteSession, alma_poll_interval: float) -> RsRequest:
    request_id = sent.request.request_id
    assert request_id, "Alma answered the create without a request_id"
    try:
        final = poll(
            lambda: alma_writes.lending_request(sent.partner, request_id),
            lambda r: r.status.value not in IN_PROGRESS,
            what=f"lending request {request_id} leaving 'Locate in process'",
            deadline=60,
            interval=alma_poll_interval,
        )
    except DeadlineExceeded as exc:
        pytest.fail(str(exc), pytrace=False)
    status = final.status.value
    if status in sent.expect:
        return final
    flag = LENDING_FLAGS[sent.case]
    hint = (
        f"{sent.library} must {'accept' if sent.case == 'available' else 'reject'} it: "
        f"{_flag_path(sent.library, flag)}"
    )
    if sent.case == "available":
        hint = (
            f"{sent.library} must locate and accept a title it can lend; check that the item is "
            "available and requestable for resource sharing (fulfillment unit rules, Lending "
            f"Resource Sharing terms of use) and {_flag_path(sent.library, flag)}"
        )
    pytest.fail(
        f"Lending request {request_id} ({sent.case.replace('_', ' ')}) ended "
        f"{status or 'without status'}, expected {' or '.join(sent.expect)}: {hint}",
        pytrace=False,
    )


@then("the lending task list shows it with that status")
def _(sent: Sent, ended: RsRequest, alma: AlmaClient) -> None:
    status = ended.status.value
    # UNVERIFIED(lending.task_list_includes_completed)
    listed = alma.lending_task_list(sent.library, status=status, partner=sent.partner)
    if not any(r.request_id == ended.request_id for r in listed):
        pytest.fail(
            f"Lending request {ended.request_id} ({status}) is missing from "
            f"{sent.library}'s lending task list filtered by status {status}: staff would not "
            f"see it ({RS_LIBRARY.fix('lending_requests')})",
            pytrace=False,
        )
